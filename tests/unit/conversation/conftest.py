"""The conversation tests' world (tests/unit/conversation/world.py), fresh for each test."""
from __future__ import annotations

import contextlib

import pytest

from bot.tools.demo import load_demo_data
from tests.databases import scratch_postgres
from tests.unit.conversation.world import NOW, World


@pytest.fixture
def world(tmp_path, parser, settings):
    w = World(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
    with w.db.session() as s:
        load_demo_data(s, w.kb.communities, today=NOW.date())
    return w


@pytest.fixture(params=["sqlite", "postgresql"])
def world_on_each_database(request, tmp_path, parser, settings):
    """The world on SQLite and on a PostgreSQL database of its own (demo data only: no other test's orders)."""
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'wuye.db'}" if request.param == "sqlite" else \
            stack.enter_context(scratch_postgres("wuye_numbers"))[0]
        world = World(url, parser, settings)
        try:
            with world.db.session() as s:
                load_demo_data(s, world.kb.communities, today=NOW.date())
            yield world
        finally:
            world.engine.db.engine.dispose()
            world.db.engine.dispose()

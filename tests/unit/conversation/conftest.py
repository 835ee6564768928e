"""The conversation tests' world (tests/unit/conversation/world.py), fresh for each test."""
from __future__ import annotations

import pytest

from bot.tools.demo import load_demo_data
from tests.unit.conversation.world import NOW, World


@pytest.fixture
def world(tmp_path, parser, settings):
    w = World(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
    with w.db.session() as s:
        load_demo_data(s, w.kb.communities, today=NOW.date())
    return w

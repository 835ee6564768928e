"""Scratch PostgreSQL databases for tests: created on the test server, dropped afterwards.

One place for the rule every PostgreSQL test follows: skip when no server is reachable, unless CI says these tests
must run (``WUYE_REQUIRE_POSTGRES``), in which case the failure to connect is the test's failure.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get("WUYE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def scratch_postgres(prefix: str, count: int = 1) -> Iterator[list[str]]:
    """``count`` new, empty databases named ``<prefix>_<random>``; yields their URLs and drops them on exit."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        if os.environ.get("WUYE_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

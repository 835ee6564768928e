"""PostgreSQL: a statement a connection runs again is prepared there (bot/storage/db.py _prepare_repeated) and
answers as before; what cannot be prepared runs as it is; a server-side cursor still streams; WUYE_DB_PREPARE=0
turns it off; a prepared statement lost behind the process's back (PgBouncer in transaction mode) turns it off
and counts as transient."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from bot.storage import db as storage
from bot.storage.db import open_database, transient
from bot.storage.models import ChatIdentity
from tests.databases import scratch_postgres

IDENTITY = sa.select(ChatIdentity).where(ChatIdentity.channel == sa.bindparam("channel"),
                                         ChatIdentity.sender_id == sa.bindparam("sender_id")).with_for_update()


@pytest.fixture
def url():
    with scratch_postgres("wuye_prepared") as (found,):
        yield found


@pytest.fixture
def database(url):
    opened = open_database(url)
    yield opened
    opened.engine.dispose()


def _prepared(connection) -> list:
    return connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()


def test_a_repeated_statement_is_prepared_and_answers_the_same(database):
    with database.session() as s:
        s.add_all([ChatIdentity(channel="web", sender_id=f"r{i}") for i in range(3)])
    with database.session() as s:
        assert not any("chat_identities" in p for p in _prepared(s.connection()))
        found = [s.scalar(IDENTITY, {"channel": "web", "sender_id": f"r{i}"}) for i in range(3)]
        assert [f.sender_id for f in found] == ["r0", "r1", "r2"]  # the second and third run prepared
        assert s.scalar(IDENTITY, {"channel": "web", "sender_id": "nobody"}) is None
        assert sum("FROM chat_identities" in p and "$1" in p for p in _prepared(s.connection())) == 1
        # a text with a literal % (LIKE) and an UPDATE whose row count the ORM checks
        like = sa.select(sa.func.count()).select_from(ChatIdentity).where(ChatIdentity.sender_id.like("r%"))
        assert [s.scalar(like) for _ in range(3)] == [3, 3, 3]
        found[0].household_id = None
        found[0].sender_id = "r0-renamed"
        s.flush()
        found[1].sender_id = "r1-renamed"
        s.flush()
    with database.session() as s:
        assert sorted(s.scalars(sa.select(ChatIdentity.sender_id))) == ["r0-renamed", "r1-renamed", "r2"]


def test_what_cannot_be_prepared_runs_as_it_is_and_the_transaction_goes_on(database):
    with database.session() as s:
        # $1 of no inferable type: PREPARE refuses it, the savepoint keeps the transaction alive
        untyped = "SELECT %(x)s AS x"
        assert [s.connection().exec_driver_sql(untyped, {"x": "a"}).scalar() for _ in range(3)] == ["a"] * 3
        s.add(ChatIdentity(channel="web", sender_id="after"))
    with database.session() as s:
        assert s.scalar(sa.select(ChatIdentity.sender_id)) == "after"


def test_a_server_side_cursor_still_streams(database):
    with database.session() as s:
        s.add_all([ChatIdentity(channel="web", sender_id=f"s{i}") for i in range(5)])
    query = sa.select(ChatIdentity.sender_id).order_by(ChatIdentity.sender_id)
    for _ in range(3):
        with database.engine.connect() as c:
            rows = c.execution_options(stream_results=True).execute(query).scalars().all()
        assert rows == [f"s{i}" for i in range(5)]


def test_off_with_the_setting(url, monkeypatch):
    monkeypatch.setenv("WUYE_DB_PREPARE", "0")
    database = open_database(url)
    try:
        with database.session() as s:
            for _ in range(3):
                s.scalar(IDENTITY, {"channel": "web", "sender_id": "x"})
            assert _prepared(s.connection()) == []
    finally:
        database.engine.dispose()


def test_a_lost_prepared_statement_turns_preparing_off_and_is_transient(database):
    with database.session() as s:
        for _ in range(2):
            s.scalar(IDENTITY, {"channel": "web", "sender_id": "x"})
        raw = s.connection().connection.dbapi_connection.cursor()
        raw.execute("DEALLOCATE ALL")  # as another server connection behind PgBouncer would not have it
        with pytest.raises(DBAPIError) as caught:
            s.scalar(IDENTITY, {"channel": "web", "sender_id": "x"})
    assert transient(caught.value)
    with database.session() as s:  # from now on sent as they are
        for _ in range(3):
            assert s.scalar(IDENTITY, {"channel": "web", "sender_id": "x"}) is None
        assert _prepared(s.connection()) == []


def test_a_connection_keeps_a_bounded_number(url, monkeypatch):
    monkeypatch.setattr(storage, "PREPARED_PER_CONNECTION", 3)
    database = open_database(url)
    try:
        with database.session() as s:
            for n in range(6):
                statement = f"SELECT count(*) + {n} FROM chat_identities WHERE sender_id = %(s)s"
                for _ in range(2):
                    assert s.connection().exec_driver_sql(statement, {"s": "x"}).scalar() == n
            assert len(_prepared(s.connection())) <= 3
    finally:
        database.engine.dispose()

"""The web first-run's token (bot/access/first_run.py) on SQLite and PostgreSQL: issued only while there is no staff,
stored as a digest, used once; two setups racing with two tokens make exactly one admin."""
from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest

from bot.access import first_run
from bot.access.accounts import WeakPassword
from bot.storage.db import open_database
from bot.storage.models import Base, SetupToken, Staff

NOW = dt.datetime(2026, 12, 6, 22, 0)
GOOD = "Qiuyue-2026!"


@pytest.fixture
def db(database_url):
    database = open_database(database_url)
    with database.session() as session:  # the PostgreSQL database is shared by the session: start empty
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    yield database
    database.engine.dispose()


def test_a_token_is_issued_only_while_there_is_no_staff_and_only_its_digest_is_kept(db):
    with db.session() as session:
        token = first_run.issue_token(session, NOW)
    with db.session() as session:
        row = session.query(SetupToken).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
        assert row.expires_at == NOW + first_run.TOKEN_LIFETIME
        staff = first_run.create_first_admin(session, token, "boss", "王经理", GOOD, NOW)
        assert (staff.role, staff.must_change_password, staff.community_id) == ("admin", False, None)
    with db.session() as session:
        assert first_run.issue_token(session, NOW) is None and not first_run.needed(session)
        with pytest.raises(first_run.SetupDone):
            first_run.create_first_admin(session, token, "boss2", "二号", GOOD, NOW)


def test_wrong_expired_or_refused_setups_store_nothing_and_keep_the_token(db):
    with db.session() as session:
        token = first_run.issue_token(session, NOW)
    for attempt, error in (((token + "x", "boss", "王经理", GOOD, NOW), first_run.InvalidSetupToken),
                           ((token, "boss", "王经理", GOOD, NOW + first_run.TOKEN_LIFETIME), first_run.InvalidSetupToken),
                           ((token, "boss", "王经理", "1234567890", NOW), WeakPassword)):
        with pytest.raises(error):
            with db.session() as session:  # the route's transaction: rolled back by the error
                first_run.create_first_admin(session, *attempt)
    with db.session() as session:
        assert session.query(Staff).count() == 0 and session.query(SetupToken).one().used_at is None
        first_run.create_first_admin(session, token, "boss", "王经理", GOOD, NOW)  # still good after the refusals


def test_two_setups_racing_with_two_tokens_make_one_admin(db):
    with db.session() as session:
        tokens = [first_run.issue_token(session, NOW) for _ in range(2)]  # e.g. printed by two workers
    barrier, outcomes = threading.Barrier(2), []

    def setup(token: str, username: str) -> None:
        try:
            with db.session() as session:
                barrier.wait()
                first_run.create_first_admin(session, token, username, username, GOOD, NOW)
            outcomes.append("created")
        except (first_run.InvalidSetupToken, first_run.SetupDone) as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=setup, args=(t, f"boss{i}")) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) in (["created", "invalid_setup_token"], ["created", "setup_done"]), outcomes
    with db.session() as session:
        assert session.query(Staff).count() == 1
        assert all(t.used_at is not None for t in session.query(SetupToken))

"""Retention as the running server enforces it (issue 26 point 5: "enforced by a scheduled job"): the timers loop of
a live server (bot/timers.py) runs bot/storage/retention.py every ``retention_poll_seconds`` on the app's clock, and
deletes what has expired since — a rate-limit record and a setup token past their periods — and nothing else."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from bot.core.localtime import to_local
from bot.reporting import daily, reports
from bot.storage.models import ChatIdentity, Conversation, DailyFigures, RateEvent, SetupToken
from bot.tools.devserver import LiveServer

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("retention-job"), settings, parser, retention_poll_seconds=0.5) as live:
        yield live


def test_the_running_server_deletes_what_expires_while_it_runs_and_nothing_else(server):
    services = server.app.state.services
    now = services.clock()  # the app's clock, which the job reads too
    with services.db.session() as session:
        session.add_all([RateEvent(bucket="job:old", created_at=now - 31 * DAY),
                         RateEvent(bucket="job:new", created_at=now - 29 * DAY),
                         SetupToken(token_hash="job-used", created_at=now - 3 * DAY, expires_at=now + DAY,
                                    used_at=now - 2 * DAY),
                         SetupToken(token_hash="job-valid", created_at=now, expires_at=now + DAY)])
    deadline = time.monotonic() + 20
    while True:
        with services.db.session() as session:
            buckets = {r.bucket for r in session.query(RateEvent).filter(RateEvent.bucket.like("job:%"))}
            tokens = {t.token_hash for t in session.query(SetupToken).filter(SetupToken.token_hash.like("job-%"))}
        if "job:old" not in buckets or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert buckets == {"job:new"}, "the server's job did not run within 20 s"
    assert tokens == {"job-valid"}


def test_the_running_server_summarises_the_closed_days_of_the_figures(server):
    """The same loop writes the daily aggregates of the admin figures (bot/reporting/daily.py): every closed day
    from the oldest conversation on, and the figures read them."""
    services = server.app.state.services
    now = services.clock()
    with services.db.session() as session:
        identity_id = session.scalar(select(ChatIdentity.id))
        session.add(Conversation(identity_id=identity_id, channel="web", community_id="jinxiu",
                                 created_at=now - 400 * DAY, updated_at=now - 400 * DAY))
    first, last = to_local(now - 400 * DAY).date(), to_local(now).date() - daily.SETTLE_DAYS * DAY
    deadline = time.monotonic() + 20
    while True:
        with services.db.session() as session:
            days = set(session.scalars(select(DailyFigures.day).where(
                DailyFigures.community_id == daily.NO_COMMUNITY)))
        if first in days or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert first in days, "the server's loop did not summarise the figures within 20 s"
    assert {first + i * DAY for i in range((last - first).days + 1)} <= days
    with services.db.session() as session:
        year = reports.figures(session, start=first, end=first + 364 * DAY)
        assert year["per_day"][0]["conversations"] >= 1  # the summarised day's conversation

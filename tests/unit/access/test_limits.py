"""Rate limits (bot/access/limits.py) on SQLite and PostgreSQL: a sliding window of stored events, read at most up to the
limit (a busy bucket costs no more than a quiet one) with the same decisions as summing the whole window."""
from __future__ import annotations

import datetime as dt

from bot.access import limits
from bot.access.limits import Limit
from bot.storage.db import open_database

NOW = dt.datetime(2026, 11, 27, 12, 0)


def test_a_full_window_refuses_and_an_expired_one_frees(database_url):
    db = open_database(database_url)
    try:
        limit = Limit(3, 60)
        with db.session() as session:
            for i in range(10):  # far more events than the limit: the window is read up to the limit
                limits.record(session, "msg:web:busy", NOW - dt.timedelta(seconds=i))
            limits.record(session, "msg:web:quiet", NOW - dt.timedelta(seconds=5))
            limits.record(session, "msg:web:quiet", NOW - dt.timedelta(seconds=90))  # outside the window
        with db.session() as session:
            assert limits.used(session, "msg:web:busy", limit, NOW) == 3
            assert not limits.allowed(session, "msg:web:busy", limit, NOW)
            assert limits.used(session, "msg:web:quiet", limit, NOW) == 1
            assert limits.allowed(session, "msg:web:quiet", limit, NOW, amount=2)
            assert not limits.allowed(session, "msg:web:quiet", limit, NOW, amount=3)
            later = NOW + dt.timedelta(seconds=61)  # every busy event has left the window
            assert limits.allowed(session, "msg:web:busy", limit, later)
            assert 0 < limits.seconds_until_free(session, "msg:web:busy", limit, NOW) <= 60
    finally:
        db.engine.dispose()


def test_amounts_are_summed_for_byte_limits(database_url):
    db = open_database(database_url)
    try:
        limit = Limit(100, 3600)
        with db.session() as session:
            limits.record(session, "upload-bytes:r1", NOW - dt.timedelta(minutes=1), amount=40)
            limits.record(session, "upload-bytes:r1", NOW - dt.timedelta(minutes=2), amount=40)
        with db.session() as session:
            assert limits.used(session, "upload-bytes:r1", limit, NOW) == 80
            assert limits.allowed(session, "upload-bytes:r1", limit, NOW, amount=20)
            assert not limits.allowed(session, "upload-bytes:r1", limit, NOW, amount=21)
    finally:
        db.engine.dispose()


def test_the_uses_of_several_buckets_are_read_at_once_as_each_alone(database_url):
    db = open_database(database_url)
    try:
        with db.session() as session:
            for i in range(10):
                limits.record(session, "page:busy", NOW - dt.timedelta(seconds=i))
            limits.record(session, "page:bytes", NOW - dt.timedelta(seconds=5), amount=40)
            limits.record(session, "page:bytes", NOW - dt.timedelta(seconds=7), amount=30)
            limits.record(session, "page:old", NOW - dt.timedelta(seconds=90))
        caps = [("page:busy", Limit(3, 60)), ("page:empty", Limit(3, 60)), ("page:bytes", Limit(100, 60)),
                ("page:old", Limit(3, 60)), ("page:busy", Limit(20, 60))]
        with db.session() as session:
            each = [limits.used(session, bucket, limit, NOW) for bucket, limit in caps]
            assert each == [3, 0, 70, 0, 10]
            assert limits.uses(session, caps, NOW) == each
            assert limits.uses(session, caps[1:2], NOW) == [0]
            assert limits.uses(session, [], NOW) == []
        with db.session() as session:  # one full bucket: nothing recorded in any
            assert not limits.take_all(session, [("page:empty", Limit(3, 60)), ("page:busy", Limit(3, 60))], NOW)
            assert limits.used(session, "page:empty", Limit(3, 60), NOW) == 0
            assert limits.take_all(session, [("page:empty", Limit(3, 60)), ("page:old", Limit(1, 60))], NOW)
        with db.session() as session:
            assert limits.uses(session, [("page:empty", Limit(3, 60)), ("page:old", Limit(3, 60))], NOW) == [1, 1]
    finally:
        db.engine.dispose()

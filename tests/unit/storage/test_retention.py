"""Retention (bot/storage/retention.py) on SQLite and PostgreSQL with a moved clock: exactly what is past its period
is deleted or blanked, fresh rows and open cases stay, and the counts say how many of each."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os

import pytest
import sqlalchemy as sa

from bot.core.settings import Settings
from bot.storage import retention
from bot.storage.db import open_database
from bot.storage.models import (ChatIdentity, Community, Conversation, Handoff, Household, Incident, IncidentReport,
                                Message, RateEvent, SeenMessage, SetupToken, VerificationCode, WorkOrder)

NOW = dt.datetime(2029, 6, 1, 12, 0)  # the moved clock: years after anything the tests write with the wall clock
DAY = dt.timedelta(days=1)


@pytest.fixture
def db(database_url):
    database = open_database(database_url)
    with database.session() as s:  # the PostgreSQL database is shared by the session: start clean
        for table in ("incident_reports", "work_order_events", "work_orders", "incidents", "notice_revisions", "notices",
                      "poll_votes", "polls", "suggestions", "ratings", "quick_replies", "rate_events", "seen_messages",
                      "staff_sessions", "api_keys", "timers", "setup_tokens", "messages", "handoffs", "team_members", "teams",
                      "conversations", "verification_codes", "chat_identities", "visitor_passes", "parking_cards",
                      "parking_spaces", "bills", "households", "staff", "communities"):
            s.execute(sa.text(f"DELETE FROM {table}"))
    yield database
    database.engine.dispose()


def seed(db) -> dict:
    """Each kind of data just past its period and just inside it (one day either side of the cutoff)."""
    with db.session() as s:
        s.add(Community(id="c1", name="测试小区"))
        s.flush()
        house = Household(community_id="c1", building=1, unit=1, room=101, area=90.0, owner_name="张三", phone="13800000001")
        ident = ChatIdentity(channel="web", sender_id="w1", created_at=NOW - 1000 * DAY)
        s.add_all([house, ident])
        s.flush()
        conv = Conversation(identity_id=ident.id, channel="web", created_at=NOW - 1000 * DAY, updated_at=NOW)
        s.add(conv)
        s.flush()
        old_msg = Message(conversation_id=conv.id, sender="resident", text="三年前的话", created_at=NOW - 731 * DAY)
        new_msg = Message(conversation_id=conv.id, sender="resident", text="去年的话", created_at=NOW - 729 * DAY)
        s.add_all([old_msg, new_msg])
        s.flush()
        incident = Incident(community_id="c1", category="停水", summary="停水", created_at=NOW - 800 * DAY)
        s.add(incident)
        s.flush()
        s.add(IncidentReport(incident_id=incident.id, conversation_id=conv.id, message_id=old_msg.id,
                             created_at=NOW - 731 * DAY))

        def handoff(resolved_days):
            return Handoff(conversation_id=conv.id, priority="normal", callback_phone="13900000000",
                           created_at=NOW - 400 * DAY,
                           resolved_at=None if resolved_days is None else NOW - resolved_days * DAY)
        old_cb, new_cb, open_cb = handoff(181), handoff(179), handoff(None)
        # the agent's context card copies the transcript: a card of a handoff older than the messages' period
        # quotes only messages past it (a newer one keeps its card)
        card = {"transcript": [{"sender": "resident", "text": "三年前的话"}], "household": {"room": "1栋1单元101"}}
        old_card = Handoff(conversation_id=conv.id, priority="normal", context=card, created_at=NOW - 731 * DAY,
                           resolved_at=NOW - 731 * DAY)
        new_card = Handoff(conversation_id=conv.id, priority="normal", context=card, created_at=NOW - 729 * DAY,
                           resolved_at=NOW - 729 * DAY)
        s.add_all([old_card, new_card])

        def order(number, status, days):
            return WorkOrder(number=number, community_id="c1", location="1-1-101", category="水电", description="漏水",
                             contact_phone="13700000000", status=status, created_at=NOW - 400 * DAY,
                             updated_at=NOW - days * DAY)
        done_old, cancelled_old = order("W1", "已完成", 181), order("W2", "已取消", 181)
        done_new, open_old = order("W3", "已完成", 179), order("W4", "维修中", 400)
        s.add_all([old_cb, new_cb, open_cb, done_old, cancelled_old, done_new, open_old])
        s.add_all([VerificationCode(identity_id=ident.id, household_id=house.id, code_hash="x", expires_at=NOW - 2 * DAY),
                   VerificationCode(identity_id=ident.id, household_id=house.id, code_hash="y",
                                    expires_at=NOW - dt.timedelta(hours=12))])
        # setup tokens: used or expired more than the codes' day ago go; used or expired within it, or unused and
        # still valid, stay
        s.add_all([SetupToken(token_hash="used-old", created_at=NOW - 3 * DAY, expires_at=NOW + 5 * DAY,
                              used_at=NOW - 2 * DAY),
                   SetupToken(token_hash="expired-old", created_at=NOW - 4 * DAY, expires_at=NOW - 2 * DAY),
                   SetupToken(token_hash="used-new", created_at=NOW - 3 * DAY, expires_at=NOW + 5 * DAY,
                              used_at=NOW - dt.timedelta(hours=12)),
                   SetupToken(token_hash="expired-new", created_at=NOW - 2 * DAY,
                              expires_at=NOW - dt.timedelta(hours=12)),
                   SetupToken(token_hash="valid", created_at=NOW - dt.timedelta(hours=1), expires_at=NOW + DAY)])
        s.add_all([RateEvent(bucket="sms:room", created_at=NOW - 31 * DAY), RateEvent(bucket="sms:room", created_at=NOW - 29 * DAY),
                   SeenMessage(channel="wechat", key="old", created_at=NOW - 31 * DAY),
                   SeenMessage(channel="wechat", key="new", created_at=NOW - 29 * DAY)])
        s.flush()
        return {"new_card": new_card.id, "new_msg": new_msg.id, "new_cb": new_cb.id, "open_cb": open_cb.id, "done_new": done_new.id,
                "open_old": open_old.id, "done_old_updated": done_old.updated_at}


def photos(tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    for name, days in (("old.png", 366), ("new.png", 364)):
        path = folder / name
        path.write_bytes(b"png")
        stamp = (NOW - days * DAY - dt.datetime(1970, 1, 1)).total_seconds()
        os.utime(path, (stamp, stamp))
    return folder


def test_expired_data_goes_and_fresh_data_stays(db, tmp_path):
    kept = seed(db)
    settings = dataclasses.replace(Settings(), upload_dir=photos(tmp_path))
    counts = retention.run(db, settings, NOW)
    print("retention counts:", counts)
    assert counts == {"messages": 1, "context_cards": 1, "callback_phones": 1, "contact_phones": 2, "photos": 1, "codes": 1,
                      "setup_tokens": 2, "rate_events": 1, "seen_messages": 1}
    with db.session() as s:
        assert [m.id for m in s.query(Message)] == [kept["new_msg"]]
        assert s.query(IncidentReport).one().message_id is None  # the report stays, its quote is gone
        assert {h.id for h in s.query(Handoff).filter(Handoff.callback_phone.isnot(None))} == {kept["new_cb"], kept["open_cb"]}
        assert s.query(Handoff).count() == 5  # blanked, not deleted
        assert [h.id for h in s.query(Handoff).filter(Handoff.context.isnot(None)) if h.context] == [kept["new_card"]]
        phones = {o.number: o.contact_phone for o in s.query(WorkOrder)}
        assert phones == {"W1": None, "W2": None, "W3": "13700000000", "W4": "13700000000"}  # open orders keep theirs
        assert s.query(WorkOrder).filter_by(number="W1").one().updated_at == kept["done_old_updated"]
        assert [c.code_hash for c in s.query(VerificationCode)] == ["y"]
        assert sorted(t.token_hash for t in s.query(SetupToken)) == ["expired-new", "used-new", "valid"]
        assert [r.created_at for r in s.query(RateEvent)] == [NOW - 29 * DAY]
        assert [r.key for r in s.query(SeenMessage)] == ["new"]
        assert s.query(Household).one().phone == "13800000001"  # a household's own phone is the ERP's, not expired
    assert sorted(p.name for p in settings.upload_dir.iterdir()) == ["new.png"]
    # a second run finds nothing more: the job is idempotent
    assert set(retention.run(db, settings, NOW).values()) == {0}


def test_periods_are_settings(tmp_path):
    settings = dataclasses.replace(Settings(), retention_messages_days=10)
    rows = {row["kind"]: row["days"] for row in retention.periods(settings)}
    assert rows == {"messages": 10, "phones": 180, "photos": 365, "codes": 1, "logs": 30}

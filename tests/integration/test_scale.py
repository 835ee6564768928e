"""Issue 29, years of data: `wuye demo-data --scale` fills a database in batches, and the staff pages' faster
queries (SQL aggregates, narrow rows, streamed exports, the desk's list) give exactly what the row-by-row code gave,
on the demo data plus a small scaled history, on SQLite and PostgreSQL. The reference implementations below are the
code as it was before issue 29, kept here only to compare against."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import statistics
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select, text

from bot.core import labels
from bot.core.domain import WorkOrderStatus as S
from bot.core.localtime import iso, to_local, to_utc
from bot.kb.community import load_communities
from bot.kb.knowledge import load_knowledge_base
from bot.reporting import exports, reports
from bot.storage.db import open_database
from bot.storage.models import Base, Conversation, Handoff, Message, Rating, Staff, WorkOrder, WorkOrderEvent
from bot.tools import scale
from bot.tools.demo import load_demo_data
from bot.work_orders import desk, sla

TODAY = dt.date(2026, 12, 6)
NOW = dt.datetime(2026, 12, 6, 4, 0)  # UTC: noon in the 小区


@pytest.fixture
def db(database_url, settings):
    sla.use(settings.data_dir / "sla.yml")
    database = open_database(database_url)
    if database.engine.dialect.name == "postgresql":  # one database for the session: each test starts it empty
        with database.engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in Base.metadata.sorted_tables)
                              + " RESTART IDENTITY CASCADE"))
    with database.session() as session:
        load_demo_data(session, load_communities(settings.communities_file), today=TODAY)
    counts = scale.load_scaled(database.engine, scale.PRESETS["small"], TODAY)
    assert counts["messages"] == 300 * 6 and counts["work_orders"] == 400 and counts["handoffs"] == 90
    yield database
    database.engine.dispose()


# --- the code before issue 29 -----------------------------------------------------------------------------------
def old_work_order_figures(session, now, *where):
    orders = list(session.scalars(select(WorkOrder).where(*where)))
    by_status = Counter(o.status for o in orders)
    by_category = Counter(o.category for o in orders)
    response_met = response_total = completion_met = completion_total = 0
    to_response, to_completion = [], []
    for o in orders:
        if o.first_response_at is not None:
            to_response.append((o.first_response_at - o.created_at).total_seconds() / 60)
        if o.completed_at is not None:
            to_completion.append((o.completed_at - o.created_at).total_seconds() / 60)
        if o.response_due is not None and (o.first_response_at is not None or now > o.response_due):
            response_total += 1
            response_met += o.first_response_at is not None and o.first_response_at <= o.response_due
        if o.completion_due is not None and (o.completed_at is not None or now > o.completion_due) \
                and o.status != S.CANCELLED.value:
            completion_total += 1
            completion_met += o.completed_at is not None and o.completed_at <= o.completion_due
    ratings = [r for r in (desk.rating_of(o) for o in orders) if r is not None]
    return {
        "total": len(orders),
        "by_status": {s.value: by_status.get(s.value, 0) for s in S},
        "by_category": {c: by_category.get(c, 0) for c in sla.CATEGORY_NAMES} | {
            c: n for c, n in by_category.items() if c not in sla.CATEGORY_NAMES},
        "open": sum(1 for o in orders if o.status not in S.closed()),
        "overdue": sum(1 for o in orders if desk.overdue_kind(o, now)),
        "response_within_sla": (response_met / response_total) if response_total else None,
        "response_measured": response_total,
        "completion_within_sla": (completion_met / completion_total) if completion_total else None,
        "completion_measured": completion_total,
        "median_minutes_to_response": round(statistics.median(to_response), 1) if to_response else None,
        "median_minutes_to_completion": round(statistics.median(to_completion), 1) if to_completion else None,
        "ratings": {"count": len(ratings), "average": round(sum(ratings) / len(ratings), 2) if ratings else None},
    }


def old_list_orders(session, now, kb, building=None, overdue=None, limit=200):
    names = desk.staff_names(session)
    rows = []
    # (with the id after the time, as now: orders made at the same time were in no defined order before)
    for order in session.scalars(select(WorkOrder).order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
                                 .limit(2000)):
        item = desk.order_json(session, order, now, kb, names)
        if building is not None and item["building"] != building:
            continue
        if overdue is not None and item["overdue"] != overdue:
            continue
        rows.append(item)
    rows.sort(key=lambda r: (not r["overdue"], r["status"] in S.closed(), r["urgency"] != "urgent"))
    return rows[:limit]


def old_rating_figures(session, start, days):
    rows = list(session.scalars(select(Rating)))
    names = {s.id: s.display_name for s in session.scalars(select(Staff))}
    by_agent, by_day = defaultdict(list), defaultdict(list)
    for r in rows:
        by_agent[r.agent_id].append(r.score)
        if r.created_at.date() >= start:
            by_day[r.created_at.date().isoformat()].append(r.score)
    average = reports._average
    return {
        "count": len(rows), "average": average([r.score for r in rows]),
        "by_agent": [{"agent_id": agent_id, "agent": names.get(agent_id, "未知客服"), "count": len(scores),
                      "average": average(scores), "scores": {str(n): scores.count(n) for n in range(1, 6)}}
                     for agent_id, scores in sorted(by_agent.items(), key=lambda kv: -len(kv[1]))],
        "per_day": [{"day": day, "count": len(by_day.get(day, [])), "average": average(by_day.get(day, []))}
                    for day in ((start + dt.timedelta(days=i)).isoformat() for i in range(days))],
    }


def old_conversations_csv(session, low, high):
    rows = []
    for c in session.scalars(select(Conversation).where(Conversation.created_at >= low, Conversation.created_at < high)
                             .order_by(Conversation.id)):
        messages = list(session.scalars(select(Message).where(Message.conversation_id == c.id).order_by(Message.id)))
        first = next((m.text for m in messages if m.sender == "resident"), "")
        rows.append([c.id, iso(c.created_at), labels.channel_label(c.channel), c.community_id,
                     labels.status_label(c.status), labels.priority_label(c.priority) if c.priority else "",
                     sum(m.sender == "resident" for m in messages), first[:200]])
    return exports.to_csv(exports.HEADERS["conversations"], rows)


def old_handoffs_csv(session, low, high):
    rows = [[h.id, h.conversation_id, iso(h.created_at), labels.priority_label(h.priority), labels.status_label(h.status),
             "；".join(labels.reason_labels(h.reasons)), h.ticket or "", iso(h.claimed_at) or "", iso(h.resolved_at) or "",
             int((h.claimed_at - h.created_at).total_seconds()) if h.claimed_at else ""]
            for h in session.scalars(select(Handoff).where(Handoff.created_at >= low, Handoff.created_at < high)
                                     .order_by(Handoff.id))]
    return exports.to_csv(exports.HEADERS["handoffs"], rows)


def old_handoff_reasons(session):
    reasons = Counter()
    for h in session.scalars(select(Handoff)):
        for r in h.reasons:
            reasons[re.sub(r"\s*\(.*\)$", "", r.split(":")[0])] += 1
    return dict(reasons.most_common())


# --- the tests ---------------------------------------------------------------------------------------------------
def test_scaled_data_is_realistic(db):
    with db.session() as session:
        nlu = session.scalars(select(Message.nlu).where(Message.sender == "resident", Message.nlu.isnot(None)).limit(200)).all()
        assert all(n["route"]["decision"] for n in nlu) and any(n["route"]["failed"] for n in nlu)
        assert session.scalar(select(func.count()).select_from(Message).where(Message.sender == "bot",
                                                                               Message.nlu.isnot(None))) == 0
        statuses = set(session.scalars(select(WorkOrder.status).distinct()))
        assert statuses == {s.value for s in S}
        assert session.scalar(select(func.count()).select_from(WorkOrderEvent).where(
            WorkOrderEvent.note.like(desk.RATING_PREFIX + "%"))) > 10
        oldest = session.scalar(select(func.min(Conversation.created_at)))
        assert (NOW - oldest).days > 600  # two years
        assert reports.failures(session)["groups"]


def test_work_order_figures_are_the_same(db):
    with db.session() as session:
        new, old = desk.figures(session, NOW), old_work_order_figures(session, NOW)
        assert new == old and list(new["by_category"]) == list(old["by_category"])
        assert new["total"] > 400 and new["ratings"]["count"] > 10 and new["median_minutes_to_completion"]


def test_the_desk_list_is_the_same(db, settings):
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    with db.session() as session:
        for kwargs in ({}, {"overdue": True}, {"overdue": False, "limit": 50}, {"building": 3}):
            assert desk.list_orders(session, NOW, kb, **kwargs) == old_list_orders(session, NOW, kb, **kwargs), kwargs
        assert len(desk.list_orders(session, NOW, kb)) == 200


def test_admin_figures_and_failures_are_the_same(db):
    with db.session() as session:
        all_time = reports.figures(session, today=TODAY)
        old = reports._labelled(reports._figures(session, 14, TODAY, list(session.scalars(select(Conversation))),
                                                 list(session.scalars(select(Handoff)))))
        assert all_time == old and all_time["conversations"] > 300
        for first in (TODAY - dt.timedelta(days=29), TODAY - dt.timedelta(days=364)):
            low = to_utc(dt.datetime.combine(first, dt.time()))
            high = to_utc(dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time()))
            conversations = list(session.scalars(select(Conversation).where(Conversation.created_at >= low,
                                                                            Conversation.created_at < high)))
            handoffs = list(session.scalars(select(Handoff).where(Handoff.created_at >= low, Handoff.created_at < high)))
            handed = {h.conversation_id for h in session.scalars(select(Handoff).where(
                Handoff.conversation_id.in_([c.id for c in conversations])))}
            old = reports._labelled(reports._figures(session, (TODAY - first).days + 1, TODAY, conversations, handoffs,
                                                     handed, day_of=lambda t: to_local(t).date(), window=(first, TODAY)))
            assert reports.figures(session, start=first, end=TODAY) == old
        for start, days in ((TODAY - dt.timedelta(days=13), 14), (TODAY - dt.timedelta(days=400), 401)):
            assert reports.rating_figures(session, start, days) == old_rating_figures(session, start, days)
        assert reports.failures(session)["handoff_reasons"] == old_handoff_reasons(session)
        assert list(reports.failures(session)["handoff_reasons"]) == list(old_handoff_reasons(session))


def test_exports_are_the_same_and_streamed(db):
    first = TODAY - dt.timedelta(days=364)
    low, high = exports.utc_range(first, TODAY)
    with db.session() as session:
        conversations = exports.export(session, "conversations", first, TODAY)
        assert conversations == old_conversations_csv(session, low, high)
        assert exports.export(session, "handoffs", first, TODAY) == old_handoffs_csv(session, low, high)
        table = list(csv.reader(io.StringIO(conversations.decode("utf-8-sig"))))
        assert len(table) > 140 and all(row[6] == "3" for row in table[-100:])  # 6 messages: 3 of the resident
        chunks = list(exports.stream(session, "conversations", first, TODAY))
        assert len(chunks) >= 2 and b"".join(chunks) == conversations  # a header, then one chunk per batch


def test_work_order_figures_of_a_window(db):
    """A window (the orders created in it) gives what the old code gave for those orders; none: every order."""
    low, high = dt.datetime(2026, 9, 1), dt.datetime(2026, 12, 1)
    with db.session() as session:
        windowed = desk.figures(session, NOW, low, high)
        assert windowed == old_work_order_figures(session, NOW, WorkOrder.created_at >= low, WorkOrder.created_at < high)
        assert 0 < windowed["total"] < desk.figures(session, NOW)["total"]
        assert desk.figures(session, NOW, None, None) == desk.figures(session, NOW)

"""Issue 29, years of data: `wuye demo-data --scale` fills a database in batches, and the staff pages' faster
queries (SQL aggregates, narrow rows, streamed exports, the desk's list) give exactly what the row-by-row code gave,
on the demo data plus a small scaled history, on SQLite and PostgreSQL. The reference implementations below are the
code as it was before issue 29, kept here only to compare against."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import statistics
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text

from bot.core import labels
from bot.core.domain import HandoffStatus
from bot.core.domain import WorkOrderStatus as S
from bot.core.localtime import iso, to_local, to_utc
from bot.kb.community import load_communities
from bot.kb.knowledge import load_knowledge_base
from bot.reporting import daily, exports, reports, work_order_summary
from bot.storage import retention
from bot.storage.db import MIGRATIONS, open_database
from bot.storage.models import (Base, ChatIdentity, Community, Conversation, DailyFigures, Handoff, Message, Rating,
                                Staff, Team, WorkOrder, WorkOrderEvent, WorkOrderSummary)
from bot.tools import scale
from bot.tools.demo import load_demo_data
from bot.work_orders import desk, figures, sla

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


# every column of a handoff but its context card, as the figures read them before the daily aggregates
OLD_HANDOFF_COLUMNS = [column for column in Handoff.__table__.c if column.name != "context"]


def old_figures(session, days: int = 14, today: Optional[dt.date] = None, conversations=None, handoffs=None,
             handed=None, day_of=lambda t: t.date(), window=None, conversation_days=None) -> Dict[str, Any]:
    today = today or dt.date.today()
    start = today - dt.timedelta(days=days - 1)
    counted = None
    if conversation_days is not None:  # (day, conversations, bot only) counted in the database
        total = sum(n for _, n, _ in conversation_days)
        counted = (total, total - sum(b for _, _, b in conversation_days))
    elif conversations is None:  # all time: counted in the database; only the series' days are read (issue 29)
        counted = (session.scalar(select(func.count()).select_from(Conversation)),
                   session.scalar(select(func.count(func.distinct(Handoff.conversation_id)))))  # ever handed off
        conversations = session.execute(select(Conversation.id, Conversation.created_at).where(
            Conversation.created_at >= dt.datetime.combine(start, dt.time()))).all()
    if handoffs is None:
        handoffs = session.execute(select(*OLD_HANDOFF_COLUMNS)).all()
    handed = {h.conversation_id for h in handoffs} if handed is None else handed
    per_day: Dict[str, Dict[str, Any]] = defaultdict(lambda: {"conversations": 0, "bot_only": 0, "handoffs": 0, "waits": []})
    for c in conversations:
        day = day_of(c.created_at)
        if day >= start:
            per_day[day.isoformat()]["conversations"] += 1
            per_day[day.isoformat()]["bot_only"] += c.id not in handed
    for day, n, bot_only_n in conversation_days or []:
        if day >= start:
            per_day[day.isoformat()]["conversations"] += n
            per_day[day.isoformat()]["bot_only"] += bot_only_n
    by_priority: Counter = Counter()
    by_reason: Counter = Counter()
    waits = []
    for h in handoffs:
        by_priority[h.priority] += 1
        for r in h.reasons:
            by_reason[re.sub(r"\s*\(.*\)$", "", r.split(":")[0])] += 1
        day = day_of(h.created_at)
        if day >= start:
            per_day[day.isoformat()]["handoffs"] += 1
            if h.claimed_at:
                wait = (h.claimed_at - h.created_at).total_seconds()
                per_day[day.isoformat()]["waits"].append(wait)
                waits.append(wait)
    series = []
    for i in range(days):
        day = (start + dt.timedelta(days=i)).isoformat()
        d = per_day.get(day, {"conversations": 0, "bot_only": 0, "handoffs": 0, "waits": []})
        series.append({"day": day, "conversations": d["conversations"], "bot_only": d["bot_only"],
                       "handoffs": d["handoffs"],
                       "median_wait_seconds": statistics.median(d["waits"]) if d["waits"] else None})
    total = counted[0] if counted else len(conversations)
    bot_only = (total - counted[1]) if counted else sum(1 for c in conversations if c.id not in handed)
    return {
        **({"start": window[0].isoformat(), "end": window[1].isoformat()} if window else
           {"start": start.isoformat(), "end": today.isoformat()}),
        "ratings": reports.rating_figures(session, start, days),
        "conversations": total,
        "bot_only_share": (bot_only / total) if total else None,
        "handoffs_by_priority": dict(by_priority), "handoffs_by_reason": dict(by_reason.most_common()),
        "triage": reports.triage_figures(by_reason),  # derived from the reasons (unit-tested on its own)
        "median_wait_seconds": statistics.median(waits) if waits else None,
        "per_day": series,
        "teams": old_team_figures(session, handoffs),
    }



def old_team_figures(session, handoffs: List[Handoff]) -> List[Dict[str, Any]]:
    """Per team (技能组) and the general queue (``team_id`` None): waiting now, handled (resolved), the average wait
    before a person took it, and the ratings' average where there are ratings — of the figures' handoffs."""
    names = dict(session.execute(select(Team.id, Team.name)).all())
    scores = dict(session.execute(select(Rating.handoff_id, Rating.score)).all())
    groups: Dict[Optional[int], List[Handoff]] = {team_id: [] for team_id in names}
    groups[None] = []
    for h in handoffs:
        groups.setdefault(h.team_id if h.team_id in names else None, []).append(h)
    result = []
    for team_id, items in groups.items():
        waits = [(h.claimed_at - h.created_at).total_seconds() for h in items if h.claimed_at]
        rated = [scores[h.id] for h in items if h.id in scores]
        result.append({"team_id": team_id, "team": names.get(team_id, "综合队列"), "handoffs": len(items),
                       "waiting": sum(h.status in HandoffStatus.waiting() for h in items),
                       "handled": sum(h.status == HandoffStatus.RESOLVED for h in items),
                       "average_wait_seconds": round(sum(waits) / len(waits)) if waits else None,
                       "ratings": len(rated), "csat": (round(sum(rated) / len(rated), 2) if rated else None)})
    return result


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
    names = {community.id: community.name for community in session.scalars(select(Community))}
    for c in session.scalars(select(Conversation).where(Conversation.created_at >= low, Conversation.created_at < high)
                             .order_by(Conversation.id)):
        messages = list(session.scalars(select(Message).where(Message.conversation_id == c.id).order_by(Message.id)))
        first = next((m.text for m in messages if m.sender == "resident"), "")
        rows.append([c.id, iso(c.created_at), labels.channel_label(c.channel), names.get(c.community_id, ""),
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


def old_failure_groups(session, limit: int = 500):
    """The failed questions as read before issue 29's narrow rows: every reading whole."""
    rows = session.execute(select(Message).where(Message.sender == "resident", Message.nlu.isnot(None))
                           .order_by(Message.id.desc()).limit(5000)).scalars().all()
    failed, question_before, last = [], {}, {}
    for m in reversed(rows):  # a rejection's question: the previous resident message of its own conversation
        if m.conversation_id in last:
            question_before[m.id] = last[m.conversation_id]
        last[m.conversation_id] = m
    for m in rows:
        route = (m.nlu or {}).get("route") or {}
        decision = route.get("decision")
        legacy = "failed" not in route and (decision == "clarify" or (decision == "handoff" and any(
            "failed" in r or "rejected" in r for r in route.get("reasons", []))))
        if route.get("failed") or decision == "reject" or legacy:
            subject = m
            if route.get("action") in ("not_helpful", "repeat") or "rejected" in " ".join(route.get("reasons", [])):
                subject = question_before.get(m.id)
                if subject is None:
                    continue
            faq = (subject.nlu or {}).get("faq") or {}
            failed.append({"message_id": subject.id, "text": subject.text, "reason": route.get("action") or decision,
                           "suggested_faq": faq.get("id"), "at": subject.created_at.isoformat()})
        if len(failed) >= limit:
            break
    groups = reports.group_similar(failed)
    for group in groups:
        group["reasons_labels"] = [reports.failure_label(r) for r in group["reasons"]]
    return groups


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


def old_all_time_figures(session, today):
    return reports._labelled(old_figures(session, 14, today, list(session.scalars(select(Conversation))),
                                         list(session.scalars(select(Handoff)))))


def old_range_figures(session, first, last):
    low = to_utc(dt.datetime.combine(first, dt.time()))
    high = to_utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time()))
    conversations = list(session.scalars(select(Conversation).where(Conversation.created_at >= low,
                                                                    Conversation.created_at < high)))
    handoffs = list(session.scalars(select(Handoff).where(Handoff.created_at >= low, Handoff.created_at < high)))
    handed = {h.conversation_id for h in session.scalars(select(Handoff).where(
        Handoff.conversation_id.in_([c.id for c in conversations])))}
    return reports._labelled(old_figures(session, (last - first).days + 1, last, conversations, handoffs, handed,
                                         day_of=lambda t: to_local(t).date(), window=(first, last)))


def test_admin_figures_and_failures_are_the_same(db):
    with db.session() as session:
        all_time = reports.figures(session, today=TODAY)
        assert all_time == old_all_time_figures(session, TODAY) and all_time["conversations"] > 300
        for first in (TODAY - dt.timedelta(days=29), TODAY - dt.timedelta(days=364)):
            assert reports.figures(session, start=first, end=TODAY) == old_range_figures(session, first, TODAY)
        for start, days in ((TODAY - dt.timedelta(days=13), 14), (TODAY - dt.timedelta(days=400), 401)):
            assert reports.rating_figures(session, start, days) == old_rating_figures(session, start, days)
        assert reports.failures(session)["handoff_reasons"] == old_handoff_reasons(session)
        assert reports.failures(session)["groups"] == old_failure_groups(session)
        assert list(reports.failures(session)["handoff_reasons"]) == list(old_handoff_reasons(session))


MIDNIGHT = dt.datetime(2026, 11, 20, 16, 0)  # UTC: midnight of 2026-11-21 in Asia/Shanghai


def add_conversation(session, identity_id, community, created_at, handoffs=()):
    conversation = Conversation(identity_id=identity_id, channel="web", community_id=community, created_at=created_at,
                                updated_at=created_at)
    session.add(conversation)
    session.flush()
    for at, priority, reasons, claimed in handoffs:
        session.add(Handoff(conversation_id=conversation.id, priority=priority, reasons=reasons, context={},
                            status="resolved" if claimed else "queued", created_at=at, claimed_at=claimed))
    session.flush()
    return conversation


def figures_of(session):
    """Every figure the admin page asks for: all time, the last 30 days and a year, the days either side of a
    local midnight, the one day itself, and a range ending on a day not summarised yet."""
    day = MIDNIGHT.date() + dt.timedelta(days=1)
    ranges = [(TODAY - dt.timedelta(days=29), TODAY), (TODAY - dt.timedelta(days=364), TODAY),
              (day - dt.timedelta(days=1), day), (day, day), (TODAY - dt.timedelta(days=3), TODAY)]
    return ([reports.figures(session, today=TODAY)] + [reports.figures(session, start=a, end=b) for a, b in ranges],
            [old_all_time_figures(session, TODAY)] + [old_range_figures(session, a, b) for a, b in ranges])


def test_daily_figures_give_the_same_figures_and_survive_retention(db, settings):
    """Closed days summarised (daily_figures) plus the other days counted from the rows give exactly the figures
    read from every row: before summarising, after, with handoffs and claims that come after the summary, with two
    summarisers racing, and after retention deleted the old messages (nothing changes then)."""
    day = MIDNIGHT.date() + dt.timedelta(days=1)
    with db.session() as session:
        base = [d["conversations"] for d in reports.figures(session, start=day - dt.timedelta(days=1), end=day)["per_day"]]
        identity_id = session.scalar(select(ChatIdentity.id))
        # either side of a 小区-local midnight, in two 小区 and without one; a conversation handed off twice, with
        # a reason twice; waits on both days
        add_conversation(session, identity_id, "jinxiu", MIDNIGHT - dt.timedelta(seconds=1), [
            (MIDNIGHT - dt.timedelta(seconds=1), "urgent", ["emergency keyword: 漏水 (0.9)", "emergency keyword: 火"],
             MIDNIGHT + dt.timedelta(minutes=3))])
        add_conversation(session, identity_id, "jinxiu", MIDNIGHT, [
            (MIDNIGHT, "normal", ["asked for a person"], MIDNIGHT + dt.timedelta(minutes=7)),
            (MIDNIGHT + dt.timedelta(hours=2), "high", ["two failed understandings"], None)])
        add_conversation(session, identity_id, "binjiang", MIDNIGHT + dt.timedelta(hours=15, minutes=59, seconds=59))
        add_conversation(session, identity_id, None, MIDNIGHT - dt.timedelta(hours=8))
        old_one = add_conversation(session, identity_id, "binjiang", MIDNIGHT - dt.timedelta(days=40))
    with db.session() as session:
        before, old = figures_of(session)
        assert before == old
        assert before[4]["conversations"] == base[1] + 2 and {"normal", "high"} <= set(before[4]["handoffs_by_priority"])
        # the day before the local midnight got 23:59:59 and the one without a 小区, the day after 00:00 and 23:59:59
        assert [d["conversations"] for d in before[3]["per_day"]] == [base[0] + 2, base[1] + 2]
    with db.session() as session:
        written = daily.summarise(session, TODAY)
        assert written > 600  # two years of history: every day up to TODAY - 2
    with db.session() as session:
        assert daily.summarise(session, TODAY) == 0  # once
        assert session.scalar(select(func.max(DailyFigures.day))) == TODAY - dt.timedelta(days=daily.SETTLE_DAYS)
        jinxiu = session.get(DailyFigures, (MIDNIGHT.date() + dt.timedelta(days=1), "jinxiu"))
        assert jinxiu.handoffs_by_reason["asked for a person"][0] == 1
        after, old = figures_of(session)
        assert after == old == before
        # ties in the order of their first handoff's id, summarised or not (the row-by-row code had them in the order
        # the database returned the rows, which differs between query plans)
        assert [list(f["handoffs_by_reason"]) for f in after] == [list(f["handoffs_by_reason"]) for f in before]
        assert [list(f["handoffs_by_priority"]) for f in after] == [list(f["handoffs_by_priority"]) for f in before]
    with db.session() as session:  # what can change after a day is summarised is read from the rows
        waiting = session.scalar(select(Handoff).where(Handoff.claimed_at.is_(None), Handoff.created_at >= MIDNIGHT,
                                                       Handoff.created_at < MIDNIGHT + dt.timedelta(days=1)))
        waiting.claimed_at, waiting.status = MIDNIGHT + dt.timedelta(hours=5), "resolved"
        session.add(Handoff(conversation_id=old_one.id, priority="normal", reasons=["asked for a person"], context={},
                            status="queued", created_at=NOW - dt.timedelta(hours=1)))
    with db.session() as session:
        changed, old = figures_of(session)
        assert changed == old and changed != before
    with db.session() as session:  # another worker wrote part of a day first: the rest is added, nothing twice
        session.execute(DailyFigures.__table__.delete().where(DailyFigures.day == day,
                                                              DailyFigures.community_id == daily.NO_COMMUNITY))
    with db.session() as session:
        assert daily.summarise(session, TODAY) == 1
    with db.session() as session:
        assert figures_of(session)[0] == changed
    with db.session() as session:  # each day's row of every 小区, as migration 0018 writes it for older summaries
        every = {d.day: (d.conversations, d.handoffs_by_priority, d.handoffs_by_reason) for d in session.scalars(
            select(DailyFigures).where(DailyFigures.community_id == daily.EVERY_COMMUNITY))}
        assert len(every) > 600
        session.execute(DailyFigures.__table__.delete().where(DailyFigures.community_id == daily.EVERY_COMMUNITY))
    with db.session() as session:  # without them the days are counted from the rows: the same figures
        assert figures_of(session)[0] == changed
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0017")
        command.upgrade(config, "head")
    with db.session() as session:
        assert every == {d.day: (d.conversations, d.handoffs_by_priority, d.handoffs_by_reason) for d in session.scalars(
            select(DailyFigures).where(DailyFigures.community_id == daily.EVERY_COMMUNITY))}
        assert figures_of(session)[0] == changed
    counts = retention.run(db, dataclasses.replace(settings, retention_messages_days=30), NOW)
    assert counts["messages"] > 1000
    with db.session() as session:
        assert session.scalar(select(func.min(Message.created_at))) > NOW - dt.timedelta(days=31)
        assert figures_of(session)[0] == changed


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


def rate(session, order_id, note, at=NOW):
    session.add(WorkOrderEvent(work_order_id=order_id, status=S.DONE.value, note=note, actor="resident", created_at=at))


def test_work_order_summary_gives_the_same_figures(db):
    """The closed orders summarised (work_order_totals, work_order_durations, the pass's ratings) plus the other orders
    counted from the rows give exactly what the old code gives from every order: before any pass, after one, with
    orders closed, opened and rated (again, or with a note without a score) after it, with a ``now`` before the
    pass's cutoff, and after a second pass and one racing it."""
    assert work_order_summary.RATING_PREFIX == desk.RATING_PREFIX
    cutoff = to_utc(dt.datetime.combine(TODAY, dt.time()))
    with db.session() as session:
        assert figures.figures(session, NOW) == old_work_order_figures(session, NOW)  # no pass yet: every row
    with db.session() as session:
        daily.summarise(session, TODAY)  # the timers' pass summarises the orders too, once a day
        daily.summarise(session, TODAY)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(WorkOrderSummary)) == 1
        summarised = session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.summary_id.isnot(None)))
        live = session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.summary_id.is_(None)))
        assert summarised > 300 and 0 < live < summarised
        new, old = figures.figures(session, NOW), old_work_order_figures(session, NOW)
        assert new == old and list(new["by_category"]) == list(old["by_category"])
        assert new["ratings"]["count"] > 10 and new["median_minutes_to_completion"] and new["median_minutes_to_response"]
        before = new
        # a summarised order with the median's duration taken again by an open one: the same minute, both sides
        middle = session.scalar(select(WorkOrder).where(WorkOrder.summary_id.isnot(None),
                                                        WorkOrder.completed_at.isnot(None)).order_by(WorkOrder.id))
        open_ones = list(session.scalars(select(WorkOrder).where(WorkOrder.status.notin_(S.closed()))
                                         .order_by(WorkOrder.id).limit(4)))
        open_ones[0].status, open_ones[0].completed_at = S.DONE.value, open_ones[0].created_at + (
            middle.completed_at - middle.created_at)
        open_ones[0].first_response_at = open_ones[0].first_response_at or open_ones[0].created_at + dt.timedelta(
            minutes=5)
        open_ones[1].status = S.CANCELLED.value
        open_ones[2].response_due = NOW + dt.timedelta(hours=1)  # still open, its deadline ahead
        rated = list(session.scalars(select(WorkOrder.id).where(WorkOrder.summary_id.isnot(None),
                                                                WorkOrder.status == S.DONE.value).limit(3)))
        rate(session, rated[0], desk.RATING_PREFIX + "1 分")
        rate(session, rated[1], desk.RATING_PREFIX + "5 分")
        rate(session, rated[1], desk.RATING_PREFIX + "没有分")  # the latest has no score: not rated any more
        rate(session, open_ones[3].id, desk.RATING_PREFIX + "4 分")
    with db.session() as session:
        new, old = figures.figures(session, NOW), old_work_order_figures(session, NOW)
        assert new == old and new != before
        earlier = cutoff - dt.timedelta(hours=30)  # before the pass's cutoff: every row, as the old code
        assert figures.figures(session, earlier) == old_work_order_figures(session, earlier)
        assert figures.figures(session, NOW, dt.datetime(2026, 9, 1), None) == old_work_order_figures(
            session, NOW, WorkOrder.created_at >= dt.datetime(2026, 9, 1))
    later = NOW + dt.timedelta(days=1)
    with db.session() as session:
        assert daily.summarise(session, TODAY + dt.timedelta(days=1)) >= 0
        assert session.scalar(select(WorkOrder.summary_id).where(WorkOrder.id == open_ones[0].id)) is not None
        assert session.scalar(select(WorkOrder.summary_id).where(WorkOrder.id == open_ones[2].id)) is None
    with db.session() as session:  # a second pass at the same cutoff (another worker) adds nothing twice
        assert work_order_summary.summarise(session, to_utc(dt.datetime.combine(TODAY + dt.timedelta(days=1),
                                                                                dt.time()))) == 0
    with db.session() as session:
        assert figures.figures(session, later) == old_work_order_figures(session, later)


@pytest.mark.parametrize("value", [0, 7, 9_999_999_999, 10 ** 10, 13812345678, -5, None, "", "=1+1", "-3", "@x",
                                   "电话13812345678", "已解决", True])
def test_export_cells_are_written_as_before(value):
    """The exports' shortcuts (ids and counts as their digits, repeated values worked out once) write each cell as
    _cell does: quoted formula signs, masked phone numbers."""
    assert exports._int_cell(value) == exports._cell(value)
    cells = exports._Cells()
    assert cells[value] == cells[value] == exports._cell(value)

"""The work-order figures of every order (GET /api/admin/work-order-figures, the admin page's 工单数据), read from the
summary of closed orders (bot/reporting/work_order_summary.py) plus the orders not summarised, counted from the rows.

Equal to :func:`bot.work_orders.desk.figures` (tests/integration/test_scale.py holds them so): the counts and SLA
shares are sums; each median finds its minute in the summarised orders' per-minute counts merged with the other
orders' times, then reads the exact times of that minute only; the ratings are the last pass's count corrected by
the rating events after it. A window of dates, no summary yet, or a ``now`` before the latest pass's cutoff: the
figures are read from every row (desk.figures)."""
from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from collections import Counter
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select

from bot.reporting import work_order_summary as summary
from bot.storage.models import WorkOrder, WorkOrderDurations, WorkOrderEvent, WorkOrderSummary, WorkOrderTotals
from bot.work_orders import desk


def figures(session, now: dt.datetime, start: Optional[dt.datetime] = None,
            end: Optional[dt.datetime] = None) -> Dict[str, Any]:
    if start is not None or end is not None:
        return desk.figures(session, now, start, end)
    latest = summary.latest_pass(session)
    cutoff = session.scalar(select(func.max(WorkOrderSummary.cutoff)))
    if latest is None or now < cutoff:
        return desk.figures(session, now)
    return _summarised(session, now, latest)


def _summarised(session, now: dt.datetime, latest: WorkOrderSummary) -> Dict[str, Any]:
    o = WorkOrder
    live = o.summary_id.is_(None)  # the open orders and the few closed since the pass: counted as desk.figures does
    rows = desk.grouped_counts(session, now, live)
    live_times: Dict[str, List[dt.timedelta]] = {kind: [] for kind in summary.KINDS}
    for created_at, *times in session.execute(select(o.created_at, *summary.KINDS.values()).where(
            live, o.first_response_at.isnot(None) | o.completed_at.isnot(None))):
        for kind, later in zip(summary.KINDS, times):
            if later is not None:
                live_times[kind].append(later - created_at)
    t = WorkOrderTotals
    # the summarised orders are closed: none is open or overdue
    rows += [(status, category, n, first_id, 0, 0, a, b, c, d) for status, category, n, first_id, a, b, c, d in
             session.execute(select(t.status, t.category, t.orders, t.first_id, t.response_measured, t.response_met,
                                    t.completion_measured, t.completion_met))]
    to_response, to_completion = (_median(session, kind, live_times[kind]) for kind in summary.KINDS)
    return desk.figures_json(rows, _ratings(session, latest), to_response, to_completion)


def _median(session, kind: str, live: List[dt.timedelta]) -> Optional[float]:
    """The median in minutes of the summarised orders' durations of ``kind`` and ``live``, as statistics.median of
    every order's minutes would give it: the middle rank(s) located by whole minute, then that minute's exact
    durations read (on PostgreSQL from an index, each distinct duration once with its count)."""
    histogram: Counter = Counter(dict(session.execute(select(WorkOrderDurations.minute, WorkOrderDurations.orders)
                                                      .where(WorkOrderDurations.kind == kind)).all()))
    live_minutes: Dict[int, Counter] = {}
    for d in live:
        live_minutes.setdefault(d // summary.MINUTE, Counter())[d] += 1
    n = sum(histogram.values()) + len(live)
    if not n:
        return None
    wanted = sorted({(n - 1) // 2, n // 2})
    middle: List[dt.timedelta] = []
    seen = 0
    for minute in sorted(set(histogram) | set(live_minutes)):
        here = histogram.get(minute, 0) + sum(live_minutes.get(minute, {}).values())
        if any(seen <= r < seen + here for r in wanted):
            durations = _summarised_in_minute(session, kind, minute) + live_minutes.get(minute, Counter())
            for duration in sorted(durations):
                middle += [duration for r in wanted if seen <= r < seen + durations[duration]]
                seen += durations[duration]
        else:
            seen += here
        if seen > wanted[-1]:
            break
    return round(statistics.median([d.total_seconds() / 60 for d in middle]), 1)


def _summarised_in_minute(session, kind: str, minute: int) -> Counter:
    """Duration → summarised orders of ``kind`` taking exactly that long, within one whole minute. PostgreSQL counts
    each distinct duration (its epoch arithmetic is exact to the microsecond); SQLite reads the rows, a second either
    side of the minute (its julianday arithmetic rounds), and keeps the minute's in Python."""
    o = WorkOrder
    later = summary.KINDS[kind]
    seconds = desk.seconds_between(session, later, o.created_at)
    where = (o.summary_id.isnot(None), later.isnot(None))
    if session.get_bind().dialect.name == "postgresql":
        return Counter({dt.timedelta(microseconds=int(Decimal(value) * 1_000_000)): n for value, n in session.execute(
            select(seconds, func.count()).where(*where, seconds >= minute * 60, seconds < minute * 60 + 60)
            .group_by(seconds))})
    rows = session.execute(select(later, o.created_at).where(
        *where, seconds >= minute * 60 - 1, seconds < minute * 60 + 61))
    return Counter(d for d in (a - b for a, b in rows) if d // summary.MINUTE == minute)


def _ratings(session, latest: WorkOrderSummary) -> Counter:
    """Score → orders so rated (their latest rating event): the pass's count, corrected by the events after it."""
    counts: Counter = Counter({int(k): v for k, v in latest.ratings.items()})
    e = WorkOrderEvent
    after = select(e.work_order_id).where(*summary.rated_events(e.id > latest.last_event_id))
    before: Dict[int, Optional[int]] = {}
    now: Dict[int, Optional[int]] = {}
    for order_id, event_id, char in session.execute(select(e.work_order_id, e.id, summary.rating_digit()).where(
            *summary.rated_events(e.work_order_id.in_(after))).order_by(e.work_order_id, e.id)):
        if event_id <= latest.last_event_id:
            before[order_id] = summary.score(char)
        now[order_id] = summary.score(char)
    for order_id, score in now.items():
        if before.get(order_id) is not None:
            counts[before[order_id]] -= 1
        if score is not None:
            counts[score] += 1
    return +counts

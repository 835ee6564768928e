"""The work-order figures' summary of closed orders (issue 29: the figures of 300 k orders took 0.5–0.8 s at scale,
every request scanning every order twice and every rating event twice).

A closed order (已完成 or 已取消: no move leads out of them) whose deadlines have all been met or passed cannot
change its figures any more: its status, category, SLA counts and times to response and completion are final. A
summary pass (run by the timers loop with the daily figures, bot/reporting/daily.py) marks such orders with its id
(``work_orders.summary_id``) and adds them to ``work_order_totals`` (per status and category) and
``work_order_durations`` (per whole minute, for the medians); every request then reads those sums and counts only the
unmarked orders (the open ones and the few closed since) from the rows: bot/work_orders/figures.py.

"Deadlines passed" is measured against the pass's ``cutoff``; a request whose ``now`` is earlier than the latest
cutoff could count a deadline differently, so it reads every order from the rows instead. Ratings can come after
an order is closed: each pass records every order's latest rating among the events up to ``last_event_id``, and a
request corrects it with the rating events after that (few: a day's).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Dict, Iterable, List, Optional, Tuple

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.core.domain import WorkOrderStatus as S
from bot.storage.models import WorkOrder, WorkOrderDurations, WorkOrderEvent, WorkOrderSummary, WorkOrderTotals

RATING_PREFIX = "业主评价："  # as bot/work_orders/desk.py writes a resident's rating event (a test holds them equal)
MINUTE = dt.timedelta(minutes=1)
KINDS = {"response": WorkOrder.first_response_at, "completion": WorkOrder.completed_at}
_BATCH = 150  # rows per insert: under SQLite's 999 bound values


def settled(cutoff: dt.datetime):
    """Closed, and nothing about it that depends on the request's ``now`` can still change after ``cutoff``."""
    o = WorkOrder
    return and_(o.status.in_(S.closed()),
                or_(o.first_response_at.isnot(None), o.response_due.is_(None), o.response_due < cutoff),
                or_(o.status == S.CANCELLED.value, o.completed_at.isnot(None), o.completion_due.is_(None),
                    o.completion_due < cutoff))


def minute_of(later: Optional[dt.datetime], earlier: dt.datetime) -> Optional[int]:
    """The whole minute a duration falls in, exactly (integer arithmetic on the microseconds)."""
    return None if later is None else (later - earlier) // MINUTE


def rated_events(*where) -> tuple:
    e = WorkOrderEvent
    return (e.actor == "resident", e.note.like(RATING_PREFIX + "%"), *where)


def rating_digit():
    return func.substr(WorkOrderEvent.note, len(RATING_PREFIX) + 1, 1)


def score(char: Optional[str]) -> Optional[int]:
    match = re.match(r"\d", char or "")
    return int(match.group(0)) if match else None


def latest_ratings(session, *where) -> Counter:
    """Score → orders whose latest rating event (of those matching ``where``) gives that score: every rating counted
    by its digit in one grouped scan, then the orders rated more than once corrected to their latest."""
    e = WorkOrderEvent
    rated = rated_events(*where)
    digit = rating_digit()
    counts: Counter = Counter()
    for char, n in session.execute(select(digit, func.count()).where(*rated).group_by(digit)):
        if score(char) is not None:
            counts[score(char)] += n
    again = select(e.work_order_id).where(*rated).group_by(e.work_order_id).having(func.count() > 1)
    latest: Dict[int, Optional[int]] = {}
    for order_id, _, char in session.execute(select(e.work_order_id, e.id, digit).where(
            *rated, e.work_order_id.in_(again)).order_by(e.work_order_id, e.id)):
        if order_id in latest and latest[order_id] is not None:
            counts[latest[order_id]] -= 1  # an earlier rating of the same order: only the latest counts
        latest[order_id] = score(char)
    return +counts


def _insert(session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _add(session, table, rows: List[Dict], keys: Tuple[str, ...], summed: Iterable[str], least: Iterable[str] = ()):
    """Add ``rows`` to ``table``'s sums (insert, or add to the row already there: two passes at once both add)."""
    smallest = func.least if session.get_bind().dialect.name == "postgresql" else func.min
    for i in range(0, len(rows), _BATCH):
        statement = _insert(session)(table).values(rows[i:i + _BATCH])
        changes = {c: getattr(table.c, c) + getattr(statement.excluded, c) for c in summed}
        changes.update({c: smallest(getattr(table.c, c), getattr(statement.excluded, c)) for c in least})
        session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


def summarise(session, cutoff: dt.datetime) -> int:
    """One pass: mark the settled closed orders not summarised yet, add them to the sums, and record every order's
    latest rating up to the last event created before ``cutoff``. Returns how many orders were added."""
    o = WorkOrder
    pass_row = WorkOrderSummary(cutoff=cutoff, last_event_id=0, ratings={})
    session.add(pass_row)
    session.flush()
    # orders another pass marks at the same time are skipped here (the row lock, then the re-checked IS NULL)
    added = session.execute(update(o).where(o.summary_id.is_(None), settled(cutoff))
                            .values(summary_id=pass_row.id, updated_at=o.updated_at)
                            .execution_options(synchronize_session=False)).rowcount
    mine = o.summary_id == pass_row.id
    if added:
        def total(condition):
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        # as bot/work_orders/desk.py counts them, with the cutoff for the request's now: equal for any now after it
        response_measured = o.response_due.isnot(None) & (o.first_response_at.isnot(None) | (o.response_due < cutoff))
        completion_measured = (o.completion_due.isnot(None) & (o.status != S.CANCELLED.value)
                               & (o.completed_at.isnot(None) | (o.completion_due < cutoff)))
        totals = session.execute(select(
            o.status, o.category, func.count(), func.min(o.id), total(response_measured),
            total(response_measured & o.first_response_at.isnot(None) & (o.first_response_at <= o.response_due)),
            total(completion_measured),
            total(completion_measured & o.completed_at.isnot(None) & (o.completed_at <= o.completion_due)))
            .where(mine).group_by(o.status, o.category)).all()
        _add(session, WorkOrderTotals.__table__,
             [{"status": status, "category": category, "orders": n, "first_id": first_id,
               "response_measured": int(a), "response_met": int(b), "completion_measured": int(c),
               "completion_met": int(d)} for status, category, n, first_id, a, b, c, d in totals],
             ("status", "category"), ("orders", "response_measured", "response_met", "completion_measured",
                                      "completion_met"), ("first_id",))
        minutes: Counter = Counter()
        for created_at, *times in session.execute(select(o.created_at, *KINDS.values()).where(mine)):
            for kind, later in zip(KINDS, times):
                if later is not None:
                    minutes[(kind, minute_of(later, created_at))] += 1
        _add(session, WorkOrderDurations.__table__,
             [{"kind": kind, "minute": minute, "orders": n} for (kind, minute), n in sorted(minutes.items())],
             ("kind", "minute"), ("orders",))
    # ratings: recounted whole each pass (a rating can come long after the order closed); the events after
    # last_event_id are read by every request. Events created before the cutoff were committed long before it.
    last_event_id = session.scalar(select(func.max(WorkOrderEvent.id)).where(WorkOrderEvent.created_at < cutoff)) or 0
    ratings = latest_ratings(session, WorkOrderEvent.id <= last_event_id)
    pass_row.last_event_id = last_event_id
    pass_row.ratings = {str(k): v for k, v in sorted(ratings.items())}
    return added


def latest_pass(session) -> Optional[WorkOrderSummary]:
    return session.scalar(select(WorkOrderSummary).order_by(WorkOrderSummary.id.desc()).limit(1))

"""Daily aggregates of the admin figures (issue 29 point 4: a year's figures read the summary of each day, not every
conversation and handoff, and retention can delete old rows without changing them).

A 小区-local day is summarised once it is ``SETTLE_DAYS`` days old (rows created with a slightly late clock still land
in a day not yet summarised): one ``daily_figures`` row per (day, 小区), written by the timers loop (bot/timers.py)
with an insert that skips rows already there, so two workers summarising the same day write it once. Days not yet
summarised (today, yesterday, any gap) are counted from the rows by bot/reporting/reports.py; the figures are the sum.

What is summarised cannot change after the day: conversations created, and their handoffs' priorities and reasons.
Whether a conversation was ever handed off, waits, statuses, teams and ratings can still change later, so they are
read from the (narrow) rows every time."""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from sqlalchemy import and_, false, func, or_, select, text, true
from sqlalchemy.dialects import postgresql, sqlite

from bot.core.localtime import to_local, to_utc
from bot.reporting import work_order_summary
from bot.storage.models import Conversation, DailyFigures, Handoff, WorkOrderSummary

SETTLE_DAYS = 2
NO_COMMUNITY = ""  # the key of conversations without a 小区; its row marks the day as summarised
EVERY_COMMUNITY = "*"  # the key of the day's sums over every 小区: what the figures read (a year: 365 rows)
_BATCH = 150  # rows per insert: 900 bound values, under the 999 of SQLite before 3.32

Range = Tuple[Optional[dt.datetime], Optional[dt.datetime]]  # [low, high) in stored UTC times; None: unbounded


def reason_key(reason: str) -> str:
    """A handoff reason as the figures group it: the part before ":", the score dropped."""
    return re.sub(r"\s*\(.*\)$", "", reason.split(":")[0])


def utc_bounds(first: dt.date, last: dt.date) -> Tuple[dt.datetime, dt.datetime]:
    """[low, high) in UTC of the 小区-local days ``first`` to ``last``, both included."""
    return (to_utc(dt.datetime.combine(first, dt.time())),
            to_utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time())))


def _runs(days: Iterable[dt.date]) -> List[Tuple[dt.date, dt.date]]:
    runs: List[List[dt.date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def live_ranges(summarised: Set[dt.date], low: Optional[dt.datetime] = None,
                high: Optional[dt.datetime] = None) -> List[Range]:
    """The parts of [low, high) not covered by a summarised day: what is counted from the rows."""
    ranges: List[Range] = []
    cursor = low
    for first, last in _runs(summarised):
        a, b = utc_bounds(first, last)
        if (high is not None and a >= high) or (cursor is not None and b <= cursor):
            continue
        if cursor is None or a > cursor:
            ranges.append((cursor, a))
        cursor = b
    if high is None or cursor is None or cursor < high:
        ranges.append((cursor, high))
    return ranges


def in_ranges(column, ranges: List[Range]):
    """A condition: ``column`` falls in one of ``ranges`` (false for none)."""
    parts = [and_(column >= a if a is not None else true(), column < b if b is not None else true())
             for a, b in ranges]
    return or_(*parts) if parts else false()


@dataclass
class Summary:
    days: Set[dt.date] = field(default_factory=set)
    conversations: Dict[dt.date, int] = field(default_factory=dict)
    by_priority: Dict[str, List[int]] = field(default_factory=dict)  # key: [count, first handoff id]
    by_reason: Dict[str, List[int]] = field(default_factory=dict)


# the maps summed in the database; the empty ones (most (day, 小区) have no handoff) skipped before json_each, which
# costs more per row than the comparison (60 -> 44 ms over two years of 50 小区 on PostgreSQL)
_SUM_POSTGRESQL = ("SELECT j.key, sum((j.value->>0)::int), min((j.value->>1)::int) FROM daily_figures, "
                   "json_each(daily_figures.{column}) AS j WHERE {where} AND daily_figures.{column}::text <> '{{}}' "
                   "GROUP BY j.key")
_SUM_SQLITE = ("SELECT j.key, sum(json_extract(j.value, '$[0]')), min(json_extract(j.value, '$[1]')) "
               "FROM daily_figures, json_each(daily_figures.{column}) AS j WHERE {where} "
               "AND daily_figures.{column} <> '{{}}' GROUP BY j.key")


def summary(session, first: Optional[dt.date] = None, last: Optional[dt.date] = None) -> Summary:
    """The summarised days between ``first`` and ``last`` (None: all), their conversations per day (every 小区) and
    their handoffs per priority and reason (summed in the database)."""
    window = tuple(c for c in (DailyFigures.day >= first if first else None,
                               DailyFigures.day <= last if last else None) if c is not None)
    result = Summary()
    marked = set(session.scalars(select(DailyFigures.day).where(DailyFigures.community_id == NO_COMMUNITY, *window)))
    if not marked:
        return result
    # the days' rows of every 小区 (one a day: a year reads 365 rows), of the days marked summarised
    result.conversations = {day: n for day, n in session.execute(select(DailyFigures.day, DailyFigures.conversations)
                                                                 .where(DailyFigures.community_id == EVERY_COMMUNITY,
                                                                        *window)) if day in marked}
    result.days = set(result.conversations)
    sql = _SUM_POSTGRESQL if session.get_bind().dialect.name == "postgresql" else _SUM_SQLITE
    where = " AND ".join(["daily_figures.community_id = :every",
                          "daily_figures.day IN (SELECT marks.day FROM daily_figures AS marks "
                          "WHERE marks.community_id = :none)"]
                         + (["daily_figures.day >= :first"] if first else [])
                         + (["daily_figures.day <= :last"] if last else []))
    params = {"first": first, "last": last, "every": EVERY_COMMUNITY, "none": NO_COMMUNITY}
    for column, target in (("handoffs_by_priority", result.by_priority), ("handoffs_by_reason", result.by_reason)):
        for key, n, first_id in session.execute(text(sql.format(column=column, where=where)), params):
            target[key] = [int(n), int(first_id)]
    return result


def day_totals(rows: Iterable[Tuple[dt.date, Dict]]) -> Dict[dt.date, Dict]:
    """The (day, 小区) rows summed per day: the day's row of every 小区 (``EVERY_COMMUNITY``)."""
    totals: Dict[dt.date, Dict] = defaultdict(lambda: {"conversations": 0, "handoffs_by_priority": {},
                                                       "handoffs_by_reason": {}})
    for day, row in rows:
        total = totals[day]
        total["conversations"] += row["conversations"]
        for column in ("handoffs_by_priority", "handoffs_by_reason"):
            for key, (n, first_id) in row[column].items():
                counted = total[column].setdefault(key, [0, first_id])
                counted[0] += n
                counted[1] = min(counted[1], first_id)
    return totals


def summarise(session, today: dt.date) -> int:
    """Write the summary of every day up to ``today`` - SETTLE_DAYS (小区-local) not summarised yet; returns how many
    days were written. Safe to run from several workers at once: a (day, 小区) already there is left as it is.

    The same pass, once a day, summarises the closed work orders whose deadlines passed before today's local
    midnight (bot/reporting/work_order_summary.py)."""
    cutoff = to_utc(dt.datetime.combine(today, dt.time()))
    if not session.scalar(select(func.count()).select_from(WorkOrderSummary).where(WorkOrderSummary.cutoff >= cutoff)):
        work_order_summary.summarise(session, cutoff)
    return _summarise_days(session, today)


def _summarise_days(session, today: dt.date) -> int:
    last = today - dt.timedelta(days=SETTLE_DAYS)
    oldest = session.scalar(select(func.min(Conversation.created_at)))
    if oldest is None or to_local(oldest).date() > last:
        return 0
    first = to_local(oldest).date()
    done = set(session.scalars(select(DailyFigures.day).where(
        DailyFigures.community_id == NO_COMMUNITY, DailyFigures.day >= first, DailyFigures.day <= last)))
    todo = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    todo = [day for day in todo if day not in done]
    if not todo:
        return 0
    rows: Dict[Tuple[dt.date, str], Dict] = defaultdict(lambda: {"conversations": 0, "handoffs_by_priority": {},
                                                                 "handoffs_by_reason": {}})
    for a, b in _runs(todo):
        low, high = utc_bounds(a, b)
        for created_at, community in session.execute(
                select(Conversation.created_at, Conversation.community_id)
                .where(Conversation.created_at >= low, Conversation.created_at < high)):
            rows[(to_local(created_at).date(), community or NO_COMMUNITY)]["conversations"] += 1
        for handoff_id, created_at, priority, reasons, community in session.execute(
                select(Handoff.id, Handoff.created_at, Handoff.priority, Handoff.reasons, Conversation.community_id)
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .where(Handoff.created_at >= low, Handoff.created_at < high).order_by(Handoff.id)):
            row = rows[(to_local(created_at).date(), community or NO_COMMUNITY)]
            keys = [("handoffs_by_priority", priority)] + [("handoffs_by_reason", reason_key(r)) for r in reasons]
            for column, key in keys:
                counted = row[column].setdefault(key, [0, handoff_id])
                counted[0] += 1
    now = dt.datetime.utcnow()
    values = [{"day": day, "community_id": community, "summarised_at": now, **row}
              for (day, community), row in rows.items()]
    values += [{"day": day, "community_id": NO_COMMUNITY, "summarised_at": now, "conversations": 0,
                "handoffs_by_priority": {}, "handoffs_by_reason": {}}
               for day in todo if (day, NO_COMMUNITY) not in rows]
    totals = day_totals((day, row) for (day, _), row in rows.items())
    values += [{"day": day, "community_id": EVERY_COMMUNITY, "summarised_at": now, **totals[day]} for day in todo]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for i in range(0, len(values), _BATCH):
        session.execute(insert(DailyFigures).values(values[i:i + _BATCH])
                        .on_conflict_do_nothing(index_elements=["day", "community_id"]))
    return len(todo)

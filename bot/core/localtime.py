"""Time: stored in UTC (naive ``datetime`` in UTC, as the database columns hold), sent with the zone (ISO 8601),
and turned into each 小区's local time (``time_zone`` in data/communities.yml, default Asia/Shanghai) for agent
hours, answers ("今天", "明天") and numbers that carry a date. Statutory holidays and 调休 working days come
from the ``chinese-calendar`` package.

Agent hours per 小区: ``agent_hours`` (every working day), optional ``weekend_agent_hours`` (Saturdays and
Sundays that are not 调休 working days; default: ``agent_hours``) and ``holiday_agent_hours`` (statutory
holidays; default: closed — a callback ticket).
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Dict, Optional, Tuple
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "Asia/Shanghai"
HOLIDAY_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                 "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
                 "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利纪念日"}


def utcnow() -> dt.datetime:
    """The app's clock: now in UTC, naive (what is stored)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def to_local(utc: dt.datetime, time_zone: str = DEFAULT_TIME_ZONE) -> dt.datetime:
    return utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)


def to_utc(local: dt.datetime, time_zone: str = DEFAULT_TIME_ZONE) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(time_zone)).astimezone(dt.timezone.utc).replace(tzinfo=None)


def iso(utc: Optional[dt.datetime], time_zone: str = DEFAULT_TIME_ZONE) -> Optional[str]:
    """A stored (UTC) time for the API: ISO 8601 with the zone's offset (2026-11-28T12:00:00+08:00), so a
    program reads the instant and a page can show the 小区's wall-clock time from the first 16 characters."""
    if utc is None:
        return None
    return utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(time_zone)).isoformat(timespec="seconds")


def holiday(day: dt.date) -> Optional[str]:
    """The statutory holiday's Chinese name on that day, or None (also for years the package does not know)."""
    try:
        import chinese_calendar

        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except (NotImplementedError, ImportError):
        return None
    return HOLIDAY_NAMES.get(name, name) if on_holiday and name else None


def is_workday(day: dt.date) -> bool:
    """Monday–Friday, or a weekend day that is a 调休 working day; never a statutory holiday."""
    try:
        import chinese_calendar

        return chinese_calendar.is_workday(day)
    except (NotImplementedError, ImportError):
        return day.weekday() < 5


def _span(hours: str) -> Optional[Tuple[dt.time, dt.time]]:
    try:
        start, end = hours.split("-")
        return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())
    except ValueError:
        return None


def hours_on(values: Dict[str, str], day: dt.date) -> Tuple[Optional[Tuple[dt.time, dt.time]], str]:
    """The agents' opening span on that (local) day, None when closed, and why ("", "国庆节", "周末")."""
    name = holiday(day)
    if name:
        return (_span(values["holiday_agent_hours"]) if values.get("holiday_agent_hours") else None), name
    if day.weekday() >= 5 and not is_workday(day):
        return _span(values.get("weekend_agent_hours") or values.get("agent_hours") or "00:00-23:59"), "周末"
    return _span(values.get("agent_hours") or "00:00-23:59"), ""


def agents_working(values: Dict[str, str], local: dt.datetime) -> Tuple[bool, str]:
    span, why = hours_on(values, local.date())
    return bool(span and span[0] <= local.time() <= span[1]), why


def next_opening(values: Dict[str, str], local: dt.datetime) -> dt.datetime:
    """The first local moment at or after ``local`` when agents work (looks up to 15 days ahead)."""
    for offset in range(15):
        day = local.date() + dt.timedelta(days=offset)
        span, _ = hours_on(values, day)
        if span is None:
            continue
        start, end = dt.datetime.combine(day, span[0]), dt.datetime.combine(day, span[1])
        if local <= end:
            return max(start, local)
    return local


Clock = Callable[[], dt.datetime]

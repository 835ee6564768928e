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
import functools
import re
from dataclasses import dataclass
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
    return _iso(utc, time_zone)


@functools.lru_cache(maxsize=4096)
def _iso(utc: dt.datetime, time_zone: str) -> str:
    """:func:`iso`, remembered: a turn writes the same time for each of its messages and its status, and an outage
    report's card gives the time of each of up to 50 earlier reports again (~6 µs a conversion)."""
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


def day_word(day: dt.date, today: Optional[dt.date] = None) -> str:
    """'今天', '明天', '后天', '昨天' relative to ``today``, else '12月7日' (always the date when ``today`` is None: a
    text stored for later, where a relative day would go stale)."""
    days = (day - today).days if today is not None else None
    return {0: "今天", 1: "明天", 2: "后天", -1: "昨天"}.get(days, f"{day.month}月{day.day}日")


def local_text(utc: Optional[dt.datetime], now: dt.datetime, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """A stored (UTC) moment as a resident reads it on the 小区's clock: '今天 15:00', '明天 09:30', '11月30日 15:00'."""
    if utc is None:
        return ""
    local = to_local(utc, time_zone)
    return f"{day_word(local.date(), to_local(now, time_zone).date())} {local:%H:%M}"


# --- times a resident asked for (明天上午, 周六下午三点) ------------------------------------------------------------
# The hours each part of the day stands for when a resident names one: what the promise to them and the desk say
# ("明天上午（9:00–12:00）"). 下午 starts at 14:00 because technicians keep the usual lunch break.
DAY_PARTS: Dict[str, Tuple[int, int]] = {"凌晨": (0, 6), "早上": (7, 9), "上午": (9, 12), "中午": (12, 14),
                                         "下午": (14, 18), "傍晚": (17, 19), "晚上": (18, 21)}
PART_ALIASES = {"早晨": "早上", "明早": "早上", "今晚": "晚上", "明晚": "晚上"}
_STORED_WISH = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})| (" + "|".join(DAY_PARTS) + r"))?$")


@dataclass(frozen=True)
class Wish:
    """A time a resident asked for, on the 小区's clock: a day (明天), a part of a day (明天上午) or an hour (明天下午三点).

    Stored as text (``WorkOrder.preferred_time``): '2026-12-07', '2026-12-07 上午', '2026-12-07T15:00' — the NLU's time
    value alone ('…T09:00' for 明天上午) would lose that the resident asked for a morning, not for nine o'clock."""

    day: dt.date
    part: Optional[str] = None
    at: Optional[dt.time] = None

    @classmethod
    def from_entity(cls, value: str, words: str = "") -> Optional["Wish"]:
        """The NLU's time entity (a local ISO value, bot/nlu/entities.py) and the words it was read from."""
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if "T" not in value:
            return cls(moment.date())
        part = next((PART_ALIASES.get(w, w) for w in (*PART_ALIASES, *DAY_PARTS) if w in words), None)
        if part is not None and not re.search(r"点|时|:|：", words):
            return cls(moment.date(), part=part)
        return cls(moment.date(), at=moment.time())

    @classmethod
    def parse(cls, stored: Optional[str]) -> Optional["Wish"]:
        """The stored form back; None for anything else (the resident's own words: 尽快, 下班后)."""
        match = _STORED_WISH.match((stored or "").strip())
        if not match:
            return None
        try:
            day = dt.date.fromisoformat(match.group(1))
            at = dt.time(int(match.group(2)), int(match.group(3))) if match.group(2) else None
        except ValueError:
            return None
        return cls(day, part=match.group(4), at=at)

    def stored(self) -> str:
        if self.at is not None:
            return f"{self.day.isoformat()}T{self.at:%H:%M}"
        return f"{self.day.isoformat()} {self.part}" if self.part else self.day.isoformat()

    def window(self) -> Tuple[dt.datetime, dt.datetime]:
        """Local start and end: the part's hours, the whole day, or the hour asked for (an hour's room after it)."""
        if self.at is not None:
            start = dt.datetime.combine(self.day, self.at)
            return start, start + dt.timedelta(hours=1)
        if self.part is not None:
            first, last = DAY_PARTS[self.part]
            return dt.datetime.combine(self.day, dt.time(first)), dt.datetime.combine(self.day, dt.time(last))
        start = dt.datetime.combine(self.day, dt.time(0))
        return start, start + dt.timedelta(days=1)

    def latest_start(self) -> dt.datetime:
        """The last local moment a visit can begin and still be what was asked: the hour itself, or the window's end."""
        return dt.datetime.combine(self.day, self.at) if self.at is not None else self.window()[1]

    def _hours(self) -> str:
        first, last = DAY_PARTS[self.part]
        return f"{first}:00–{last}:00"

    def text(self, today: Optional[dt.date] = None) -> str:
        """For staff: '明天 上午 9:00–12:00', '12月7日 15:00', '明天' (the date when ``today`` is None)."""
        day = day_word(self.day, today)
        if self.at is not None:
            return f"{day} {self.at.hour}:{self.at.minute:02d}"
        return f"{day} {self.part} {self._hours()}" if self.part else day

    def promise(self, today: Optional[dt.date] = None) -> str:
        """In a sentence to the resident: '明天上午（9:00–12:00）', '明天 15:00', '明天'."""
        day = day_word(self.day, today)
        if self.at is not None:
            return f"{day} {self.at.hour}:{self.at.minute:02d}"
        return f"{day}{self.part}（{self._hours()}）" if self.part else day


def wish_text(stored: Optional[str], today: Optional[dt.date] = None) -> str:
    """A stored wish in words (:meth:`Wish.text`); the resident's own words (尽快, 下班后) as they are; '' for none."""
    wish = Wish.parse(stored)
    return wish.text(today) if wish is not None else (stored or "")


Clock = Callable[[], dt.datetime]

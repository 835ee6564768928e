"""Entity rules for property-management messages, run on a spaCy blank Chinese pipeline.

Entities: ``room`` (3栋2单元1102, 三号楼二单元1102室, 5-2-1102 → "3-2-1102"), ``plate`` (粤B12345 and
8-character new-energy plates, upper-cased), ``phone`` (mobile numbers), ``work_order`` (WO + 11 digits),
``time`` (明天下午三点, 周六上午 → ISO date/time relative to *now*) and ``amount`` (200元, 三百块 → "200").
"""
from __future__ import annotations

import contextvars
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from bot.nlu.numerals import CN_NUMBER, cn_to_int


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int
    text: str

    def as_dict(self) -> Dict[str, Any]:
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end, "text": self.text}


NUM = rf"(?:\d{{1,4}}|{CN_NUMBER})"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

ROOM_FULL = re.compile(
    rf"(?P<b>{NUM})\s*(?:栋|幢|座|号楼|号|楼)\s*(?:(?P<u>{NUM})\s*单元)?\s*(?:(?P<r>\d{{3,4}}|[零〇一二三四五六七八九]{{3,4}})\s*(?:室|房|号)?)?"
)
ROOM_DASH = re.compile(r"(?<![\d-])(?P<b>\d{1,2})-(?P<u>\d{1,2})-(?P<r>\d{3,4})(?![\d-])")
ROOM_BARE = re.compile(r"(?<![\dA-Za-z-])(?P<r>\d{3,4})\s*室")
PLATE = re.compile(
    rf"(?<![A-Za-z0-9])[{PROVINCES}]\s*[A-Za-z]\s*[·•]?\s*(?:[A-Za-z0-9]{{6}}|[A-Za-z0-9]{{5}})(?![A-Za-z0-9])"
)
PHONE = re.compile(r"(?<!\d)(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
WORK_ORDER = re.compile(r"(?<![A-Za-z0-9])(?:WO|wo|Wo)\s*(\d{11})(?!\d)|(?<=工单)(?:号)?[:：\s]*(\d{11})(?!\d)")
AMOUNT = re.compile(rf"(?P<n>\d+(?:\.\d+)?|{CN_NUMBER})\s*(?:元|块钱|块)")

DAY_WORDS = {"今天": 0, "今晚": 0, "明天": 1, "明晚": 1, "明早": 1, "后天": 2, "大后天": 3}
WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
PARTS = {"凌晨": 3, "早上": 8, "早晨": 8, "上午": 9, "中午": 12, "下午": 15, "傍晚": 18, "晚上": 19, "今晚": 19, "明晚": 19, "明早": 8}
TIME = re.compile(
    r"(?:(?P<day>大后天|后天|明天|今天|今晚|明晚|明早)|(?P<next>下个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天])"
    r"|(?:(?P<month>\d{1,2}|[一二三四五六七八九十]{1,3})月)?(?P<date>\d{1,2}|[一二三四五六七八九十]{1,3})[日号](?!楼|栋))"
    r"?\s*(?P<part>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?\s*"
    r"(?:(?P<hour>\d{1,2}|[一二三四五六七八九十两]{1,3})\s*(?:点|时|:|：)(?P<half>半)?(?:(?P<minute>\d{1,2}|[一二三四五六七八九十]{1,3})分?)?)?"
)


def _room_value(b: Optional[str], u: Optional[str], r: Optional[str]) -> str:
    parts = [str(cn_to_int(x)) for x in (b, u) if x]
    if r:
        parts.append(str(cn_to_int(r)))
    return "-".join(parts)


def find_rooms(text: str) -> List[Entity]:
    found: List[Entity] = []
    for m in ROOM_DASH.finditer(text):
        found.append(Entity("room", _room_value(m["b"], m["u"], m["r"]), m.start(), m.end(), m.group()))
    for m in ROOM_FULL.finditer(text):
        # "3号" alone or "8楼" alone is a date or a floor, not an address: a unit or a room number is needed,
        # unless the building word is 栋/幢/号楼 (a building on its own).
        building_word = re.search(r"栋|幢|座|号楼", m.group())
        if not (m["u"] or m["r"] or building_word):
            continue
        end = m.end()
        while end > m.start() and text[end - 1].isspace():
            end -= 1
        found.append(Entity("room", _room_value(m["b"], m["u"], m["r"]), m.start(), end, text[m.start():end]))
    for m in ROOM_BARE.finditer(text):
        found.append(Entity("room", str(int(m["r"])), m.start(), m.end(), m.group()))
    return found


# Where something is says nothing of what it is or of danger, yet emergencies in our data name their place far
# more often than routine reports do: "门铃不响" read as a repair, "门铃不响，3栋2单元5楼" as an emergency (0.83) with
# P(urgent) 0.30 → 0.82 for "声控灯不亮了" (16 of 20 routine repairs with that address were urgent). The classifiers
# read a message without its rooms, buildings and floors (removed, not replaced: one stand-in word took the
# emergencies' share of places and read urgent itself); the entities are read from the whole text.
FLOOR = re.compile(r"\d+\s*(楼|层|号楼|栋|幢|单元|室|号)|[一二三四五六七八九十两]{1,3}(楼|层|号楼|栋|幢|单元)")


MAY_PLACE = re.compile(r"[\d一二三四五六七八九十两]")  # every place found below has a digit or a numeral
# "我家在7栋" / "我住在3栋": the 在 that says where one lives goes with the place. Left behind, it read as the 在 of
# 正在 / 还在 in emergencies: 8 of 20 routine repairs opening "我家在7栋，" and 9 of 20 with "我住在7栋，" were urgent.
# Only after 家 / 我 / 住: the 在 of 困在 / 卡在 is what happened, not where one lives.
LIVES_IN = re.compile(r"(?:(?<=[家我])在|住在)$")
FLOOR_LIVED_IN = re.compile(r"(?:(?<=[家我])在|住在)?(?:" + FLOOR.pattern + ")")


def without_places(text: str) -> str:
    if not MAY_PLACE.search(text):
        return text
    covered = [False] * len(text)
    for room in find_rooms(text):  # spans may overlap ("2栋2单元101室" and its "101室")
        lives = LIVES_IN.search(text, 0, room.start)
        start = lives.start() if lives else room.start
        covered[start:room.end] = [True] * (room.end - start)
    return FLOOR_LIVED_IN.sub("", "".join(c for c, gone in zip(text, covered) if not gone))


def find_plates(text: str) -> List[Entity]:
    result = []
    for m in PLATE.finditer(text):
        value = re.sub(r"[\s·•]", "", m.group()).upper()
        result.append(Entity("plate", value, m.start(), m.end(), m.group()))
    return result


def find_phones(text: str) -> List[Entity]:
    return [Entity("phone", "".join(m.groups()), m.start(), m.end(), m.group()) for m in PHONE.finditer(text)]


def find_work_orders(text: str) -> List[Entity]:
    result = []
    for m in WORK_ORDER.finditer(text):
        digits = m.group(1) or m.group(2)
        start = m.start() if m.group(1) else m.start(2)
        result.append(Entity("work_order", f"WO{digits}", start, m.end(), text[start:m.end()]))
    return result


def find_amounts(text: str) -> List[Entity]:
    result = []
    for m in AMOUNT.finditer(text):
        n = m["n"]
        try:
            value = n if re.fullmatch(r"\d+(?:\.\d+)?", n) else str(cn_to_int(n))
        except ValueError:
            continue
        result.append(Entity("amount", value, m.start(), m.end(), m.group()))
    return result


# The local "now" that 今天/明天/周六 are relative to: set by NluParser.parse for the duration of one parse.
REFERENCE_TIME: "contextvars.ContextVar[Optional[dt.datetime]]" = contextvars.ContextVar("reference_time", default=None)


def find_times(text: str, now: Optional[dt.datetime] = None) -> List[Entity]:
    now = now or REFERENCE_TIME.get() or dt.datetime.now()
    result = []
    for m in TIME.finditer(text):
        has_day = m["day"] or m["wd"] or m["date"]
        if not (has_day or m["hour"]):  # a bare 晚上/中午 is too vague to be a time entity
            continue
        if m["hour"] and not (has_day or m["part"]) and not re.search(r"点|时", m.group()):
            continue
        day = now.date()
        if m["day"]:
            day = day + dt.timedelta(days=DAY_WORDS[m["day"]])
        elif m["wd"]:
            delta = (WEEKDAYS[m["wd"]] - day.weekday()) % 7
            if m["next"]:
                delta += 7 if delta == 0 or WEEKDAYS[m["wd"]] >= day.weekday() else 0
            day = day + dt.timedelta(days=delta)
        elif m["date"]:
            month = cn_to_int(m["month"]) if m["month"] else day.month
            try:
                candidate = dt.date(day.year, month, cn_to_int(m["date"]))
            except ValueError:
                continue
            if candidate < day and not m["month"]:
                candidate = dt.date(day.year + (month == 12), month % 12 + 1, candidate.day) if candidate.day <= 28 else candidate
            day = candidate
        value = day.isoformat()
        part = m["part"] or (m["day"] if m["day"] in PARTS else None)
        if m["hour"]:
            try:
                hour = cn_to_int(m["hour"])
                minute = 30 if m["half"] else (cn_to_int(m["minute"]) if m["minute"] else 0)
            except ValueError:
                continue
            if part in ("下午", "傍晚", "晚上", "今晚", "明晚") and hour < 12:
                hour += 12
            if hour > 23 or minute > 59:
                continue
            value += f"T{hour:02d}:{minute:02d}"
        elif part:
            value += f"T{PARTS[part]:02d}:00"
        end = m.end()
        while end > m.start() and text[end - 1].isspace():
            end -= 1
        result.append(Entity("time", value, m.start(), end, text[m.start():end]))
    return result


RULES: List[Callable[[str], List[Entity]]] = [find_work_orders, find_plates, find_phones, find_rooms, find_amounts]


def extract_entities(text: str, now: Optional[dt.datetime] = None) -> List[Entity]:
    """All entities of ``text``, earlier rules winning overlaps, sorted by position."""
    candidates: List[Entity] = []
    for rule in RULES:
        candidates.extend(rule(text))
    candidates.extend(find_times(text, now))
    chosen: List[Entity] = []
    for ent in candidates:
        if any(ent.start < c.end and c.start < ent.end for c in chosen):
            continue
        chosen.append(ent)
    return sorted(chosen, key=lambda e: e.start)

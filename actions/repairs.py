"""Repairs: report a repair (creates a work order) and follow up on one (status, chasing)."""
from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import make_transient_to_detached

from bot.core.domain import Priority, WorkOrderStatus
from bot.core.localtime import Wish, to_local, to_utc
from bot.core.notify import mask_phone
from bot.handoffs.handoff import open_handoff
from bot.nlu.entities import find_rooms
from bot.nlu.places import HOME_PLACES, ONLY_A_PLACE
from bot.outages import incidents
from bot.storage.models import Household, Staff, WorkOrder, WorkOrderEvent
from bot.turn.context import Button, FlowSpec, Slot, TurnContext, fill_slots, phone_given
from bot.work_orders import desk, sla

PUBLIC_AREAS = r"楼道|电梯|大堂|地库|车库|小区|路灯|单元门|门禁|健身房|儿童乐园|会所|泳池|绿化|屋顶|天台|外墙|消防|道闸|公共|走廊|楼梯"
CATEGORIES = [("电梯", r"电梯"), ("水电", r"水|电|灯|插座|开关|跳闸|马桶|下水|地漏|管"),
              ("门窗", r"门|窗|锁|玻璃"), ("公共设施", PUBLIC_AREAS)]
# public areas of one building: the report needs the building ("电梯坏了" — which lift?)
BUILDING_AREAS = r"楼道|电梯|大堂|单元门|走廊|楼梯|屋顶|天台|外墙|消防"
URGENT_WORDS = r"严重|一直|很大|止不住|紧急|马上|尽快|急"
GENERIC_REQUEST = r"^(我要|我想|帮我|请|麻烦)?(报个?修|报修一下|维修|修东西|报修)[。.!！]*$"
CHASE_WORDS = r"催|怎么还|还没|还不|到底|快点|没人|没动静|一直"
# "什么时候来" within the promise is a question the progress answers; past it, a chase
WHEN_WORDS = r"多久|什么时候|啥时候|几点"


def category_of(text: str) -> str:
    for name, pattern in CATEGORIES:
        if re.search(pattern, text):
            return name
    return "其他"


# built once with bound parameters (building the statement cost more than running it): see next_number
_DAYS_LAST_NUMBER = select(WorkOrder.number).where(
    WorkOrder.number >= bindparam("prefix"), WorkOrder.number < bindparam("after"),
    WorkOrder.number.like(bindparam("pattern"))) \
    .order_by(func.length(WorkOrder.number).desc(), WorkOrder.number.desc()).limit(1)


def next_number(ctx: TurnContext, skip: int = 0) -> str:
    """The day's next number (WO + date + 3 digits) after the highest taken, ``skip`` further on a retry."""
    prefix = f"WO{ctx.local_now:%Y%m%d}"
    # the day's numbers as a range of the unique index (before the next day's prefix) as well as a LIKE: a LIKE
    # alone is read backward through every order on PostgreSQL (150-250 ms a repair at 300 k orders, issue 29).
    # The highest is the longest, then the greatest: after the day's 999th order the numbers have four digits, and
    # as text "WO…1000" sorts before "WO…999" (every repair of the day failed there)
    after = f"WO{ctx.local_now + dt.timedelta(days=1):%Y%m%d}"
    # nothing the turn holds is a work order: its pending writes (the resident's message, the conversation) wait
    # for the turn's own last statement
    with ctx.session.no_autoflush:
        last = ctx.session.scalar(_DAYS_LAST_NUMBER, {"prefix": prefix, "after": after, "pattern": prefix + "%"})
    return f"{prefix}{(int(last[len(prefix):]) if last else 0) + 1 + skip:03d}"


# A room outside the 小区's buildings, units or floors ("1栋1单元1201" where 1栋 has eight floors) is a typo or another
# 小区's: the order would send a technician to a place nobody lives at. Judged by the building and unit's highest
# registered room rather than by the household itself, because a registry need not list every flat (the demo lists
# one a floor, and a flat whose owner never registered still has pipes); a 小区 with no households yet takes any room.
_HIGHEST_ROOM = select(func.max(Household.room)).where(
    Household.community_id == bindparam("community"), Household.building == bindparam("building"),
    Household.unit == bindparam("unit"))
_ANY_HOUSEHOLD = select(Household.id).where(Household.community_id == bindparam("community")).limit(1)


def _room_exists(ctx: TurnContext, value: str) -> bool:
    """Whether the room ``value`` ("1-1-1201") can be in the resident's 小区."""
    if ctx.household is not None and ctx.household.address == value:
        return True
    key = ("room exists", value)
    if key not in ctx.lookups:
        building, unit, room = (int(part) for part in value.split("-"))
        highest = ctx.session.scalar(_HIGHEST_ROOM, {"community": ctx.community_id, "building": building, "unit": unit})
        if highest is None:
            ctx.lookups[key] = ctx.session.scalar(_ANY_HOUSEHOLD, {"community": ctx.community_id}) is None
        else:
            ctx.lookups[key] = 1 <= room % 100 and room // 100 <= highest // 100
    return ctx.lookups[key]


def _full_room(ctx: TurnContext) -> Any:
    """The first room this message names down to the flat (building, unit and room), or None."""
    return next((r for r in find_rooms(ctx.text) if r.value.count("-") == 2), None)


def _unknown_room(ctx: TurnContext) -> Optional[str]:
    """The room this message names, as typed, when it cannot be in the resident's 小区."""
    room = _full_room(ctx)
    return room.text if room is not None and not _room_exists(ctx, room.value) else None


def _location_default(ctx: TurnContext, description: str) -> Optional[str]:
    rooms = [r for r in find_rooms(ctx.text) if r.value]
    if re.search(PUBLIC_AREAS, description):
        if rooms:
            return f"公共区域：{rooms[0].text} {description}"
        if re.search(BUILDING_AREAS, description):  # which building's lift: the resident's own, else asked
            household = ctx.household
            return f"公共区域：{household.building}栋{household.unit}单元 {description}" if household is not None else None
        return f"公共区域：{description}"
    if rooms and rooms[0].value.count("-") == 2:
        return rooms[0].text if _room_exists(ctx, rooms[0].value) else None
    if ctx.household is not None:
        return ctx.household.label
    return None


URGENCY_NORMAL = r"不急|不紧急|不着急|一般|不算急|还好|没那么急"
URGENCY_URGENT = r"严重|一直|很大|止不住|紧急|急|是的?$|马上"
TIME_WORDS = r"尽快|越快越好|随时|马上|现在|都行|都可以|什么时候都|有空|下班|周末|工作日|上午|下午|晚上|早上|中午|点"
MAX_ANSWER_CHARS = 60


def _room(ctx: TurnContext) -> Optional[str]:
    room = _full_room(ctx)
    return room.text if room is not None and _room_exists(ctx, room.value) else None


# a question typed where the place was asked ("小区有没有家政服务") is not the place; the router then reads it
ASKS = r"[吗么？?]|有没有|怎么|什么|哪|多少|能不能|可不可以|是不是"


def _location_answer(ctx: TurnContext) -> Optional[str]:
    text = ctx.text.strip()
    if re.search(ASKS, text) and not find_rooms(text) and \
            not re.search(rf"{HOME_PLACES}|{PUBLIC_AREAS}|\d", text.replace("小区", "")):  # 小区 alone places nothing
        return None
    if _unknown_room(ctx):
        return None
    return text[:MAX_ANSWER_CHARS] if text else None


def _urgency(ctx: TurnContext) -> Optional[str]:
    if re.search(URGENCY_NORMAL, ctx.text):
        return "normal"
    return None


def _urgency_answer(ctx: TurnContext) -> Optional[str]:
    text = ctx.text.strip("。.!！ ，,")
    if re.search(URGENCY_NORMAL + r"|^(不|否|没有?)$", text):
        return "normal"
    if re.search(URGENCY_URGENT, text):
        return "urgent"
    return None


def _phone_answer(ctx: TurnContext) -> Optional[str]:
    if re.search(r"就这个|登记的|同上|默认|这个号|本机|预留的", ctx.text) and ctx.household is not None:
        return ctx.household.phone
    return None


def _time(ctx: TurnContext) -> Optional[str]:
    """The visit time asked for, kept as :class:`Wish` stores it ("2026-12-07 上午": the morning, not 9 o'clock), or
    the resident's words (尽快)."""
    entity = next((e for e in ctx.reading.entities if e["entity"] == "time"), None)
    if entity is not None:
        words = ctx.text[entity["start"]:entity["end"]] if isinstance(entity.get("start"), int) else ""
        wish = Wish.from_entity(str(entity["value"]), words)
        return wish.stored() if wish is not None else str(entity["value"])
    match = re.search(r"尽快|越快越好|随时|什么时候都(行|可以)", ctx.text)
    return match.group() if match else None


def _time_answer(ctx: TurnContext) -> Optional[str]:
    text = ctx.text.strip()
    return text[:MAX_ANSWER_CHARS] if re.search(TIME_WORDS, text) else None


# what a description says is wrong: a message that also gave a time, room or phone is still the description when
# what is left of it says this ("卫生间水管漏水，明天下午3点以后家里有人")
BROKEN_WORDS = r"坏|漏|堵|不亮|不通|不出|不制|不热|不冷|不工作|不动|不响|不转|不灵|失灵|裂|掉|松|脱落|渗|滴|跳闸|" \
               r"停电|没电|没水|异响|响声|噪音|异味|臭|卡住|打不开|关不上|锁不上|冒烟|生锈|鼓包|发霉"
SLOT_NAMES = {"location": "维修地点", "urgency": "紧急程度", "contact": "联系电话", "time": "上门时间"}


# a mobile number typed into the report, with the words that introduce it: kept as the contact, never in the
# description (every progress message quotes the description, and a phone is never said back unmasked)
PHONE_IN_TEXT = re.compile(r"[，,、；;\s]*(我的?|联系|留个?|打)?(电话|手机号?|号码)?(是|为)?[:：]?\s*(?<!\d)1[3-9]\d{9}(?!\d)")


def without_phone(text: str) -> str:
    """``text`` without the mobile numbers in it (and the 电话/手机 before them)."""
    return PHONE_IN_TEXT.sub("", text).strip(" ，,、；;") or text


def _description_with_more(ctx: TurnContext) -> Optional[str]:
    """The whole message as the description (as :func:`start` takes a first message) when, once the room, phone and
    time it gave are left out, what remains says what is broken; None when it only answered other questions."""
    text = ctx.text.strip()
    rest = text
    for entity in ctx.reading.entities:
        if entity["entity"] == "time" and isinstance(entity.get("start"), int):
            rest = rest.replace(text[entity["start"]:entity["end"]], " ")
    for room in find_rooms(text):
        rest = rest.replace(room.text, " ")
    rest = re.sub(r"\d{7,}", " ", rest)
    return without_phone(text) if re.search(BROKEN_WORDS, rest) else None


def _description_answer(ctx: TurnContext) -> Optional[str]:
    text = ctx.text.strip()
    if ONLY_A_PLACE.match(text):
        return None  # where, not what: kept for the description (``resume``)
    return text if len(re.sub(r"[\W\d_]+", "", text)) >= 2 else None


SLOTS = (
    Slot("description", "请简单描述一下需要维修的问题（例如：厨房水龙头漏水）。", answer=_description_answer,
         invalid="请用几个字描述一下坏了什么。"),
    Slot("location", "请问维修地点是哪里？可以是您的房号（如 3栋2单元1102），或公共区域（如 5栋1单元楼道）。",
         extract=_room, answer=_location_answer),
    Slot("urgency", "情况紧急吗？", extract=_urgency, answer=_urgency_answer, invalid="请选择“一般”或“紧急”。",
         choices=(("一般", "normal"), ("紧急", "urgent"))),
    Slot("contact", "请留一个联系电话，方便师傅上门前联系您。", extract=phone_given, answer=_phone_answer,
         invalid="没有识别到手机号，请输入 11 位手机号码。"),
    Slot("time", "您希望师傅什么时候上门？（例如：明天下午三点，或“尽快”）", extract=_time, answer=_time_answer,
         invalid="没有识别到时间，请告诉我希望上门的时间，例如“明天下午三点”或“尽快”。"),
)


def _no_such_room(ctx: TurnContext, slots: Dict[str, Any]) -> str:
    """Said before the place is asked (again) when this message named a room the 小区 cannot have."""
    if slots.get("location") or not slots.get("description"):
        return ""
    room = _unknown_room(ctx)
    return f"本小区没有“{room}”这个房号，请核对楼栋、单元和楼层。" if room else ""


def _ask_next(ctx: TurnContext, slots: Dict[str, Any], invalid: str = "") -> bool:
    for slot in SLOTS:
        if not slots.get(slot.name):
            ctx.ask("repair_request", slots, slot.name, (invalid + slot.question) if invalid else slot.question,
                    slot.buttons())
            return True
    return False


def _keep_photos(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    """This message's photos join the report, each once (a resend of the same photo is not a second one). A new
    list: the flow's stored slots share the old one, and a change made in place would not be seen as a change."""
    kept = list(slots.get("photos", []))
    slots["photos"] = kept + [p for p in dict.fromkeys(ctx.photos) if p not in kept]


def _ask_what_is_broken(ctx: TurnContext, slots: Dict[str, Any], place: str) -> None:
    """A place given for what is broken ("卫生间"): kept for the description, and what is broken there asked."""
    slots["place"] = place
    ctx.ask(REQUEST_FLOW.name, slots, "description", f"请说一下{place}里什么坏了（例如：马桶堵了、灯不亮）。")


def start(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    text = ctx.text.strip()
    _keep_photos(ctx, slots)
    place = ONLY_A_PLACE.match(text)
    if ctx.photo_only:
        ctx.say("收到照片。")
    elif place:  # "卫生间" alone: where; what is broken there is asked
        _ask_what_is_broken(ctx, slots, place.group(2))
        return
    elif not re.match(GENERIC_REQUEST, text):
        slots["description"] = without_phone(text)
        location = _location_default(ctx, text)
        if location:
            slots["location"] = location
        if re.search(URGENT_WORDS, text) and not re.search(URGENCY_NORMAL, text):
            slots["urgency"] = "urgent"
    fill_slots(ctx, slots, SLOTS, None)
    if ctx.household is not None:
        slots.setdefault("contact", ctx.household.phone)
    if not _ask_next(ctx, slots, _no_such_room(ctx, slots)):
        _create(ctx, slots)


def resume(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    asking = ctx.flow.asking if ctx.flow else None
    filled = fill_slots(ctx, slots, SLOTS, asking)
    if asking == "description" and filled and not slots.get("description"):
        description = _description_with_more(ctx)
        if description:
            slots["description"] = description
            filled.append("description")
    _keep_photos(ctx, slots)
    place = ONLY_A_PLACE.match(ctx.text.strip()) if asking == "description" and not filled else None
    if place:
        _ask_what_is_broken(ctx, slots, place.group(2))
        return
    if "description" in filled and slots.get("place"):
        where = slots.pop("place")
        if where not in slots["description"]:
            slots["description"] = where + slots["description"]
    if "description" in filled and not slots.get("location"):  # after 我要报修: the place as start() takes it
        location = _location_default(ctx, slots["description"])
        if location:
            slots["location"] = location
    asked = next((s for s in SLOTS if s.name == asking), None)
    if ctx.photo_only:  # an attachment, not an answer: acknowledged, and the same question again
        invalid = f"已收到照片（共 {len(slots['photos'])} 张）。"
    else:
        invalid = asked.invalid if asked is not None and not slots.get(asked.name) and not filled and not ctx.photos else ""
        if asked is not None and not slots.get(asked.name) and filled:  # another answer given: said so, then asked again
            invalid = "已记下" + "、".join(SLOT_NAMES.get(name, name) for name in filled) + "。"
        invalid = _no_such_room(ctx, slots) + invalid
    if not _ask_next(ctx, slots, invalid):
        _create(ctx, slots)


# A new order and its first event as rows, not through the unit of work: the ORM's flush needed a savepoint around
# the order (for the number's retry), and opening one flushed the whole session first — the resident's message and
# the conversation written early, the conversation again at the end of the turn (PostgreSQL: 10 statements for the
# completing turn, 5 now). A number taken meanwhile inserts nothing (ON CONFLICT DO NOTHING) and the next is tried.
_ORDER_COLUMNS = tuple(c.key for c in WorkOrder.__table__.c if c.key != "id")
_EVENT_COLUMNS = tuple(c.key for c in WorkOrderEvent.__table__.c if c.key not in ("id", "work_order_id"))


@functools.lru_cache(maxsize=4)
def _order_insert_sql(dialect_name: str) -> str:
    """PostgreSQL: the order (nothing when its number is taken) and its event in one statement, answering both ids
    (NULL, NULL: the number was taken)."""
    order_values = ", ".join(f"%(o_{key})s" for key in _ORDER_COLUMNS)
    event_values = ", ".join(f"%(e_{key})s" for key in _EVENT_COLUMNS)
    return (f"WITH turn_order AS (INSERT INTO work_orders ({', '.join(_ORDER_COLUMNS)}) VALUES ({order_values}) "
            "ON CONFLICT (number) DO NOTHING RETURNING id), "
            f"turn_order_event AS (INSERT INTO work_order_events (work_order_id, {', '.join(_EVENT_COLUMNS)}) "
            f"SELECT id, {event_values} FROM turn_order RETURNING id) "
            "SELECT (SELECT id FROM turn_order), (SELECT id FROM turn_order_event)")


_SQLITE_ORDER = sqlite.insert(WorkOrder.__table__).on_conflict_do_nothing(index_elements=["number"])
_EVENT = WorkOrderEvent.__table__.insert()


def _column_values(obj: Any, columns: Tuple[str, ...]) -> Dict[str, Any]:
    """Every column of a new ``obj`` as the unit of work would insert it: its value, else the column's default."""
    table, values = type(obj).__table__, {}
    for key in columns:
        if key in obj.__dict__:
            values[key] = obj.__dict__[key]
        else:
            default = table.c[key].default
            values[key] = None if default is None else default.arg(None) if default.is_callable else default.arg
        setattr(obj, key, values[key])  # loaded: reading it later reads nothing back
    return values


def _insert_order(ctx: TurnContext, order: WorkOrder, event: WorkOrderEvent) -> bool:
    """Insert ``order`` and its ``event`` unless the order's number is taken (False); inserted, both join the
    session as loaded rows (nothing for the unit of work to write)."""
    session = ctx.session
    dialect = session.bind.dialect
    order_values, event_values = _column_values(order, _ORDER_COLUMNS), _column_values(event, _EVENT_COLUMNS)
    connection = session.connection()
    if dialect.name == "postgresql":
        order_table, event_table = WorkOrder.__table__, WorkOrderEvent.__table__
        params = {}
        for prefix, table, values in (("o", order_table, order_values), ("e", event_table, event_values)):
            for key, value in values.items():
                bind = table.c[key].type.bind_processor(dialect)
                params[f"{prefix}_{key}"] = bind(value) if bind is not None and value is not None else value
        order_id, event_id = connection.exec_driver_sql(_order_insert_sql(dialect.name), params).one()
        if order_id is None:
            return False
    else:
        result = connection.execute(_SQLITE_ORDER, order_values)
        if result.rowcount != 1:
            return False
        order_id = result.inserted_primary_key[0]
        event_id = connection.execute(_EVENT, {**event_values, "work_order_id": order_id}).inserted_primary_key[0]
    order.id, event.id, event.work_order_id = order_id, event_id, order_id
    make_transient_to_detached(event)
    make_transient_to_detached(order)
    session.add(order)  # and its event (cascade), both as loaded
    session.info.setdefault("written", set()).update((WorkOrder, WorkOrderEvent))  # as a flush records it
    return True


def _create(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    # Residents finishing at the same moment may pick the same number: the unique index refuses the second, which
    # takes the next one.
    for attempt in range(20):
        order = WorkOrder(number=next_number(ctx, attempt), community_id=ctx.community_id,
                          household_id=ctx.household.id if ctx.household else None,
                          reporter_identity_id=ctx.identity.id, location=slots["location"],
                          category=category_of(slots["description"]), description=slots["description"],
                          urgency=slots["urgency"], contact_phone=slots["contact"], preferred_time=slots["time"],
                          photos=list(slots.get("photos", [])), status=WorkOrderStatus.NEW.value,
                          created_at=ctx.now, updated_at=ctx.now)
        event = WorkOrderEvent(status=WorkOrderStatus.NEW.value, note="业主通过在线客服报修", actor="resident",
                               created_at=ctx.now)
        order.events.append(event)
        # the desk's deadlines (data/sla.yml, a later visit time asked for included) and where to tell the resident:
        # set before the INSERT, which writes them
        sla.apply(order, ctx.conversation.id, time_zone=ctx.time_zone)
        if _insert_order(ctx, order, event):
            break
    else:
        raise RuntimeError("no free work-order number after 20 tries")

    incidents.link_work_order(ctx, order)  # an outage reported through the form joins (or opens) its incident
    ctx.say(f"已为您创建维修工单 {order.number}（{order.category}：{order.description}，地点：{order.location}）。\n"
            f"{_plan(ctx, order)}派单和维修进展会在这里通知您，也可以随时发送“查询工单 {order.number}”了解进度。")
    ctx.end_flow()


ASAP_WORDS = r"^(尽快|越快越好|随时|马上|现在|什么时候都(行|可以)|都行|都可以)"


def _plan(ctx: TurnContext, order: WorkOrder) -> str:
    """What happens next, as promised: the dispatch deadline, then the visit at the time the resident asked for when
    it can be kept; a time it cannot be kept for is said plainly (with when they will be called instead), never
    replaced by a deadline that contradicts it."""
    due = sla.local_deadline(order.response_due, ctx.now, ctx.time_zone)
    dispatch = f"工程部会在 {sla.duration_text(order.response_due - order.created_at)}内（{due} 前）派单"
    done = f"预计{sla.spaced(sla.local_deadline(order.completion_due, ctx.now, ctx.time_zone))}前修好"
    visit = sla.visit_promise(order, ctx.now, ctx.time_zone)
    if visit:
        return f"{dispatch}，师傅将于{sla.spaced(visit)}上门维修，上门前会电话联系您{mask_phone(order.contact_phone)}的手机。"
    wish = Wish.parse(order.preferred_time)
    if wish is not None:
        asked = wish.promise(ctx.local_now.date())
        if to_utc(wish.latest_start(), ctx.time_zone) <= ctx.now:
            why = f"您希望的{asked}已经过了"
        else:
            why = f"您希望的{asked}可能来不及安排"
        return f"{why}：{dispatch}，派单后师傅会先电话联系您{mask_phone(order.contact_phone)}的手机 约定上门时间，{done}。"
    words = (order.preferred_time or "").strip()
    if words and not re.match(ASAP_WORDS, words):  # their own words (下班后, 周末): kept on the order as said
        return (f"{dispatch}，您希望的上门时间（{words}）已记在工单上，师傅上门前会电话联系您{mask_phone(order.contact_phone)}的手机 确认，"
                f"{done}。")
    return f"{dispatch}，{done}，师傅上门前会电话联系您{mask_phone(order.contact_phone)}的手机。"


# A photo sent alone soon after a report belongs to it: the resident's newest open order of this long ago or less
PHOTO_ATTACH_WINDOW = dt.timedelta(hours=2)


def order_for_photos(ctx: TurnContext) -> Optional[WorkOrder]:
    """The open order a photo sent alone (no flow under way) is for: the newest this identity reported lately."""
    return ctx.session.scalar(select(WorkOrder).where(
        WorkOrder.reporter_identity_id == ctx.identity.id, WorkOrder.created_at >= ctx.now - PHOTO_ATTACH_WINDOW,
        WorkOrder.status.notin_(WorkOrderStatus.closed())).order_by(WorkOrder.created_at.desc()).limit(1))


def attach_photos(ctx: TurnContext, order_id: int) -> None:
    order = ctx.session.get(WorkOrder, order_id)
    added = [p for p in ctx.photos if p not in (order.photos or [])]
    order.photos = list(order.photos or []) + added  # a new list: the JSON column sees the change
    order.updated_at = ctx.now
    order.events.append(WorkOrderEvent(status=order.status, note=f"业主补充照片 {len(added)} 张", actor="resident",
                                       created_at=ctx.now))
    ctx.say(f"已将照片补充到工单 {order.number}（{order.description}），维修师傅会一并查看。")


REQUEST_FLOW = FlowSpec(name="repair_request", title="报修", start=start, resume=resume, slots=SLOTS,
                        free_text_slots=("description", "location"), place_slots=("location",), restart="我要报修")


# --- repair status -----------------------------------------------------------------------------------

def visible_orders(ctx: TurnContext) -> List[WorkOrder]:
    conditions = [WorkOrder.reporter_identity_id == ctx.identity.id]
    if ctx.household is not None:
        conditions.append(WorkOrder.household_id == ctx.household.id)
    return list(ctx.session.scalars(select(WorkOrder).where(or_(*conditions)).order_by(WorkOrder.created_at.desc())))


def describe(order: WorkOrder, ctx: Optional[TurnContext] = None) -> str:
    """One order for the resident: number, what, where, status (with the technician), the expected time, overdue."""
    last = order.events[-1] if order.events else None
    parts = [order.number, order.description, order.location, f"状态：{order.status}"]
    if order.assignee_id and ctx is not None and order.status not in WorkOrderStatus.closed():

        technician = ctx.session.get(Staff, order.assignee_id)
        if technician is not None:
            parts[-1] += f"（师傅{technician.display_name}）"
    if ctx is not None and order.status not in WorkOrderStatus.closed():
        visit = sla.visit_promise(order, ctx.now, ctx.time_zone)
        if order.status == WorkOrderStatus.NEW and order.response_due is not None:
            parts.append(f"预计{sla.spaced(sla.local_deadline(order.response_due, ctx.now, ctx.time_zone))}前派单")
        elif order.completion_due is not None and not visit:
            parts.append(f"预计{sla.spaced(sla.local_deadline(order.completion_due, ctx.now, ctx.time_zone))}前修好")
        if visit:  # the time the resident asked for, as promised when the order was made
            parts.append(f"师傅将于{sla.spaced(visit)}上门")
        if sla.overdue(order, ctx.now):
            parts.append("已超时，已通知值班人员跟进")
    if last:
        if ctx is not None:

            parts.append(f"最近更新 {to_local(last.created_at, ctx.time_zone):%m-%d %H:%M}")
        else:
            parts.append(f"最近更新 {last.created_at:%m-%d %H:%M}")
    return "｜".join(parts)


def status_start(ctx: TurnContext, slots: Dict[str, Any]) -> None:

    number = ctx.entity("work_order")
    orders = visible_orders(ctx)
    if number:
        order = next((o for o in orders if o.number == number), None)
        if order is None:
            # the same answer whether the number does not exist or belongs to someone else: a stranger learns nothing
            ctx.say(f"没有找到您名下的工单 {number}，请核对工单号（格式如 WO20261127001）。"
                    "如果是以房屋名义报修的，绑定对应房屋后可以查询。")
            ctx.end_flow()
            return
        targets = [order]
    else:
        targets = [o for o in orders if o.status not in WorkOrderStatus.closed()][:3] or orders[:1]
        if not targets:
            hint = "" if ctx.household else "如果是通过电话报修的，绑定房屋后可以查到该房屋的全部工单。"
            ctx.say("没有查到您的报修记录。" + hint + "需要现在报修吗？", [Button("我要报修", "我要报修")])
            ctx.end_flow()
            return
    lines = ["您的工单进度："] + [describe(o, ctx) for o in targets]
    chasing = re.search(CHASE_WORDS, ctx.text) is not None or ctx.reading.emotion.get("label") == "angry" or \
        (re.search(WHEN_WORDS, ctx.text) is not None and sla.overdue(targets[0], ctx.now))
    escalate = None
    if chasing:
        for order in targets[:1]:
            if order.status in WorkOrderStatus.closed():
                continue
            order.chase_count += 1
            order.updated_at = ctx.now
            order.events.append(WorkOrderEvent(status=order.status, note=f"业主第 {order.chase_count} 次催单：{ctx.text}",
                                               actor="resident", created_at=ctx.now))
            lines.append(f"已将您的催促记录到工单 {order.number}（第 {order.chase_count} 次），并通知工程部加快处理。")
            if sla.overdue(order, ctx.now):
                # an overdue order chased: straight to the top of the agents' queue (urgent), see README
                escalate = (Priority.URGENT.value, [f"overdue work order chased: {order.number}"])
            elif order.chase_count >= 3 or ctx.reading.emotion.get("label") == "angry":
                escalate = (Priority.HIGH.value, ["repeated chasing of a work order" if not ctx.reading.emotion.get("label") == "angry"
                                                  else "angry chase of a work order"])
    ctx.say("\n".join(lines))
    ctx.end_flow()
    if escalate:
        open_handoff(ctx, *escalate)


def _rating_answer(ctx: TurnContext) -> Optional[str]:
    text = ctx.text.strip().translate(str.maketrans("１２３４５", "12345")).rstrip("分星 ").strip()
    return text if re.fullmatch(r"[1-5]", text) else None


RATING_SLOT = Slot("rating", "请为本次维修服务打分：回复数字 1–5（5 分为非常满意）。", answer=_rating_answer,
                   invalid="请回复 1–5 的数字为本次维修打分。",
                   choices=tuple((f"{n} 分", str(n)) for n in range(5, 0, -1)))


def status_resume(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    """The repair-status flow's answers: only the rating the desk asks for when an order is completed."""

    if not slots.get("rate_order"):
        status_start(ctx, slots)
        return
    fill_slots(ctx, slots, (RATING_SLOT,), "rating")
    score = slots.get("rating")
    ctx.end_flow()
    if not score or not str(score).isdigit() or not 1 <= int(score) <= 5:
        ctx.say("这个评分选项已经失效了。")
        return
    ctx.say(desk.record_rating(ctx.session, int(slots["rate_order"]), ctx.identity.id, int(score), ctx.now))


STATUS_FLOW = FlowSpec(name="repair_status", title="查询报修进度", start=status_start, resume=status_resume,
                       slots=(RATING_SLOT,))

"""Notices (停水/停电/停气/电梯停用/活动…): what admins publish for a 小区 or some of its buildings, in a time window.

Stored in ``notices`` (times in UTC, naive, like every column) with a ``notice_revisions`` row for every change
(created, edited, withdrawn: a snapshot of the notice as it became). Times come in and go out in the 小区's local
time (bot/core/localtime.py). A notice is *live* from ``LOOKAHEAD`` before its start until its end, unless withdrawn:
live notices are what the bot answers with (bot/routing/router.py rule 10a: a question or report about water, power, gas
or the lift while a live notice of that kind covers the resident's building) and what the widget's banner shows.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

from sqlalchemy import bindparam, distinct, select
from sqlalchemy.orm import Session

from bot.core.errors import NotFound, WuyeError, check_text
from bot.core.localtime import DEFAULT_TIME_ZONE, iso, to_local, to_utc
from bot.storage.models import Community, Household, Notice, NoticeRevision, Poll, Staff
from bot.turn.context import Button

KINDS: Dict[str, str] = {"water": "停水", "power": "停电", "gas": "停气", "elevator": "电梯停用", "activity": "活动",
                         "other": "通知"}
PROBLEM_KINDS = ("water", "power", "gas", "elevator")  # the kinds residents report as a problem (router rule 10a)
LOOKAHEAD = dt.timedelta(hours=24)  # a notice is live (answered, on the banner) this long before it starts
MAX_TEXT = 1000
MAX_WINDOW = dt.timedelta(days=90)


# --- typed errors (422 unless said otherwise; bot.main answers {"detail", "code"}) ---------------------------------
class NoticeNotFound(NotFound):
    code, message = "notice_not_found", "找不到这条通知"


class NoticeInvalid(WuyeError):
    status, code, message = 422, "notice_invalid", "通知内容不正确"


class NoticeWindowInvalid(NoticeInvalid):
    code, message = "notice_window_invalid", "结束时间必须晚于开始时间"


class NoticeWindowTooLong(NoticeInvalid):
    code, message = "notice_window_too_long", "通知的时间范围不能超过 90 天"


class NoticeTimeInvalid(NoticeInvalid):
    code, message = "notice_time_invalid", "{field}格式不正确：“{value}”（例如 2026-11-27 09:00）"


class UnknownCommunity(NoticeInvalid):
    code, message = "unknown_community", "没有这个小区：{community}"


class CommunityRetired(NoticeInvalid):
    code, message = "community_retired", "小区“{name}”已停用，不能再向它发布新的通知或投票（如需发布，请先在“小区”页恢复它）"


class UnknownBuildings(NoticeInvalid):
    code, message = "unknown_buildings", "{community}没有这些楼栋：{buildings}"


class UnknownNoticeKind(NoticeInvalid):
    code, message = "unknown_notice_kind", "通知类型只能是：" + "、".join(f"{k}（{v}）" for k, v in KINDS.items())


class EmptyNoticeText(NoticeInvalid):
    code, message = "empty_notice_text", "通知内容不能为空"


class NoticeTextTooLong(NoticeInvalid):
    code, message = "notice_text_too_long", "通知内容太长了，请控制在 {max_chars} 个字以内"


class NoticePollInvalid(NoticeInvalid):
    code, message = "notice_poll_invalid", "关联的投票不存在，或不是这个小区的投票"


class NoticeWithdrawn(WuyeError):
    status, code, message = 409, "notice_withdrawn", "这条通知已撤回，不能再修改或撤回"


# --- input --------------------------------------------------------------------------------------------------------
def parse_local_time(value: Any, field: str, time_zone: str) -> dt.datetime:
    """"2026-11-27 09:00", "2026-11-27T09:00" (the 小区's local time) or ISO 8601 with an offset → naive UTC."""
    if not isinstance(value, str) or not value.strip():
        raise NoticeTimeInvalid(field=field, value=value if isinstance(value, str) else "")
    text = value.strip().replace("/", "-")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise NoticeTimeInvalid(field=field, value=text[:40]) from exc
    if parsed.tzinfo is not None:
        return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return to_utc(parsed, time_zone)


def check_in_service(community: Any) -> None:
    """A retired 小区 takes no new notice or poll: it has no new residents, and one published there by a slip of the
    picker would reach the few still bound. A notice it already has may still be corrected or withdrawn."""
    if community.retired:
        raise CommunityRetired(name=community.name)


def community_buildings(session: Session, community_id: str) -> List[int]:
    return sorted(b for b in session.scalars(select(distinct(Household.building)).where(
        Household.community_id == community_id)))


def clean(session: Session, kb: Any, data: Dict[str, Any], kept_community: Optional[str] = None) -> Dict[str, Any]:
    """The checked values of a notice (create or edit): each problem is a typed Chinese error. ``kept_community``:
    the 小区 an edited notice already has, which may have been retired since (see :func:`check_in_service`)."""
    community_id = data.get("community_id")
    known = {c.id: c for c in kb.communities}
    if not isinstance(community_id, str) or community_id not in known or session.get(Community, community_id) is None:
        raise UnknownCommunity(community=str(community_id or "（未填写）")[:32])
    if community_id != kept_community:
        check_in_service(known[community_id])
    time_zone = known[community_id].values.get("time_zone") or DEFAULT_TIME_ZONE
    kind = data.get("kind")
    if kind not in KINDS:
        raise UnknownNoticeKind()
    buildings = sorted({int(b) for b in (data.get("buildings") or [])})
    existing = community_buildings(session, community_id)
    unknown = [b for b in buildings if b not in existing]
    if unknown:
        raise UnknownBuildings(community=known[community_id].name, buildings="、".join(f"{b}栋" for b in unknown))
    raw_text = data.get("text") if isinstance(data.get("text"), str) else ""
    if not raw_text.strip():
        raise EmptyNoticeText()
    if len(raw_text) > MAX_TEXT:
        raise NoticeTextTooLong(max_chars=MAX_TEXT)
    text = check_text(raw_text.strip(), MAX_TEXT)
    starts_at = parse_local_time(data.get("starts_at"), "开始时间", time_zone)
    ends_at = parse_local_time(data.get("ends_at"), "结束时间", time_zone)
    if ends_at <= starts_at:
        raise NoticeWindowInvalid()
    if ends_at - starts_at > MAX_WINDOW:
        raise NoticeWindowTooLong()
    title = data.get("title") if isinstance(data.get("title"), str) else ""
    title = check_text(title.strip(), 64, allow_empty=True) if title.strip() else \
        f"{scope_label(buildings)}{KINDS[kind]}{'' if kind in ('activity', 'other') else '通知'}"
    # a poll the notice invites residents to (its 参与投票 button: bot/voice/polls.py); 0 unlinks it on an edit
    poll_id = data.get("poll_id") or None
    if poll_id is not None:
        poll = session.get(Poll, poll_id) if isinstance(poll_id, int) and 0 < poll_id < 2**31 else None
        if poll is None or poll.community_id != community_id:
            raise NoticePollInvalid()
    return {"community_id": community_id, "kind": kind, "buildings": buildings, "title": title[:64], "text": text,
            "starts_at": starts_at, "ends_at": ends_at, "poll_id": poll_id}


# --- changes, each with its revision ----------------------------------------------------------------------------------
def snapshot(notice: Notice) -> Dict[str, Any]:
    return {"community_id": notice.community_id, "kind": notice.kind, "buildings": list(notice.buildings or []),
            "title": notice.title, "text": notice.text, "starts_at": iso(notice.starts_at), "ends_at": iso(notice.ends_at),
            "withdrawn_at": iso(notice.withdrawn_at)}


def _revise(session: Session, notice: Notice, action: str, staff: Optional[Staff], now: dt.datetime) -> None:
    session.add(NoticeRevision(notice_id=notice.id, staff_id=staff.id if staff else None, action=action,
                               snapshot=snapshot(notice), created_at=now))


def create(session: Session, kb: Any, data: Dict[str, Any], staff: Optional[Staff], now: dt.datetime) -> Notice:
    notice = Notice(**clean(session, kb, data), created_by=staff.id if staff else None, created_at=now, updated_at=now)
    session.add(notice)
    session.flush()
    _revise(session, notice, "created", staff, now)
    return notice


def get(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NoticeNotFound()
    return notice


def edit(session: Session, kb: Any, notice_id: int, data: Dict[str, Any], staff: Optional[Staff],
         now: dt.datetime) -> Notice:
    notice = get(session, notice_id)
    if notice.withdrawn_at is not None:
        raise NoticeWithdrawn()
    values = clean(session, kb, {**snapshot_input(notice), **{k: v for k, v in data.items() if v is not None}},
                   kept_community=notice.community_id)
    for key, value in values.items():
        setattr(notice, key, value)
    notice.updated_at = now
    session.flush()
    _revise(session, notice, "edited", staff, now)
    return notice


def withdraw(session: Session, notice_id: int, staff: Optional[Staff], now: dt.datetime) -> Notice:
    notice = get(session, notice_id)
    if notice.withdrawn_at is not None:
        raise NoticeWithdrawn()
    notice.withdrawn_at = now
    notice.updated_at = now
    _revise(session, notice, "withdrawn", staff, now)
    return notice


def snapshot_input(notice: Notice) -> Dict[str, Any]:
    """The stored notice as an input (UTC times with their offset), so an edit may give only what changes."""
    return {"community_id": notice.community_id, "kind": notice.kind, "buildings": list(notice.buildings or []),
            "title": notice.title, "text": notice.text, "starts_at": iso(notice.starts_at),
            "ends_at": iso(notice.ends_at), "poll_id": notice.poll_id}


# --- reading -----------------------------------------------------------------------------------------------------
def time_zone_of(kb: Any, community_id: str) -> str:
    try:
        return kb.community(community_id).values.get("time_zone") or DEFAULT_TIME_ZONE
    except (KeyError, AttributeError):
        return DEFAULT_TIME_ZONE


def state_of(notice: Notice, now: dt.datetime) -> str:
    """withdrawn | ended | active | upcoming (starts within LOOKAHEAD: already live) | scheduled."""
    if notice.withdrawn_at is not None:
        return "withdrawn"
    if notice.ends_at <= now:
        return "ended"
    if notice.starts_at <= now:
        return "active"
    return "upcoming" if notice.starts_at - LOOKAHEAD <= now else "scheduled"


STATE_LABELS = {"withdrawn": "已撤回", "ended": "已结束", "active": "生效中", "upcoming": "即将开始", "scheduled": "未开始"}


def covers(notice: Notice, building: Optional[int]) -> bool:
    return not notice.buildings or building is None or building in notice.buildings


def live(session: Session, community_id: str, building: Optional[int], now: dt.datetime,
         kinds: Optional[Sequence[str]] = None) -> List[Notice]:
    """Live notices of the 小区 for a building (those for the whole 小区 or naming it); ``building`` None: all of
    the 小区's live notices (the answer then says which buildings)."""
    kinds = list(kinds or [])
    params = {"community_id": community_id, "now": now, "soon": now + LOOKAHEAD,
              **{f"kind_{i}": kind for i, kind in enumerate(kinds)}}
    return [n for n in session.scalars(_live_statement(len(kinds)), params) if covers(n, building)]


@functools.lru_cache(maxsize=8)
def _live_statement(kinds: int) -> Any:
    """:func:`live`'s statement for ``kinds`` kinds (0: any), built once with bound parameters (community_id, now,
    soon, kind_<i>): every outage report reads it, and building it cost about as much as running it."""
    query = select(Notice).where(Notice.community_id == bindparam("community_id"), Notice.withdrawn_at.is_(None),
                                 Notice.ends_at > bindparam("now"), Notice.starts_at <= bindparam("soon"))
    if kinds:
        query = query.where(Notice.kind.in_([bindparam(f"kind_{i}") for i in range(kinds)]))
    return query.order_by(Notice.starts_at, Notice.id)


def scope_label(buildings: Iterable[int]) -> str:
    buildings = list(buildings or [])
    return "、".join(f"{b}栋" for b in buildings) if buildings else "全小区"


def _clock(t: dt.datetime) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _day(t: dt.datetime, today: dt.date) -> str:
    offset = (t.date() - today).days
    return {0: "今天", 1: "明天", 2: "后天", -1: "昨天"}.get(offset, f"{t.month}月{t.day}日")


def when_text(notice: Notice, time_zone: str, now: dt.datetime) -> str:
    """"今天 9:00–17:00", "今天 22:00 至明天 6:00", "11月29日 9:00–11:00" on the 小区's clock."""
    today = to_local(now, time_zone).date()
    start, end = to_local(notice.starts_at, time_zone), to_local(notice.ends_at, time_zone)
    if start.date() == end.date():
        return f"{_day(start, today)} {_clock(start)}–{_clock(end)}"
    return f"{_day(start, today)} {_clock(start)} 至{_day(end, today)} {_clock(end)}"


def describe(notice: Notice, time_zone: str, now: dt.datetime) -> str:
    """"3栋今天 9:00–17:00 停水，正在进行，预计 17:00 恢复。\n<the admin's text>"."""
    label = KINDS.get(notice.kind, "通知")
    end = to_local(notice.ends_at, time_zone)
    today = to_local(now, time_zone).date()
    end_text = _clock(end) if end.date() == today else f"{_day(end, today)} {_clock(end)}"
    if notice.kind in PROBLEM_KINDS:
        status = f"正在进行，预计 {end_text} 恢复" if notice.starts_at <= now else "尚未开始"
        head = f"{scope_label(notice.buildings)}{when_text(notice, time_zone, now)} {label}，{status}。"
    else:
        head = f"{scope_label(notice.buildings)}{when_text(notice, time_zone, now)}：{notice.title}。"
    return f"{head}\n{notice.text}"


def notice_json(notice: Notice, kb: Any, now: dt.datetime, history: bool = False,
                session: Optional[Session] = None) -> Dict[str, Any]:
    time_zone = time_zone_of(kb, notice.community_id)
    state = state_of(notice, now)
    data = {"id": notice.id, "community_id": notice.community_id, "kind": notice.kind,
            "kind_label": KINDS.get(notice.kind, notice.kind), "buildings": list(notice.buildings or []),
            "scope_label": scope_label(notice.buildings), "title": notice.title, "text": notice.text,
            "starts_at": iso(notice.starts_at, time_zone), "ends_at": iso(notice.ends_at, time_zone),
            "when": when_text(notice, time_zone, now), "state": state, "state_label": STATE_LABELS[state],
            "withdrawn_at": iso(notice.withdrawn_at, time_zone), "updated_at": iso(notice.updated_at, time_zone),
            "poll_id": notice.poll_id}
    if history and session is not None:
        names = {s.id: s.display_name for s in session.scalars(select(Staff))}
        data["history"] = [{"action": r.action, "action_label": REVISION_LABELS.get(r.action, r.action),
                            "by": names.get(r.staff_id), "at": iso(r.created_at, time_zone), "snapshot": r.snapshot}
                           for r in session.scalars(select(NoticeRevision).where(NoticeRevision.notice_id == notice.id)
                                                    .order_by(NoticeRevision.id))]
    return data


REVISION_LABELS = {"created": "发布", "edited": "修改", "withdrawn": "撤回"}


# --- the bot's answer (router rule 10a) --------------------------------------------------------------------------------
def answer(ctx: Any, kind: str, building: Optional[int]) -> None:
    """Answer with the live notices of that kind for the resident's building (or, without a known building, the
    小区's, saying which buildings they cover) instead of the generic FAQ."""

    time_zone = ctx.time_zone
    found = live(ctx.session, ctx.community_id, building, ctx.now, kinds=[kind])
    if not found:  # withdrawn between the state and the answer: the generic answer
        faq = "elevator_maintenance" if kind == "elevator" else "outage_notice"
        ctx.say(ctx.kb.render(faq, ctx.community_id))
        return
    parts = [describe(n, time_zone, ctx.now) for n in found]
    text = "\n\n".join(parts)
    if building is None and any(n.buildings for n in found):
        text = "目前的通知如下：\n" + text + "\n如果您不在以上楼栋，请告诉我您的楼栋（例如“7栋停水了”），我们马上核实。"
    elif building is not None:
        text = "您好，" + text
    faq = "elevator_maintenance" if kind == "elevator" else "outage_notice"
    polls = [Button("参与投票", f"/poll {n.poll_id}") for n in found if n.poll_id][:1]  # router rule 0: /poll
    ctx.say(text, polls + [Button("没有解决我的问题", f"/not_helpful {faq}")])


def building_in(text_entities: Iterable[Dict[str, Any]]) -> Optional[int]:
    """The building named in a message's room entity ("3栋" → 3, "3-2-501" → 3)."""
    for e in text_entities:
        if e.get("entity") == "room":
            match = re.match(r"(\d+)", str(e.get("value") or ""))
            if match:
                return int(match.group(1))
    return None

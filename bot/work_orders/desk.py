"""The work-order desk (工单台): listing and filtering orders, assigning technicians, moving an order through its
statuses with a note, telling the resident about every change (预期管理), telling the resident and escalating
once for each SLA step an order misses (dispatch, completion), and the desk's figures.

Statuses (bot.core.domain.WorkOrderStatus) and the moves allowed::

    待受理 → 已派单 (by assigning a technician) | 已取消
    已派单 → 维修中 | 已取消        (assigning again hands it to another technician)
    维修中 → 已完成 | 已取消
    已完成, 已取消: closed

Anything else is refused (409 ``invalid_transition``). Who may do what is ``bot/access/permissions.py``: agents and
admins dispatch and move any order; a technician sees only the orders assigned to them or not yet assigned and
moves only their own, to 维修中 and 已完成. Each order says what its viewer may do to it now (``actions``,
:func:`actions_for`): the desk shows those buttons and no others.

Completing needs a note (what was done; 422 ``completion_note_required`` without one) and may carry photos of the
work: the status, the note and the photos are one WorkOrderEvent written in one transaction with the resident's
message, so a completion is stored whole or not at all.

Every assignment and status change stores a WorkOrderEvent (actor = the staff member's name, the note) and a bot
message in the order's conversation in plain Chinese with the next step and the expected time from the SLA
deadline on the 小区's clock ("师傅王工已接单，预计今天 15:00 前上门维修"); the API announces it
(live.announce: the widget live, WeChat customer-service push, stored for REST). A completed order asks for a 1–5
rating: stored as a WorkOrderEvent of the order ("业主评价：5 分 · 非常满意"), not in ``ratings`` (whose rows
belong to handoffs); see :func:`record_rating`.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import selectinload

from bot.access.permissions import Capability, DispatchersOnly, Role, can, community_scope, require, sees_order
from bot.core.domain import ConversationStatus, HandoffStatus, Priority, WorkOrderStatus
from bot.core.errors import INVISIBLE, NotFound, WuyeError
from bot.core.localtime import DEFAULT_TIME_ZONE, iso, to_local, wish_text
from bot.handoffs.ratings import SCORES
from bot.realtime import live
from bot.storage import outbox
from bot.storage.models import Conversation, Handoff, Household, Message, Staff, WorkOrder, WorkOrderEvent
from bot.storage.outbox import Kind
from bot.turn.context import FlowState, slot_payload
from bot.work_orders import sla

TECHNICIAN = Role.TECHNICIAN.value
S = WorkOrderStatus
TRANSITIONS: Dict[str, Tuple[str, ...]] = {
    S.NEW.value: (S.DISPATCHED.value, S.CANCELLED.value),
    S.DISPATCHED.value: (S.IN_PROGRESS.value, S.CANCELLED.value),
    S.IN_PROGRESS.value: (S.DONE.value, S.CANCELLED.value),
    S.DONE.value: (),
    S.CANCELLED.value: (),
}
TECHNICIAN_MOVES = (S.IN_PROGRESS.value, S.DONE.value)
# the desk's buttons: the status moves by name (待受理 → 已派单 is not among them: it happens by assigning)
MOVE_ACTIONS = {S.IN_PROGRESS.value: "start", S.DONE.value: "complete", S.CANCELLED.value: "cancel"}
TOLD_NOTE_CHARS = 60  # a longer completion note is cut for the resident's message (the desk keeps it whole)
URGENCY_LABELS = {"normal": "一般", "urgent": "紧急"}
RATING_PREFIX = "业主评价："
RATING_SLOT = "rating"
RATING_QUESTION = "请为本次维修服务打分：点选下面的评分，或直接回复数字 1–5（5 分为非常满意）。"
OVERDUE_REASON = "work order overdue: {number}"  # the escalation handoff's reason (not dispatched in time)
LATE_COMPLETION_REASON = "work order not completed in time: {number}"  # (not repaired in time)
CHASED_OVERDUE_REASON = "overdue work order chased: {number}"  # the resident chased an overdue order


# --- typed errors -------------------------------------------------------------------------------------------
class WorkOrderNotFound(NotFound):
    code, message = "work_order_not_found", "找不到这个工单"


class InvalidTransition(WuyeError):
    status, code, message = 409, "invalid_transition", "工单当前状态为“{current}”，不能改为“{target}”"


class WorkOrderClosed(InvalidTransition):
    code, message = "work_order_closed", "工单当前状态为“{current}”，不能再派单或修改"


class AssigneeRequired(WuyeError):
    status, code, message = 422, "assignee_required", "请先指派维修师傅：派单即把工单改为“已派单”"


class NoteRequired(WuyeError):
    status, code, message = 422, "note_required", "取消工单需要填写原因（会告知业主）"


class CompletionNoteRequired(WuyeError):
    status, code, message = 422, "completion_note_required", "完成工单需要填写完成说明（做了什么，会告知业主）"


class NotATechnician(WuyeError):
    status, code, message = 422, "not_a_technician", "只能指派给维修师傅（角色为 technician 的账号）"


class TechnicianOfAnotherCommunity(WuyeError):
    status, code, message = 422, "technician_other_community", "{name}不服务这个工单的小区，请指派本小区的维修师傅"


class NotAssignee(WuyeError):
    status, code, message = 403, "not_assignee", "这个工单没有指派给您，不能修改"


# --- reading orders ------------------------------------------------------------------------------------------
def time_zone_of(kb, community_id: Optional[str]) -> str:
    try:
        return kb.community(community_id).values.get("time_zone") or DEFAULT_TIME_ZONE
    except Exception:  # noqa: BLE001 - an unknown 小区 reads on the default clock
        return DEFAULT_TIME_ZONE


def building_of(order: WorkOrder, household: Optional[Household]) -> Optional[int]:
    if household is not None:
        return household.building
    match = re.search(r"(\d+)\s*(栋|号楼|幢)", order.location or "")
    return int(match.group(1)) if match else None


def overdue_kind(order: WorkOrder, now: dt.datetime) -> Optional[str]:
    """'response' (not dispatched in time), 'completion' (not repaired in time) or None."""
    if order.status in S.closed():
        return None
    if order.response_due is not None and order.first_response_at is None and now > order.response_due:
        return "response"
    if order.completion_due is not None and now > order.completion_due:
        return "completion"
    return None


def rating_of(order: WorkOrder) -> Optional[int]:
    for event in reversed(order.events):
        if event.actor == "resident" and event.note.startswith(RATING_PREFIX):
            match = re.match(rf"{RATING_PREFIX}(\d)", event.note)
            return int(match.group(1)) if match else None
    return None


def moves_for(order: WorkOrder, viewer: Optional[Staff]) -> List[str]:
    """The statuses ``viewer`` may move the order to now (None: every allowed move, as a dispatcher may)."""
    moves = TRANSITIONS.get(order.status, ())
    if viewer is None or can(viewer, Capability.DISPATCH):
        return list(moves)
    if order.assignee_id != viewer.id:
        return []
    return [m for m in moves if m in TECHNICIAN_MOVES]


def actions_for(order: WorkOrder, viewer: Optional[Staff]) -> List[str]:
    """What ``viewer`` may do to the order now, as the desk's buttons: ``assign`` (a dispatcher, an open order), then
    ``start`` / ``complete`` / ``cancel`` for the moves of :func:`moves_for`. The page shows exactly these, so a
    technician never sees a button the server would refuse."""
    assign = order.status not in S.closed() and (viewer is None or can(viewer, Capability.DISPATCH))
    return (["assign"] if assign else []) + [MOVE_ACTIONS[m] for m in moves_for(order, viewer) if m in MOVE_ACTIONS]


def completion_of(order: WorkOrder) -> Optional[WorkOrderEvent]:
    """The event that completed the order (its note and photos), None while it is not completed."""
    if order.status != S.DONE.value:
        return None
    return next((e for e in reversed(order.events) if e.status == S.DONE.value and e.actor != "resident"), None)


def order_json(session, order: WorkOrder, now: dt.datetime, kb, names: Dict[int, str],
               detail: bool = False, viewer: Optional[Staff] = None) -> Dict[str, Any]:
    household = session.get(Household, order.household_id) if order.household_id else None
    tz = time_zone_of(kb, order.community_id)
    kind = overdue_kind(order, now)
    try:
        community_name = kb.community(order.community_id).name
    except Exception:  # noqa: BLE001
        community_name = order.community_id
    data: Dict[str, Any] = {
        "id": order.id, "number": order.number, "community_id": order.community_id, "community": community_name,
        "building": building_of(order, household), "location": order.location, "room": household.label if household else None,
        "category": order.category, "description": order.description, "urgency": order.urgency,
        "urgency_label": URGENCY_LABELS.get(order.urgency, order.urgency), "status": order.status,
        "assignee_id": order.assignee_id, "assignee": names.get(order.assignee_id) if order.assignee_id else None,
        "created_at": iso(order.created_at, tz), "updated_at": iso(order.updated_at, tz),
        "response_due": iso(order.response_due, tz), "completion_due": iso(order.completion_due, tz),
        "response_due_text": sla.local_deadline(order.response_due, now, tz),
        "completion_due_text": sla.local_deadline(order.completion_due, now, tz),
        "first_response_at": iso(order.first_response_at, tz), "completed_at": iso(order.completed_at, tz),
        "escalated_at": iso(order.escalated_at, tz), "completion_escalated_at": iso(order.completion_escalated_at, tz),
        "overdue": kind is not None, "overdue_kind": kind,
        "overdue_label": {"response": "超时未派单", "completion": "超时未完成"}.get(kind or ""),
        "chase_count": order.chase_count, "conversation_id": order.conversation_id,
        "next_statuses": moves_for(order, viewer), "actions": actions_for(order, viewer), "rating": rating_of(order),
    }
    if detail:
        conversation = session.get(Conversation, order.conversation_id) if order.conversation_id else None
        messages = list(session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                        .order_by(Message.id.desc()).limit(20))) if conversation else []
        completion = completion_of(order)
        data.update({
            "contact_phone": order.contact_phone, "preferred_time": order.preferred_time, "photos": list(order.photos or []),
            # the visit time asked for in words on the 小区's clock ("明天 上午 9:00–12:00"): the stored form is for programs
            "preferred_time_text": wish_text(order.preferred_time, to_local(now, tz).date()),
            "household": None if household is None else {"room": household.label, "owner": household.owner_name,
                                                         "phone": household.phone},
            "events": [{"id": e.id, "status": e.status, "note": e.note, "actor": e.actor, "at": iso(e.created_at, tz),
                        "photos": list(e.photos or [])} for e in order.events],
            "completion": None if completion is None else {
                "note": completion.note, "photos": list(completion.photos or []), "by": completion.actor,
                "at": iso(completion.created_at, tz)},
            "conversation": None if conversation is None else {
                "id": conversation.id, "channel": conversation.channel, "status": conversation.status,
                "messages": [{"sender": m.sender, "text": m.text, "at": iso(m.created_at, tz)} for m in reversed(messages)
                             if m.sender != "note"]},
        })
    return data


def staff_names(session) -> Dict[int, str]:
    return {s.id: s.display_name for s in session.scalars(select(Staff))}


def list_orders(session, now: dt.datetime, kb, status: Optional[str] = None, community: Optional[str] = None,
                building: Optional[int] = None, category: Optional[str] = None, urgency: Optional[str] = None,
                overdue: Optional[bool] = None, assignee_id: Optional[int] = None, q: Optional[str] = None,
                limit: int = 200, viewer: Optional[Staff] = None) -> List[Dict[str, Any]]:
    """Orders matching every given filter that ``viewer`` may see (bot.access.permissions.sees_order): overdue first,
    then urgent, then the newest."""
    query = select(WorkOrder)
    if viewer is not None and not can(viewer, Capability.DISPATCH):
        query = query.where(or_(WorkOrder.assignee_id == viewer.id, WorkOrder.assignee_id.is_(None)))
    if community_scope(viewer) is not None:  # a member who serves one 小区 sees its orders only
        query = query.where(WorkOrder.community_id == community_scope(viewer))
    if status:
        query = query.where(WorkOrder.status == status)
    elif overdue:
        query = query.where(WorkOrder.status.notin_(S.closed()))
    if community:
        query = query.where(WorkOrder.community_id == community)
    if category:
        query = query.where(WorkOrder.category == category)
    if urgency:
        query = query.where(WorkOrder.urgency == urgency)
    if assignee_id is not None:
        query = query.where(WorkOrder.assignee_id == assignee_id)
    if q:
        like = f"%{q}%"
        query = query.where(WorkOrder.number.like(like) | WorkOrder.description.like(like) | WorkOrder.location.like(like))
    names = staff_names(session)
    # the newest 2000 orders (ix_work_orders_created_at_id serves the ORDER BY; the id orders orders made at the
    # same time, which were in no defined order), filtered and sorted on the few columns that decide it; only the
    # ``limit`` shown are loaded whole and made into JSON, their households and events read in one query each
    # (issue 29: every order whole, with a household and the events per order, for 2000 orders, took seconds)
    o = WorkOrder
    orders = session.execute(query.with_only_columns(o.id, o.status, o.urgency, o.response_due, o.first_response_at,
                                                     o.completion_due, o.household_id, o.location)
                             .order_by(o.created_at.desc(), o.id.desc()).limit(2000)).all()
    if building is not None:
        held = _households(session, orders)
        orders = [o for o in orders if building_of(o, held.get(o.household_id)) == building]
    if overdue is not None:
        orders = [o for o in orders if (overdue_kind(o, now) is not None) == overdue]
    orders.sort(key=lambda o: (overdue_kind(o, now) is None, o.status in S.closed(), o.urgency != "urgent"))
    ids = [row.id for row in orders[:limit]]
    loaded = {order.id: order for order in session.scalars(
        select(WorkOrder).where(WorkOrder.id.in_(ids)).options(selectinload(WorkOrder.events)))} if ids else {}
    shown = [loaded[i] for i in ids]
    held = _households(session, shown)  # held here: the session keeps only weak references
    rows = [order_json(session, order, now, kb, names, viewer=viewer) for order in shown]
    del held
    return rows


def _households(session, orders: List[Any]) -> Dict[int, Household]:
    """The orders' households in one query, by id; while the caller holds them, order_json's session.get finds
    them in the session without a query each."""
    ids = {o.household_id for o in orders if o.household_id}
    return {h.id: h for h in session.scalars(select(Household).where(Household.id.in_(ids)))} if ids else {}


def technicians(session, viewer: Optional[Staff] = None) -> List[Dict[str, Any]]:
    """The technicians a dispatcher may assign: for one who serves a 小区, that 小区's and those who serve every
    小区 (another 小区's technician could not see the order)."""
    query = select(Staff).where(Staff.role == TECHNICIAN).order_by(Staff.id)
    scope = community_scope(viewer)
    if scope is not None:
        query = query.where(or_(Staff.community_id.is_(None), Staff.community_id == scope))
    return [{"id": s.id, "name": s.display_name, "username": s.username, "community_id": s.community_id}
            for s in session.scalars(query)]


def get_order(session, order_id: int, viewer: Optional[Staff] = None) -> WorkOrder:
    """The order; 404 also when ``viewer`` may not see it (another technician's order is not confirmed to exist)."""
    order = session.get(WorkOrder, order_id)
    if order is None or (viewer is not None and not sees_order(viewer, order)):
        raise WorkOrderNotFound()
    return order


# --- telling the resident ----------------------------------------------------------------------------------
def tell_resident(session, order: WorkOrder, text: str, now: dt.datetime,
                  buttons: Optional[List[Dict[str, str]]] = None) -> Optional[int]:
    """A bot message in the order's conversation (None: the order came by another way, nobody to tell)."""
    if not order.conversation_id:
        return None
    outbox.record(session, Kind.MESSAGE_STORED, order.conversation_id)
    session.add(Message(conversation_id=order.conversation_id, sender="bot", text=text, buttons=buttons or [],
                        created_at=now))
    return order.conversation_id


def _ask_rating(session, order: WorkOrder, now: dt.datetime, text: str) -> None:
    """The completion message, with the rating buttons when the conversation has no flow under way (the answer is
    read by the repair-status flow, actions/repairs.py, as its ``rating`` slot)."""

    conversation = session.get(Conversation, order.conversation_id) if order.conversation_id else None
    if conversation is None:
        return
    if conversation.flow or conversation.status == ConversationStatus.OPEN:
        tell_resident(session, order, text, now)
        return
    buttons = [{"title": f"{score} {label}", "payload": slot_payload(RATING_SLOT, str(score))}
               for score, label in sorted(SCORES.items(), reverse=True)]
    tell_resident(session, order, f"{text}\n{RATING_QUESTION}", now, buttons)
    conversation.flow = FlowState(name="repair_status", slots={"rate_order": order.id}, asking=RATING_SLOT,
                                  offered=[b["payload"] for b in buttons]).dump()


def record_rating(session, order_id: int, identity_id: int, score: int, now: dt.datetime) -> str:
    """The resident's 1–5 rating of their completed order, stored as a WorkOrderEvent; returns what to say."""

    order = session.get(WorkOrder, order_id)
    if order is None or order.reporter_identity_id != identity_id:
        return "这个工单的评价已经失效了。"
    if order.status != S.DONE.value:
        return "工单完成后才能评价。"
    if rating_of(order) is not None:
        return "您已经评价过这个工单了，感谢您的反馈。"
    order.events.append(WorkOrderEvent(status=order.status, note=f"{RATING_PREFIX}{score} 分 · {SCORES[score]}",
                                       actor="resident", created_at=now))
    return f"感谢您的评价（{score} 分 · {SCORES[score]}）！" + ("我们会继续改进服务。" if score >= 4 else
                                                          "很抱歉这次没让您满意，工程部主管会跟进回访。")


# --- changing orders ----------------------------------------------------------------------------------------
def _when(order: WorkOrder, utc: Optional[dt.datetime], now: dt.datetime, kb) -> str:
    return sla.local_deadline(utc, now, time_zone_of(kb, order.community_id))


def assign(session, order: WorkOrder, staff: Staff, technician_id: int, note: str, now: dt.datetime, kb) -> None:
    """Give the order to a technician: 待受理 → 已派单 (the first response), or hand it to another technician."""
    require(staff, Capability.DISPATCH)
    outbox.record(session, Kind.WORK_ORDER_CHANGED, work_order_id=order.id, community_id=order.community_id)
    if order.status in S.closed():
        raise WorkOrderClosed(current=order.status)
    technician = session.get(Staff, technician_id)
    if technician is None or technician.role != TECHNICIAN:
        raise NotATechnician()
    if community_scope(technician) not in (None, order.community_id):  # the order would vanish from their desk
        raise TechnicianOfAnotherCommunity(name=technician.display_name)
    again = order.assignee_id is not None
    if order.assignee_id == technician.id and order.status != S.NEW.value:
        raise InvalidTransition("工单已经指派给{name}了", name=technician.display_name)
    order.assignee_id = technician.id
    if order.status == S.NEW.value:
        order.status = S.DISPATCHED.value
    if order.first_response_at is None:
        order.first_response_at = now
    order.updated_at = now
    what = f"改派给{technician.display_name}" if again else f"派单给{technician.display_name}"
    order.events.append(WorkOrderEvent(status=order.status, note=f"{what}" + (f"：{note}" if note else ""),
                                       actor=staff.display_name[:32], created_at=now))
    due = _when(order, order.completion_due, now, kb)
    # the visit time the resident asked for, when it can still be kept, is the promise (not a later SLA deadline)
    visit = sla.visit_promise(order, now, time_zone_of(kb, order.community_id))
    if order.status == S.IN_PROGRESS.value:
        text = f"您的工单 {order.number}（{order.description}）已改由师傅{technician.display_name}继续维修，预计{sla.spaced(due)}前修好。"
    else:
        lead = "已改由" if again else "已派单："
        when = f"将按您约定的时间于{sla.spaced(visit)}上门维修" if visit else f"预计{sla.spaced(due)}前上门维修"
        text = (f"您的工单 {order.number}（{order.description}）{lead}师傅{technician.display_name}已接单，"
                f"{when}，上门前会电话联系您。")
    tell_resident(session, order, text, now)


def told_note(note: str) -> str:
    """The completion note as the resident reads it: whole when short, else its beginning."""
    return note if len(note) <= TOLD_NOTE_CHARS else note[:TOLD_NOTE_CHARS - 1] + "…"


def change_status(session, order: WorkOrder, staff: Staff, target: str, note: str, now: dt.datetime, kb,
                  photos: Optional[List[str]] = None) -> None:
    """Move the order on with a note (and ``photos``, already checked as the staff member's own uploads), telling
    the resident. Every refusal is raised before anything is changed."""
    current = order.status
    if not can(staff, Capability.DISPATCH):
        require(staff, Capability.DESK)
        if order.assignee_id != staff.id:
            raise NotAssignee()
        if target not in TECHNICIAN_MOVES:
            raise DispatchersOnly()
    if current in S.closed():
        raise WorkOrderClosed(current=current)
    outbox.record(session, Kind.WORK_ORDER_CHANGED, work_order_id=order.id, community_id=order.community_id)
    if target not in TRANSITIONS.get(current, ()):
        raise InvalidTransition(current=current, target=target)
    if target == S.DISPATCHED.value and order.assignee_id is None:
        raise AssigneeRequired()
    blank = not note.strip(INVISIBLE)  # zero-width spaces only: as blank as spaces
    if target == S.CANCELLED.value and blank:
        raise NoteRequired()
    if target == S.DONE.value and blank:
        raise CompletionNoteRequired()
    order.status = target
    order.updated_at = now
    if target in (S.DISPATCHED.value, S.IN_PROGRESS.value) and order.first_response_at is None:
        order.first_response_at = now
    if target == S.DONE.value:
        order.completed_at = now
    order.events.append(WorkOrderEvent(status=target, note=note or f"状态改为{target}", actor=staff.display_name[:32],
                                       photos=list(photos or []), created_at=now))
    who = f"师傅{staff.display_name}" if staff.role == TECHNICIAN else (
        f"师傅{session.get(Staff, order.assignee_id).display_name}" if order.assignee_id else "维修师傅")
    head = f"您的工单 {order.number}（{order.description}）"
    if target == S.IN_PROGRESS.value:
        tell_resident(session, order, f"{head}：{who}已开始维修，预计{sla.spaced(_when(order, order.completion_due, now, kb))}前修好。"
                      "修好后会再通知您。", now)
    elif target == S.DONE.value:
        _ask_rating(session, order, now, f"{head}已维修完成（{told_note(note)}）。"
                    "如果还有问题，直接回复“查询工单”或重新报修即可。")
    elif target == S.CANCELLED.value:
        tell_resident(session, order, f"{head}已取消，原因：{note}。如还需要维修，可以随时回复“我要报修”。", now)


# --- overdue: each missed SLA step told and escalated once ------------------------------------------------------
OVERDUE_TEXT = ("非常抱歉，您的工单 {number}（{description}）没能在承诺的时间内派单。已通知值班人员优先跟进，"
                "稍后会有专人联系您。")
LATE_COMPLETION_TEXT = ("非常抱歉，您的工单 {number}（{description}）没能在承诺的时间（{due}前）修好。已通知值班人员"
                        "督促尽快完成，稍后会有专人联系您说明进展和新的完成时间。")


@dataclass(frozen=True)
class Step:
    """One SLA step an order can miss: the column that marks it escalated (set once, by an UPDATE on the column being
    NULL, in the same transaction as the escalation: neither a later check, a restart nor another process repeats
    it), the note on the order, the handoff's reason and what the resident is told."""

    name: str
    mark: Any
    note: str
    reason: str
    text: str

    def missed(self, now: dt.datetime) -> List[Any]:
        """The SQL conditions of an order that missed this step and was not escalated for it yet."""
        if self.name == "response":
            late = [WorkOrder.first_response_at.is_(None), WorkOrder.response_due.isnot(None),
                    WorkOrder.response_due < now]
        else:
            late = [WorkOrder.completion_due.isnot(None), WorkOrder.completion_due < now]
        return [WorkOrder.status.notin_(S.closed()), self.mark.is_(None), *late]


STEPS: Tuple[Step, ...] = (
    Step("response", WorkOrder.escalated_at, "超过响应时限未派单，已通知值班客服", OVERDUE_REASON, OVERDUE_TEXT),
    Step("completion", WorkOrder.completion_escalated_at, "超过完成时限未修好，已通知值班客服", LATE_COMPLETION_REASON,
         LATE_COMPLETION_TEXT),
)


def overdue_steps(session, now: dt.datetime) -> Dict[int, List[str]]:
    """Order id → the steps it missed and was not escalated for yet (response before completion)."""
    found: Dict[int, List[str]] = {}
    for step in STEPS:
        for order_id in session.scalars(select(WorkOrder.id).where(*step.missed(now)).order_by(WorkOrder.id)):
            found.setdefault(order_id, []).append(step.name)
    return found


def take_steps(session, order_id: int, names: List[str], now: dt.datetime) -> List[str]:
    """Mark the order escalated for each step still unmarked; returns the steps this call took (the others were taken
    by another check meanwhile)."""
    taken = []
    for step in STEPS:
        if step.name not in names:
            continue
        result = session.execute(update(WorkOrder).where(WorkOrder.id == order_id, *step.missed(now))
                                 .values({step.mark.key: now}).execution_options(synchronize_session=False))
        if result.rowcount == 1:
            taken.append(step.name)
    return taken


def escalate(session, order: WorkOrder, now: dt.datetime, steps: Tuple[str, ...] = ("response",),
             time_zone: str = DEFAULT_TIME_ZONE) -> Optional[str]:
    """The escalation of an order for the steps it missed: a note per step on the order, the resident told once (of the
    latest step missed: a check that finds both, after a pause, sends one apology, not two), and the on-duty agents
    given a handoff (priority high) on the order's conversation — or the waiting one raised and annotated. Returns
    the event kind to announce (handoff_opened / priority_raised / message_stored) or None when the order has no
    conversation."""
    missed = [step for step in STEPS if step.name in steps]
    for step in missed:
        order.events.append(WorkOrderEvent(status=order.status, note=step.note, actor="system", created_at=now))
    outbox.record(session, Kind.WORK_ORDER_OVERDUE, work_order_id=order.id, number=order.number,
                  conversation_id=order.conversation_id, community_id=order.community_id)
    conversation = session.get(Conversation, order.conversation_id) if order.conversation_id else None
    if conversation is None or not missed:
        return None
    tell_resident(session, order, missed[-1].text.format(
        number=order.number, description=order.description,
        due=sla.local_deadline(order.completion_due, now, time_zone)), now)
    kinds = [raise_handoff(session, conversation, Priority.HIGH.value, step.reason.format(number=order.number), now,
                           order) for step in missed]
    kind = "handoff_opened" if "handoff_opened" in kinds else ("priority_raised" if "priority_raised" in kinds
                                                               else kinds[-1])
    outbox.record(session, Kind(kind), conversation.id)
    return kind


def raise_handoff(session, conversation: Conversation, priority: str, reason: str, now: dt.datetime,
                  order: WorkOrder) -> str:
    """Open a handoff for the on-duty agents on the conversation, or raise (and annotate) its active one."""
    active = session.scalar(select(Handoff).where(Handoff.conversation_id == conversation.id,
                                                  Handoff.status.in_(HandoffStatus.active())))
    if active is not None:
        raised = Priority.rank_of(priority) < Priority.rank_of(active.priority)
        if raised:
            active.priority = priority
            conversation.priority = priority
        if reason not in (active.reasons or []):
            active.reasons = list(active.reasons or []) + [reason]
        return "priority_raised" if raised else "message_stored"
    messages = list(session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                    .order_by(Message.id.desc()).limit(30)))
    context = {"reasons": [reason], "channel": conversation.channel,
               "transcript": [{"sender": m.sender, "text": m.text, "at": m.created_at.isoformat()} for m in reversed(messages)],
               "readings": [], "entities": [], "emotion": None, "bot_answers": [], "flow": conversation.flow,
               "household": None,
               "work_order": {"id": order.id, "number": order.number, "description": order.description,
                              "status": order.status, "location": order.location, "chase_count": order.chase_count,
                              "preferred_time_text": wish_text(order.preferred_time)}}
    household = session.get(Household, order.household_id) if order.household_id else None
    if household is not None:
        context["household"] = {"room": household.label, "owner": household.owner_name, "phone": household.phone,
                                "community": household.community_id,
                                "open_work_orders": [{"number": order.number, "description": order.description,
                                                      "status": order.status, "chase_count": order.chase_count,
                                                      "preferred_time_text": wish_text(order.preferred_time)}]}
    session.add(Handoff(conversation_id=conversation.id, priority=priority, reasons=[reason], context=context,
                        status=HandoffStatus.QUEUED.value, created_at=now))
    if conversation.status != ConversationStatus.OPEN:
        conversation.status = ConversationStatus.PENDING.value
        conversation.waiting_since = now
    conversation.priority = priority
    return "handoff_opened"


async def escalate_overdue(services) -> int:
    """Run from the Timers loop: escalate every order newly past a deadline, once per order and step; returns how many
    steps were escalated. Each order is taken and escalated in one transaction (a failure leaves it to the next
    check), and its events go out after that commit (bot/storage/outbox.py)."""
    now = services.clock()

    def read() -> Dict[int, List[str]]:
        with services.db.session() as session:
            return overdue_steps(session, now)

    # off the event loop: it reads the open orders (at 300 k orders, 144-183 ms every 5 s in each worker)
    found = await asyncio.to_thread(read)
    escalated = 0
    for order_id, names in found.items():
        async with live.change(services) as session:
            taken = take_steps(session, order_id, names, now)
            if taken:
                order = session.get(WorkOrder, order_id)
                escalate(session, order, now, tuple(taken),
                         time_zone_of(services.knowledge.current, order.community_id))
        escalated += len(taken)
    return escalated


# --- figures --------------------------------------------------------------------------------------------------
def seconds_between(session, later, earlier):
    """``later - earlier`` in seconds as SQL (on PostgreSQL the expression migration 0018's duration indexes hold)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _median_minutes(session, later, earlier, window=()) -> Optional[float]:
    """The median of ``later - earlier`` in minutes over the orders where ``later`` is set, as statistics.median
    would give it (SQLite; PostgreSQL: :func:`_medians_postgresql`): the count first, then only the one or two middle
    rows (by the difference), never every order."""
    n = session.scalar(select(func.count()).select_from(WorkOrder).where(later.isnot(None), *window))
    if not n:
        return None
    middle = session.execute(select(later, earlier).where(later.isnot(None), *window)
                             .order_by(seconds_between(session, later, earlier))
                             .offset((n - 1) // 2).limit(2 - n % 2)).all()
    return round(statistics.median([(a - b).total_seconds() / 60 for a, b in middle]), 1)


def _medians_postgresql(session, pairs, window=()) -> List[Optional[float]]:
    """The medians of :func:`_median_minutes` in one scan: percentile_cont(0.5) is the mean of the two middle values
    for an even count, as statistics.median (NULLs are left out, as the orders without the time)."""
    values = session.execute(select(*[func.percentile_cont(0.5).within_group(seconds_between(session, later, earlier))
                                      for later, earlier in pairs]).where(*window)).one()
    return [None if v is None else round(float(v) / 60, 1) for v in values]


def grouped_counts(session, now: dt.datetime, *where: Any) -> List[tuple]:
    """The orders matching ``where`` in one grouped scan: per (status, category), (status, category, orders, first
    order id, open, overdue, response measured, response met, completion measured, completion met) at ``now``."""
    o = WorkOrder
    is_open = o.status.notin_(S.closed())
    overdue = is_open & ((o.response_due.isnot(None) & o.first_response_at.is_(None) & (o.response_due < now))
                         | (o.completion_due.isnot(None) & (o.completion_due < now)))
    response_measured = o.response_due.isnot(None) & (o.first_response_at.isnot(None) | (o.response_due < now))
    response_met = response_measured & o.first_response_at.isnot(None) & (o.first_response_at <= o.response_due)
    completion_measured = (o.completion_due.isnot(None) & (o.completed_at.isnot(None) | (o.completion_due < now))
                           & (o.status != S.CANCELLED.value))
    completion_met = completion_measured & o.completed_at.isnot(None) & (o.completed_at <= o.completion_due)

    def total(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [tuple(r) for r in session.execute(
        select(o.status, o.category, func.count(), func.min(o.id), total(is_open), total(overdue),
               total(response_measured), total(response_met), total(completion_measured), total(completion_met))
        .where(*where).group_by(o.status, o.category))]


def figures_json(rows: List[tuple], ratings: Dict[int, int], to_response: Optional[float],
                 to_completion: Optional[float]) -> Dict[str, Any]:
    """The figures' JSON from :func:`grouped_counts`' rows (several rows of one status and category add up), the
    ratings (score → orders) and the two medians in minutes."""
    by_status: Counter = Counter()
    by_category: Counter = Counter()
    first_seen: Dict[str, int] = {}
    sums = [0] * 6
    for status, category, count, first_id, *numbers in rows:
        by_status[status] += count
        by_category[category] += count
        first_seen[category] = min(first_seen.get(category, first_id), first_id)
        sums = [a + int(b) for a, b in zip(sums, numbers)]
    open_, overdue_count, response_total, response_ok, completion_total, completion_ok = sums
    rated = sum(ratings.values())
    return {
        "total": sum(by_status.values()),
        "by_status": {s.value: by_status.get(s.value, 0) for s in S},
        # the categories of data/sla.yml, then any other in the order orders first used it
        "by_category": {c: by_category.get(c, 0) for c in sla.CATEGORY_NAMES} | {
            c: by_category[c] for c in sorted(by_category, key=first_seen.__getitem__) if c not in sla.CATEGORY_NAMES},
        "open": open_,
        "overdue": overdue_count,
        "response_within_sla": (response_ok / response_total) if response_total else None,
        "response_measured": response_total,
        "completion_within_sla": (completion_ok / completion_total) if completion_total else None,
        "completion_measured": completion_total,
        "median_minutes_to_response": to_response,
        "median_minutes_to_completion": to_completion,
        "ratings": {"count": rated,
                    "average": round(sum(k * n for k, n in ratings.items()) / rated, 2) if rated else None},
    }


def figures(session, now: dt.datetime, start: Optional[dt.datetime] = None,
            end: Optional[dt.datetime] = None) -> Dict[str, Any]:
    """Orders by status and by category, the share that met each SLA, median minutes to the first response
    (dispatch) and to completion, and the residents' ratings of completed orders: of every order, or of the orders
    created in [``start``, ``end``) (stored UTC times) — a window bounds the scans as the orders grow.

    Aggregated in the database (issue 29: loading every order and its events took two minutes at 200 k orders):
    one grouped scan for the counts and SLA shares, the two middle rows for each median, and the latest rating event
    of each order through an index on the events' actor."""
    o = WorkOrder
    window = tuple(c for c in (o.created_at >= start if start else None, o.created_at < end if end else None)
                   if c is not None)
    pairs = [(o.first_response_at, o.created_at), (o.completed_at, o.created_at)]
    if session.get_bind().dialect.name == "postgresql":
        to_response, to_completion = _medians_postgresql(session, pairs, window)
    else:
        to_response, to_completion = (_median_minutes(session, later, earlier, window) for later, earlier in pairs)
    return figures_json(grouped_counts(session, now, *window), rating_counts(session, window), to_response,
                        to_completion)


def rating_counts(session, window=()) -> Counter:
    """Score → number of orders rated so, read as :func:`rating_of` reads one order: its latest resident event
    starting with the rating prefix, the digit right after it (an event without one: the order is not rated).

    Every rating event counted by its digit in one grouped scan (through ix_work_order_events_actor_work_order_id),
    then the few orders rated more than once corrected to their latest event only."""
    e = WorkOrderEvent
    rated = (e.actor == "resident", e.note.like(RATING_PREFIX + "%")) + (
        (e.work_order_id.in_(select(WorkOrder.id).where(*window)),) if window else ())
    digit = func.substr(e.note, len(RATING_PREFIX) + 1, 1)

    def score(char: Optional[str]) -> Optional[int]:
        match = re.match(r"\d", char or "")
        return int(match.group(0)) if match else None

    counts: Counter = Counter()
    for char, n in session.execute(select(digit, func.count()).where(*rated).group_by(digit)):
        if score(char) is not None:
            counts[score(char)] += n
    again = select(e.work_order_id).where(*rated).group_by(e.work_order_id).having(func.count() > 1)
    latest: Dict[int, int] = {}
    for order_id, event_id, char in session.execute(select(e.work_order_id, e.id, digit).where(
            *rated, e.work_order_id.in_(again)).order_by(e.work_order_id, e.id)):
        if order_id in latest and latest[order_id] is not None:
            counts[latest[order_id]] -= 1  # an earlier rating of the same order: only the latest counts
        latest[order_id] = score(char)
    return +counts

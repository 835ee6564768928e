"""Handoff to a human agent: the queue, the context card, claim/reply/resolve, and out-of-hours callbacks."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from actions.base import TurnContext
from bot.errors import AlreadyClaimed, ConversationNotFound, HandoffError, NotOwner  # noqa: F401 - HandoffError re-exported
from bot.storage.models import Conversation, Handoff, Message, Staff, WorkOrder

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2}
AGENT_ONLINE_WINDOW = dt.timedelta(minutes=2)


def agents_online(session: Session, now: dt.datetime) -> int:
    return session.scalar(select(func.count()).select_from(Staff).where(Staff.last_seen >= now - AGENT_ONLINE_WINDOW)) or 0


def within_hours(hours: str, now: dt.datetime) -> bool:
    try:
        start, end = hours.split("-")
        return dt.time.fromisoformat(start) <= now.time() <= dt.time.fromisoformat(end)
    except ValueError:
        return True


def queue(session: Session) -> List[Handoff]:
    """Waiting handoffs: urgent first, then high, then normal; within a priority, longest waiting first."""
    waiting = list(session.scalars(select(Handoff).where(Handoff.status.in_(("queued", "callback")))))
    return sorted(waiting, key=lambda h: (PRIORITY_ORDER.get(h.priority, 9), h.created_at, h.id))


def queue_position(session: Session, handoff: Handoff) -> int:
    return next((i + 1 for i, h in enumerate(queue(session)) if h.id == handoff.id), 0)


def build_context(ctx: TurnContext, reasons: List[str]) -> Dict[str, Any]:
    """The agent's context card: everything needed to act without asking the resident again."""
    from actions.fees import fee_summary

    messages = list(ctx.session.scalars(select(Message).where(Message.conversation_id == ctx.conversation.id)
                                        .order_by(Message.id)))
    transcript = [{"sender": m.sender, "text": m.text, "at": m.created_at.isoformat()} for m in messages[-30:]]
    readings = [{"text": m.text, "intent": (m.nlu or {}).get("intent"), "faq": (m.nlu or {}).get("faq"),
                 "entities": (m.nlu or {}).get("entities", []), "emotion": (m.nlu or {}).get("emotion")}
                for m in messages if m.sender == "resident" and m.nlu]
    card: Dict[str, Any] = {
        "reasons": reasons,
        "channel": ctx.conversation.channel,
        "transcript": transcript,
        "readings": readings[-10:],
        "entities": [e for r in readings for e in r["entities"]],
        "emotion": ctx.reading.emotion,
        "bot_answers": [m.text for m in messages if m.sender == "bot"][-5:],
        "flow": ctx.conversation.flow,
        "household": None,
    }
    household = ctx.household
    if household is not None:
        fees = fee_summary(ctx, household)
        open_orders = list(ctx.session.scalars(select(WorkOrder).where(
            WorkOrder.household_id == household.id, WorkOrder.status.notin_(("已完成", "已取消")))))
        complaints = ctx.session.scalar(
            select(func.count()).select_from(Handoff).join(Conversation).where(
                Conversation.identity_id == ctx.identity.id, Handoff.created_at >= ctx.now - dt.timedelta(days=90)))
        card["household"] = {
            "room": household.label, "owner": household.owner_name, "phone": household.phone,
            "community": household.community_id, "fees_owed": str(Decimal(fees["owed"])),
            "unpaid_periods": fees["unpaid_periods"],
            "open_work_orders": [{"number": o.number, "description": o.description, "status": o.status,
                                  "chase_count": o.chase_count} for o in open_orders],
            "recent_handoffs_90d": complaints,
        }
    return card


def open_handoff(ctx: TurnContext, priority: str, reasons: List[str]) -> Handoff:
    """Queue the conversation for an agent (or raise the priority of its waiting handoff) and tell the resident."""
    conversation = ctx.conversation
    existing = ctx.session.scalar(select(Handoff).where(Handoff.conversation_id == conversation.id,
                                                        Handoff.status.in_(("queued", "callback", "claimed"))))
    if existing is not None:
        if PRIORITY_ORDER[priority] < PRIORITY_ORDER.get(existing.priority, 9):
            existing.priority = priority
            conversation.priority = priority
        existing.reasons = list(existing.reasons) + [r for r in reasons if r not in existing.reasons]
        existing.context = build_context(ctx, existing.reasons)
        if existing.status != "claimed":
            ctx.say(f"已为您加急，当前排队第 {queue_position(ctx.session, existing)} 位，请稍候。")
        return existing
    handoff = Handoff(conversation_id=conversation.id, priority=priority, reasons=reasons, status="queued",
                      created_at=ctx.now, context=build_context(ctx, reasons))
    ctx.session.add(handoff)
    conversation.status = "pending"
    conversation.priority = priority
    conversation.waiting_since = ctx.now
    conversation.flow = None
    ctx.session.flush()
    online = agents_online(ctx.session, ctx.now)
    in_hours = within_hours(ctx.value("agent_hours") or "00:00-23:59", ctx.now)
    if online and in_hours:
        ctx.say(f"已为您转接人工客服，当前排队第 {queue_position(ctx.session, handoff)} 位，请稍候，"
                "客服会看到您刚才说的内容，无需重复。")
    else:
        handoff.status = "callback"
        handoff.ticket = f"LY{ctx.now:%Y%m%d}{handoff.id:04d}"
        why = "现在是非工作时间" if not in_hours else "暂时没有客服在线"
        ctx.say(f"{why}，已为您登记留言（编号 {handoff.ticket}），工作人员会尽快回电联系您。")
    return handoff


def claim(session: Session, handoff_id: int, staff: Staff, now: dt.datetime) -> Handoff:
    """Atomically claim a waiting handoff; a second agent gets AlreadyClaimed."""
    result = session.execute(
        update(Handoff).where(Handoff.id == handoff_id, Handoff.status.in_(("queued", "callback")))
        .values(status="claimed", agent_id=staff.id, claimed_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise AlreadyClaimed()
    handoff = session.get(Handoff, handoff_id)
    session.refresh(handoff)
    conversation = handoff.conversation
    conversation.status = "open"
    conversation.assignee_id = staff.id
    session.add(Message(conversation_id=conversation.id, sender="system", text=f"人工客服 {staff.display_name} 已接入",
                        created_at=now))
    return handoff


def active_handoff(session: Session, conversation_id: int) -> Optional[Handoff]:
    return session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id,
                                                Handoff.status.in_(("queued", "callback", "claimed")))
                          .order_by(Handoff.id.desc()))


def _owned(session: Session, conversation_id: int, staff: Staff) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    if conversation.status != "open" or conversation.assignee_id != staff.id:
        raise NotOwner()
    return conversation


def agent_reply(session: Session, conversation_id: int, staff: Staff, text: str, now: dt.datetime,
                private: bool = False) -> Message:
    conversation = _owned(session, conversation_id, staff)
    message = Message(conversation_id=conversation.id, sender="note" if private else "agent", text=text,
                      staff_id=staff.id, created_at=now)
    session.add(message)
    session.flush()
    return message


def resolve(session: Session, conversation_id: int, staff: Staff, now: dt.datetime) -> Conversation:
    conversation = _owned(session, conversation_id, staff)
    handoff = active_handoff(session, conversation_id)
    if handoff is not None:
        handoff.status = "resolved"
        handoff.resolved_at = now
    conversation.status = "resolved"
    conversation.assignee_id = None
    conversation.waiting_since = None
    session.add(Message(conversation_id=conversation.id, sender="bot",
                        text="人工服务已结束，感谢您的耐心。还有其他问题可以随时问我。", created_at=now))
    return conversation


def release(session: Session, conversation_id: int, staff: Optional[Staff], now: dt.datetime) -> Conversation:
    """Hand the conversation back to the queue (an agent's choice, or after the agent disconnected)."""
    conversation = session.get(Conversation, conversation_id)
    if staff is not None:
        conversation = _owned(session, conversation_id, staff)
    handoff = active_handoff(session, conversation_id)
    if handoff is not None:
        handoff.status = "queued"
        handoff.agent_id = None
    conversation.status = "pending"
    conversation.assignee_id = None
    return conversation

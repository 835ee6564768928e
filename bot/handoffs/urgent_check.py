"""The triage question for a borderline emergency (docs/decisions/0003-urgent-triage-band.md).

A message the router finds urgent but not sure (``router.pages_at_once`` false: action ``urgent_check``) is urgent for
the resident at once — the 24-hour number shown, the conversation at the top of the agents' queue as urgent — and
the resident is asked one question with two buttons, 是 / 不是. The on-duty phone is paged on 是, on any further
urgent message (the router pages at once while the question is open), or when nobody answers within
``TIMEOUT_SECONDS``; 不是 makes it a normal handoff. The question is the conversation's flow (kept in
``Conversation.flow``, so a restart loses nothing), with the time it times out; the timers loop's escalation pass
(bot/work_orders/desk.py ``escalate_overdue``, every few seconds) pages every question past that time, once
(``overdue``, ``page_if_due``): the flow is cleared in the same transaction as the page is recorded.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import select

from bot.access import limits
from bot.core.domain import ConversationStatus, Priority
from bot.core.errors import NoTriageQuestion
from bot.handoffs import handoff as handoffs
from bot.handoffs import teams
from bot.routing.router import CHECK_SLOT, URGENT_CHECK
from bot.storage import outbox
from bot.storage.models import Conversation, Message
from bot.storage.outbox import Kind
from bot.turn.context import Button, FlowSpec, TurnContext, slot_payload

NAME = URGENT_CHECK
# Two minutes: long enough to read the question and tap, short enough that a real emergency nobody confirms is
# paged within the time a dispatcher would take to call back (the decision record weighs it).
TIMEOUT_SECONDS = 120
QUESTION = "现在有人受伤、被困或危险正在发生吗？"
YES = slot_payload(CHECK_SLOT, "yes")
NO = slot_payload(CHECK_SLOT, "no")
TIMED_OUT = "没有收到您的回复，为安全起见已通知值班人员马上处理。如有人员受伤或火情，请同时拨打 119/120/110。"
TIMED_OUT_REASON = "triage question unanswered, paged"
AGENT_CONFIRMED_REASON = "agent confirmed danger now, paged"
AGENT_DECLINED_REASON = "agent found no danger now"
AGENT_CONFIRMED = "客服已确认情况紧急，已通知值班人员马上处理。如有人员受伤或火情，请同时拨打 119/120/110。"
AGENT_DECLINED = "客服已了解您的情况，会按普通问题继续为您处理。如果出现人员受伤、被困或其他危险，请立即拨打 24 小时应急电话 {phone}。"


def buttons() -> List[Button]:
    return [Button("是，正在发生", YES), Button("不是", NO)]


def send_page(session, sms: Any, lim: Any, identity_id: int, community_id: str, community_name: str, phone: str,
              text: str, kind: str, now: dt.datetime, client_ip: Optional[str] = None) -> bool:
    """Page the on-duty phone, within the limits: one page per incident (the same emergency from the same resident
    within the window pages once), a few an hour from one resident, one address and a ceiling per 小区 (the on-duty
    phone stays usable; every urgent handoff still reaches the console). Returns whether it was sent."""
    caps = [(f"page:{identity_id}:{kind}", lim.pages_per_incident),
            (f"page:{identity_id}", lim.pages_per_sender),
            (f"page-community:{community_id}", lim.pages_per_community)]
    if client_ip:
        caps.append((f"page-ip:{client_ip}", lim.pages_per_ip))
    if not limits.take_all(session, caps, now):
        return False
    sms.send(phone, f"【紧急】{community_name} 住户报告：{text}")
    return True


def ask(ctx: TurnContext, reasons: List[str]) -> None:
    """A borderline emergency: the number at once, an urgent handoff (no page yet), and the question."""
    phone = ctx.value("emergency_phone")
    ctx.say(f"⚠️ 如果情况紧急，请立即拨打 24 小时应急电话 {phone}；如有人员受伤或火情，请同时拨打 119/120/110。")
    handoffs.open_handoff(ctx, Priority.URGENT.value, reasons, paged=False)  # clears the flow: the question after it
    due = ctx.now + dt.timedelta(seconds=TIMEOUT_SECONDS)
    ctx.ask(NAME, {"due": due.isoformat(), "text": ctx.text, "community": ctx.community_id}, CHECK_SLOT,
            f"{QUESTION}（{TIMEOUT_SECONDS // 60} 分钟内没有回复，我们会按紧急情况通知值班人员）", buttons())


def is_answer(flow: Optional[Dict[str, Any]], text: str) -> bool:
    """A tap on 是 / 不是 while the question is open (read even when an agent owns the conversation)."""
    return bool(flow) and flow.get("name") == NAME and text in (YES, NO)


def reask(ctx: TurnContext) -> None:
    """Anything but an answer while the question is open: asked again, with its buttons only (no 取消: the timeout
    must stand)."""
    flow = ctx.flow
    ctx.say(f"请先告诉我：{QUESTION}", buttons())
    if flow is not None:
        flow.offered = [YES, NO]
        ctx.save_flow(flow)


def reported_text(ctx: TurnContext) -> str:
    """What the page says the resident reported: the message that raised the question (a tap on 是 is not it)."""
    flow = ctx.flow
    if flow is not None and flow.name == NAME and flow.slots.get("text"):
        return str(flow.slots["text"])
    return ctx.text


def _lower(active: Any, conversation: Conversation, reasons: List[str]) -> None:
    """No danger now: the urgent handoff goes on as a normal one, with why."""
    if active is not None and active.priority == Priority.URGENT.value:
        active.priority = Priority.NORMAL.value
        active.reasons = list(active.reasons) + [r for r in reasons if r not in active.reasons]
        active.kind = teams.kind_of(active.priority, active.reasons)
        conversation.priority = Priority.NORMAL.value


def declined(ctx: TurnContext, reasons: List[str]) -> None:
    """不是: no page; the handoff goes on as a normal one."""
    ctx.save_flow(None)
    active = ctx.active_handoff if ctx.active_handoff_known else handoffs.active_handoff(ctx.session,
                                                                                       ctx.conversation.id)
    _lower(active, ctx.conversation, reasons)
    ctx.say("好的，不是紧急情况。已为您转接人工客服，客服会看到您刚才说的内容，请稍候。")


def open_question(flow: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The triage question still waiting for the resident, for the agents' card: when the timeout pages (``due``,
    UTC) and what was reported; None when there is none."""
    if not flow or flow.get("name") != NAME:
        return None
    slots = flow.get("slots") or {}
    return {"due": slots.get("due"), "text": slots.get("text")}


def settle(session, conversation_id: int, staff: Any, now: dt.datetime, danger: bool, kb: Any, sms: Any,
           lim: Any) -> Dict[str, Any]:
    """The agent handling the conversation answers the triage question in the resident's place (a phone call, or the
    chat makes it plain): danger pages the on-duty phone now; no danger makes it a normal handoff, and the timeout
    pages nobody. The question is closed either way and the resident told. Taken like the timeout's page (the row
    locked, the flow cleared in this transaction), so the two never both act."""
    session.get(Conversation, conversation_id, with_for_update=True)  # locked before it is read (the timeout's pass)
    conversation = handoffs.owned(session, conversation_id, staff)  # ConversationNotFound → 404, NotOwner → 403
    if open_question(conversation.flow) is None:
        raise NoTriageQuestion()
    slots, community_id, community, active = _take_question(session, conversation, kb)
    paged = False
    if danger:
        paged = _page_reported(session, conversation, slots, community_id, community, sms, lim, "客服确认",
                               "agent confirmed", now)
        _add_reason(active, AGENT_CONFIRMED_REASON)
        said = AGENT_CONFIRMED
    else:
        _lower(active, conversation, [AGENT_DECLINED_REASON])
        said = AGENT_DECLINED.format(phone=community.values.get("emergency_phone", ""))
    session.add(Message(conversation_id=conversation_id, sender="bot", text=said, created_at=now))
    return {"paged": paged, "priority": conversation.priority}


def _due(flow: Optional[Dict[str, Any]], now: dt.datetime) -> bool:
    if not flow or flow.get("name") != NAME:
        return False
    try:
        return dt.datetime.fromisoformat(str((flow.get("slots") or {}).get("due"))) <= now
    except ValueError:
        return True  # an unreadable time: page rather than drop it


def overdue(db: Any, now: dt.datetime) -> List[int]:
    """The conversations whose triage question nobody answered in time (open ones are only ever on urgent
    conversations not resolved: few rows)."""
    with db.session() as session:
        rows = [(c.id, c.flow) for c in session.scalars(select(Conversation).where(
            Conversation.priority == Priority.URGENT.value,
            Conversation.status.in_((ConversationStatus.PENDING.value, ConversationStatus.OPEN.value)),
            Conversation.flow.isnot(None)))]
    return [conversation_id for conversation_id, flow in rows if _due(flow, now)]


def page_if_due(session, conversation_id: int, now: dt.datetime, kb: Any, sms: Any, lim: Any) -> bool:
    """Page one unanswered triage question, in the caller's transaction (its events go out after the commit). The
    conversation is taken by clearing its flow in the transaction that records the page, so a second pass, a restart
    or another process pages it once (a conversation whose flow changed meanwhile is left alone)."""
    conversation = session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None or not _due(conversation.flow, now):
        return False
    slots, community_id, community, active = _take_question(session, conversation, kb)
    _add_reason(active, TIMED_OUT_REASON)
    session.add(Message(conversation_id=conversation_id, sender="bot", text=TIMED_OUT, created_at=now))
    _page_reported(session, conversation, slots, community_id, community, sms, lim, "住户未确认，超时", "triage timeout",
                   now)
    return True


def _take_question(session, conversation: Conversation, kb: Any) -> Tuple[Dict[str, Any], str, Any, Any]:
    """The open question taken by this transaction (its flow cleared, the messages that follow announced): its slots,
    its 小区 (id and community) and the conversation's active handoff."""
    slots = conversation.flow.get("slots") or {}
    conversation.flow = None
    community_id = slots.get("community") or conversation.community_id or kb.communities[0].id
    outbox.record(session, Kind.MESSAGE_STORED, conversation.id)
    return slots, community_id, kb.community(community_id), handoffs.active_handoff(session, conversation.id)


def _add_reason(active: Any, reason: str) -> None:
    if active is not None and reason not in active.reasons:
        active.reasons = list(active.reasons) + [reason]


def _page_reported(session, conversation: Conversation, slots: Dict[str, Any], community_id: str, community: Any,
                   sms: Any, lim: Any, note: str, kind: str, now: dt.datetime) -> bool:
    """Page what the resident reported (the message that raised the question), with how it was confirmed."""
    text = re.sub(r"\s+", " ", str(slots.get("text") or ""))[:200]
    return send_page(session, sms, lim, conversation.identity_id, community_id, community.name,
                     community.values.get("emergency_phone", ""), f"{text}（{note}）", kind, now)


def _start(ctx: TurnContext, slots: Dict[str, Any]) -> None:  # the question is asked by ``ask``, never as a flow start
    reask(ctx)


FLOW = FlowSpec(name=NAME, title="紧急确认", start=_start, resume=lambda ctx, slots: reask(ctx))

"""Handoff to a human agent: the queue, the context card, claim/reply/resolve, and out-of-hours callbacks."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Set

from sqlalchemy import and_, bindparam, false, func, literal, or_, select, update
from sqlalchemy.orm import Session, defer

from bot.access.permissions import CONSOLE_ROLES
from bot.core.domain import PRIORITY_ORDER, ConversationStatus, HandoffStatus, Priority, WorkOrderStatus
from bot.core.errors import AlreadyClaimed, ConversationNotFound, HandoffError, HandoffNotFound, NotOwner
from bot.core.labels import resident_reason_label
from bot.core.localtime import agents_working, day_word, iso, local_text, to_local, wish_text
from bot.core.settings import agent_max_conversations, auto_assign
from bot.handoffs import callback, ratings, teams
from bot.handoffs.incident_card import card_for_conversation
from bot.households.bills import fee_summary
from bot.storage import outbox
from bot.storage.db import written
from bot.storage.models import Conversation, Handoff, IncidentReport, Message, Staff, WorkOrder
from bot.storage.outbox import Kind
from bot.turn.context import TurnContext

AGENT_ONLINE_WINDOW = teams.AGENT_ONLINE_WINDOW


def _values(values: Any) -> List[Any]:
    """Constants for an IN of a statement built once: a bound parameter each, rendered when it is compiled (a list of
    plain values is an expanding IN, rendered again on every run)."""
    return [literal(value) for value in values]


# built once (a bound parameter for the time): every handoff a resident opens counts the agents online, and building
# the statement cost about as much as running it
_AGENTS_ONLINE = select(func.count()).select_from(Staff).where(
    Staff.last_seen >= bindparam("since"), Staff.role.in_(_values(CONSOLE_ROLES)),
    Staff.state.in_(_values(teams.AVAILABLE_STATES)))


def agents_online(session: Session, now: dt.datetime) -> int:
    """Staff who answer residents (bot.access.permissions.CONSOLE_ROLES) seen on the console in the last two minutes
    and available (在线 or 忙碌: an agent on 小休 or 离线 answers nobody new, bot/handoffs/teams.py)."""
    return session.scalar(_AGENTS_ONLINE, {"since": now - AGENT_ONLINE_WINDOW}) or 0


class AtCapacity(HandoffError):
    status, code = 409, "agent_at_capacity"
    message = "您同时处理的会话已达上限，请先解决或退回一个会话再认领"


def queue_key(handoff: Any) -> tuple:
    """The queue's order (a Handoff or a row with its priority, created_at and id): urgent first, then high, then
    normal; within a priority, longest waiting first."""
    return PRIORITY_ORDER.get(handoff.priority, 9), handoff.created_at, handoff.id


def queue(session: Session) -> List[Handoff]:
    """Waiting handoffs in queue order (:func:`queue_key`)."""
    return sorted(session.scalars(select(Handoff).where(Handoff.status.in_(HandoffStatus.waiting()))), key=queue_key)


def _ahead_statement(rank: int) -> Any:
    higher = [p for p, r in PRIORITY_ORDER.items() if r < rank]
    earlier = or_(Handoff.created_at < bindparam("created_at"),
                  and_(Handoff.created_at == bindparam("created_at"), Handoff.id < bindparam("id")))
    return select(func.count()).select_from(Handoff).where(
        Handoff.status.in_(_values(HandoffStatus.waiting())),
        or_(Handoff.priority.in_(_values(higher)) if higher else false(),
            and_(Handoff.priority == bindparam("priority"), earlier)))


# built once per priority rank (bound parameters): a turn of a waiting conversation counts its queue position twice
_AHEAD = {rank: _ahead_statement(rank) for rank in set(PRIORITY_ORDER.values()) | {9}}
# every turn reads it: the context card (a JSON document of up to 30 transcript lines) is loaded only when used
_ACTIVE = select(Handoff).options(defer(Handoff.context)).where(
    Handoff.conversation_id == bindparam("conversation_id"),
    Handoff.status.in_(_values(HandoffStatus.active()))).order_by(Handoff.id.desc())


def queue_position(session: Session, handoff: Handoff) -> int:
    """1 + the waiting handoffs ahead of this one (the order of :func:`queue`), counted by the database."""
    if handoff.status not in HandoffStatus.waiting():
        return 0
    # a resident's turn counts its position once (start, reply, result) unless the turn changed this handoff: the
    # engine opens ``session.info["queue_positions"]`` for the turn (no other handoff changes in a resident's turn)
    cache = session.info.get("queue_positions")
    key = (handoff.id, handoff.status, handoff.priority, handoff.created_at)
    if cache is not None and key in cache:
        return cache[key]
    statement = _AHEAD[PRIORITY_ORDER.get(handoff.priority, 9)]
    ahead = session.scalar(statement, {"created_at": handoff.created_at, "id": handoff.id, "priority": handoff.priority})
    position = int(ahead or 0) + 1
    if cache is not None and handoff.id is not None:
        cache[key] = position
    return position


CONTEXT_MESSAGES = 120
_CONTEXT_MESSAGES = select(Message.sender, Message.text, Message.nlu, Message.created_at).where(
    Message.conversation_id == bindparam("conversation_id")).order_by(Message.id.desc()).limit(CONTEXT_MESSAGES)


def _card_messages(ctx: TurnContext) -> List[Any]:
    """The conversation's newest CONTEXT_MESSAGES, oldest first (each with sender, text, nlu, created_at). A
    conversation the turn began has no other message than those in the session: the one there (the resident's) is
    taken as it is, without the read (and without the read's flush of it first)."""
    if ctx.begun:
        conversation_id = ctx.conversation.id
        mine = [o for o in (*ctx.session.new, *ctx.session.identity_map.values())
                if isinstance(o, Message) and o.conversation_id == conversation_id]
        if len(mine) <= 1:
            return mine
    return ctx.session.execute(_CONTEXT_MESSAGES, {"conversation_id": ctx.conversation.id}).all()[::-1]


def build_context(ctx: TurnContext, reasons: List[str]) -> Dict[str, Any]:
    """The agent's context card: everything needed to act without asking the resident again."""

    # the newest CONTEXT_MESSAGES of the conversation (the card shows 30 lines, 10 readings, 5 answers): a resident
    # with a long history does not make every handoff read all of it
    # (plain rows of the four columns the card uses, not Message objects: a handoff turn read up to 120 of those)
    messages = _card_messages(ctx)
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

    # the outage it reported, if any (a conversation the turn began reported one only if the turn wrote a report)
    card["incident"] = None if ctx.begun and IncidentReport not in written(ctx.session) else \
        card_for_conversation(ctx.session, ctx.conversation.id)
    household = ctx.household
    if household is not None:
        fees = fee_summary(ctx.session, household)
        open_orders = list(ctx.session.scalars(select(WorkOrder).where(
            WorkOrder.household_id == household.id, WorkOrder.status.notin_(WorkOrderStatus.closed()))))
        complaints = ctx.session.scalar(
            select(func.count()).select_from(Handoff).join(Conversation).where(
                Conversation.identity_id == ctx.identity.id, Handoff.created_at >= ctx.now - dt.timedelta(days=90)))
        card["household"] = {
            "room": household.label, "owner": household.owner_name, "phone": household.phone,
            "community": household.community_id, "fees_owed": str(Decimal(fees["owed"])),
            "unpaid_periods": fees["unpaid_periods"],
            # the visit time asked for as a date in words: the card is kept, so never "明天" (nor an ISO value)
            "open_work_orders": [{"number": o.number, "description": o.description, "status": o.status,
                                  "chase_count": o.chase_count, "preferred_time_text": wish_text(o.preferred_time)}
                                 for o in open_orders],
            "recent_handoffs_90d": complaints,
        }
    return card


def raised_text(priority: str, reasons: List[str]) -> str:
    """'升级为紧急处理（原因：紧急情况：电梯困人）': the new priority as a way of handling, and the reason in the resident's
    words (bot/core/labels.py); no reason worth saying, no parenthesis (never a vague "您的情况")."""
    why = next((w for w in (resident_reason_label(r) for r in reasons) if w), None)
    return f"升级为{Priority(priority).label}处理" + (f"（原因：{why}）" if why else "")


def callback_promise(handoff: Handoff, now: dt.datetime, time_zone: str) -> str:
    """When the callback was promised, said again the same way ("将在今天 22:00 前回电"); a promise already past is
    owned up to rather than repeated."""
    if handoff.callback_at is None:
        return ""
    when = local_text(handoff.callback_at, now, time_zone)
    if handoff.callback_at > now:
        return f"，将在{when} 前回电"
    return f"，原定{when} 前回电，已经超时，工作人员会尽快联系您"


def _tell_waiting(ctx: TurnContext, handoff: Handoff, raised: bool, reasons: List[str]) -> None:
    """What a resident already waiting hears when a new reason to hand off comes: the truth about the queue."""
    if handoff.status == HandoffStatus.CALLBACK:
        if raised:
            ctx.say(f"已将您的回电登记（编号 {handoff.ticket}）{raised_text(handoff.priority, reasons)}，"
                    "工作人员会优先联系您。")
        else:
            ctx.say(f"您已登记回电（编号 {handoff.ticket}）{callback_promise(handoff, ctx.now, ctx.time_zone)}。"
                    "您补充的内容工作人员都能看到。")
        return
    position = queue_position(ctx.session, handoff)
    if raised:
        ctx.say(f"已将您的求助{raised_text(handoff.priority, reasons)}，当前排队第 {position} 位，请稍候。")
    else:
        ahead = f"前面还有 {position - 1} 位" if position > 1 else "下一位就是您"
        ctx.say(f"您仍在排队中，当前第 {position} 位（{ahead}），请稍候；您补充的内容客服接入后都能看到，无需重复。")


def open_handoff(ctx: TurnContext, priority: str, reasons: List[str], paged: bool = True) -> Handoff:
    """Queue the conversation for an agent (or raise the priority of its waiting handoff) and tell the resident.

    With nobody online or out of hours the handoff is a callback ticket, and the resident is asked for (or asked
    to confirm) the phone number and a time window (bot/handoffs/callback.py); emergencies page the on-duty number
    instead (the engine does that), so they are not asked anything. ``paged``: False for an urgent handoff whose page
    waits on the resident's answer (bot/handoffs/urgent_check.py), which is not told the on-duty staff know."""
    conversation = ctx.conversation
    if ctx.active_handoff_known:  # read by the engine with the conversation (one query fewer a handoff)
        existing = ctx.active_handoff
    else:
        existing = ctx.session.scalar(select(Handoff).where(Handoff.conversation_id == conversation.id,
                                                            Handoff.status.in_(HandoffStatus.active())))
    if existing is not None:
        raised = Priority.rank_of(priority) < Priority.rank_of(existing.priority)
        if raised:
            existing.priority = priority
            conversation.priority = priority
        existing.reasons = list(existing.reasons) + [r for r in reasons if r not in existing.reasons]
        existing.context = build_context(ctx, existing.reasons)
        if existing.status == HandoffStatus.QUEUED:
            _reroute(ctx, existing)
        if existing.status != HandoffStatus.CLAIMED:
            _tell_waiting(ctx, existing, raised, reasons)
        return existing
    # who answers is known before the handoff is written, so that its INSERT carries its kind and status (an UPDATE
    # after it wrote them)
    with ctx.session.no_autoflush:  # a resident's turn changes no staff: its pending writes wait for its own
        online = agents_online(ctx.session, ctx.now)
    in_hours, day_kind = agents_working(ctx.kb.community(ctx.community_id).values, ctx.local_now)
    answered = bool(online and in_hours)
    handoff = Handoff(conversation_id=conversation.id, priority=priority, reasons=reasons,
                      status=(HandoffStatus.QUEUED if answered else HandoffStatus.CALLBACK).value,
                      kind=teams.kind_of(priority, reasons), created_at=ctx.now, context=build_context(ctx, reasons))
    ctx.session.add(handoff)
    ctx.active_handoff, ctx.active_handoff_known = handoff, True
    conversation.status = ConversationStatus.PENDING.value
    conversation.priority = priority
    conversation.waiting_since = ctx.now
    conversation.flow = None
    # the handoff alone, for its id (the ticket, the callback flow's slot): the conversation's changes are written
    # with the rest of the turn's in one UPDATE, not one now and another for the callback flow's question
    ctx.session.flush([handoff])
    if _upset(reasons):
        ctx.say("非常抱歉给您带来不好的体验，您反映的问题我们会认真处理。")
    if answered:
        _route_to_team(ctx, handoff)
    else:
        handoff.ticket = f"LY{ctx.local_now:%Y%m%d}{handoff.id:04d}"
        why = "暂时没有客服在线" if in_hours else (f"今天是{day_kind}，人工客服休息" if day_kind and day_kind != "周末"
                                                else "现在是非工作时间")
        if priority == Priority.URGENT:
            ctx.say(f"{why}，已为您登记（编号 {handoff.ticket}）" + ("，并已通知值班人员。" if paged else "，按紧急情况处理。"))
        else:
            ctx.say(f"{why}，已为您登记回电（编号 {handoff.ticket}）。")
            callback.start_for(ctx, handoff)
    return handoff


# reasons that mean the resident is upset with us: the handoff's first words own up to it (a neighbour dispute, a
# chased work order and an emergency have words of their own)
UPSET = ("complaint", "angry tone", "anger words", "insult", "threat", "exclamation run")


def _upset(reasons: List[str]) -> bool:
    return any(str(r).split(" (")[0].split(":")[0].strip() in UPSET for r in reasons)


def _route_to_team(ctx: TurnContext, handoff: Handoff) -> None:
    """Someone is online: the team of the handoff's kind takes it when one of its members is available, else the
    general queue does and the resident is told so; with auto-assignment on, the least-loaded available agent of
    the team (else of everyone) gets it at once (bot/handoffs/teams.py)."""
    team = teams.team_for(ctx.session, handoff.kind, ctx.community_id)
    fell_back = None
    if team is not None:
        if teams.available_agents(ctx.session, ctx.now, team.id, ctx.community_id):
            handoff.team_id = team.id
        else:
            fell_back = team.name
    agent = teams.least_loaded(ctx.session, ctx.now, handoff.team_id, ctx.community_id) if auto_assign() else None
    if agent is None and auto_assign() and handoff.team_id is not None:  # the team is full or busy: anyone free
        agent = teams.least_loaded(ctx.session, ctx.now, None, ctx.community_id)
    if agent is not None:
        _assign(ctx.session, handoff, agent, ctx.now)
        ctx.say(f"已为您转接人工客服 {agent.display_name}，请稍候，客服会看到您刚才说的内容，无需重复。")
        return
    where = f"已为您转接人工客服（{team.name}）" if handoff.team_id is not None and team is not None else "已为您转接人工客服"
    if fell_back:
        where = f"{fell_back}暂时不在线，已为您转接其他客服"
    ctx.say(f"{where}，当前排队第 {queue_position(ctx.session, handoff)} 位，请稍候，"
            "客服会看到您刚才说的内容，无需重复。")


def _reroute(ctx: TurnContext, handoff: Handoff) -> None:
    """A waiting request that gains a reason of another kind ("转人工", then an insult) moves to that kind's team
    when one of its members is available; the resident's answer stays the queue's (bot/handoffs/teams.py)."""
    kind = teams.kind_of(handoff.priority, handoff.reasons)
    if kind == handoff.kind:
        return
    handoff.kind = kind
    team = teams.team_for(ctx.session, kind, ctx.community_id)
    handoff.team_id = (team.id if team is not None and teams.available_agents(ctx.session, ctx.now, team.id,
                                                                               ctx.community_id) else None)


def _assign(session: Session, handoff: Handoff, staff: Staff, now: dt.datetime) -> None:
    """An auto-assignment: the handoff is new in this transaction, so nobody else can have claimed it."""
    handoff.status = HandoffStatus.CLAIMED.value
    handoff.agent_id = staff.id
    handoff.claimed_at = now
    conversation = handoff.conversation or session.get(Conversation, handoff.conversation_id)
    conversation.status = ConversationStatus.OPEN.value
    conversation.assignee_id = staff.id
    session.add(Message(conversation_id=conversation.id, sender="system", text=f"人工客服 {staff.display_name} 已接入",
                        created_at=now))


def claim(session: Session, handoff_id: int, staff: Staff, now: dt.datetime) -> Handoff:
    """Atomically claim a waiting handoff; a second agent gets AlreadyClaimed, an agent who already owns
    ``agent_max_conversations()`` conversations gets AtCapacity (409), and nothing changes."""
    if teams.loads(session, [staff.id])[staff.id] >= agent_max_conversations():
        if session.get(Handoff, handoff_id) is None:
            raise HandoffNotFound()
        raise AtCapacity()
    result = session.execute(
        update(Handoff).where(Handoff.id == handoff_id, Handoff.status.in_(HandoffStatus.waiting()))
        .values(status=HandoffStatus.CLAIMED.value, agent_id=staff.id, claimed_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        if session.get(Handoff, handoff_id) is None:
            raise HandoffNotFound()
        raise AlreadyClaimed()
    handoff = session.get(Handoff, handoff_id)
    session.refresh(handoff)
    conversation = handoff.conversation
    outbox.record(session, Kind.CLAIMED, conversation.id)
    conversation.status = ConversationStatus.OPEN.value
    conversation.assignee_id = staff.id
    session.add(Message(conversation_id=conversation.id, sender="system", text=f"人工客服 {staff.display_name} 已接入",
                        created_at=now))
    return handoff


def pull_next(session: Session, staff: Staff, now: dt.datetime,
              visible: Optional[Callable[[List[int]], Set[int]]] = None) -> Optional[Handoff]:
    """With auto-assignment on, an agent who frees up (resolves a conversation, comes back 在线) takes the next
    queued handoff of their teams or of the general queue, in queue order, while below the cap; callback tickets
    wait for their phone call; ``visible``: the conversations of those ids the agent may see (their 小区's, the
    API's scope). None when nothing was taken."""
    if not auto_assign() or staff.state != teams.AgentState.ONLINE:
        return None
    if teams.loads(session, [staff.id])[staff.id] >= agent_max_conversations():
        return None
    mine = set(teams.team_ids_of(session, staff.id))
    candidates = [h for h in queue(session)
                  if h.status == HandoffStatus.QUEUED and (h.team_id is None or h.team_id in mine)]
    seen = visible([h.conversation_id for h in candidates]) if visible is not None else None
    for waiting in candidates:
        if seen is None or waiting.conversation_id in seen:
            try:
                return claim(session, waiting.id, staff, now)
            except AlreadyClaimed:  # another agent took it meanwhile: the next one
                continue
    return None


def active_handoff(session: Session, conversation_id: int) -> Optional[Handoff]:
    return session.scalar(_ACTIVE, {"conversation_id": conversation_id})


_UNREAD = object()


def waiting_state(session: Session, conversation_id: int, active: Any = _UNREAD) -> Optional[Dict[str, Any]]:
    """The resident-facing state of the conversation's active handoff (None when there is none); ``active``: that
    handoff (or None) when the caller has just read it."""
    if active is _UNREAD:
        active = active_handoff(session, conversation_id)
    if active is None:
        return None
    position = queue_position(session, active) if active.status != HandoffStatus.CLAIMED else 0
    return {"status": active.status, "priority": active.priority, "queue_position": position, "ticket": active.ticket,
            "callback_at": iso(active.callback_at), "callback_text": promised_text(active.callback_at)}


def promised_text(callback_at: Optional[dt.datetime]) -> Optional[str]:
    """A callback's promised time on the 小区's clock with its date ("12月7日 12:00"), for the widget's banner, the
    agents' queue and card: they stay up for days, where "明天" would go stale. None when nothing was promised."""
    if callback_at is None:
        return None
    local = to_local(callback_at)
    return f"{day_word(local.date())} {local:%H:%M}"


def callback_card(handoff: Handoff) -> Optional[Dict[str, Any]]:
    """What the agent needs to return a callback ticket's call: the number in full (the agent dials it), the window
    the resident chose and the promised time on the 小区's clock with its date; None for a handoff that is no ticket.
    A ticket whose resident left no number is answered in the chat (``phone`` None)."""
    if not handoff.ticket:
        return None
    return {"phone": handoff.callback_phone, "window": handoff.callback_window, "at": iso(handoff.callback_at),
            "text": promised_text(handoff.callback_at)}


def owned(session: Session, conversation_id: int, staff: Staff) -> Conversation:
    """The conversation, if ``staff`` is the agent handling it now (else ConversationNotFound / NotOwner)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    if conversation.status != ConversationStatus.OPEN or conversation.assignee_id != staff.id:
        raise NotOwner()
    return conversation


def agent_reply(session: Session, conversation_id: int, staff: Staff, text: str, now: dt.datetime,
                private: bool = False) -> Message:
    conversation = owned(session, conversation_id, staff)
    outbox.record(session, Kind.MESSAGE_STORED, conversation_id)
    message = Message(conversation_id=conversation.id, sender="note" if private else "agent", text=text,
                      staff_id=staff.id, created_at=now)
    session.add(message)
    session.flush()
    return message


def close(handoff: Optional[Handoff], conversation: Conversation, now: dt.datetime,
          back_to: ConversationStatus = ConversationStatus.RESOLVED) -> None:
    """A handoff ends — an agent resolved it, the resident withdrew, its incident was resolved or merged into
    another: the handoff and its conversation change together here. ``back_to``: RESOLVED (a person handled it) or
    BOT (nobody did; the conversation simply goes on with the assistant). What each says to the resident, and the
    flow, are the caller's."""
    if handoff is not None:
        handoff.status, handoff.resolved_at = HandoffStatus.RESOLVED.value, now
    conversation.status = back_to.value
    conversation.assignee_id = conversation.waiting_since = conversation.priority = None


def resolve(session: Session, conversation_id: int, staff: Staff, now: dt.datetime) -> Conversation:
    conversation = owned(session, conversation_id, staff)
    outbox.record(session, Kind.RESOLVED, conversation_id)
    handoff = active_handoff(session, conversation_id)
    close(handoff, conversation, now)
    session.add(Message(conversation_id=conversation.id, sender="bot",
                        text="人工服务已结束，感谢您的耐心。还有其他问题可以随时问我。", created_at=now))
    conversation.flow = None  # a callback's questions (phone, time) are moot once a person has handled it
    if handoff is not None:
        ratings.offer(session, handoff, now)  # 满意度评价: five buttons, or a typed digit 1–5 (bot/handoffs/ratings.py)
    return conversation


def withdraw(ctx: TurnContext) -> None:
    """"算了不用了" while still waiting (queued, or a callback ticket): closed, so no agent claims it and nobody
    calls back someone who no longer needs it; the agents' queue drops it (the turn's change ``resolved``)."""
    handoff = ctx.active_handoff if ctx.active_handoff_known else active_handoff(ctx.session, ctx.conversation.id)
    if handoff is None or handoff.status not in HandoffStatus.waiting():
        ctx.say("好的。还有什么可以帮您？")
        return
    what = "回电登记" if handoff.status == HandoffStatus.CALLBACK else "人工客服排队"
    close(handoff, ctx.conversation, ctx.now, back_to=ConversationStatus.BOT)
    handoff.reasons = list(handoff.reasons) + ["resident withdrew"]
    ctx.save_flow(None)  # a callback's questions (phone, time) are moot
    number = f"（编号 {handoff.ticket}）" if handoff.ticket else ""
    ctx.say(f"好的，已为您取消{what}{number}。还有什么可以帮您？需要时再说“转人工”就好。")


def release(session: Session, conversation_id: int, staff: Optional[Staff], now: dt.datetime) -> Conversation:
    """Hand the conversation back to the queue (an agent's choice, or after the agent disconnected)."""
    conversation = session.get(Conversation, conversation_id)
    if staff is not None:  # (a timeout records its own kind: bot/timers.py)
        conversation = owned(session, conversation_id, staff)
        outbox.record(session, Kind.RELEASED, conversation_id)
    handoff = active_handoff(session, conversation_id)
    if handoff is not None:
        handoff.status = HandoffStatus.QUEUED.value
        handoff.agent_id = None
    conversation.status = ConversationStatus.PENDING.value
    conversation.assignee_id = None
    return conversation

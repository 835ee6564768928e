"""The conversation engine: one resident turn in, replies (and handoff state) out, everything stored.

Order of a turn: store the message with its NLU reading → if an agent owns the conversation, stay silent →
emergency rules → cancel / topic switch / continue a flow under way → route (bot/router.py) → act.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from actions import fees, handoff as handoffs, parking, repairs
from actions.base import Button, FlowSpec, Reply, TurnContext, is_cancel
from bot.errors import WuyeError, check_identifier, check_text
from bot.knowledge import KnowledgeBase
from bot.nlu.clauses import QUESTION_MARKERS
from bot.router import (ConversationState, FLOW_INTENTS, Route, decide, emergency_matches, is_emergency,
                        rule_emergencies)
from bot.storage.db import Database
from bot.storage.models import ChatIdentity, Conversation, Message

FLOWS: Dict[str, FlowSpec] = {
    "fee_lookup": fees.FLOW,
    "repair_request": repairs.REQUEST_FLOW,
    "repair_status": repairs.STATUS_FLOW,
    "parking": parking.FLOW,
}
SWITCH_CONFIDENCE = 0.6
SPLIT = re.compile(r"([？?。！!；;]+|另外|还有就是|还有|顺便问一下|顺便|以及)")
CONNECTORS = ("另外", "还有就是", "还有", "顺便问一下", "顺便", "以及")


def request_segments(text: str) -> List[str]:
    """The parts of a message that are requests of their own ("物业费多少？另外厨房漏水" → two).

    A part is a request when it asks (a question or request marker), follows an explicit connector (另外, 还有,
    顺便…) or reports an emergency; the other parts — the story before a question — are context, not requests.
    """
    parts = SPLIT.split(text)
    segments, after_connector = [], False
    for part in parts:
        piece = part.strip()
        if not piece:
            continue
        if SPLIT.fullmatch(piece):
            after_connector = piece in CONNECTORS
            continue
        if len(piece) >= 2 and (after_connector or QUESTION_MARKERS.search(piece) or emergency_matches(piece)):
            segments.append(piece)
        after_connector = False
    return segments


HOT_QUESTIONS = ["office_hours", "payment_methods", "parking_monthly_card", "access_card", "renovation_permit"]
EXPECTED_ENTITY = {"bind_room": "room", "bind_code": "code", "plate": "plate", "arrive": "time", "contact": "phone",
                   "time": "time", "location": "room"}
STRICT_SLOTS = ("bind_code", "contact", "plate", "arrive", "urgency", "time")
REJECTION = r"没有?用|没有?帮助|不是这个|不是我要|答非所问|没有?解决|看不懂|不对"


InputError = WuyeError  # a message that cannot be processed: EmptyMessage, MessageTooLong, InvalidCharacters…


@dataclass
class TurnResult:
    conversation_id: int
    replies: List[Reply]
    handoff: Optional[Dict[str, Any]]
    status: str

    def as_api(self) -> Dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "replies": [{"text": r.text, "buttons": [b.as_dict() for b in r.buttons]} for r in self.replies],
            "handoff": self.handoff,
        }


class KeyedLocks:
    """A lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: Dict[Any, List[Any]] = {}

    @contextmanager
    def hold(self, key: Any) -> Iterator[None]:
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


@dataclass
class ConversationEngine:
    db: Database
    parser: Any
    kb_provider: Callable[[], KnowledgeBase]
    sms: Any
    clock: Callable[[], dt.datetime] = field(default=dt.datetime.now)
    max_chars: int = 1000
    _locks: "KeyedLocks" = field(default_factory=lambda: KeyedLocks(), repr=False)

    # --- entry point ------------------------------------------------------------------------------
    def handle(self, channel: str, sender_id: str, text: str, photos: Optional[List[str]] = None,
               community_id: Optional[str] = None) -> TurnResult:
        text = check_text(text or "", self.max_chars, allow_empty=bool(photos))
        sender_id = check_identifier(sender_id)
        text = text or "[图片]"
        kb = self.kb_provider()
        reading = self.parser.parse(text)
        # One resident's turns are processed one at a time, in order (in this process; across processes the
        # identity row is locked FOR UPDATE on databases that support it).
        with self._locks.hold((channel, sender_id)), self.db.session() as session:
            now = self.clock()
            identity = self._identity(session, channel, sender_id, now)
            conversation = self._conversation(session, identity, channel, community_id, now)
            nlu = reading.as_api()
            nlu["route"] = decide(reading).as_api()
            session.add(Message(conversation_id=conversation.id, sender="resident", text=text, nlu=nlu, created_at=now))
            session.flush()
            ctx = TurnContext(session=session, conversation=conversation, identity=identity, reading=reading,
                              text=text, kb=kb, now=now, sms=self.sms, photos=list(photos or []))
            if conversation.status != "open":
                self._dispatch(ctx)
            for reply in ctx.replies:
                session.add(Message(conversation_id=conversation.id, sender="bot", text=reply.text,
                                    buttons=[b.as_dict() for b in reply.buttons], created_at=now))
            conversation.updated_at = now
            return TurnResult(conversation.id, ctx.replies, self.handoff_state(session, conversation), conversation.status)

    def handoff_state(self, session, conversation: Conversation) -> Optional[Dict[str, Any]]:
        active = handoffs.active_handoff(session, conversation.id)
        if active is None:
            return None
        position = handoffs.queue_position(session, active) if active.status != "claimed" else 0
        return {"status": active.status, "priority": active.priority, "queue_position": position,
                "ticket": active.ticket}

    # --- persistence helpers ------------------------------------------------------------------------
    def _identity(self, session, channel: str, sender_id: str, now: dt.datetime) -> ChatIdentity:
        query = select(ChatIdentity).where(ChatIdentity.channel == channel, ChatIdentity.sender_id == sender_id)
        if session.bind.dialect.name != "sqlite":
            query = query.with_for_update()
        identity = session.scalar(query)
        if identity is None:
            try:
                with session.begin_nested():  # two first messages at once: the loser re-reads the winner's row
                    identity = ChatIdentity(channel=channel, sender_id=sender_id, created_at=now)
                    session.add(identity)
            except IntegrityError:
                identity = session.scalar(query)
        return identity

    def _conversation(self, session, identity: ChatIdentity, channel: str, community_id: Optional[str],
                      now: dt.datetime) -> Conversation:
        conversation = session.scalar(select(Conversation).where(Conversation.identity_id == identity.id)
                                      .order_by(Conversation.id.desc()))
        if conversation is None:
            community = identity.household.community_id if identity.household_id else community_id
            conversation = Conversation(identity_id=identity.id, channel=channel, community_id=community,
                                        status="bot", created_at=now, updated_at=now)
            session.add(conversation)
            session.flush()
        elif conversation.status == "resolved":
            conversation.status = "bot"
            conversation.priority = None
        return conversation

    # --- the turn -----------------------------------------------------------------------------------
    def _dispatch(self, ctx: TurnContext) -> None:
        text, reading = ctx.text, ctx.reading
        if text.startswith("/"):
            self._payload(ctx, text)
            return
        flow = ctx.flow
        # a message that answers the slot a flow asked for ("5栋2单元301") is that answer: only an emergency rule,
        # not the model's emergency probability, can turn it into an emergency
        answers_slot = bool(flow and flow.get("name") and self._fills_asked_slot(ctx, flow))
        if rule_emergencies(reading) if answers_slot else is_emergency(reading):
            self._emergency(ctx, decide(reading))
            return
        if flow and flow.get("name"):
            if is_cancel(text):
                ctx.conversation.flow = None
                ctx.say("好的，已取消。还有什么可以帮您？")
                return
            if self._continues_flow(ctx, flow):
                FLOWS[flow["name"]].resume(ctx, dict(flow.get("slots") or {}))
                self._after_flow(ctx)
                return
            ctx.conversation.flow = None  # the resident moved on: the unfinished flow is dropped
        if re.search(REJECTION, text) and self._rejects_previous_answer(ctx):
            return
        segments = request_segments(text)
        if len(segments) > 1:
            readings = [self.parser.parse(s) for s in segments]
            routes = [decide(r) for r in readings]
            actionable = [(s, r, rt) for s, r, rt in zip(segments, readings, routes)
                          if rt.decision in ("answer", "flow", "handoff")]
            if len(actionable) > 1:
                self._several(ctx, actionable)
                return
        self._act(ctx, decide(reading, ConversationState(failed_turns=ctx.conversation.failed_turns)))

    @staticmethod
    def _fills_asked_slot(ctx: TurnContext, flow: Dict[str, Any]) -> bool:
        """The message carries the entity the flow's current question asked for (a room, a phone, a code…)."""
        expected = EXPECTED_ENTITY.get(flow.get("asking") or "")
        return bool(expected and (ctx.entity(expected) or (expected == "code" and re.fullmatch(r"\s*\d{6}\s*", ctx.text))))

    def _continues_flow(self, ctx: TurnContext, flow: Dict[str, Any]) -> bool:
        """False when the resident clearly switched topic (another flow, a confident FAQ, or wants a person)."""
        reading = ctx.reading
        spec = FLOWS[flow["name"]]
        asking = flow.get("asking")
        if self._fills_asked_slot(ctx, flow):
            return True
        if asking in STRICT_SLOTS or asking in spec.free_text_slots:
            return not (reading.intent in ("human_agent", "complaint") and reading.confidence >= SWITCH_CONFIDENCE)
        route = decide(reading)
        if route.decision == "handoff":
            return False
        if reading.intent in FLOW_INTENTS and reading.intent != flow["name"] and reading.confidence >= SWITCH_CONFIDENCE:
            return False
        if reading.intent == "faq" and reading.confidence >= SWITCH_CONFIDENCE and reading.faq_confidence >= 0.5:
            return False
        return True

    def _after_flow(self, ctx: TurnContext) -> None:
        flow = ctx.flow
        if flow and not flow.get("name") and flow.get("queued"):
            queued = list(flow["queued"])
            name, text = queued.pop(0)
            ctx.conversation.flow = {"name": None, "slots": {}, "asking": None, "queued": queued} if queued else None
            ctx.text = text
            ctx.reading = self.parser.parse(text)
            ctx.say(f"接下来处理您说的“{text}”。")
            self._start_flow(ctx, name)

    def _act(self, ctx: TurnContext, route: Route) -> None:
        reading = ctx.reading
        conversation = ctx.conversation
        if route.decision == "answer":
            # an answer does not reset failed_turns: it counts as a success only if not rejected next turn
            self._answer_faq(ctx, reading.faq_id)
        elif route.decision == "flow":
            conversation.failed_turns = 0
            self._start_flow(ctx, reading.intent)
        elif route.decision == "handoff":
            conversation.failed_turns = 0
            if route.priority == "urgent":
                self._emergency(ctx, route)
            else:
                handoffs.open_handoff(ctx, route.priority, route.reasons)
        elif route.decision == "clarify":
            self._clarify(ctx, route)
        elif route.decision == "smalltalk":
            if reading.intent == "deny" and self._rejects_previous_answer(ctx):
                return
            conversation.failed_turns = 0
            self._smalltalk(ctx, reading.intent)
        else:
            ctx.say("抱歉，我是物业客服助手，只能解答物业服务相关的问题，比如缴费、报修、停车、门禁等。",
                    self._hot_buttons(ctx))

    # --- actions ------------------------------------------------------------------------------------
    def _answer_faq(self, ctx: TurnContext, faq_id: str) -> None:
        ctx.say(ctx.kb.render(faq_id, ctx.community_id), [Button("没有解决我的问题", "没有解决我的问题")])

    def _start_flow(self, ctx: TurnContext, name: str) -> None:
        ctx.conversation.flow = {"name": name, "slots": {}, "asking": None,
                                 "queued": (ctx.flow or {}).get("queued", [])}
        FLOWS[name].start(ctx, {})
        self._after_flow(ctx)

    def _emergency(self, ctx: TurnContext, route: Route) -> None:
        phone = ctx.value("emergency_phone")
        ctx.say(f"⚠️ 紧急情况请立即拨打 24 小时应急电话 {phone}！如有人员受伤或火情，请同时拨打 119/120/110。"
                "我们已通知值班人员马上处理。")
        ctx.conversation.flow = None
        reasons = route.reasons if route.priority == "urgent" else [f"emergency: {ctx.text}"]
        handoffs.open_handoff(ctx, "urgent", reasons)
        ctx.sms.send(phone, f"【紧急】{ctx.kb.community(ctx.community_id).name} 住户报告：{ctx.text}")

    def _clarify(self, ctx: TurnContext, route: Route) -> None:
        ctx.conversation.failed_turns += 1
        if ctx.conversation.failed_turns >= 2:
            ctx.conversation.failed_turns = 0
            ctx.say("抱歉，我还是没能理解您的问题，已为您转接人工客服。")
            handoffs.open_handoff(ctx, "normal", ["two failed understandings in a row"])
            return
        buttons = [Button(ctx.kb.entries[i].title, f"/faq {i}") for i in route.buttons if i in ctx.kb.entries][:2]
        buttons.append(Button("转人工客服", "/handoff"))
        ctx.say("抱歉，我没有完全理解。您是想问下面的问题吗？也可以换个说法告诉我。", buttons)

    def _rejects_previous_answer(self, ctx: TurnContext) -> bool:
        """A resident saying the last answer did not help counts as a failed turn."""
        if not (re.search(REJECTION, ctx.text) or ctx.reading.intent == "deny"):
            return False
        last_bot = ctx.session.scalar(select(Message).where(Message.conversation_id == ctx.conversation.id,
                                                            Message.sender == "bot").order_by(Message.id.desc()))
        answered_faq = last_bot is not None and any(b.get("payload") == "没有解决我的问题" for b in (last_bot.buttons or []))
        if not answered_faq:
            return False
        ctx.conversation.failed_turns += 1
        if ctx.conversation.failed_turns >= 2:
            ctx.conversation.failed_turns = 0
            ctx.say("抱歉没能帮到您，已为您转接人工客服。")
            handoffs.open_handoff(ctx, "normal", ["resident rejected the bot's answers"])
        else:
            ctx.say("抱歉没能帮到您。可以换个说法再描述一下吗？或者直接转人工。", [Button("转人工客服", "/handoff")])
        return True

    def _smalltalk(self, ctx: TurnContext, intent: str) -> None:
        if intent == "greet":
            ctx.say(f"您好，我是{ctx.kb.community(ctx.community_id).name}物业的在线客服，可以帮您查询物业费、报修、"
                    "办理停车和解答常见问题。大家常问：", self._hot_buttons(ctx))
        elif intent == "thanks":
            ctx.say("不客气，很高兴能帮到您！")
        elif intent == "goodbye":
            ctx.say("再见，祝您生活愉快！")
        else:
            ctx.say("好的。还有什么可以帮您？")

    def _hot_buttons(self, ctx: TurnContext) -> List[Button]:
        return [Button(ctx.kb.entries[i].title, f"/faq {i}") for i in HOT_QUESTIONS if i in ctx.kb.entries]

    def _payload(self, ctx: TurnContext, text: str) -> None:
        command, _, arg = text[1:].partition(" ")
        if command == "faq" and arg in ctx.kb.entries:
            ctx.conversation.failed_turns = 0
            self._answer_faq(ctx, arg)
        elif command == "handoff":
            handoffs.open_handoff(ctx, "normal", ["resident asked for a person"])
        else:
            ctx.say("抱歉，这个选项已失效，请重新输入您的问题。")

    def _several(self, ctx: TurnContext, actionable) -> None:
        """Several requests in one message: emergencies first, then answers, then flows one after another."""
        order = {"handoff": 0, "answer": 1, "flow": 2}
        actionable = sorted(actionable, key=lambda a: (0 if a[2].priority == "urgent" else 1, order[a[2].decision]))
        flows = [(r.intent, s) for s, r, rt in actionable if rt.decision == "flow"]
        for segment, reading, route in actionable:
            if route.decision == "handoff":
                ctx.reading = reading
                if route.priority == "urgent":
                    self._emergency(ctx, route)
                    return
                handoffs.open_handoff(ctx, route.priority, route.reasons)
                return
            if route.decision == "answer":
                self._answer_faq(ctx, reading.faq_id)
        if flows:
            (name, segment), rest = flows[0], flows[1:]
            ctx.conversation.flow = {"name": None, "slots": {}, "asking": None, "queued": [list(f) for f in rest]}
            ctx.text = segment
            ctx.reading = self.parser.parse(segment)
            self._start_flow(ctx, name)

"""What every flow and action works with: the turn context, replies, the typed flow state and form slots.

A flow is a short transaction in the style of a form (Rasa's FormAction, financial-demo): it declares its slots,
and for each slot how a value is found in any message (``extract``: a room, a phone, a time given early or all
together are all used) and how a reply to the slot's own question is read (``answer``, which may be lenient for
free-text slots and validates strict ones). Its state is a :class:`FlowState`, kept as JSON in
``Conversation.flow``, so a restart of the process loses nothing. A button counts only as the answer to the
question it was offered with: the payloads offered with the current question are kept in ``FlowState.offered``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlalchemy.orm import Session

from bot.access.limits import Limits
from bot.core.localtime import DEFAULT_TIME_ZONE, to_local
from bot.kb.knowledge import KnowledgeBase
from bot.nlu.entities import find_phones
from bot.storage.models import ChatIdentity, Conversation, Household


@dataclass
class Button:
    title: str
    payload: str

    def as_dict(self) -> Dict[str, str]:
        return {"title": self.title, "payload": self.payload}


@dataclass
class Reply:
    text: str
    buttons: List[Button] = field(default_factory=list)


@dataclass
class FlowState:
    """A flow under way: its slots so far, the slot being asked, the buttons offered with that question, and
    the requests of the same message still waiting their turn (``queued``: [intent, text] pairs)."""

    name: Optional[str] = None
    slots: Dict[str, Any] = field(default_factory=dict)
    asking: Optional[str] = None
    offered: List[str] = field(default_factory=list)
    queued: List[List[str]] = field(default_factory=list)

    @classmethod
    def load(cls, data: Optional[Dict[str, Any]]) -> Optional["FlowState"]:
        if not data:
            return None
        return cls(name=data.get("name"), slots=dict(data.get("slots") or {}), asking=data.get("asking"),
                   offered=list(data.get("offered") or []), queued=[list(q) for q in data.get("queued") or []])

    def dump(self) -> Optional[Dict[str, Any]]:
        if self.name is None and not self.queued:
            return None
        return {"name": self.name, "slots": dict(self.slots), "asking": self.asking, "offered": list(self.offered),
                "queued": [list(q) for q in self.queued]}


# The text of a message that is only photos (the widget's photo with no words, a WeChat image): an attachment,
# never an answer to a question
PHOTO_ONLY = "[图片]"


@dataclass
class TurnContext:
    """One resident turn: the database session, the conversation, the NLU reading and the replies so far."""

    session: Session
    conversation: Conversation
    identity: ChatIdentity
    reading: Any  # bot.nlu.parser.NluReading
    text: str
    kb: KnowledgeBase
    now: dt.datetime
    sms: Any  # bot.core.notify.SmsSender
    photos: List[str] = field(default_factory=list)
    replies: List[Reply] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    client_ip: Optional[str] = None  # the resident's address where the channel knows it (the widget)
    # the conversation's active handoff as the turn read it at its start (None: none), kept up to date by
    # bot.handoffs.handoff.open_handoff — the only change a resident's turn makes to handoffs; unset outside a turn
    active_handoff: Any = field(default=None)
    active_handoff_known: bool = False
    readings: Dict[str, Any] = field(default_factory=dict)  # the turn's NLU readings by text (each parsed once)
    # what the turn looked up that its messages' readings ask again (the router's would-fill check and the flow read
    # the same slot): each question to the database once a turn, by key
    lookups: Dict[Any, Any] = field(default_factory=dict)
    # this turn began the conversation: every message and incident report of it is one of the turn's, in the session
    begun: bool = False

    @property
    def photo_only(self) -> bool:
        return bool(self.photos) and self.text == PHOTO_ONLY

    def say(self, text: str, buttons: Optional[List[Button]] = None) -> None:
        self.replies.append(Reply(text, list(buttons or [])))

    @property
    def household(self) -> Optional[Household]:
        if not self.identity.verified_at:
            return None
        # its first use loads it: no turn writes households, so the turn's pending writes (the resident's message, the
        # conversation's changes) wait for the turn's own last statements instead of being flushed for this read
        with self.session.no_autoflush:
            return self.identity.household

    @property
    def community_id(self) -> str:
        if self.household is not None:
            return self.household.community_id
        return self.conversation.community_id or self.kb.communities[0].id

    @property
    def time_zone(self) -> str:
        return self.kb.community(self.community_id).values.get("time_zone") or DEFAULT_TIME_ZONE

    @property
    def local_now(self) -> dt.datetime:
        """Now on the 小区's clock (``now`` is UTC): for agent hours, dates in numbers, "今天"."""
        return to_local(self.now, self.time_zone)

    def value(self, name: str) -> str:
        return self.kb.community(self.community_id).values.get(name, "")

    def entity(self, kind: str) -> Optional[str]:
        for e in self.reading.entities:
            if e["entity"] == kind:
                return str(e["value"])
        return None

    # --- flow state -------------------------------------------------------------------------------
    @property
    def flow(self) -> Optional[FlowState]:
        return FlowState.load(self.conversation.flow)

    def save_flow(self, state: Optional[FlowState]) -> None:
        self.conversation.flow = state.dump() if state is not None else None

    def set_flow(self, name: str, slots: Dict[str, Any], asking: Optional[str], offered: Optional[List[str]] = None) -> None:
        current = self.flow
        self.save_flow(FlowState(name, dict(slots), asking, list(offered or []), current.queued if current else []))

    def ask(self, name: str, slots: Dict[str, Any], slot: str, text: str, buttons: Optional[List[Button]] = None) -> None:
        """Ask one slot's question; its buttons are the only ones that count as its answer."""
        buttons = list(buttons or [])
        self.say(text, buttons)
        self.set_flow(name, slots, slot, [b.payload for b in buttons])

    def end_flow(self) -> None:
        current = self.flow
        self.save_flow(FlowState(queued=current.queued) if current else None)


# --- form slots ---------------------------------------------------------------------------------------
Extractor = Callable[[TurnContext], Any]


def _nothing(ctx: TurnContext) -> Any:
    return None


def phone_given(ctx: TurnContext) -> Optional[str]:
    """The first mobile number in the message (a phone slot's value), or None."""

    phones = find_phones(ctx.text)
    return phones[0].value if phones else None


def slot_payload(slot: str, value: str) -> str:
    """The payload of a button that answers ``slot`` with ``value`` (valid only while that slot is asked)."""
    return f"/slot {slot} {value}"


@dataclass(frozen=True)
class Slot:
    """One piece of information a flow needs."""

    name: str
    question: str = ""
    extract: Extractor = _nothing  # a value found in any message, asked or not (None: nothing found)
    answer: Optional[Extractor] = None  # how a reply to this slot's own question is read (None: extract only)
    invalid: str = ""  # said (before the question again) when a reply to the question is not a value
    # what to say instead of ``invalid`` for a reply it knows ("还没收到" at the SMS code); None: ``invalid``
    explain: Optional[Extractor] = None
    choices: Tuple[Tuple[str, str], ...] = ()  # buttons offered with the question: (title, value)

    def buttons(self) -> List[Button]:
        return [Button(title, slot_payload(self.name, value)) for title, value in self.choices]

    def read_answer(self, ctx: TurnContext) -> Any:
        value = self.extract(ctx)
        if value is None and self.answer is not None:
            value = self.answer(ctx)
        return value


def fill_slots(ctx: TurnContext, slots: Dict[str, Any], declared: Tuple[Slot, ...], asking: Optional[str]) -> List[str]:
    """Fill every empty slot this message gives a value for; the asked slot also from a plain reply, but only
    when the message gave nothing else (a room and a phone typed in answer to "which room?" are not a
    description). A message that is only photos fills nothing. Returns the names of the slots filled."""
    if ctx.photo_only:
        return []
    filled = []
    for slot in declared:
        if slots.get(slot.name) is None:
            value = slot.extract(ctx)
            if value is not None:
                slots[slot.name] = value
                filled.append(slot.name)
    asked = next((s for s in declared if s.name == asking), None)
    if asked is not None and not filled and slots.get(asked.name) is None and asked.answer is not None:
        value = asked.answer(ctx)
        if value is not None:
            slots[asked.name] = value
            filled.append(asked.name)
    return filled


def would_fill(ctx: TurnContext, state: FlowState, declared: Tuple[Slot, ...]) -> bool:
    """Whether this message gives a value for any of the flow's slots (the router reads it as a flow answer)."""
    return bool(fill_slots(ctx, dict(state.slots), declared, state.asking))


FlowHandler = Callable[[TurnContext, Dict[str, Any]], None]


@dataclass(frozen=True)
class FlowSpec:
    """A flow: ``start`` runs on the first turn, ``resume`` on each answer; both may finish the flow.

    ``slots`` declares what the flow collects (see :class:`Slot`); ``free_text_slots`` are those whose
    question any text answers (a description, a place), so a reply to them is never re-asked."""

    name: str
    title: str
    start: FlowHandler
    resume: FlowHandler
    slots: Tuple[Slot, ...] = ()
    free_text_slots: tuple = ()
    # free-text slots that name a place: a question on a topic we do not cover typed there ("小区有没有家政服务"
    # while asked where the repair is) is another request, not a place
    place_slots: tuple = ()
    # what 取消 does (None: the flow is dropped, "好的，已取消"); a flow whose request outlives its questions (the
    # callback: the resident still waits for a person) says what is left instead
    cancel: Optional[FlowHandler] = None
    # the buttons offered with a question asked again: a way on when the resident cannot or will not answer
    way_out: Tuple[Tuple[str, str], ...] = (("转人工客服", "/handoff"), ("取消办理", "/cancel"))
    # what to say to begin again, for a flow whose unfinished answers are lost when the resident moves on to
    # something else (the engine then says it was not sent); "" for one that loses nothing (a look-up)
    restart: str = ""

    def slot(self, name: Optional[str]) -> Optional[Slot]:
        return next((s for s in self.slots if s.name == name), None)

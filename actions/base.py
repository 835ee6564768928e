"""What every flow and action works with: the turn context, replies, and the flow state in the conversation.

A flow is a short transaction that asks for what is missing one question at a time. Its state lives in
``Conversation.flow`` (JSON: name, slots, asking), so a restart of the process loses nothing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from sqlalchemy.orm import Session

from bot.knowledge import KnowledgeBase
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
class TurnContext:
    """One resident turn: the database session, the conversation, the NLU reading and the replies so far."""

    session: Session
    conversation: Conversation
    identity: ChatIdentity
    reading: Any  # bot.nlu.parser.NluReading
    text: str
    kb: KnowledgeBase
    now: dt.datetime
    sms: Any  # bot.notify.SmsSender
    photos: List[str] = field(default_factory=list)
    replies: List[Reply] = field(default_factory=list)

    def say(self, text: str, buttons: Optional[List[Button]] = None) -> None:
        self.replies.append(Reply(text, list(buttons or [])))

    @property
    def household(self) -> Optional[Household]:
        return self.identity.household if self.identity.verified_at else None

    @property
    def community_id(self) -> str:
        if self.household is not None:
            return self.household.community_id
        return self.conversation.community_id or self.kb.communities[0].id

    def value(self, name: str) -> str:
        return self.kb.community(self.community_id).values.get(name, "")

    def entity(self, kind: str) -> Optional[str]:
        for e in self.reading.entities:
            if e["entity"] == kind:
                return str(e["value"])
        return None

    # --- flow state -------------------------------------------------------------------------------
    @property
    def flow(self) -> Optional[Dict[str, Any]]:
        return self.conversation.flow

    def set_flow(self, name: str, slots: Dict[str, Any], asking: Optional[str]) -> None:
        queued = (self.conversation.flow or {}).get("queued", [])
        self.conversation.flow = {"name": name, "slots": dict(slots), "asking": asking, "queued": queued}

    def end_flow(self) -> None:
        queued = (self.conversation.flow or {}).get("queued", [])
        self.conversation.flow = {"name": None, "slots": {}, "asking": None, "queued": queued} if queued else None


FlowHandler = Callable[[TurnContext, Dict[str, Any]], None]


@dataclass(frozen=True)
class FlowSpec:
    """A flow: ``start`` runs on the first turn, ``resume`` on each answer; both may finish the flow."""

    name: str
    title: str
    start: FlowHandler
    resume: FlowHandler
    free_text_slots: tuple = ()


CANCEL_WORDS = ("算了", "不用了", "取消", "不要了", "不办了", "不查了", "不修了", "先不", "退出")


def is_cancel(text: str) -> bool:
    stripped = text.strip("。.!！ ，,")
    return any(stripped.startswith(w) or stripped == w for w in CANCEL_WORDS)

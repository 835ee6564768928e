"""The events of a change, recorded where the change is made and sent only once it has committed.

A domain function that changes what residents or agents see records what it did (``record(session,
Kind.CLAIMED, conversation_id)``), before it adds its messages: the last message id before the change is read then,
so the announcement sends exactly the change's messages. The session keeps the records (``session.info``);
``bot/realtime/live.py`` ``change()`` opens such a session and, once it has committed, publishes them. A change that
rolls back publishes nothing. Nothing outside ``bot/realtime/`` publishes (tests/unit/test_architecture.py).

Zulip's ``send_event_on_commit``, in a session's terms.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.models import Message

KEY = "outbox"


class Kind(str, enum.Enum):
    MESSAGE_STORED = "message_stored"
    HANDOFF_OPENED = "handoff_opened"
    PRIORITY_RAISED = "priority_raised"
    CLAIMED = "claimed"
    RELEASED = "released"
    RESOLVED = "resolved"
    AGENT_TIMED_OUT = "agent_timed_out"
    WORK_ORDER_CHANGED = "work_order_changed"  # agents only: the desk's lists change
    WORK_ORDER_OVERDUE = "work_order_overdue"


@dataclass
class ConversationChange:
    conversation_id: int
    after_id: int  # the conversation's last message id before the change
    kinds: List[str] = field(default_factory=list)
    push: bool = True  # also send the new messages through the channel's own sender (WeChat)


@dataclass
class Outbox:
    conversations: Dict[int, ConversationChange] = field(default_factory=dict)
    agent_events: List[Dict[str, Any]] = field(default_factory=list)  # for the agents' topic, in order


def last_message_id(session: Session, conversation_id: int) -> int:
    return session.scalar(select(Message.id).where(Message.conversation_id == conversation_id)
                          .order_by(Message.id.desc())) or 0


def record(session: Session, kind: Kind, conversation_id: Optional[int] = None, push: bool = True,
           **data: Any) -> None:
    """This change does ``kind`` to the conversation (its messages and status go out after the commit), or, without a
    conversation, an event for the agents' topic with ``data``."""
    outbox: Outbox = session.info.setdefault(KEY, Outbox())
    if conversation_id is None:
        outbox.agent_events.append({"type": "event", "kind": kind.value, **data})
        return
    change = outbox.conversations.get(conversation_id)
    if change is None:
        change = outbox.conversations[conversation_id] = ConversationChange(
            conversation_id, last_message_id(session, conversation_id))
    if kind.value not in change.kinds:
        change.kinds.append(kind.value)
    change.push = change.push and push


def take(session: Session) -> Outbox:
    """What the session recorded (cleared): for the publisher, after the commit."""
    return session.info.pop(KEY, None) or Outbox()

"""The domain's words as string enums: conversation, handoff and work-order status, and priority.

They are ``str`` subclasses, so stored values stay the plain strings of the schema ("pending", "待受理") and
JSON, SQL and old rows read the same; code compares with the enum, never with a bare literal.
Conversation status follows Chatwoot: the bot answers (BOT), waiting for a person (PENDING), a person owns
it (OPEN), finished (RESOLVED).
"""
from __future__ import annotations

from enum import Enum
from typing import Dict, Iterable, Optional


class ConversationStatus(str, Enum):
    BOT = "bot"
    PENDING = "pending"
    OPEN = "open"
    RESOLVED = "resolved"


class HandoffStatus(str, Enum):
    QUEUED = "queued"  # waiting for an agent who is online
    CALLBACK = "callback"  # nobody online or out of hours: a callback ticket (留言)
    CLAIMED = "claimed"  # an agent owns it
    RESOLVED = "resolved"

    @classmethod
    def waiting(cls) -> tuple:
        return (cls.QUEUED.value, cls.CALLBACK.value)

    @classmethod
    def active(cls) -> tuple:
        return (cls.QUEUED.value, cls.CALLBACK.value, cls.CLAIMED.value)


class Priority(str, Enum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        return {"urgent": 0, "high": 1, "normal": 2}[self.value]

    @property
    def label(self) -> str:
        return {"urgent": "紧急", "high": "优先", "normal": "普通"}[self.value]

    @classmethod
    def rank_of(cls, value: Optional[str]) -> int:
        try:
            return cls(value).rank
        except ValueError:
            return 9


class WorkOrderStatus(str, Enum):
    NEW = "待受理"
    DISPATCHED = "已派单"
    IN_PROGRESS = "维修中"
    DONE = "已完成"
    CANCELLED = "已取消"

    @classmethod
    def closed(cls) -> tuple:
        return (cls.DONE.value, cls.CANCELLED.value)


def values(members: Iterable[Enum]) -> tuple:
    return tuple(m.value for m in members)


PRIORITY_ORDER: Dict[str, int] = {p.value: p.rank for p in Priority}

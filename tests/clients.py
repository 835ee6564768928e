"""Signed-in HTTP clients and bound residents for the tests that talk to a live server (bot/tools/devserver.py's
LiveServer)."""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import httpx

from bot.storage.models import ChatIdentity, Conversation, Household, Message

# the demo staff of `wuye demo-data` (bot/tools/demo.py)
DEMO_LOGINS = {"technician": ("tech1", "tech123"), "agent": ("agent", "agent123"), "admin": ("admin", "admin123")}


def signed_in(server, user: str = "admin", password: Optional[str] = None, timeout: float = 60) -> httpx.Client:
    """A client with the session cookie of ``user``: a demo role's name (admin, agent, technician), or any account
    with its ``password``."""
    if password is None:
        user, password = DEMO_LOGINS[user]
    client = httpx.Client(base_url=server.url, timeout=timeout)
    client.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return client


def bound_conversation(server, sender_id: str, newest_household: bool = False,
                       first_message: Optional[str] = None) -> tuple:
    """A web resident ``sender_id`` bound to the demo data's first (or newest) household, with a conversation and
    optionally its first message: (conversation id, household id, household phone)."""
    with server.app.state.services.db.session() as session:
        order = Household.id.desc() if newest_household else Household.id
        house = session.query(Household).order_by(order).first()
        identity = ChatIdentity(channel="web", sender_id=sender_id, household_id=house.id)
        session.add(identity)
        session.flush()
        conversation = Conversation(identity_id=identity.id, channel="web", community_id=house.community_id)
        session.add(conversation)
        session.flush()
        if first_message:
            session.add(Message(conversation_id=conversation.id, sender="resident", text=first_message))
        return conversation.id, house.id, house.phone


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``predicate()``'s first true value within ``timeout`` seconds (polled every 0.2 s), else its last value: for
    what a live server does after the answer (pages, timers, announcements)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()

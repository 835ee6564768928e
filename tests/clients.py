"""Signed-in HTTP clients for the tests that talk to a live server (bot/tools/devserver.py's LiveServer)."""
from __future__ import annotations

from typing import Optional

import httpx

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

"""The web first-run over real HTTP on an empty database (issue 26 point 1): the server prints a one-time setup
token at start-up; /api/auth/setup makes the first admin with it (signed in at once) and never again; a wrong token,
a weak password and a missing field are refused in Chinese with nothing stored."""
from __future__ import annotations

import logging
import re

import httpx
import pytest

from bot.storage.models import SetupToken, Staff
from bot.tools.devserver import LiveServer

GOOD = "Qiuyue-2026!"


@pytest.fixture
def fresh(tmp_path, settings, parser, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.main"):
        with LiveServer(tmp_path, settings, parser, demo=False) as live:
            tokens = re.findall(r"首次设置令牌：(\S+)（", caplog.text)
            yield live, tokens


def rows(server):
    with server.app.state.services.db.session() as session:
        return session.query(Staff).count(), [t.used_at for t in session.query(SetupToken)]


def test_the_first_admin_is_made_in_the_browser_with_the_logged_token_once(fresh):
    server, tokens = fresh
    assert len(tokens) == 1  # the start-up's log line carries it
    browser = httpx.Client(base_url=server.url, timeout=30)
    assert browser.get("/api/auth/setup").json() == {"needed": True}
    body = {"token": tokens[0], "username": "boss", "display_name": "王经理", "password": GOOD}
    for change, status, code, words in (({"token": "guessed-token"}, 403, "invalid_setup_token", "设置令牌不正确"),
                                        ({"password": "1234567890"}, 422, "weak_password", "不能全是数字"),
                                        ({"username": "坏 名字"}, 422, "invalid_username", "用户名"),
                                        ({"display_name": None}, 422, "invalid_request", "显示名称")):
        r = browser.post("/api/auth/setup", json={k: v for k, v in {**body, **change}.items() if v is not None})
        assert (r.status_code, r.json()["code"]) == (status, code) and words in r.json()["detail"], r.text
        assert rows(server) == (0, [None])  # nothing stored, the token still good
    r = browser.post("/api/auth/setup", json=body)
    assert r.status_code == 200 and r.json()["role"] == "admin" and r.json()["must_change_password"] is False
    assert browser.get("/api/auth/me").json()["username"] == "boss"  # signed in at once
    assert browser.get("/api/admin/staff").status_code == 200
    assert browser.get("/api/auth/setup").json() == {"needed": False}
    stranger = httpx.Client(base_url=server.url, timeout=30)
    again = stranger.post("/api/auth/setup", json={**body, "username": "thief"})
    assert again.status_code == 409 and again.json()["code"] == "setup_done" and "首次设置已关闭" in again.json()["detail"]
    assert rows(server)[0] == 1 and all(rows(server)[1])


def test_wrong_tokens_lock_the_address_like_wrong_passwords(fresh):
    server, tokens = fresh
    browser = httpx.Client(base_url=server.url, timeout=30, headers={"X-Real-IP": "203.0.113.90"})
    body = {"token": "nope", "username": "boss", "display_name": "王经理", "password": GOOD}
    codes = [browser.post("/api/auth/setup", json=body).json()["code"] for _ in range(21)]
    assert codes[:20] == ["invalid_setup_token"] * 20 and codes[20] == "login_locked"
    other = httpx.Client(base_url=server.url, timeout=30, headers={"X-Real-IP": "203.0.113.91"})
    assert other.post("/api/auth/setup", json={**body, "token": tokens[0]}).status_code == 200  # not locked for all

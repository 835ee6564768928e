"""Residents' suggestions and polls by 小区 (issue 26), over real HTTP: the 建议 and 投票 tabs are the admins' (company
wide: an admin serves no one 小区), so an agent or a technician limited to one 小区 reads no suggestion and no poll
result at all — not another 小区's, nor its own — and cannot answer one; an admin sees every 小区's suggestions and
can narrow them to one with ``?community=``."""
from __future__ import annotations

import re

import httpx
import pytest

from bot.access.auth import sign_community_link
from bot.tools.devserver import LiveServer

GOOD = "Qiuyue-2026!"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("suggestions-scope"), settings, parser) as live:
        yield live


def login(server, username, password, ip: str) -> httpx.Client:
    # a distinct X-Real-IP per account: one's failed-login count never locks another
    client = httpx.Client(base_url=server.url, timeout=60, headers={"X-Real-IP": ip})
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return client


def suggest(server, community: str, text: str) -> str:
    """A resident opened from ``community``'s signed link makes a suggestion: its number."""
    resident = httpx.Client(base_url=server.url, timeout=60)
    link = sign_community_link(server.app.state.services.settings.secret_key, community)
    resident.post("/api/widget/session", params={"c": link}).raise_for_status()
    resident.post("/api/widget/messages", json={"text": text}).raise_for_status()
    replies = [m["text"] for m in resident.get("/api/widget/history").json()["messages"] if m["sender"] == "bot"]
    return re.search(r"编号 (JY\d{11})", replies[-1]).group(1)


def scoped(server, admin, username: str, role: str, ip: str) -> httpx.Client:
    r = admin.post("/api/admin/staff", json={"username": username, "display_name": "滨江同事", "password": GOOD,
                                             "role": role, "community_id": "binjiang"})
    assert r.status_code == 201, r.text
    member = login(server, username, GOOD, ip)
    member.post("/api/auth/password", json={"old_password": GOOD, "new_password": "Binjiang-2026-x"}).raise_for_status()
    return member


def test_suggestions_and_polls_are_the_admins_and_admins_see_every_community(server):
    admin = login(server, "admin", "admin123", "203.0.113.70")
    jinxiu = suggest(server, "jinxiu", "建议物业在小区东门装一个智能快递柜，取件方便很多")
    binjiang = suggest(server, "binjiang", "建议在地下车库多装几个电动车充电桩")
    listed = {s["number"]: s["community_id"] for s in admin.get("/api/admin/suggestions").json()["suggestions"]}
    assert listed[jinxiu] == "jinxiu" and listed[binjiang] == "binjiang"  # an admin sees every 小区's
    only = admin.get("/api/admin/suggestions", params={"community": "binjiang"}).json()["suggestions"]
    assert [s["number"] for s in only] == [binjiang]
    ids = {s["number"]: s["id"] for s in admin.get("/api/admin/suggestions").json()["suggestions"]}

    agent = scoped(server, admin, "bj_agent", "agent", "203.0.113.71")
    technician = scoped(server, admin, "bj_tech", "technician", "203.0.113.72")
    for member in (agent, technician):
        for method, path, body in (
                ("GET", "/api/admin/suggestions", None),
                ("GET", "/api/admin/suggestions?community=binjiang", None),
                ("POST", f"/api/admin/suggestions/{ids[binjiang]}", {"status": "adopted", "reply": "好的"}),
                ("POST", f"/api/admin/suggestions/{ids[jinxiu]}", {"status": "adopted", "reply": "好的"}),
                ("GET", "/api/admin/polls", None)):
            r = member.request(method, path, json=body)
            assert r.status_code == 403 and r.json()["code"] == "admins_only", (path, r.text)
    after = {s["number"]: s["status"] for s in admin.get("/api/admin/suggestions").json()["suggestions"]}
    assert after[jinxiu] == after[binjiang] == "pending"  # the refused answers changed nothing

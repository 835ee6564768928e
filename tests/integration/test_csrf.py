"""Cross-site request forgery and framing (bot/access/csrf.py) on a live server: a page on another port of the same host
is the same *site*, so the browser sends our SameSite cookies with its requests; only the Origin check stops it.

First the rules over plain HTTP (Origin and Referer as browsers send them), then the attack itself in Chromium: an
agent signed in to the console visits a page served from another port that posts text/plain forms, bodyless
POSTs and opens the console WebSocket with the agent's cookie."""
from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from bot.tools.devserver import LiveServer, free_port
from tests.browser.chromium import ARGS, CHROMIUM, HAVE_CHROMIUM
from tests.conftest import static_site
from tests.clients import signed_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("csrf"), settings, parser) as live:
        yield live


def queued_handoff(server) -> int:
    resident = httpx.Client(base_url=server.url, timeout=30)
    resident.post("/api/widget/session").raise_for_status()
    resident.post("/api/widget/messages", json={"text": "我要找人工客服"}).raise_for_status()
    queue = signed_in(server, "agent", "agent123").get("/api/agent/queue").json()["queue"]
    return max(item["handoff_id"] for item in queue)


def is_queued(server, handoff_id) -> bool:
    queue = signed_in(server, "agent", "agent123").get("/api/agent/queue").json()["queue"]
    return handoff_id in {item["handoff_id"] for item in queue}


def test_state_changes_from_another_origin_are_refused_and_from_our_own_allowed(server):
    agent = signed_in(server, "agent", "agent123")
    evil = server.url.rsplit(":", 1)[0] + f":{free_port()}"
    handoff = queued_handoff(server)
    for headers in ({"Origin": evil}, {"Referer": evil + "/page.html"}, {"Origin": "null"},
                    {"Origin": "http://localhost.evil.example"}):
        r = agent.post(f"/api/agent/handoffs/{handoff}/claim", headers=headers)  # a bodyless POST
        assert r.status_code == 403, headers
        assert r.json() == {"detail": "请求来源不被允许：请从本系统自己的页面操作", "code": "cross_origin_refused"}
    r = agent.post(f"/api/agent/handoffs/{handoff}/claim", content="x=1", headers={"Origin": evil,
                                                                                   "Content-Type": "text/plain"})
    assert r.status_code == 403
    assert is_queued(server, handoff)
    # our own page (the browser sends its origin), and a client that is no browser page (no Origin, no Referer)
    assert agent.post(f"/api/agent/handoffs/{handoff}/claim", headers={"Origin": server.url}).status_code == 200
    assert agent.post("/api/agent/conversations/999999/resolve").status_code == 404
    # reading is not a state change; a request without our cookies has no power to borrow
    assert agent.get("/api/agent/queue", headers={"Origin": evil}).status_code == 200
    assert httpx.post(server.url + "/api/parse", json={"text": "你好"}, headers={"Origin": evil}).status_code == 200


def test_a_residents_cookie_cannot_be_borrowed_either(server):
    resident = httpx.Client(base_url=server.url, timeout=30)
    resident.post("/api/widget/session").raise_for_status()
    evil = server.url.rsplit(":", 1)[0] + f":{free_port()}"
    r = resident.post("/api/widget/messages", json={"text": "我要报修"}, headers={"Origin": evil})
    assert r.status_code == 403
    assert resident.get("/api/widget/history").json()["messages"] == []
    assert resident.post("/api/widget/messages", json={"text": "你好"}, headers={"Origin": server.url}).status_code == 200


def test_staff_pages_refuse_to_be_framed_and_the_widget_may_be(server):
    for path in ("/agent", "/admin", "/desk"):
        r = httpx.get(server.url + path)
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "x-frame-options" not in httpx.get(server.url + "/").headers  # the embed frames the widget on purpose
    # each page names its icon (a browser asked /favicon.ico on every page and logged the 404)
    for path in ("/", "/agent", "/admin", "/desk"):
        assert '<link rel="icon" href="/static/favicon.svg"' in httpx.get(server.url + path).text, path
    icon = httpx.get(server.url + "/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_the_console_socket_checks_the_origin_of_its_handshake(server):
    agent = signed_in(server, "agent", "agent123")
    cookie = "; ".join(f"{k}={v}" for k, v in agent.cookies.items())
    url = server.url.replace("http://", "ws://") + "/ws/agent"
    evil = server.url.rsplit(":", 1)[0] + f":{free_port()}"

    async def run():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
            async with websockets.connect(url, extra_headers={"Cookie": cookie}, origin=evil):
                pass
        assert refused.value.status_code == 403
        async with websockets.connect(url, extra_headers={"Cookie": cookie}, origin=server.url) as socket:
            assert '"queue"' in await asyncio.wait_for(socket.recv(), 5)

    asyncio.run(run())


ATTACK_PAGE = """<!doctype html><meta charset="utf-8"><title>优惠活动</title>
<form id="claim" method="POST" enctype="text/plain" action="{target}/api/agent/handoffs/{handoff}/claim" target="sink">
<input name="x" value="1"></form><iframe name="sink"></iframe>
<script>
  window.results = {{}};
  fetch("{target}/api/admin/api-keys/{key}/revoke", {{method: "POST", mode: "no-cors", credentials: "include"}})
    .then(() => window.results.revoke = "sent", () => window.results.revoke = "failed");
  const ws = new WebSocket("{ws}/ws/agent");
  ws.onmessage = (e) => {{ window.results.socket = "read: " + e.data.slice(0, 40); }};
  ws.onclose = (e) => {{ window.results.socket = window.results.socket || "closed " + e.code; }};
  document.getElementById("claim").submit();
</script>"""


@pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no Chromium at {CHROMIUM}")
def test_a_page_on_another_port_cannot_act_with_the_agents_cookie_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    admin = signed_in(server, "admin", "admin123")
    key = admin.post("/api/admin/api-keys", json={"name": "csrf target"}).json()
    handoff = queued_handoff(server)
    (tmp_path / "index.html").write_text(ATTACK_PAGE.format(
        target=server.url, ws=server.url.replace("http://", "ws://"), handoff=handoff, key=key["id"]), encoding="utf-8")
    with static_site(tmp_path) as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url + "/admin")
        page.fill("#username", "admin")
        page.fill("#password", "admin123")
        page.click("#login-form button")
        page.wait_for_selector("#app-view:not(.hidden)")
        attack = context.new_page()
        attack.goto(f"http://127.0.0.1:{port}/index.html")
        attack.wait_for_function("window.results.revoke && window.results.socket", timeout=15000)
        socket = attack.evaluate("window.results.socket")
        browser.close()
    assert socket.startswith("closed"), socket  # the live queue was not read
    assert is_queued(server, handoff)  # not claimed
    keys = {k["id"]: k for k in admin.get("/api/admin/api-keys").json()["keys"]}
    assert keys[key["id"]]["revoked"] is False  # not revoked

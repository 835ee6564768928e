"""Events after commit, checked the way Zulip's verify_action does: for each change, take the state a page holds
(stale), apply the live events the change sent, and compare with a fresh read. The agent console's queue and the
watched conversation, and the resident widget's conversation, through claim, reply, private note, release, claim
again, resolve; the desk's assign and progress; an incident resolved for its reporters."""
from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets

from bot.tools.devserver import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("events-apply"), settings, parser) as live:
        yield live


class Page:
    """A socket's events and the state they build from a stale start."""

    def __init__(self, socket):
        self.socket = socket
        self.events = []

    async def drain(self, seconds=1.5):
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            try:
                self.events.append(json.loads(await asyncio.wait_for(self.socket.recv(), left)))
            except asyncio.TimeoutError:
                break
        events, self.events = self.events, []
        return events


def apply(state, events, conversation_id):
    for event in events:
        if event.get("type") == "queue":
            state["queue"] = [item["handoff_id"] for item in event["queue"]]
        elif event.get("type") == "message" and event.get("conversation_id") == conversation_id:
            if event["id"] not in state["messages"]:
                state["messages"].append(event["id"])
        elif event.get("type") == "status" and event.get("conversation_id") == conversation_id:
            state["status"] = event["status"]
    return state


def agent_view(agent, conversation_id):
    conversation = agent.get(f"/api/agent/conversations/{conversation_id}").json()
    return {"queue": [item["handoff_id"] for item in agent.get("/api/agent/queue").json()["queue"]],
            "messages": [m["id"] for m in conversation["messages"]], "status": conversation["status"]}


def resident_view(resident):
    history = resident.get("/api/widget/history").json()
    return {"queue": None, "messages": [m["id"] for m in history["messages"]], "status": history["status"]}


def test_every_change_sends_what_turns_a_stale_page_into_a_fresh_read(server):
    base = server.url
    agent = httpx.Client(base_url=base, timeout=30)
    agent.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    resident = httpx.Client(base_url=base, timeout=30)
    resident.post("/api/widget/session").raise_for_status()
    resident.post("/api/widget/messages", json={"text": "我要报修"}).raise_for_status()
    for text in ("厨房水龙头漏水", "3栋2单元501", "一般", "13800138000", "明天上午"):
        resident.post("/api/widget/messages", json={"text": text}).raise_for_status()
    resident.post("/api/widget/messages", json={"text": "我要找人工客服"}).raise_for_status()
    conversation_id = resident.get("/api/widget/history").json()["conversation_id"]
    handoff_id = next(q["handoff_id"] for q in agent.get("/api/agent/queue").json()["queue"]
                      if q["conversation_id"] == conversation_id)
    number = re.search(r"WO\d{11}", " ".join(m["text"] for m in resident.get("/api/widget/history").json()["messages"])).group(0)
    order = agent.get("/api/staff/work-orders", params={"q": number}).json()["orders"][0]
    tech = next(t["id"] for t in agent.get("/api/staff/work-orders/technicians").json()["technicians"])
    cookie = "; ".join(f"{k}={v}" for k, v in agent.cookies.items())
    resident_cookie = "; ".join(f"{k}={v}" for k, v in resident.cookies.items())
    ws = base.replace("http://", "ws://")
    changes = [
        ("claim", lambda: agent.post(f"/api/agent/handoffs/{handoff_id}/claim")),
        ("reply", lambda: agent.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "您好，我来看看"})),
        ("private note", lambda: agent.post(f"/api/agent/conversations/{conversation_id}/messages",
                                            json={"text": "内部：先查工单", "private": True})),
        ("release", lambda: agent.post(f"/api/agent/conversations/{conversation_id}/release")),
        ("claim again", lambda: agent.post(f"/api/agent/handoffs/{handoff_id}/claim")),
        ("assign the order", lambda: agent.post(f"/api/staff/work-orders/{order['id']}/assign", json={"technician_id": tech})),
        ("resolve", lambda: agent.post(f"/api/agent/conversations/{conversation_id}/resolve")),
    ]

    async def run():
        async with websockets.connect(ws + "/ws/agent", extra_headers={"Cookie": cookie}) as console_socket, \
                websockets.connect(ws + "/ws/chat", extra_headers={"Cookie": resident_cookie}) as widget_socket:
            console, widget = Page(console_socket), Page(widget_socket)
            await console_socket.send(json.dumps({"type": "watch", "conversation_id": conversation_id}))
            await console.drain()
            await widget.drain()
            for name, act in changes:
                stale_console, stale_widget = agent_view(agent, conversation_id), resident_view(resident)
                response = await asyncio.to_thread(act)
                assert response.status_code == 200, (name, response.text)
                applied = apply(stale_console, await console.drain(), conversation_id)
                fresh = agent_view(agent, conversation_id)
                assert applied == fresh, name
                seen = apply(stale_widget, await widget.drain(0.5), conversation_id)
                assert seen == resident_view(resident), name  # private notes never reach the widget

    asyncio.run(run())


def test_an_incident_resolution_reaches_every_reporters_page(server):
    agent = httpx.Client(base_url=server.url, timeout=30)
    agent.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    reporters = []
    for text in ("9栋停水了", "9栋怎么停水了", "9号楼停水了什么时候来水"):
        client = httpx.Client(base_url=server.url, timeout=30)
        client.post("/api/widget/session").raise_for_status()
        client.post("/api/widget/messages", json={"text": text}).raise_for_status()
        reporters.append(client)
    incident = next(i for i in agent.get("/api/agent/incidents").json()["incidents"] if i["scope_label"] == "9栋")

    async def run():
        sockets = [await websockets.connect(server.url.replace("http://", "ws://") + "/ws/chat",
                                            extra_headers={"Cookie": "; ".join(f"{k}={v}" for k, v in c.cookies.items())})
                   for c in reporters]
        pages = [Page(s) for s in sockets]
        for page in pages:
            await page.drain(0.5)
        stale = [resident_view(c) for c in reporters]
        response = await asyncio.to_thread(agent.post, f"/api/agent/incidents/{incident['id']}/resolve",
                                           json={"resolution": "9栋已恢复供水"})
        assert response.status_code == 200 and response.json()["told"] == 3
        for client, page, state in zip(reporters, pages, stale):
            conversation_id = client.get("/api/widget/history").json()["conversation_id"]
            assert apply(state, await page.drain(1.0), conversation_id) == resident_view(client)
        for socket in sockets:
            await socket.close()

    asyncio.run(run())

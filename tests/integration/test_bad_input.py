"""Bad input on the staff and resident APIs: a clear 4xx in Chinese with a code, never a 500, nothing stored."""
from __future__ import annotations

import json

import httpx
import pytest
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import BaseModel

from bot.core.errors import FIELD_LABELS
from bot.main import create_app
from bot.tools.devserver import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("bad"), settings, parser) as live:
        yield live


@pytest.fixture(scope="module")
def agent(server):
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    return client


@pytest.mark.parametrize("path", ["/api/agent/conversations/{}", "/api/agent/handoffs/{}/claim",
                                  "/api/agent/conversations/{}/resolve", "/api/agent/conversations/{}/release"])
@pytest.mark.parametrize("row_id", [2**63, 2**31, -1, 0])
def test_row_ids_out_of_range_are_refused_in_chinese(agent, path, row_id):
    method = agent.get if path.endswith("{}") else agent.post
    r = method(path.format(row_id))
    assert r.status_code == 422
    body = r.json()
    label = "转人工记录编号" if "handoffs" in path else "会话编号"
    assert body["code"] == "invalid_request"
    assert body["detail"] == (f"{label}不能小于 1" if row_id < 1 else f"{label}不能大于 2147483647"), body


def claimed_conversation(server, agent) -> int:
    resident = httpx.Client(base_url=server.url, timeout=30)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "我要找人工"}).raise_for_status()
    queue = agent.get("/api/agent/queue").json()
    for mine in queue["mine"]:  # an agent holds at most WUYE_AGENT_MAX_CONVERSATIONS (5): the earlier tests' go back
        agent.post(f"/api/agent/conversations/{mine['conversation_id']}/release").raise_for_status()
    item = next(q for q in agent.get("/api/agent/queue").json()["queue"] if q["summary"] == "我要找人工")
    return agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").json()["conversation_id"]


@pytest.mark.parametrize("text,code", [("   ", "empty_message"), ("你好\x00", "invalid_characters"),
                                       ("坏\ud800字", "invalid_characters")])
def test_agent_replies_that_are_blank_or_corrupt_are_refused_and_not_stored(server, agent, text, code):
    conversation_id = claimed_conversation(server, agent)
    before = agent.get(f"/api/agent/conversations/{conversation_id}").json()["messages"]
    r = agent.post(f"/api/agent/conversations/{conversation_id}/messages",
                   content=json.dumps({"text": text}).encode(),  # ASCII JSON: \u0000 and \ud800 escapes
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == code and r.json()["detail"]
    assert agent.get(f"/api/agent/conversations/{conversation_id}").json()["messages"] == before


@pytest.mark.parametrize("payload, detail", [
    ({}, "缺少内容"), ({"text": 5}, "内容应是文字"), ({"text": None}, "内容不能为空"),
    ({"private": "yes", "text": "好"}, "内部备注应是 true 或 false"), ([1], "请求内容应是 JSON 对象"),
    ("x", "请求内容应是 JSON 对象")])
def test_malformed_agent_reply_bodies_are_422_in_chinese_naming_the_field(server, agent, payload, detail):
    conversation_id = claimed_conversation(server, agent)
    r = agent.post(f"/api/agent/conversations/{conversation_id}/messages", json=payload)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and r.json()["detail"] == detail, r.json()
    assert all(e["field"].startswith("body") and e["label"] in detail for e in r.json()["errors"]), r.json()


def test_every_field_of_every_route_has_a_chinese_label():
    """A refused request names its fields in Chinese (bot/core/errors.py FIELD_LABELS): every path, query and body
    field of the app's routes has a label, so none is ever shown as "body.answer"."""
    def model_fields(model):
        for field in model.__fields__.values():
            yield field.alias
            if isinstance(field.type_, type) and issubclass(field.type_, BaseModel):
                yield from model_fields(field.type_)

    unlabelled = set()
    for route in create_app().routes:
        if not isinstance(route, (APIRoute, APIWebSocketRoute)):
            continue
        flat = get_flat_dependant(route.dependant)
        for param in flat.path_params + flat.query_params + flat.header_params + flat.cookie_params + flat.body_params:
            names = model_fields(param.type_) if isinstance(param.type_, type) and issubclass(param.type_, BaseModel) \
                else [param.alias]
            unlabelled |= {f"{route.path}: {name}" for name in names if name not in FIELD_LABELS}
    assert sorted(unlabelled) == [], "give each a Chinese label in bot/core/errors.py FIELD_LABELS"


# --- found by the reliability suite (make reliability) --------------------------------------------------------
@pytest.mark.parametrize("username", ["\ud800", "admin\x00"])
def test_login_with_corrupt_characters_is_422_not_500(server, username):
    r = httpx.post(server.url + "/api/auth/login", content=json.dumps({"username": username, "password": "x"}),
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_characters"


def test_a_faq_edit_with_a_lone_surrogate_is_refused_and_nothing_is_saved(server):
    admin = httpx.Client(base_url=server.url, timeout=30)
    admin.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    before = admin.get("/api/admin/faq/office_hours").json()
    for field in ("answer", "title"):
        body = {"title": before["title"], "questions": before["questions"], "answer": before["answer"]}
        body[field] = "坏\ud800字"
        r = admin.put("/api/admin/faq/office_hours", content=json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_characters"
    after = admin.get("/api/admin/faq/office_hours").json()
    assert (after["answer"], after["title"]) == (before["answer"], before["title"])


def test_blank_looking_agent_replies_are_refused(server, agent):
    conversation_id = claimed_conversation(server, agent)
    r = agent.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "\u200b\u200b"})
    assert r.status_code == 422 and r.json()["code"] == "empty_message"


@pytest.mark.parametrize("body", [{"text": 5}, {"text": True}, {"text": ["物业"]}])
def test_parse_refuses_a_text_that_is_not_a_string(server, body):
    r = httpx.post(server.url + "/api/parse", json=body)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_a_body_that_is_not_json_is_400_in_chinese_with_a_code(server):
    r = httpx.post(server.url + "/api/parse", content=b"\xff\xfe{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "bad_request" and "请求" in r.json()["detail"]
    r = httpx.get(server.url + "/api/no-such-thing")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_the_agent_socket_survives_frames_it_does_not_understand(server, agent):
    import asyncio

    import websockets

    cookie = agent.cookies.get("wuye_staff")

    async def run():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                      extra_headers={"Cookie": f"wuye_staff={cookie}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "queue"
            for frame in ("[1]", "42", "null", '"x"', "x", b"\x00\x01", "[" * 100_000 + "]" * 100_000):
                await ws.send(frame)
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                while reply.get("type") == "queue":
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert reply["type"] == "error" and reply["code"] == "invalid_frame", frame
            await ws.send(json.dumps({"type": "ping"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            while reply.get("type") == "queue":
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["type"] == "pong"

    asyncio.run(run())


def test_the_widget_socket_survives_json_nested_thousands_deep(server):
    import asyncio

    import websockets

    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    cookie = client.cookies.get("wuye_resident")

    async def run():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/chat",
                                      extra_headers={"Cookie": f"wuye_resident={cookie}"}, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            await ws.send('{"type":"message","text":' + "[" * 50_000 + "]" * 50_000 + "}")
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["type"] == "error"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"

    asyncio.run(run())


def test_a_widget_socket_opened_before_the_first_message_follows_the_conversation_that_starts(server):
    """The first message goes over REST (or through another instance): the open socket still sees the reply."""
    import asyncio

    import websockets

    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    cookie = client.cookies.get("wuye_resident")

    async def run():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/chat",
                                      extra_headers={"Cookie": f"wuye_resident={cookie}"}) as ws:
            assert json.loads(await ws.recv())["conversation_id"] is None
            r = await asyncio.to_thread(client.post, "/api/widget/messages", json={"text": "物业几点上班"})
            assert r.status_code == 200
            seen = []
            while not any(e.get("type") == "history" and e.get("messages") for e in seen) and \
                    not any(e.get("type") == "message" and e.get("sender") == "bot" for e in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            texts = json.dumps(seen, ensure_ascii=False)
            assert "办公时间" in texts

    asyncio.run(run())

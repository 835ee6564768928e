"""Bad input on the staff and resident APIs: a clear 4xx in Chinese with a code, never a 500, nothing stored."""
from __future__ import annotations

import json

import httpx
import pytest

from bot.devserver import LiveServer


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
    assert body["code"] == "invalid_request" and "请求格式不正确" in body["detail"]


def claimed_conversation(server, agent) -> int:
    resident = httpx.Client(base_url=server.url, timeout=30)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "我要找人工"}).raise_for_status()
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


@pytest.mark.parametrize("payload", [{}, {"text": 5}, {"text": None}, {"private": "yes", "text": "好"}, [1], "x"])
def test_malformed_agent_reply_bodies_are_422_in_chinese(server, agent, payload):
    conversation_id = claimed_conversation(server, agent)
    r = agent.post(f"/api/agent/conversations/{conversation_id}/messages", json=payload)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and "请求格式不正确" in r.json()["detail"]

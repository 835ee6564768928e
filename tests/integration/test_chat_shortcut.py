"""`POST /api/chat`'s shorter way in (connectors/rest.py ChatRoute): a plain request skips FastAPI's dependency
solving and body model, and is answered exactly as the ordinary way answers it; everything else goes the ordinary
way with its body intact."""
from __future__ import annotations

import json
import re

import pytest

from tests.conftest import make_app

PLAIN = {"Content-Type": "application/json"}
# FastAPI reads this as JSON too; the shortcut leaves it to the ordinary way
ORDINARY = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    yield from make_app(settings, parser, tmp_path_factory, "chat_shortcut")


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture()
def ordinary_calls(app):
    """How many requests the route handed to the ordinary (FastAPI) way."""
    route = next(r for r in app.routes if getattr(r, "path", "") == "/api/chat")
    inner, calls = route.ordinary, []

    async def counted(scope, receive, send):  # type: ignore[no-untyped-def]
        calls.append(scope["path"])
        await inner(scope, receive, send)

    route.ordinary = counted
    yield calls
    route.ordinary = inner


def new_key(client) -> str:
    from bot.access.auth import create_api_key

    services = client.app.state.services
    with services.db.session() as session:
        _, key = create_api_key(session, "shortcut", None, services.clock())
    return f"Bearer {key}"


def post(client, key, body, content_type=PLAIN, **kwargs):  # type: ignore[no-untyped-def]
    return client.post("/api/chat", content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                       headers={**content_type, "Authorization": key}, **kwargs)


def test_a_key_is_verified_the_ordinary_way_then_plain_requests_take_the_shortcut(client, ordinary_calls):
    key = new_key(client)
    first = post(client, key, {"sender_id": "s-1", "text": "物业几点上班"})
    assert first.status_code == 200 and ordinary_calls == ["/api/chat"]  # the key's look-up
    assert "办公时间" in first.json()["replies"][0]["text"]
    second = post(client, key, {"sender_id": "s-1", "text": "家里燃气泄漏了", "channel": "web", "community": None,
                                "extra": [1, 2]})
    assert second.status_code == 200 and ordinary_calls == ["/api/chat"]
    assert second.json()["conversation_id"] == first.json()["conversation_id"]
    assert second.json()["handoff"]["priority"] == "urgent"


def test_both_ways_answer_alike(client, ordinary_calls):
    key = new_key(client)
    post(client, key, {"sender_id": "warm", "text": "你好"})  # the key verified
    ordinary_calls.clear()
    fast = post(client, key, {"sender_id": "alike-1", "text": "家里燃气泄漏了"})
    slow = post(client, key, {"sender_id": "alike-2", "text": "家里燃气泄漏了"}, ORDINARY)
    assert ordinary_calls == ["/api/chat"]
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert int(fast.headers["content-length"]) == len(fast.content) and fast.headers["x-request-id"]
    a, b = fast.json(), slow.json()
    numbered = re.compile(r"LY\d+")  # each its own ticket
    assert numbered.sub("LY", json.dumps(a["replies"])) == numbered.sub("LY", json.dumps(b["replies"]))
    assert a.keys() == b.keys() and a["handoff"]["priority"] == "urgent"
    assert a["handoff"].keys() == b["handoff"].keys() and a["conversation_id"] != b["conversation_id"]


@pytest.mark.parametrize("body", [
    {"sender_id": "x", "text": "你好", "channel": "fax"}, {"sender_id": "w_widget", "text": "你好"},
    {"sender_id": "x\u0000y", "text": "你好"}, {"sender_id": "字" * 101, "text": "你好"},
    {"sender_id": "x", "text": "你\u0000好"}, {"sender_id": "x", "text": ""}, {"sender_id": "x", "text": "字" * 5000},
    {"sender_id": "x", "text": "你好", "community": "no_such_place"}, {"sender_id": "x", "text": "你好", "community": " "},
])
def test_refusals_of_the_turn_are_the_same_either_way(client, ordinary_calls, body):
    key = new_key(client)
    post(client, key, {"sender_id": "warm", "text": "你好"})
    ordinary_calls.clear()
    fast, slow = post(client, key, body), post(client, key, body, ORDINARY)
    assert ordinary_calls == ["/api/chat"]  # only the second
    assert fast.status_code == slow.status_code and fast.status_code >= 400
    assert fast.json() == slow.json() and fast.headers["content-type"] == slow.headers["content-type"]


@pytest.mark.parametrize("body", [
    {"sender_id": 42, "text": "你好"}, {"sender_id": "x", "text": ["你好"]}, {"text": "你好"}, {"sender_id": "x"},
    {"sender_id": "x", "text": "你好", "channel": None}, {"sender_id": "x", "text": "你好", "community": 3},
    {"sender_id": "x", "text": "你好", "community": "c" * 33}, ["sender_id", "text"], "你好", None,
])
def test_bodies_to_validate_go_the_ordinary_way(client, ordinary_calls, body):
    key = new_key(client)
    post(client, key, {"sender_id": "warm", "text": "你好"})
    ordinary_calls.clear()
    r = post(client, key, body)
    assert ordinary_calls == ["/api/chat"] and r.status_code == 422 and r.json()["code"]


def test_no_key_a_wrong_key_and_broken_json_go_the_ordinary_way(client, ordinary_calls):
    key = new_key(client)
    post(client, key, {"sender_id": "warm", "text": "你好"})
    ordinary_calls.clear()
    body = {"sender_id": "k", "text": "你好"}
    assert client.post("/api/chat", json=body).status_code == 401
    assert post(client, "Bearer wuye_not_a_key", body).status_code == 401
    assert post(client, key.replace("Bearer", "Basic"), body).status_code == 401
    broken = client.post("/api/chat", content=b'{"sender_id": "k", "text": ', headers={**PLAIN, "Authorization": key})
    assert broken.status_code == 422
    assert len(ordinary_calls) == 4


def test_a_body_past_the_limit_is_cut_off_on_the_shortcut_too(client, ordinary_calls):
    key = new_key(client)
    post(client, key, {"sender_id": "warm", "text": "你好"})

    def chunks():  # no Content-Length: counted while read
        yield b'{"sender_id": "big", "text": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}'

    r = client.post("/api/chat", content=chunks(), headers={**PLAIN, "Authorization": key})
    assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_a_shortcut_request_is_counted_under_its_route(client, ordinary_calls):
    from bot.reporting import metrics

    key = new_key(client)
    post(client, key, {"sender_id": "warm", "text": "你好"})
    counter = metrics.REQUESTS.labels("POST", "/api/chat", "200")
    before = counter._value.get()
    assert post(client, key, {"sender_id": "m", "text": "你好"}).status_code == 200
    assert counter._value.get() == before + 1

"""Widget input: WebSocket frames validated with pydantic (a typed error frame, the socket stays usable, nothing
stored), the REST fallback's body types, corrupt text refused with a clear Chinese error."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_app, widget_resident


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    yield from make_app(settings, parser, tmp_path_factory, "widget-input")


def resident(app) -> TestClient:
    return widget_resident(app)


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def next_frame(ws):
    """The next frame that is not a typing indicator."""
    while True:
        frame = ws.receive_json()
        if frame.get("type") != "typing":
            return frame


BAD_FRAMES = {
    "list": ("[1]", "invalid_frame"),
    "number": ("42", "invalid_frame"),
    "null": ("null", "invalid_frame"),
    "string": ('"x"', "invalid_frame"),
    "not-json": ("{not json", "invalid_frame"),
    "no-type": ('{"text": "你好"}', "invalid_frame"),
    "unknown-type": ('{"type": "typing", "on": true}', "invalid_frame"),
    "type-not-a-string": ('{"type": ["message"], "text": "你好"}', "invalid_frame"),
    "photos-a-number": ('{"type": "message", "photos": 5}', "invalid_frame"),
    "photos-of-numbers": ('{"type": "message", "text": "a", "photos": [1, 2]}', "invalid_frame"),
    "too-many-photos": (json.dumps({"type": "message", "text": "a", "photos": ["/uploads/x.png"] * 7}), "invalid_frame"),
    "text-a-list": ('{"type": "message", "text": ["a"]}', "invalid_frame"),
    "text-a-number": ('{"type": "message", "text": 5}', "invalid_frame"),
    "text-an-object": ('{"type": "message", "text": {"a": 1}}', "invalid_frame"),
    "photo-traversal": ('{"type": "message", "text": "a", "photos": ["/uploads/../../etc/passwd"]}', "invalid_photo"),
    "lone-surrogate": ('{"type": "message", "text": "物\\ud800业"}', "invalid_characters"),
    "nul": ('{"type": "message", "text": "物\\u0000业"}', "invalid_characters"),
    "empty": ('{"type": "message", "text": "   "}', "empty_message"),
}


def test_bad_frames_get_a_typed_error_and_the_socket_stays_usable(app):
    client = resident(app)
    with client.websocket_connect("/ws/chat") as ws:
        assert ws.receive_json()["type"] == "history"
        for name, (raw, code) in BAD_FRAMES.items():
            ws.send_text(raw)
            frame = next_frame(ws)
            assert frame["type"] == "error" and frame["code"] == code, (name, frame)
            assert chinese(frame["detail"]), (name, frame)
        ws.send_bytes(b"\x00\x01binary")
        frame = next_frame(ws)
        assert frame["type"] == "error" and frame["code"] == "invalid_frame" and "文本" in frame["detail"]
        ws.send_text('{"type": "ping"}')
        assert ws.receive_json() == {"type": "pong"}
        ws.send_json({"type": "message", "text": "物业几点上班"})  # still usable
        while True:
            frame = next_frame(ws)
            if frame.get("sender") == "bot":
                break
        assert "办公时间" in frame["text"]
    texts = [m["text"] for m in client.get("/api/widget/history").json()["messages"] if m["sender"] == "resident"]
    assert texts == ["物业几点上班"]  # nothing of the bad frames was stored, never a repr like "['a']"


def test_the_error_frame_names_the_bad_field(app):
    with resident(app).websocket_connect("/ws/chat") as ws:
        ws.receive_json()
        ws.send_text('{"type": "message", "photos": 5}')
        assert "photos" in next_frame(ws)["detail"]


@pytest.mark.parametrize("body", [{"text": ["a"]}, {"text": 5}, {"text": None}, {"text": "a", "photos": 5},
                                  {"text": "a", "photos": [1]}, {"text": "a", "photos": "/uploads/x.png"},
                                  {"text": "a", "photos": ["/uploads/x.png"] * 7}, [1], "x"])
def test_rest_fallback_body_types_are_checked(app, body):
    client = resident(app)
    r = client.post("/api/widget/messages", json=body)
    assert r.status_code == 422, r.text
    assert client.get("/api/widget/history").json()["messages"] == []


@pytest.mark.parametrize("raw,code", [(b'{"text": "\\ud800\xe7\x89\xa9"}', "invalid_characters"),
                                      (b'{"text": "\xe7\x89\xa9\\u0000"}', "invalid_characters"),
                                      (b'{"text": "\\u0007"}', "invalid_characters")])
def test_rest_fallback_refuses_corrupt_text_clearly(app, raw, code):
    client = resident(app)
    r = client.post("/api/widget/messages", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == code and chinese(r.json()["detail"])
    assert client.get("/api/widget/history").json()["messages"] == []

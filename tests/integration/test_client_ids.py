"""Client message ids (the widget's offline queue): a resend with the same id — over REST or the WebSocket, after a
reconnect — is stored once and answered with the stored turn's replies; history and live frames carry the id."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.storage.models import Message
from tests.conftest import make_app, widget_resident


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    yield from make_app(settings, parser, tmp_path_factory, "client-ids")


def stored(app, client_id):
    with app.state.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(Message).where(Message.client_id == client_id))


def residents_texts(client):
    return [m["text"] for m in client.get("/api/widget/history").json()["messages"] if m["sender"] == "resident"]


def next_frame(ws, kind):
    while True:
        frame = ws.receive_json()
        if frame.get("type") == kind:
            return frame
        assert frame.get("type") in ("typing", "status", "message", "history", "ack"), frame


def frames_until_ack(ws, client_id):
    """Every frame up to the ack of ``client_id`` (the live echo may come just before or just after it)."""
    frames = []
    while not any(f.get("type") == "ack" and f.get("client_id") == client_id for f in frames):
        frames.append(ws.receive_json())
    return frames


def test_a_rest_resend_is_stored_once_and_answered_with_the_stored_replies(app):
    client = widget_resident(app)
    first = client.post("/api/widget/messages", json={"text": "物业几点上班", "client_id": "c-rest-1"})
    assert first.status_code == 200 and first.json()["client_id"] == "c-rest-1"
    again = client.post("/api/widget/messages", json={"text": "物业几点上班", "client_id": "c-rest-1"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert [r["text"] for r in again.json()["replies"]] == [r["text"] for r in first.json()["replies"]]
    assert stored(app, "c-rest-1") == 1
    assert residents_texts(client) == ["物业几点上班"]
    history = client.get("/api/widget/history").json()["messages"]
    assert [m["client_id"] for m in history if m["sender"] == "resident"] == ["c-rest-1"]
    # the same id from another resident is that resident's own message
    other = widget_resident(app)
    other.post("/api/widget/messages", json={"text": "物业几点上班", "client_id": "c-rest-1"}).raise_for_status()
    assert stored(app, "c-rest-1") == 2


def test_a_websocket_resend_after_a_reconnect_is_acknowledged_and_stored_once(app):
    client = widget_resident(app)
    with client.websocket_connect("/ws/chat") as ws:
        next_frame(ws, "history")
        ws.send_json({"type": "message", "text": "停车月卡怎么办", "client_id": "c-ws-1"})
        frames = frames_until_ack(ws, "c-ws-1")
        assert {"type": "ack", "client_id": "c-ws-1", "duplicate": False} in frames
        echo = next((f for f in frames if f.get("type") == "message" and f["sender"] == "resident"), None) \
            or next_frame(ws, "message")
        assert echo["sender"] == "resident" and echo["client_id"] == "c-ws-1"
    with client.websocket_connect("/ws/chat") as ws:  # the page did not see the ack and sends it again
        history = next_frame(ws, "history")
        assert [m["client_id"] for m in history["messages"] if m["sender"] == "resident"] == ["c-ws-1"]
        ws.send_json({"type": "message", "text": "停车月卡怎么办", "client_id": "c-ws-1"})
        assert next_frame(ws, "ack") == {"type": "ack", "client_id": "c-ws-1", "duplicate": True}
        ws.send_json({"type": "message", "text": "谢谢", "client_id": "c-ws-2"})
        assert next_frame(ws, "ack")["client_id"] == "c-ws-2"
    assert stored(app, "c-ws-1") == 1 and stored(app, "c-ws-2") == 1
    assert residents_texts(client) == ["停车月卡怎么办", "谢谢"]


def test_a_refused_message_names_its_client_id_and_bad_ids_are_refused(app):
    client = widget_resident(app)
    with client.websocket_connect("/ws/chat") as ws:
        next_frame(ws, "history")
        ws.send_json({"type": "message", "text": "   ", "client_id": "c-empty"})
        error = next_frame(ws, "error")
        assert error["code"] == "empty_message" and error["client_id"] == "c-empty"
        ws.send_json({"type": "message", "text": "你好", "client_id": "x" * 65})
        assert next_frame(ws, "error")["code"] == "invalid_frame"
    for bad in ("", "a b", "x" * 65, 5, ["a"]):
        r = client.post("/api/widget/messages", json={"text": "你好", "client_id": bad})
        assert r.status_code == 422, bad
    assert residents_texts(client) == []


def test_the_engine_returns_the_stored_turn_for_a_known_client_id(app):
    engine = app.state.services.engine
    first = engine.handle("web", "engine-cid", "我要报修", client_id="c-eng-1")
    engine.handle("web", "engine-cid", "厨房水管漏水", client_id="c-eng-2")
    again = engine.handle("web", "engine-cid", "我要报修", client_id="c-eng-1")
    assert again.duplicate and not first.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies]  # only that turn's replies
    assert stored(app, "c-eng-1") == 1 and stored(app, "c-eng-2") == 1


def test_figures_for_a_date_range_with_chinese_labels(app):
    import datetime as dt

    from bot.core.localtime import to_local

    client = widget_resident(app)
    client.post("/api/widget/messages", json={"text": "3栋电梯困人了，快来人"}).raise_for_status()
    from bot.kb.community import load_communities
    from bot.tools.demo import load_demo_data

    services = app.state.services
    with services.db.session() as session:  # the demo admin (the app of this module starts empty)
        load_demo_data(session, load_communities(services.settings.communities_file))
    admin = widget_resident(app)
    admin.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    today = to_local(app.state.services.clock()).date()
    recent = admin.get("/api/admin/figures?days=7").json()
    assert recent["end"] == today.isoformat() and len(recent["per_day"]) == 7 and recent["conversations"] >= 1
    assert recent["priority_labels"]["urgent"] == "紧急" and recent["reason_labels"]["emergency keyword"] == "紧急情况"
    same = admin.get(f"/api/admin/figures?start={today - dt.timedelta(days=6)}&end={today}").json()
    assert same["conversations"] == recent["conversations"] and same["per_day"] == recent["per_day"]
    past = admin.get("/api/admin/figures?start=2020-01-01&end=2020-01-03").json()
    assert past["conversations"] == 0 and [d["day"] for d in past["per_day"]] == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert len(admin.get("/api/admin/figures").json()["per_day"]) == 14  # no range: as before
    for query, code in (("start=2020-01-05&end=2020-01-01", "bad_figures_range"), ("start=x", "bad_figures_range"),
                        ("start=2020-01-01&end=2021-06-01", "bad_figures_range")):
        r = admin.get("/api/admin/figures?" + query)
        assert r.status_code == 422 and r.json()["code"] == code, query
    failures = admin.get("/api/admin/failures").json()
    assert failures["handoff_reasons_labels"]["emergency keyword"] == "紧急情况"
    assert all(len(g["reasons_labels"]) == len(g["reasons"]) for g in failures["groups"])

"""HTTP: /api/parse through FastAPI with the real model; bad input gets clear errors."""
from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from bot.main import create_app


@pytest.fixture(scope="module")
def client(parser, settings, tmp_path_factory):
    db_url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'wuye.db'}"
    app_settings = dataclasses.replace(settings, database_url=db_url)
    with TestClient(create_app(app_settings, parser=parser)) as c:
        yield c


def test_parse_has_the_spec_shape(client):
    r = client.post("/api/parse", json={"text": "物业费多少钱一平"})
    assert r.status_code == 200
    body = r.json()
    assert body["intent"]["name"] == "faq" and 0 < body["intent"]["confidence"] <= 1
    assert body["faq"]["id"] == "fee_standard"
    assert body["emotion"]["label"] == "neutral"
    assert body["route"]["decision"] == "answer" and body["route"]["priority"] is None
    assert isinstance(body["entities"], list)


def test_parse_routes_a_message_of_several_requests_as_the_conversation_would(client):
    """The spec: the route the router would take for the text as the first message of a new conversation — for two
    questions that is both answered (the engine's split), not a clarify on the whole text's split probability."""
    body = client.post("/api/parse", json={"text": "物业费多少钱一平？另外停车月卡怎么办"}).json()
    assert body["route"]["decision"] == "answer" and body["route"]["priority"] is None
    assert body["route"]["reasons"] == ["物业费多少钱一平: answer", "停车月卡怎么办: answer"]
    assert body["intent"]["name"] == "faq"  # the reading stays the whole text's
    story = client.post("/api/parse", json={"text": "上周楼上装修，吵得不行。想问一下装修几点可以开始？"}).json()
    assert story["route"]["decision"] == "answer" and story["faq"]["id"] == "renovation_hours"
    assert story["route"]["reasons"] == ["faq/renovation_hours"]  # one request: the story is context
    urgent = client.post("/api/parse", json={"text": "物业费多少？另外厨房水管爆了水一直往外喷"}).json()
    assert urgent["route"]["decision"] == "handoff" and urgent["route"]["priority"] == "urgent"
    # a detail of the first question, in the first answer's words, is not a second request (rule 10d in a message)
    detail = client.post("/api/parse", json={"text": "请问交了物业费以后能开发票吗？是纸质的还是电子的，要去哪里领"}).json()
    assert detail["route"] == {"decision": "answer", "priority": None, "reasons": ["faq/invoice"]}
    apart = client.post("/api/parse", json={"text": "绿化多久修剪一次？还有狗能在草坪上跑吗"}).json()
    assert apart["route"]["reasons"] == ["绿化多久修剪一次: answer", "狗能在草坪上跑吗: answer"]
    subject = client.post("/api/parse", json={"text": "绿化多久修剪一次？狗能在草坪上跑吗"}).json()
    assert subject["route"]["reasons"] == ["绿化多久修剪一次: answer", "狗能在草坪上跑吗: answer"]


def test_parse_emergency_is_urgent_handoff(client):
    body = client.post("/api/parse", json={"text": "3栋电梯困人了，快来！"}).json()
    assert body["route"] == {"decision": "handoff", "priority": "urgent", "reasons": body["route"]["reasons"]}
    assert body["entities"][0]["entity"] == "room" and body["entities"][0]["value"] == "3"


@pytest.mark.parametrize("payload,status", [({"text": ""}, 422), ({"text": "   "}, 422), ({}, 422),
                                            ({"text": "物" * 5000}, 413)])
def test_bad_input_is_refused_clearly(client, payload, status):
    r = client.post("/api/parse", json=payload)
    assert r.status_code == status
    assert r.json()["detail"]


@pytest.mark.parametrize("raw,status,code", [
    (b'{"text": "\\ud800\u7269"}', 422, "invalid_characters"),      # lone surrogate
    (b'{"text": "\u7269\\u0000\u4e1a"}', 422, "invalid_characters"),  # NUL
    (b'{"text": "\u7269\\u0007"}', 422, "invalid_characters"),        # control character
    (b'{"text": ' + ('"' + "\\ud83d\\ude00" * 10000 + '"').encode() + b'}', 413, "message_too_long"),  # 10,000 emoji
    (b'{"text": ""}', 422, "empty_message"),
])
def test_bad_text_gets_a_clear_chinese_4xx(client, raw, status, code):
    r = client.post("/api/parse", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["detail"])


@pytest.mark.parametrize("text", ["物业ร้าน費ﾃｽﾄ wifi", "😀😀😀", "[微笑]", "ｗｙ几点上班", "a\tb\nc"])
def test_odd_but_valid_text_is_parsed(client, text):
    r = client.post("/api/parse", json={"text": text})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == text.strip()


def test_malformed_json_is_refused(client):
    r = client.post("/api/parse", content=b'{"text": "abc', headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_openapi_lists_parse(client):
    assert "/api/parse" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text  # works without network
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/health").json()["status"] == "ok"


def new_api_key(client, name="tests"):
    """A key as an admin would create it; returns the Authorization header."""
    from bot.access.auth import create_api_key

    services = client.app.state.services
    with services.db.session() as session:
        _, key = create_api_key(session, name, None, services.clock())
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def api(client):
    return new_api_key(client)


def test_chat_answers_and_remembers_the_conversation(client, api):
    first = client.post("/api/chat", json={"sender_id": "api-1", "text": "你好", "channel": "web"}, headers=api)
    assert first.status_code == 200
    body = first.json()
    assert body["replies"][0]["buttons"] and body["handoff"] is None
    second = client.post("/api/chat", json={"sender_id": "api-1", "text": "物业几点上班"}, headers=api).json()
    assert second["conversation_id"] == body["conversation_id"]
    assert "办公时间" in second["replies"][0]["text"]


def test_chat_emergency_reports_the_handoff(client, api):
    body = client.post("/api/chat", json={"sender_id": "api-2", "text": "家里燃气泄漏了"}, headers=api).json()
    assert body["handoff"]["priority"] == "urgent"
    assert body["handoff"]["status"] in ("queued", "callback")


@pytest.mark.parametrize("payload,status", [
    ({"sender_id": "x", "text": ""}, 422), ({"sender_id": "x", "text": "字" * 5000}, 413),
    ({"text": "你好"}, 422), ({"sender_id": "x", "text": "你好", "channel": "fax"}, 422),
    ({"sender_id": 42, "text": "你好"}, 422), ({"sender_id": "x", "text": ["你好"]}, 422),
    ({"sender_id": "x\u0000y", "text": "你好"}, 422), ({"sender_id": "x", "text": "你\u0000好"}, 422),
    ({"sender_id": "字" * 101, "text": "你好"}, 422), ({"sender_id": "w_widget", "text": "你好"}, 422),
    ({"sender_id": "x", "text": "你好", "community": "c" * 33}, 422),
    ({"sender_id": "x", "text": "你好", "community": "no_such_place"}, 422),
    ({"sender_id": "x", "text": "你好", "community": "jin\u0000xiu"}, 422),
])
def test_chat_bad_input(client, api, payload, status):
    r = client.post("/api/chat", json=payload, headers=api)
    assert r.status_code == status and r.json()["detail"]


def test_chat_bad_text_and_community_are_typed_chinese_errors(client, api):
    r = client.post("/api/chat", content=b'{"sender_id": "x", "text": "\\ud800\xe7\x89\xa9"}',
                    headers={**api, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_characters"
    r = client.post("/api/chat", content=b'{"sender_id": "x\\udc00", "text": "\xe7\x89\xa9"}',
                    headers={**api, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_sender"
    r = client.post("/api/chat", json={"sender_id": "x\u0000", "text": "你好"}, headers=api)
    assert r.json()["code"] == "invalid_sender"
    r = client.post("/api/chat", json={"sender_id": "x", "text": "你好", "community": "no_such_place"}, headers=api)
    assert r.json() == {"detail": "没有这个小区：community 必须是已有的小区 ID", "code": "unknown_community"}
    r = client.post("/api/chat", json={"sender_id": "api-b", "text": "物业电话多少", "community": "binjiang"}, headers=api)
    assert r.status_code == 200 and "0571-8765 4300" in r.json()["replies"][0]["text"]


@pytest.mark.parametrize("headers,code", [
    ({}, "api_key_required"), ({"Authorization": "Basic YWRtaW46YWRtaW4xMjM="}, "api_key_required"),
    ({"Authorization": "Bearer "}, "api_key_required"), ({"Authorization": "Bearer wuye_guessed"}, "invalid_api_key"),
    ({"Authorization": "Bearer not-even-a-key"}, "invalid_api_key"),
])
def test_chat_needs_a_valid_api_key(client, headers, code):
    r = client.post("/api/chat", json={"sender_id": "nokey", "text": "物业几点上班"}, headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["detail"])


def test_a_revoked_key_is_refused(client):
    from bot.access.auth import api_key_of, hash_api_key, revoke_api_key

    headers = new_api_key(client, "to-revoke")
    assert client.post("/api/chat", json={"sender_id": "r", "text": "你好"}, headers=headers).status_code == 200
    services = client.app.state.services
    with services.db.session() as session:
        key = api_key_of(session, headers["Authorization"][7:])
        assert key.key_hash == hash_api_key(headers["Authorization"][7:]) and key.prefix.startswith("wuye_")
        revoke_api_key(session, key.id, services.clock())
    r = client.post("/api/chat", json={"sender_id": "r", "text": "你好"}, headers=headers)
    assert r.status_code == 401 and r.json() == {"detail": "API 密钥无效或已被吊销", "code": "invalid_api_key"}


def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(client, monkeypatch):
    """Verified keys are remembered for API_KEY_CACHE_SECONDS per process; a revocation written by another process
    (another worker, `wuye apikey revoke`) reaches this one when that time is up."""
    import time

    import sqlalchemy as sa

    from bot.access import auth

    monkeypatch.setattr(auth, "API_KEY_CACHE_SECONDS", 0.5)
    headers = new_api_key(client, "revoked-elsewhere")
    assert client.post("/api/chat", json={"sender_id": "e", "text": "你好"}, headers=headers).status_code == 200
    services = client.app.state.services
    with services.db.session() as session:  # as another process would: a plain UPDATE, no in-process hook
        session.execute(sa.update(auth.ApiKey).where(auth.ApiKey.name == "revoked-elsewhere")
                        .values(revoked_at=services.clock()))
    assert client.post("/api/chat", json={"sender_id": "e", "text": "你好"}, headers=headers).status_code == 200
    time.sleep(0.6)
    r = client.post("/api/chat", json={"sender_id": "e", "text": "你好"}, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"


def test_chat_unknown_channel_is_a_typed_error(client, api):
    r = client.post("/api/chat", json={"sender_id": "x", "text": "你好", "channel": "fax"}, headers=api)
    assert r.status_code == 422
    assert r.json() == {"detail": "不支持这个渠道，channel 只能是 web、rest 或 cli", "code": "unknown_channel"}


def test_widget_message_without_a_session_is_refused(client):
    client.cookies.clear()
    r = client.post("/api/widget/messages", json={"text": "你好"})
    assert r.status_code == 401
    assert r.json() == {"detail": "会话已失效，请刷新页面", "code": "no_widget_session"}


@pytest.fixture
def widget(client):
    """The module's client with a widget session (dropped afterwards)."""
    client.post("/api/widget/session").raise_for_status()
    yield client
    client.cookies.clear()


def test_oversized_upload_is_refused(widget):
    limit = widget.app.state.services.settings.max_upload_bytes
    photo = b"\x89PNG\r\n\x1a\n" + b"\0" * limit
    r = widget.post("/api/widget/upload", files={"file": ("big.png", photo, "image/png")})
    assert r.status_code == 413
    assert r.json()["code"] == "photo_too_large" and "图片太大" in r.json()["detail"]


def test_non_image_upload_is_refused(widget):
    r = widget.post("/api/widget/upload", files={"file": ("a.html", b"<script>", "image/png")})
    assert r.status_code == 415
    assert r.json() == {"detail": "只能上传 JPEG、PNG、WebP 或 GIF 格式的图片", "code": "unsupported_image"}
    missing = widget.get("/uploads/nothing.png")
    assert missing.status_code == 404 and missing.json()["code"] == "upload_not_found"

"""Agent and admin APIs over real HTTP and WebSockets: auth, privacy, atomic FAQ edits, retraining, timeouts."""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
import yaml

from bot.core.settings import PROJECT_ROOT
from bot.tools.devserver import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    tmp = tmp_path_factory.mktemp("staff")
    config = yaml.safe_load((PROJECT_ROOT / "bot" / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "ResponseSelector":
            component["epochs"] = 3  # keeps the background retraining of this test short
    tiny = tmp / "config.yml"
    tiny.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with LiveServer(tmp, settings, parser, rasa_config=tiny, models_dir=tmp / "models", agent_timeout_seconds=1.0) as live:
        yield live


def staff_client(server, user, password) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return client


@pytest.fixture(scope="module")
def api(server):
    """The Authorization header of an API key an admin created for /api/chat."""
    admin = staff_client(server, "admin", "admin123")
    r = admin.post("/api/admin/api-keys", json={"name": "staff-api tests"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['key']}"}


@pytest.mark.parametrize("method,path", [("get", "/api/agent/queue"), ("get", "/api/agent/conversations/1"),
                                         ("post", "/api/agent/handoffs/1/claim"), ("get", "/api/admin/faq"),
                                         ("put", "/api/admin/faq/pets"), ("get", "/api/admin/figures"),
                                         ("get", "/api/admin/failures")])
def test_unauthenticated_staff_requests_are_refused(server, method, path):
    r = getattr(httpx, method)(server.url + path, **({"json": {}} if method in ("put", "post") else {}))
    assert r.status_code == 401
    assert r.json() == {"detail": "请先登录", "code": "not_signed_in"}


def test_staff_errors_are_typed_with_a_code_and_a_chinese_message(server):
    agent, admin = staff_client(server, "agent", "agent123"), staff_client(server, "admin", "admin123")
    assert agent.get("/api/admin/faq").json() == {"detail": "仅管理员可以使用", "code": "admins_only"}
    missing = agent.get("/api/agent/conversations/999999")
    assert missing.status_code == 404 and missing.json()["code"] == "conversation_not_found"
    r = agent.post("/api/agent/conversations/999999/messages", json={"text": "在吗"})
    assert r.status_code == 404 and r.json()["code"] == "conversation_not_found"
    assert admin.get("/api/admin/faq/no_such_faq").json()["code"] == "faq_not_found"
    r = admin.post("/api/admin/failures/999999/add-to-faq", json={"faq_id": "pets"})
    assert r.status_code == 404 and r.json()["code"] == "message_not_found"
    r = httpx.post(server.url + "/api/auth/login", json={"username": "agent", "password": "nope"})
    assert r.status_code == 401 and r.json() == {"detail": "用户名或密码错误", "code": "wrong_credentials"}


def test_login_logout_and_roles(server):
    assert httpx.post(server.url + "/api/auth/login", json={"username": "agent", "password": "nope"}).status_code == 401
    agent = staff_client(server, "agent", "agent123")
    assert agent.get("/api/auth/me").json()["role"] == "agent"
    assert agent.get("/api/admin/faq").status_code == 403
    forged = httpx.get(server.url + "/api/agent/queue", cookies={"wuye_staff": "eyJzdGFmZiI6Mn0.forged.sig"})
    assert forged.status_code == 401
    copied = agent.cookies.get("wuye_staff")  # e.g. taken from a shared computer before logout
    assert httpx.get(server.url + "/api/agent/queue", cookies={"wuye_staff": copied}).status_code == 200
    agent.post("/api/auth/logout")
    assert agent.get("/api/agent/queue").status_code == 401
    replayed = httpx.get(server.url + "/api/agent/queue", cookies={"wuye_staff": copied})
    assert replayed.status_code == 401 and replayed.json()["code"] == "not_signed_in"


def test_a_cookie_copied_before_logout_cannot_open_the_agent_socket(server):
    agent = staff_client(server, "agent", "agent123")
    copied = agent.cookies.get("wuye_staff")
    agent.post("/api/auth/logout").raise_for_status()

    async def attempt():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as info:
            async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                          extra_headers={"Cookie": f"wuye_staff={copied}"}):
                pass
        return info.value.status_code

    assert asyncio.run(attempt()) == 403


def test_a_resident_cannot_reach_another_residents_conversation(server, api):
    alice, bob = httpx.Client(base_url=server.url), httpx.Client(base_url=server.url)
    for c in (alice, bob):
        c.post("/api/widget/session").raise_for_status()
    alice.post("/api/widget/messages", json={"text": "我家3栋的门禁卡丢了怎么办"}).raise_for_status()
    assert "门禁卡" in json.dumps(alice.get("/api/widget/history").json(), ensure_ascii=False)
    assert bob.get("/api/widget/history").json()["messages"] == []
    assert httpx.get(server.url + "/api/widget/history").status_code == 401
    tampered = httpx.get(server.url + "/api/widget/history", cookies={"wuye_resident": "w_guess.bad.sig"})
    assert tampered.status_code == 401
    # the REST channel cannot speak as a widget identity
    r = httpx.post(server.url + "/api/chat", json={"sender_id": "w_anything", "text": "查物业费", "channel": "web"},
                   headers=api)
    assert r.status_code == 422
    assert httpx.post(server.url + "/api/chat", json={"sender_id": "x", "text": "查物业费"}).status_code == 401


def test_upload_accepts_images_only(server):
    import io

    from PIL import Image

    client = httpx.Client(base_url=server.url)
    client.post("/api/widget/session")
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 128, 255)).save(out, format="PNG")
    png = out.getvalue() + b"<?php phpinfo(); ?>"
    url = client.post("/api/widget/upload", files={"file": ("a.png", png, "image/png")}).json()["url"]
    served = client.get(url)
    assert served.headers["content-type"] == "image/png" and served.headers["x-content-type-options"] == "nosniff"
    assert b"<?php" not in served.content and Image.open(io.BytesIO(served.content)).size == (20, 10)
    assert client.post("/api/widget/upload", files={"file": ("a.html", b"<script>", "image/png")}).status_code == 415
    fake = b"\x89PNG\r\n\x1a\n" + b"\0" * 100  # a signature alone is not an image
    assert client.post("/api/widget/upload", files={"file": ("a.png", fake, "image/png")}).status_code == 415


def test_two_agents_cannot_claim_the_same_conversation_over_http(server):
    resident = httpx.Client(base_url=server.url)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "我要人工客服"}).raise_for_status()
    agent, admin = staff_client(server, "agent", "agent123"), staff_client(server, "admin", "admin123")
    handoff_id = agent.get("/api/agent/queue").json()["queue"][0]["handoff_id"]
    assert agent.post(f"/api/agent/handoffs/{handoff_id}/claim").status_code == 200
    second = admin.post(f"/api/agent/handoffs/{handoff_id}/claim")
    assert second.status_code == 409
    assert second.json() == {"detail": "该会话已被其他客服认领，或已不在排队中", "code": "already_claimed"}
    conversation_id = agent.get("/api/agent/queue").json()["mine"][0]["conversation_id"]
    r = admin.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "我来回复"})
    assert r.status_code == 403
    assert r.json() == {"detail": "这个会话不由您处理，不能回复、解决或退回", "code": "not_owner"}
    for action in ("resolve", "release"):
        r = admin.post(f"/api/agent/conversations/{conversation_id}/{action}")
        assert r.status_code == 403 and r.json()["code"] == "not_owner"
    note = agent.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "内部备注", "private": True})
    assert note.status_code == 200
    assert "内部备注" not in json.dumps(resident.get("/api/widget/history").json(), ensure_ascii=False)
    assert agent.post(f"/api/agent/conversations/{conversation_id}/resolve").status_code == 200


def test_an_agent_who_disconnects_does_not_strand_the_resident(server):
    resident = httpx.Client(base_url=server.url)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "转人工"}).raise_for_status()
    agent = staff_client(server, "agent", "agent123")
    item = next(q for q in agent.get("/api/agent/queue").json()["queue"] if q["summary"] == "转人工")
    cookie = agent.cookies.get("wuye_staff")

    async def connect_claim_and_drop():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                      extra_headers={"Cookie": f"wuye_staff={cookie}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "queue"
            assert agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").status_code == 200

    asyncio.run(connect_claim_and_drop())
    deadline = time.time() + 10
    while time.time() < deadline:
        queue = agent.get("/api/agent/queue").json()["queue"]
        if any(q["handoff_id"] == item["handoff_id"] for q in queue):
            break
        time.sleep(0.3)
    else:
        pytest.fail("the conversation did not return to the queue after the agent disconnected")
    assert "重新排队" in json.dumps(resident.get("/api/widget/history").json(), ensure_ascii=False)


def test_websocket_without_a_session_is_refused(server):
    async def attempt(path):
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as info:
            async with websockets.connect(server.url.replace("http", "ws") + path):
                pass
        return info.value.status_code

    assert asyncio.run(attempt("/ws/agent")) == 403
    assert asyncio.run(attempt("/ws/chat")) == 403


def test_broken_faq_edit_is_refused_with_file_and_line_and_the_old_kb_keeps_serving(server, api):
    admin = staff_client(server, "admin", "admin123")
    entry = admin.get("/api/admin/faq/pets").json()
    path = server.settings.faq_dir / "living.yml"
    before = path.read_text(encoding="utf-8")
    r = admin.put("/api/admin/faq/pets", json={"title": entry["title"],
                                              "questions": entry["questions"][:3] + ["门禁卡丢了怎么办"],
                                              "answer": entry["answer"] + "{bad_var}"})
    assert r.status_code == 422 and r.json()["code"] == "faq_invalid" and "未保存" in r.json()["detail"]
    problems = r.json()["problems"]
    assert any(p.startswith("data/faq/living.yml:") and "bad_var" in p for p in problems)
    assert any("也在条目“access_card”下" in p for p in problems)  # a question of another entry
    assert path.read_text(encoding="utf-8") == before
    answer = httpx.post(server.url + "/api/chat", json={"sender_id": "kb-check", "text": "小区能养狗吗"},
                        headers=api).json()
    assert "拴绳" in answer["replies"][0]["text"]


def test_question_edit_retrains_in_the_background_without_a_pause(server):
    admin = staff_client(server, "admin", "admin123")
    entry = admin.get("/api/admin/faq/broadband").json()
    old_model = admin.get("/api/admin/training").json()["model"]
    r = admin.put("/api/admin/faq/broadband", json={"title": entry["title"], "answer": entry["answer"],
                                                   "questions": entry["questions"] + ["小区里的光猫坏了找谁"]})
    assert r.status_code == 200 and r.json()["retraining"] is True
    served, deadline = 0, time.time() + 300
    while time.time() < deadline:
        assert httpx.post(server.url + "/api/parse", json={"text": "宽带怎么装"}).status_code == 200
        served += 1
        state = admin.get("/api/admin/training").json()
        if state["state"] != "training":
            break
        time.sleep(0.5)
    assert state["state"] == "idle", state
    assert state["model"] != old_model and served > 1
    saved = yaml.safe_load((server.settings.faq_dir / "living.yml").read_text(encoding="utf-8"))
    assert "小区里的光猫坏了找谁" in next(e for e in saved["faq"] if e["id"] == "broadband")["questions"]


def test_failures_and_figures(server):
    resident = httpx.Client(base_url=server.url)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "这个怎么搞"})
    admin = staff_client(server, "admin", "admin123")
    failures = admin.get("/api/admin/failures").json()
    group = next(g for g in failures["groups"] if "这个怎么搞" in g["text"])
    r = admin.post(f"/api/admin/failures/{group['examples'][0]['message_id']}/add-to-faq", json={"faq_id": "amenities"})
    assert r.status_code == 200
    assert "这个怎么搞" in admin.get("/api/admin/faq/amenities").json()["questions"]
    figures = admin.get("/api/admin/figures").json()
    assert figures["conversations"] >= 3 and figures["handoffs_by_priority"]
    assert len(figures["per_day"]) == 14 and 0 <= figures["bot_only_share"] <= 1


def test_handoffs_made_through_api_chat_reach_the_console_live(server, api):
    agent = staff_client(server, "agent", "agent123")
    cookie = agent.cookies.get("wuye_staff")

    async def watch_and_send():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                      extra_headers={"Cookie": f"wuye_staff={cookie}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "queue"
            r = await asyncio.to_thread(httpx.post, server.url + "/api/chat", headers=api,
                                        json={"sender_id": "api-live", "text": "电梯里有人被困住了"})
            assert r.status_code == 200 and r.json()["handoff"]["priority"] == "urgent"
            seen = []
            while not any(e.get("type") == "queue" for e in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return seen

    events = asyncio.run(watch_and_send())
    opened = next(e for e in events if e.get("type") == "event")
    assert opened["kind"] == "handoff_opened" and opened["handoff"]["priority"] == "urgent"
    queue = next(e for e in events if e.get("type") == "queue")["queue"]
    assert queue[0]["conversation_id"] == opened["conversation_id"] and queue[0]["priority"] == "urgent"


def test_an_absent_agents_conversation_goes_back_to_the_queue_after_a_restart(server):
    resident = httpx.Client(base_url=server.url)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "我要人工服务"}).raise_for_status()
    agent = staff_client(server, "agent", "agent123")
    item = next(q for q in agent.get("/api/agent/queue").json()["queue"] if q["summary"] == "我要人工服务")
    assert agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").status_code == 200  # no console open
    server.restart()  # the agent never comes back; the timer must come from the database
    deadline = time.time() + 15
    while time.time() < deadline:
        if any(q["handoff_id"] == item["handoff_id"] for q in agent.get("/api/agent/queue").json()["queue"]):
            break
        time.sleep(0.3)
    else:
        pytest.fail("after a restart the absent agent's conversation stayed assigned")
    assert "重新排队" in json.dumps(resident.get("/api/widget/history").json(), ensure_ascii=False)

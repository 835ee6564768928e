"""Residents' voice over real HTTP (bot/api/voice.py): admins only; bad input is a Chinese 422 with an English code
and stores nothing; a suggestion typed in the widget gets a number, is listed for the admin, and the admin's reply
reaches the resident's conversation; a poll created by the admin is voted on in the widget once, and its counts
and CSV follow."""
from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from bot.core.localtime import to_local
from bot.tools.devserver import LiveServer
from tests.clients import signed_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("voice"), settings, parser) as live:
        CLOCK[:] = [live.app.state.services.clock]
        yield live


def resident(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60)
    client.post("/api/widget/session").raise_for_status()
    return client


def bot_texts(client) -> list:
    return [m["text"] for m in client.get("/api/widget/history").json()["messages"] if m["sender"] == "bot"]


CLOCK = []  # the server's clock (office hours, bot/tools/devserver.py office_clock), set by the fixture


def local(hours: float) -> str:
    """The 小区's local time ``hours`` from the server's now."""
    return f"{to_local(CLOCK[0]() + dt.timedelta(hours=hours)):%Y-%m-%d %H:%M}"


def poll_body(**changes):
    return {"community_id": "jinxiu", "question": "周末是否增开一趟班车？", "options": ["同意", "不同意"],
            "opens_at": local(-1), "closes_at": local(48), "per": "resident", **changes}


def test_only_admins_reach_the_voice_routes(server):
    agent = signed_in(server, "agent", "agent123")
    for method, path in (("GET", "/api/admin/suggestions"), ("GET", "/api/admin/polls"), ("POST", "/api/admin/polls")):
        r = agent.request(method, path, **({"json": poll_body()} if method == "POST" else {}))
        assert r.status_code == 403 and r.json()["code"] == "admins_only"
    assert httpx.get(server.url + "/api/admin/polls").status_code == 401
    assert signed_in(server).get("/api/admin/polls").status_code == 200


@pytest.mark.parametrize("changes, code, words", [
    ({"options": ["同意"]}, "poll_options_invalid", "选项需要 2–6 个"),
    ({"options": ["同意", "同意"]}, "poll_options_invalid", "不能重复"),
    ({"options": ["a", "b", "c", "d", "e", "f", "g"]}, "poll_options_invalid", "选项需要 2–6 个"),
    ({"question": "  "}, "poll_question_empty", "投票问题不能为空"),
    ({"community_id": "nowhere"}, "unknown_community", "没有这个小区"),
    ({"buildings": [998]}, "unknown_buildings", "998栋"),
    ({"closes_at": "2000-01-01 00:00"}, "poll_window_invalid", "截止时间必须晚于开始时间"),
    ({"opens_at": "明天早上"}, "poll_time_invalid", "开始时间格式不正确"),
    ({"per": "family"}, "poll_per_invalid", "每户一票"),
    ({"options": "同意,不同意"}, "invalid_request", ""),
])
def test_a_bad_poll_is_a_chinese_422_and_nothing_is_stored(server, changes, code, words):
    admin = signed_in(server)
    before = len(admin.get("/api/admin/polls").json()["polls"])
    r = admin.post("/api/admin/polls", json=poll_body(**changes))
    assert r.status_code == 422 and r.json()["code"] == code, r.json()
    assert words in r.json()["detail"] and re.search(r"[\u4e00-\u9fff]", r.json()["detail"])
    assert len(admin.get("/api/admin/polls").json()["polls"]) == before


def test_a_suggestion_gets_a_number_is_listed_and_the_admins_reply_reaches_the_resident(server):
    admin = signed_in(server)
    me = resident(server)
    me.post("/api/widget/messages", json={"text": "建议物业在小区东门装一个智能快递柜，取件方便很多"}).raise_for_status()
    number = re.search(r"感谢您的建议！编号 (JY\d{11})", bot_texts(me)[-1]).group(1)
    listed = admin.get("/api/admin/suggestions").json()
    item = next(s for s in listed["suggestions"] if s["number"] == number)
    assert item["status_label"] == "待处理" and item["channel"] == "web" and item["community"]
    assert any(number in [e["number"] for e in g["examples"]] for g in listed["groups"])
    bad = admin.post(f"/api/admin/suggestions/{item['id']}", json={"status": "maybe", "reply": "好"})
    assert bad.status_code == 422 and bad.json()["code"] == "suggestion_status_invalid" and "已采纳" in bad.json()["detail"]
    empty = admin.post(f"/api/admin/suggestions/{item['id']}", json={"status": "replied", "reply": "  "})
    assert empty.status_code == 422 and empty.json()["code"] == "suggestion_reply_empty"
    assert admin.post("/api/admin/suggestions/999999", json={"reply": "好"}).json()["code"] == "suggestion_not_found"
    assert bot_texts(me)[-1].startswith("感谢您的建议")  # nothing sent by the refused calls
    r = admin.post(f"/api/admin/suggestions/{item['id']}", json={"status": "adopted", "reply": "快递柜下个月安装。"})
    assert r.status_code == 200 and r.json()["status_label"] == "已采纳"
    assert bot_texts(me)[-1] == f"关于您的建议（编号 {number}，已采纳），物业回复：快递柜下个月安装。"
    assert admin.get("/api/admin/suggestions?status=adopted").json()["suggestions"][0]["number"] == number
    assert admin.get("/api/admin/suggestions?status=nope").json()["code"] == "suggestion_status_invalid"


def test_a_poll_is_voted_on_in_the_widget_once_and_counted(server):
    admin = signed_in(server)
    created = admin.post("/api/admin/polls", json=poll_body(question="小区东门是否24小时开放？"))
    assert created.status_code == 200, created.json()
    poll = created.json()
    assert (poll["state_label"], poll["per_label"], poll["total"]) == ("进行中", "每人一票", 0)
    me = resident(server)
    me.post("/api/widget/messages", json={"text": "我想参加投票"}).raise_for_status()
    history = me.get("/api/widget/history").json()["messages"]
    offer = next(m for m in reversed(history) if m["sender"] == "bot" and "小区东门是否24小时开放？" in m["text"])
    assert [b["payload"] for b in offer["buttons"]] == [f"/vote {poll['id']} 1", f"/vote {poll['id']} 2"]
    me.post("/api/widget/messages", json={"text": f"/vote {poll['id']} 1"}).raise_for_status()
    assert bot_texts(me)[-1] == "投票成功！您选择了“同意”，感谢参与。"
    me.post("/api/widget/messages", json={"text": f"/vote {poll['id']} 2"}).raise_for_status()
    assert "您已经投过票了（选择：同意）" in bot_texts(me)[-1]
    counted = admin.get(f"/api/admin/polls/{poll['id']}").json()
    assert [o["votes"] for o in counted["options"]] == [1, 0] and counted["total"] == 1
    csv = admin.get(f"/api/admin/polls/{poll['id']}/results.csv")
    assert csv.headers["content-type"].startswith("text/csv") and "同意,1,100.0%" in csv.text
    closed = admin.post(f"/api/admin/polls/{poll['id']}/close").json()
    assert closed["state_label"] == "已结束"
    assert admin.post(f"/api/admin/polls/{poll['id']}/close").json()["code"] == "poll_closed"
    other = resident(server)
    other.post("/api/widget/messages", json={"text": f"/vote {poll['id']} 2"}).raise_for_status()
    assert "已经结束" in bot_texts(other)[-1]
    assert [o["votes"] for o in admin.get(f"/api/admin/polls/{poll['id']}").json()["options"]] == [1, 0]


def test_a_notice_links_only_a_poll_of_its_own_community(server):
    admin = signed_in(server)
    notice = admin.post("/api/admin/notices", json={"community_id": "jinxiu", "kind": "activity", "text": "欢迎投票。",
                                                     "starts_at": local(-1), "ends_at": local(24)}).json()
    other = admin.post("/api/admin/polls", json=poll_body(community_id="binjiang")).json()
    own = admin.post("/api/admin/polls", json=poll_body()).json()
    for bad, code in ((other["id"], "notice_poll_invalid"), (999999, "notice_poll_invalid"), ("1", "invalid_request")):
        r = admin.put(f"/api/admin/notices/{notice['id']}", json={"poll_id": bad})
        assert r.status_code == 422 and r.json()["code"] == code and re.search(r"[\u4e00-\u9fff]", r.json()["detail"])
    assert admin.get(f"/api/admin/notices/{notice['id']}").json()["poll_id"] is None
    assert admin.put(f"/api/admin/notices/{notice['id']}", json={"poll_id": own["id"]}).json()["poll_id"] == own["id"]
    assert admin.put(f"/api/admin/notices/{notice['id']}", json={"text": "改了文字。"}).json()["poll_id"] == own["id"]
    assert admin.put(f"/api/admin/notices/{notice['id']}", json={"poll_id": 0}).json()["poll_id"] is None


@pytest.fixture(scope="module")
def wechat_server(tmp_path_factory, settings, parser):
    """The WeChat channel on (plain mode), its customer-service API a local stand-in that records the pushes."""
    import threading
    from http.server import HTTPServer

    from bot.tools.devserver import free_port
    from tests.integration.test_wechat import APP_ID, TOKEN, FakeWeChatApi

    api = HTTPServer(("127.0.0.1", free_port()), FakeWeChatApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    overrides = dict(wechat_token=TOKEN, wechat_aes_key="", wechat_app_id=APP_ID, wechat_app_secret="s",
                     wechat_api_base=f"http://127.0.0.1:{api.server_port}")
    with LiveServer(tmp_path_factory.mktemp("voice-wechat"), settings, parser, **overrides) as live:
        yield live
    api.shutdown()


def test_the_admins_reply_to_a_wechat_suggestion_is_pushed_to_wechat(wechat_server):
    import time

    from connectors.wechat import parse_xml
    from tests.integration.test_wechat import FakeWeChatApi, signed, text_xml

    r = httpx.post(wechat_server.url + "/wechat", params=signed(), timeout=60,
                   content=text_xml("o_suggester", "建议物业在小区东门装一个智能快递柜，取件方便很多", 920001))
    number = re.search(r"编号 (JY\d{11})", parse_xml(r.content)["Content"]).group(1)
    admin = signed_in(wechat_server)
    item = next(s for s in admin.get("/api/admin/suggestions").json()["suggestions"] if s["number"] == number)
    assert item["channel"] == "wechat"
    admin.post(f"/api/admin/suggestions/{item['id']}", json={"status": "declined", "reply": "东门场地不够，暂不安装。"})
    wanted = f"关于您的建议（编号 {number}，暂不采纳），物业回复：东门场地不够，暂不安装。"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
            p.get("touser") == "o_suggester" and p.get("text", {}).get("content") == wanted for p in FakeWeChatApi.sent):
        time.sleep(0.2)
    assert any(p.get("touser") == "o_suggester" and p.get("text", {}).get("content") == wanted
               for p in FakeWeChatApi.sent), FakeWeChatApi.sent[-3:]

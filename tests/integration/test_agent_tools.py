"""Agent tools over real HTTP: 快捷回复 (admins manage, agents list), the console's knowledge search rendered for
the resident's 小区, 满意度评价 after a resolve (widget card and typed digits), and Chinese labels for staff."""
from __future__ import annotations

import re

import httpx
import pytest

from bot.core import labels
from bot.core.settings import PROJECT_ROOT
from bot.routing.router import ConversationState, Route, decide
from bot.tools.devserver import LiveServer

LATIN = re.compile(r"[A-Za-z]")


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("agent-tools"), settings, parser) as live:
        yield live


def staff_client(server, user, password) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return client


@pytest.fixture(scope="module")
def agent(server):
    return staff_client(server, "agent", "agent123")


@pytest.fixture(scope="module")
def admin(server):
    return staff_client(server, "admin", "admin123")


@pytest.fixture(scope="module")
def api_key(admin):
    r = admin.post("/api/admin/api-keys", json={"name": "agent-tools tests"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['key']}"}


def resident(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    return client


def handed_over(server, agent, text="我要人工客服"):
    """A widget resident whose conversation an agent claimed: (resident client, conversation id, handoff id)."""
    client = resident(server)
    client.post("/api/widget/messages", json={"text": text}).raise_for_status()
    history = client.get("/api/widget/history").json()
    conversation_id = history["messages"][0]["conversation_id"]
    item = next(q for q in agent.get("/api/agent/queue").json()["queue"] if q["conversation_id"] == conversation_id)
    assert agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").status_code == 200
    return client, conversation_id, item["handoff_id"]


# --- 快捷回复 --------------------------------------------------------------------------------------------------

def test_quick_replies_are_managed_by_admins_and_listed_for_agents(agent, admin):
    r = admin.post("/api/admin/quick-replies", json={"shortcut": "ty", "title": "停水通知",
                                                     "text": "您好，今天 9:00–17:00 小区计划停水，请提前储水。"})
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["shortcut"] == "ty" and created["id"] >= 1
    assert any(q["shortcut"] == "ty" for q in agent.get("/api/agent/quick-replies").json()["quick_replies"])
    assert any(q["id"] == created["id"] for q in admin.get("/api/admin/quick-replies").json()["quick_replies"])

    taken = admin.post("/api/admin/quick-replies", json={"shortcut": "ty", "title": "重复", "text": "重复"})
    assert taken.status_code == 409 and taken.json()["code"] == "shortcut_taken" and "ty" in taken.json()["detail"]
    for bad in ({"shortcut": "有 空格", "title": "a", "text": "b"}, {"shortcut": "/x", "title": "a", "text": "b"},
                {"shortcut": "x" * 17, "title": "a", "text": "b"}, {"shortcut": "ok", "title": "a", "text": 5}):
        r = admin.post("/api/admin/quick-replies", json=bad)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", bad
    blank = admin.post("/api/admin/quick-replies", json={"shortcut": "kb", "title": "空白", "text": "   "})
    assert blank.status_code == 422 and blank.json()["code"] == "empty_message"

    r = admin.put(f"/api/admin/quick-replies/{created['id']}", json={"shortcut": "tingshui", "title": "停水通知",
                                                                      "text": "明天停水，请提前储水。"})
    assert r.status_code == 200 and r.json()["shortcut"] == "tingshui"
    assert admin.put("/api/admin/quick-replies/999999", json={"shortcut": "a", "title": "a", "text": "a"}).json()["code"] \
        == "quick_reply_not_found"
    assert admin.delete(f"/api/admin/quick-replies/{created['id']}").json() == {"ok": True}
    assert admin.delete(f"/api/admin/quick-replies/{created['id']}").status_code == 404
    assert not any(q["id"] == created["id"] for q in agent.get("/api/agent/quick-replies").json()["quick_replies"])


@pytest.mark.parametrize("method,path", [("get", "/api/admin/quick-replies"), ("post", "/api/admin/quick-replies"),
                                         ("put", "/api/admin/quick-replies/1"), ("delete", "/api/admin/quick-replies/1")])
def test_agents_cannot_manage_quick_replies(agent, method, path):
    kwargs = {"json": {"shortcut": "x", "title": "x", "text": "x"}} if method in ("post", "put") else {}
    r = getattr(agent, method)(path, **kwargs)
    assert r.status_code == 403
    assert r.json() == {"detail": "仅管理员可以使用", "code": "admins_only"}


def test_quick_replies_need_a_signed_in_staff_member(server):
    r = httpx.get(server.url + "/api/agent/quick-replies")
    assert r.status_code == 401 and r.json()["code"] == "not_signed_in"


def test_a_quick_reply_with_a_community_variable_is_inserted_with_the_conversations_number(server, agent, admin,
                                                                                         api_key):
    """An agent serving both 小区 kept "应急电话 020-8888 6699" as a quick reply and sent 锦绣's number to 滨江
    residents (second tryout). A reply may now say {emergency_phone}: listed rendered for the open conversation's
    小区; a variable not every 小区 has, or a stray brace, is refused in Chinese and nothing saved."""
    r = admin.post("/api/admin/quick-replies", json={"shortcut": "yj", "title": "应急电话",
                                                     "text": "紧急情况请拨打 24 小时应急电话 {emergency_phone}。"})
    assert r.status_code == 200, r.text
    created = r.json()
    ids = {}
    for community in ("jinxiu", "binjiang"):
        r = httpx.post(server.url + "/api/chat", headers=api_key, timeout=30,
                       json={"sender_id": f"qr-{community}", "text": "你好", "channel": "rest", "community": community})
        ids[community] = r.json()["conversation_id"]

    def rendered(**params):
        return next(q["rendered"] for q in agent.get("/api/agent/quick-replies", params=params).json()["quick_replies"]
                    if q["id"] == created["id"])
    assert rendered(conversation_id=ids["binjiang"]) == "紧急情况请拨打 24 小时应急电话 0571-8765 4399。"
    assert rendered(conversation_id=ids["jinxiu"]) == "紧急情况请拨打 24 小时应急电话 020-8888 6699。"
    assert rendered() == "紧急情况请拨打 24 小时应急电话 020-8888 6699。"  # no conversation open: the agent's 小区
    missing = agent.get("/api/agent/quick-replies", params={"conversation_id": 999999})
    assert missing.status_code == 404 and missing.json()["code"] == "conversation_not_found"
    for text in ("电话 {no_such_variable}", "花括号 { 不成对", "电话 {emergency_phone:>20}"):
        r = admin.post("/api/admin/quick-replies", json={"shortcut": "bad", "title": "坏", "text": text})
        assert r.status_code == 422 and r.json()["code"] == "quick_reply_template", (text, r.text)
        assert "快捷回复的内容有误" in r.json()["detail"]
        r = admin.put(f"/api/admin/quick-replies/{created['id']}", json={"shortcut": "yj", "title": "应急电话", "text": text})
        assert r.status_code == 422
    listed = admin.get("/api/admin/quick-replies").json()["quick_replies"]
    assert not any(q["shortcut"] == "bad" for q in listed)
    assert next(q for q in listed if q["id"] == created["id"])["text"].endswith("{emergency_phone}。")
    admin.delete(f"/api/admin/quick-replies/{created['id']}").raise_for_status()


# --- the console's knowledge search ------------------------------------------------------------------------------

def test_knowledge_search_renders_the_answer_for_the_residents_community(server, agent, api_key):
    ids = {}
    for community in ("jinxiu", "binjiang"):
        r = httpx.post(server.url + "/api/chat", headers=api_key, timeout=30,
                       json={"sender_id": f"kb-{community}", "text": "你好", "channel": "rest", "community": community})
        assert r.status_code == 200, r.text
        ids[community] = r.json()["conversation_id"]
    binjiang = agent.get("/api/agent/knowledge", params={"q": "几点上班", "conversation_id": ids["binjiang"]}).json()
    jinxiu = agent.get("/api/agent/knowledge", params={"q": "几点上班", "conversation_id": ids["jinxiu"]}).json()
    assert binjiang["community"]["name"] == "滨江壹号" and jinxiu["community"]["name"] == "锦绣花园"
    assert binjiang["results"][0]["id"] == "office_hours"
    assert "0571-8765 4300" in binjiang["results"][0]["answer"] and "020-8888 6601" not in binjiang["results"][0]["answer"]
    assert "020-8888 6601" in jinxiu["results"][0]["answer"]
    assert "{" not in binjiang["results"][0]["answer"]  # rendered, never the template
    assert any("几点上班" in q for q in binjiang["results"][0]["questions"])
    # titles are searched too; no conversation: the default 小区
    by_title = agent.get("/api/agent/knowledge", params={"q": "办公时间"}).json()
    assert by_title["results"][0]["id"] == "office_hours" and by_title["community"]["id"] == "jinxiu"
    assert agent.get("/api/agent/knowledge", params={"q": "完全无关的词语组合"}).json()["results"] == []
    assert agent.get("/api/agent/knowledge", params={"q": ""}).status_code == 422
    missing = agent.get("/api/agent/knowledge", params={"q": "上班", "conversation_id": 999999})
    assert missing.status_code == 404 and missing.json()["code"] == "conversation_not_found"
    assert httpx.get(server.url + "/api/agent/knowledge", params={"q": "上班"}).status_code == 401


# --- 满意度评价 ----------------------------------------------------------------------------------------------------

def rating_offer(client):
    messages = client.get("/api/widget/history").json()["messages"]
    return next(m for m in reversed(messages) if any(b["payload"].startswith("/rate ") for b in m["buttons"]))


def test_a_resolved_handoff_is_rated_once_by_its_own_resident(server, agent, admin):
    client, conversation_id, handoff_id = handed_over(server, agent)
    early = client.post("/api/widget/rating", json={"handoff_id": handoff_id, "score": 5})
    assert early.status_code == 409 and early.json()["code"] == "rating_not_open"
    assert agent.post(f"/api/agent/conversations/{conversation_id}/resolve").status_code == 200

    offer = rating_offer(client)
    assert [b["payload"] for b in offer["buttons"]] == [f"/rate {handoff_id} {n}" for n in range(1, 6)]
    assert offer["buttons"][4]["title"] == "5 非常满意"

    for bad in ({"handoff_id": handoff_id, "score": 6}, {"handoff_id": handoff_id, "score": 0},
                {"handoff_id": handoff_id, "score": "5"}, {"handoff_id": handoff_id, "score": 4.5},
                {"handoff_id": handoff_id}, {"handoff_id": handoff_id, "score": 5, "comment": "长" * 501}):
        r = client.post("/api/widget/rating", json=bad)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", bad

    stranger = resident(server)
    r = stranger.post("/api/widget/rating", json={"handoff_id": handoff_id, "score": 1})
    assert r.status_code == 404 and r.json()["code"] == "rating_not_found"
    assert httpx.post(server.url + "/api/widget/rating", json={"handoff_id": handoff_id, "score": 1}).status_code == 401
    assert client.post("/api/widget/rating", json={"handoff_id": 999999, "score": 1}).json()["code"] == "rating_not_found"

    r = client.post("/api/widget/rating", json={"handoff_id": handoff_id, "score": 4, "comment": "  回复很快  "})
    assert r.status_code == 200, r.text
    assert r.json()["rating"] == {"handoff_id": handoff_id, "score": 4, "comment": "回复很快"}
    again = client.post("/api/widget/rating", json={"handoff_id": handoff_id, "score": 1})
    assert again.status_code == 409
    assert again.json() == {"detail": "您已经评价过这次服务了，感谢您的反馈", "code": "already_rated"}

    texts = [m["text"] for m in client.get("/api/widget/history").json()["messages"]]
    assert any(t.startswith("评价：★★★★☆ 4 分") and "回复很快" in t for t in texts)
    assert any("感谢您的评价" in t for t in texts)
    assert any("回复很快" in m["text"] for m in agent.get(f"/api/agent/conversations/{conversation_id}").json()["messages"])

    ratings = admin.get("/api/admin/figures").json()["ratings"]
    mine = next(a for a in ratings["by_agent"] if a["agent"] == "客服小林")
    assert mine["count"] >= 1 and mine["scores"]["4"] >= 1
    today = [d for d in ratings["per_day"] if d["count"]]
    assert today and today[-1]["average"] is not None


def test_a_resident_without_buttons_types_the_digit_after_the_offer(server, agent, admin, api_key):
    """WeChat shows the offer's buttons as lines: the digit typed right after it is the rating."""
    chat = lambda text: httpx.post(server.url + "/api/chat", headers=api_key, timeout=30,  # noqa: E731
                                   json={"sender_id": "rater-1", "text": text, "channel": "rest"}).json()
    conversation_id = chat("转人工")["conversation_id"]
    item = next(q for q in agent.get("/api/agent/queue").json()["queue"] if q["conversation_id"] == conversation_id)
    agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").raise_for_status()
    agent.post(f"/api/agent/conversations/{conversation_id}/resolve").raise_for_status()
    before = admin.get("/api/admin/figures").json()["ratings"]["count"]
    reply = chat("５分")
    assert "感谢您的评价（5 分" in reply["replies"][0]["text"]
    assert admin.get("/api/admin/figures").json()["ratings"]["count"] == before + 1
    # the offer is over: a digit now is an ordinary message, not a second rating
    assert "感谢您的评价" not in " ".join(r["text"] for r in chat("3")["replies"])


def test_a_rate_button_of_someone_elses_handoff_is_refused_in_chat(server, agent, api_key):
    _, conversation_id, handoff_id = handed_over(server, agent)
    agent.post(f"/api/agent/conversations/{conversation_id}/resolve").raise_for_status()
    r = httpx.post(server.url + "/api/chat", headers=api_key, timeout=30,
                   json={"sender_id": "intruder", "text": f"/rate {handoff_id} 1", "channel": "rest"}).json()
    assert "找不到这次人工服务" in r["replies"][0]["text"]


def test_router_takes_a_typed_digit_only_right_after_the_offer():
    class Reading:
        text, entities, intent, confidence, faq_id, faq_confidence, faq_ranking = "4", [], "out_of_scope", 0.9, None, 0, []
        emotion = {"label": "neutral", "score": 0.9, "cues": []}

        def probability(self, intent):
            return 0.0

    offered = ConversationState(offered=[f"/rate 7 {n}" for n in range(1, 6)])
    route = decide(Reading(), offered)
    assert (route.action, route.target, route.failed) == ("rate", "7 4", False)
    assert decide(Reading(), ConversationState()).action != "rate"
    button = type("R", (Reading,), {"text": "/rate 7 2"})()
    assert decide(button, ConversationState()).action == "rate"


# --- Chinese labels ------------------------------------------------------------------------------------------------

SAMPLES = {"e": "电梯困人", "p_emergency:.2f": "0.41", "state.waiting_minutes:.0f": "12", "state.flow": "repair_request",
           "state.asking": "urgency", "reading.intent": "faq", "reading.faq_id": "pets", "arg": "pets", "slot": "urgency",
           "value": "normal", "room": "3栋2单元501", "reading.confidence:.2f": "0.31"}


def _router_reasons():
    """Every reason literal bot/routing/router.py hands to Route(...) or _human_agent(...), placeholders filled."""
    source = (PROJECT_ROOT / "bot" / "routing" / "router.py").read_text(encoding="utf-8")
    literals = re.findall(r'Route\("\w+", [^,]+, \[(f?"[^"]*")', source)
    literals += re.findall(r'_human_agent\(state, (f?"[^"]*")\)', source)
    literals += re.findall(r'why = (f?"[^"]*")', source) + re.findall(r'else \\\n\s*(f?"[^"]*")', source)
    reasons = []
    for literal in literals:
        text = literal.lstrip("f").strip('"')
        reasons.append(re.sub(r"\{([^}]*)\}", lambda m: SAMPLES.get(m.group(1), "0.5"), text))
    return reasons


def test_every_reason_the_router_and_the_flows_write_has_a_chinese_label():
    examples = {"emergency keyword: 电梯困人": "紧急情况：电梯困人", "two failed understandings in a row": "连续两次没能理解",
                "angry tone (0.82)": "情绪激动", "neighbour dispute": "邻里纠纷", "room: 3栋2单元501": "房号：3栋2单元501"}
    for reason, label in examples.items():
        assert labels.reason_label(reason) == label
    from bot.core.contract import PRODUCT_INTENTS
    from bot.nlu.emotion import ANGRY_CUES

    router = _router_reasons()
    assert len(router) >= 20 and "two failed understandings in a row" in router and "neighbour dispute" in router
    written_elsewhere = ["emergency: 着火了", "an agent owns the conversation", "物业费多少: answer",  # bot/conversation/engine.py
                         "repeated chasing of a work order", "angry chase of a work order",  # actions/repairs.py
                         "room: 3栋2单元501",  # actions/neighbours.py
                         "parking space taken", "dog off the lead or its mess",  # actions/neighbours.py
                         "fee dispute",  # actions/fees.py
                         "resident withdrew"]  # bot/handoffs/handoff.py
    for reason in router + written_elsewhere + [name for _, name in ANGRY_CUES] + list(PRODUCT_INTENTS):
        label = labels.reason_label(reason)
        assert label != "其他原因" and not LATIN.search(label), (reason, label)
    assert labels.reason_label("something new") == "其他原因"
    assert [labels.priority_label(p) for p in ("urgent", "high", "normal")] == ["紧急", "高", "普通"]
    assert [labels.status_label(s) for s in ("pending", "open", "resolved", "callback")] == \
        ["排队中", "处理中", "已解决", "待回电"]
    assert [labels.emotion_label(e) for e in ("neutral", "anxious", "angry")] == ["平静", "焦急", "生气"]


def test_route_reasons_seen_by_decide_are_labelled():
    """Reasons as decide() returns them for a few typical readings (the table's rows 5, 7, 12 and two_failed)."""
    class Reading:
        entities, faq_id, faq_confidence, faq_ranking = [], None, 0.0, []

        def __init__(self, text, intent="complaint", confidence=0.9, emotion="neutral", cues=()):
            self.text, self.normalized_text, self.intent, self.confidence = text, text, intent, confidence
            self.emotion = {"label": emotion, "score": 0.82, "cues": list(cues)}

        def probability(self, intent):
            return 0.0

    routes = [decide(Reading("你们太慢了", emotion="angry")), decide(Reading("转人工", "human_agent")),
              decide(Reading("楼上每天半夜拖椅子太吵了")), decide(Reading("啊啊啊啊"), ConversationState(failed_turns=1)),
              decide(Reading("3栋电梯困人了"))]
    assert [labels.reason_labels(r.reasons) for r in routes] == [
        ["情绪激动"], ["业主要求转人工"], ["邻里纠纷"], ["连续两次没能理解"], ["紧急情况：电梯困人"]]
    assert isinstance(routes[0], Route)


def test_the_api_keeps_codes_and_adds_chinese_labels(server, agent):
    client, conversation_id, handoff_id = handed_over(server, agent, "3栋电梯困人了，快来人")
    conv = agent.get(f"/api/agent/conversations/{conversation_id}").json()
    assert conv["status"] == "open" and conv["status_label"] == "处理中"
    assert conv["priority"] == "urgent" and conv["priority_label"] == "紧急"
    h = conv["handoff"]
    assert h["reasons"][0] == "emergency keyword: 电梯困人" and h["reasons_labels"][0] == "紧急情况：电梯困人"
    assert h["status_label"] == "处理中"
    ctx = h["context_labels"]
    assert ctx["emotion"]["label_zh"] in ("平静", "焦急", "生气") and 0 <= ctx["emotion"]["score"] <= 1
    assert ctx["readings"][-1]["intent_label"] == "紧急情况"
    mine = agent.get("/api/agent/queue").json()["mine"]
    assert any(c["conversation_id"] == conversation_id and c["priority_label"] == "紧急" and c["channel_label"] == "网页"
               for c in mine)
    agent.post(f"/api/agent/conversations/{conversation_id}/release").raise_for_status()
    item = next(q for q in agent.get("/api/agent/queue").json()["queue"] if q["conversation_id"] == conversation_id)
    assert (item["priority"], item["priority_label"], item["status_label"]) == ("urgent", "紧急", "排队中")
    assert item["reasons_labels"][0] == "紧急情况：电梯困人" and "紧急情况：求救" in item["reasons_labels"]
    agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").raise_for_status()
    agent.post(f"/api/agent/conversations/{conversation_id}/resolve").raise_for_status()


def test_knowledge_search_without_a_conversation_renders_for_the_agents_own_community(server, admin):
    """An agent who serves one 小区 searches the FAQ before opening any conversation (the console's 知识库 box): the
    answers are their 小区's, not the first 小区's numbers."""
    staff = next(s for s in admin.get("/api/admin/staff").json()["staff"] if s["username"] == "gongcheng")
    admin.patch(f"/api/admin/staff/{staff['id']}", json={"community_id": "binjiang"}).raise_for_status()
    try:
        mine = staff_client(server, "gongcheng", "agent123").get("/api/agent/knowledge", params={"q": "几点上班"}).json()
        assert mine["community"]["id"] == "binjiang"
        assert "0571-8765 4300" in mine["results"][0]["answer"] and "020-8888 6601" not in mine["results"][0]["answer"]
    finally:
        admin.patch(f"/api/admin/staff/{staff['id']}", json={"community_id": None}).raise_for_status()

"""Notices: the bot answers water/power/gas/lift questions and reports with the live notice for the resident's
building (engine, real model and database); the admin API (typed errors, history) and the widget's list; the
incident API (list, reporters, resolve → every linked conversation told) over real HTTP."""
from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
import sqlalchemy as sa

from bot.core.localtime import to_local
from bot.outages import notices
from bot.storage.models import ChatIdentity, Incident, Notice, NoticeRevision
from bot.tools.demo import load_demo_data
from bot.tools.devserver import LiveServer
from tests.unit.conversation.world import NOW, World

TODAY = to_local(NOW).date()  # 2026-11-27 in Beijing; NOW is 10:00 there


def local(day_offset: int, clock: str) -> str:
    return f"{TODAY + dt.timedelta(days=day_offset)} {clock}"


@pytest.fixture
def world(tmp_path, parser, settings):
    w = World(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
    with w.db.session() as s:
        load_demo_data(s, w.kb.communities, today=NOW.date())
    w.agents_online()
    return w


def publish(world, **data) -> int:
    values = {"community_id": "jinxiu", "kind": "water", "buildings": [3], "text": "二次供水水箱清洗，请提前储水。",
              "starts_at": local(0, "09:00"), "ends_at": local(0, "17:00"), **data}
    with world.db.session() as s:
        return notices.create(s, world.kb, values, None, NOW).id


def bind(world, sender: str, building: int, community: str = "jinxiu") -> None:
    with world.db.session() as s:
        from bot.storage.models import Household

        household = s.scalars(sa.select(Household).where(Household.community_id == community,
                                                          Household.building == building)).first()
        s.add(ChatIdentity(channel="web", sender_id=sender, household_id=household.id, verified_at=NOW, created_at=NOW))


def test_a_bound_resident_asking_about_water_gets_the_live_notice_for_their_building(world):
    publish(world)
    bind(world, "r3", 3)
    r = world.say("怎么停水了", "r3")
    text = world.texts(r)
    assert r.route["action"] == "notice" and r.handoff is None
    assert "3栋今天 9:00–17:00 停水，正在进行，预计 17:00 恢复。" in text and "二次供水水箱清洗" in text
    assert "24 小时" not in text  # not the generic FAQ
    # a repair report about water while the notice covers the building: the notice, not a work order
    r = world.say("3栋厨房没水了，要报修", "r3-b")
    assert r.route["action"] == "notice" and "WO" not in world.texts(r)


def test_the_building_comes_from_the_message_and_other_buildings_are_not_covered(world):
    publish(world)
    assert world.say("3栋停水了", "a").route["action"] == "notice"
    r = world.say("5栋停水了", "b")  # not covered: a report, the incident opens (one queue item)
    assert r.route["action"] == "incident"
    bind(world, "r7", 7)
    assert world.say("怎么停水了", "r7").route["action"] == "incident"  # bound in 7栋: not the 3栋 notice


def test_without_a_known_building_the_answer_says_which_buildings(world):
    publish(world, buildings=[3, 5])
    text = world.texts(world.say("怎么停水了", "stranger"))
    assert "3栋、5栋今天 9:00–17:00 停水" in text and "如果您不在以上楼栋" in text


def test_whole_community_lift_notice_tomorrow_and_power_report(world):
    publish(world, kind="elevator", buildings=[], text="电梯年检，届时暂停使用。", starts_at=local(1, "08:00"),
            ends_at=local(1, "12:00"))
    r = world.say("电梯什么时候保养", "lift")
    assert r.route["action"] == "notice" and "全小区明天 8:00–12:00 电梯停用，尚未开始。" in world.texts(r)
    publish(world, kind="power", buildings=[2], text="线路改造。", starts_at=local(0, "22:00"), ends_at=local(1, "06:00"))
    r = world.say("2栋怎么停电了", "power")
    assert r.route["action"] == "notice" and "2栋今天 22:00 至明天 6:00 停电" in world.texts(r)


def test_a_withdrawn_ended_or_other_communitys_notice_is_not_used(world):
    notice_id = publish(world)
    with world.db.session() as s:
        notices.withdraw(s, notice_id, None, NOW)
    assert world.say("3栋停水了", "a").route["action"] == "incident"
    publish(world, starts_at=local(-1, "09:00"), ends_at=local(-1, "17:00"))  # yesterday's
    assert world.say("3栋停水了", "b").route["action"] == "join_incident"
    publish(world, community_id="binjiang", buildings=[])
    r = world.engine.handle("web", "bj", "怎么停水了", community_id="binjiang")
    assert r.route["action"] == "notice"
    assert world.say("今天停水吗", "c").route["action"] == "answer"  # jinxiu: the generic FAQ


def test_times_are_the_communitys_local_time(world):
    with world.db.session() as s:
        notice = s.get(Notice, publish(world))
        assert notice.starts_at == dt.datetime(2026, 11, 27, 1, 0)  # stored UTC
        assert notices.when_text(notice, "Asia/Shanghai", NOW) == "今天 9:00–17:00"
        assert notices.when_text(notice, "Asia/Tokyo", NOW) == "今天 10:00–18:00"
        assert notices.notice_json(notice, world.kb, NOW)["starts_at"] == "2026-11-27T09:00:00+08:00"


@pytest.mark.parametrize("change,error", [
    ({"ends_at": local(0, "08:00")}, "notice_window_invalid"),
    ({"community_id": "nowhere"}, "unknown_community"),
    ({"text": "   "}, "empty_notice_text"),
    ({"buildings": [3, 99]}, "unknown_buildings"),
    ({"kind": "flood"}, "unknown_notice_kind"),
    ({"starts_at": "明天上午"}, "notice_time_invalid"),
    ({"ends_at": local(200, "08:00")}, "notice_window_too_long"),
])
def test_bad_notices_are_refused_with_typed_chinese_errors(world, change, error):
    with pytest.raises(notices.NoticeInvalid) as caught:
        publish(world, **change)
    assert caught.value.code == error and caught.value.status == 422
    assert re.match(r"[\u4e00-\u9fff]", caught.value.message)  # a Chinese message for people


def test_every_change_is_a_revision(world):
    notice_id = publish(world)
    with world.db.session() as s:
        notices.edit(s, world.kb, notice_id, {"ends_at": local(0, "18:00")}, None, NOW)
        notices.withdraw(s, notice_id, None, NOW)
        with pytest.raises(notices.NoticeWithdrawn):
            notices.edit(s, world.kb, notice_id, {"text": "x"}, None, NOW)
    with world.db.session() as s:
        revisions = list(s.scalars(sa.select(NoticeRevision).order_by(NoticeRevision.id)))
        assert [r.action for r in revisions] == ["created", "edited", "withdrawn"]
        assert revisions[0].snapshot["ends_at"].startswith(f"{TODAY}T17:00")
        assert revisions[1].snapshot["ends_at"].startswith(f"{TODAY}T18:00")


# --- over HTTP ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("notices"), settings, parser) as live:
        yield live


def staff(server, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return client


def resident(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    return client


def server_today(server) -> dt.date:
    return to_local(server.app.state.services.clock()).date()


def test_admin_notice_api_create_edit_withdraw_with_history_and_typed_errors(server):
    admin, agent = staff(server, "admin", "admin123"), staff(server, "agent", "agent123")
    today = server_today(server)
    body = {"community_id": "jinxiu", "kind": "water", "buildings": [3], "text": "水箱清洗。",
            "starts_at": f"{today} 08:00", "ends_at": f"{today} 20:00"}
    assert agent.post("/api/admin/notices", json=body).json()["code"] == "admins_only"
    r = admin.post("/api/admin/notices", json=body)
    assert r.status_code == 200, r.text
    notice = r.json()
    assert notice["title"] == "3栋停水通知" and notice["state"] == "active" and notice["state_label"] == "生效中"
    assert notice["starts_at"] == f"{today}T08:00:00+08:00" and [h["action"] for h in notice["history"]] == ["created"]
    r = admin.put(f"/api/admin/notices/{notice['id']}", json={"ends_at": f"{today} 21:00", "title": "3栋停水"})
    assert r.status_code == 200 and r.json()["ends_at"] == f"{today}T21:00:00+08:00" and r.json()["title"] == "3栋停水"
    listed = admin.get("/api/admin/notices").json()
    assert any(n["id"] == notice["id"] for n in listed["notices"])
    assert {"id": "jinxiu", "name": "锦绣花园"}.items() <= listed["communities"][0].items()
    assert 3 in listed["communities"][0]["buildings"]
    widget = resident(server).get("/api/widget/notices").json()
    assert [n["title"] for n in widget["notices"]] == ["3栋停水"] and widget["community_id"] == "jinxiu"
    bad = admin.post("/api/admin/notices", json={**body, "ends_at": f"{today} 07:00"})
    assert bad.status_code == 422 and bad.json() == {"detail": "结束时间必须晚于开始时间", "code": "notice_window_invalid"}
    bad = admin.post("/api/admin/notices", json={**body, "community_id": "nowhere"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_community" and "nowhere" in bad.json()["detail"]
    bad = admin.post("/api/admin/notices", json={**body, "text": ""})
    assert bad.json() == {"detail": "通知内容不能为空", "code": "empty_notice_text"}
    assert admin.get("/api/admin/notices/999999").json()["code"] == "notice_not_found"
    r = admin.post(f"/api/admin/notices/{notice['id']}/withdraw")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert [h["action_label"] for h in r.json()["history"]] == ["发布", "修改", "撤回"]
    assert r.json()["history"][0]["by"] == "管理员"
    again = admin.post(f"/api/admin/notices/{notice['id']}/withdraw")
    assert again.status_code == 409 and again.json()["code"] == "notice_withdrawn"
    assert resident(server).get("/api/widget/notices").json()["notices"] == []
    assert notice["id"] not in [n["id"] for n in admin.get("/api/admin/notices").json()["notices"]]
    assert notice["id"] in [n["id"] for n in admin.get("/api/admin/notices?all=true").json()["notices"]]


def test_incident_api_lists_reporters_and_resolving_tells_everyone(server):
    agent = staff(server, "agent", "agent123")
    residents = [resident(server) for _ in range(3)]
    for client, text in zip(residents, ["6栋停电了", "6栋怎么停电了", "6栋也停电了"]):
        r = client.post("/api/widget/messages", json={"text": text})
        assert r.status_code == 200, r.text
    listed = agent.get("/api/agent/incidents").json()["incidents"]
    incident = next(i for i in listed if i["scope_label"] == "6栋" and i["category"] == "power")
    assert incident["reports"] == 3 and incident["status_label"] == "处理中"
    detail = agent.get(f"/api/agent/incidents/{incident['id']}").json()
    assert [r["text"] for r in detail["reporters"]] == ["6栋停电了", "6栋怎么停电了", "6栋也停电了"]
    queue = agent.get("/api/agent/queue").json()
    items = queue["queue"] if isinstance(queue, dict) else queue
    assert sum(1 for q in items if q["handoff_id"] == incident["handoff_id"]) == 1
    conversation = agent.get(f"/api/agent/conversations/{detail['reporters'][0]['conversation_id']}").json()
    assert conversation["handoff"]["context"]["incident"]["reports"] == 3
    assert agent.post(f"/api/agent/incidents/{incident['id']}/resolve", json={"resolution": " "}).json()["code"] == \
        "empty_resolution"
    r = agent.post(f"/api/agent/incidents/{incident['id']}/resolve", json={"resolution": "线路已修复，已恢复供电。"})
    assert r.status_code == 200 and r.json()["told"] == 3 and r.json()["incident"]["status"] == "resolved"
    for client in residents:
        texts = [m["text"] for m in client.get("/api/widget/history").json()["messages"]]
        assert any(t.startswith("【处理结果】6栋停电的问题已处理完毕：线路已修复") for t in texts)
    again = agent.post(f"/api/agent/incidents/{incident['id']}/resolve", json={"resolution": "x"})
    assert again.status_code == 409 and again.json()["code"] == "incident_resolved"
    assert agent.get("/api/agent/incidents/999999").json()["code"] == "incident_not_found"
    assert httpx.get(server.url + "/api/agent/incidents").status_code == 401
    with server.app.state.services.db.session() as s:
        assert s.get(Incident, incident["id"]).resolution == "线路已修复，已恢复供电。"


def _incident(agent, scope_label, category):
    listed = agent.get("/api/agent/incidents").json()["incidents"]
    return next(i for i in listed if i["scope_label"] == scope_label and i["category"] == category)


def _told(client, prefix):
    return [m["text"] for m in client.get("/api/widget/history").json()["messages"] if m["text"].startswith(prefix)]


def test_agents_merge_two_incidents_of_one_problem_and_one_resolution_tells_everyone(server):
    """Issue 25 point 4: 8栋's water reported as 8栋 and as 9栋 (two incidents, two queue items) is one problem: merged,
    the second queue item closes (its resident told why), and resolving the one left tells all five."""
    agent = staff(server, "agent", "agent123")
    eight = [resident(server) for _ in range(3)]
    nine = [resident(server) for _ in range(2)]
    for client, text in zip(eight + nine, ["8栋停水了", "8栋怎么停水了", "8栋也停水了", "9栋停水了", "9栋也没水了"]):
        assert client.post("/api/widget/messages", json={"text": text}).status_code == 200
    a, b = _incident(agent, "8栋", "water"), _incident(agent, "9栋", "water")
    other = _incident(agent, "6栋", "power") if any(i["category"] == "power" and i["status"] == "open" for i in
                                                   agent.get("/api/agent/incidents").json()["incidents"]) else None
    if other is not None:  # another kind is never merged
        r = agent.post(f"/api/agent/incidents/{b['id']}/merge", json={"into": other["id"]})
        assert r.status_code == 422 and r.json()["code"] == "incidents_not_mergeable"
    assert agent.post(f"/api/agent/incidents/{b['id']}/merge", json={"into": b["id"]}).json()["code"] == \
        "incidents_not_mergeable"
    assert agent.post(f"/api/agent/incidents/{b['id']}/merge", json={"into": "x"}).status_code == 422
    r = agent.post(f"/api/agent/incidents/{b['id']}/merge", json={"into": a["id"]})
    assert r.status_code == 200, r.text
    merged = r.json()["incident"]
    assert merged["id"] == a["id"] and merged["reports"] == 5 and merged["scope_label"] == "全小区"
    assert agent.get(f"/api/agent/incidents/{b['id']}").json()["status_label"] == "已合并"
    queue = agent.get("/api/agent/queue").json()
    items = queue["queue"] if isinstance(queue, dict) else queue
    assert not any(q["handoff_id"] == b["handoff_id"] for q in items)  # one queue item for the one problem
    assert any("合并处理" in t for t in [m["text"] for m in nine[0].get("/api/widget/history").json()["messages"]])
    r = agent.post(f"/api/agent/incidents/{a['id']}/resolve", json={"resolution": "总阀已修好，已恢复供水。"})
    assert r.status_code == 200 and r.json()["told"] == 5
    for client in eight + nine:
        assert len(_told(client, "【处理结果】")) == 1


def test_agents_split_reports_that_are_another_problem_and_each_part_is_told_its_own_resolution(server):
    agent = staff(server, "agent", "agent123")
    clients = [resident(server) for _ in range(4)]
    for client, text in zip(clients, ["10栋停电了", "10栋怎么停电了", "10栋车库停电了", "10栋车库也停电了"]):
        assert client.post("/api/widget/messages", json={"text": text}).status_code == 200
    incident = _incident(agent, "10栋", "power")
    reporters = agent.get(f"/api/agent/incidents/{incident['id']}").json()["reporters"]
    garage = [r["conversation_id"] for r in reporters if "车库" in r["text"]]
    assert len(garage) == 2
    everyone = [r["conversation_id"] for r in reporters]
    assert agent.post(f"/api/agent/incidents/{incident['id']}/split",
                      json={"conversation_ids": everyone}).json()["code"] == "bad_split"
    assert agent.post(f"/api/agent/incidents/{incident['id']}/split",
                      json={"conversation_ids": [999999]}).json()["code"] == "bad_split"
    assert agent.post(f"/api/agent/incidents/{incident['id']}/split", json={"conversation_ids": []}).status_code == 422
    r = agent.post(f"/api/agent/incidents/{incident['id']}/split", json={"conversation_ids": garage})
    assert r.status_code == 200, r.text
    assert r.json()["incident"]["reports"] == 2 and r.json()["new"]["reports"] == 2
    new_id = r.json()["new"]["id"]
    assert agent.post(f"/api/agent/incidents/{incident['id']}/resolve",
                      json={"resolution": "楼内线路已修复。"}).json()["told"] == 2
    assert agent.post(f"/api/agent/incidents/{new_id}/resolve", json={"resolution": "车库配电箱已更换。"}).json()["told"] == 2
    for client, expected in zip(clients, ["楼内线路", "楼内线路", "车库配电箱", "车库配电箱"]):
        told = _told(client, "【处理结果】")
        assert len(told) == 1 and expected in told[0], told


def test_reporters_through_api_chat_read_the_resolution_through_the_api(server):
    """An integration's residents (POST /api/chat) are told too: the resolution is not a reply to anything they
    sent, so the integration reads it with GET /api/chat/messages (after the last message id it has)."""
    from bot.access.auth import create_api_key

    services = server.app.state.services
    with services.db.session() as session:
        _, key = create_api_key(session, "物业App", None, services.clock())
    api = httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {key}"})
    last = {}
    for sender, text in [("app-1", "9栋停水了"), ("app-2", "9栋怎么没水了")]:
        r = api.post("/api/chat", json={"sender_id": sender, "text": text, "community": "jinxiu"})
        assert r.status_code == 200, r.text
        seen = api.get("/api/chat/messages", params={"sender_id": sender}).json()
        assert seen["conversation_id"] == r.json()["conversation_id"]
        assert [m["text"] for m in seen["messages"]][0] == text
        last[sender] = seen["messages"][-1]["id"]
    agent = staff(server, "agent", "agent123")
    incident = _incident(agent, "9栋", "water")
    assert agent.post(f"/api/agent/incidents/{incident['id']}/resolve",
                      json={"resolution": "水泵已修复，已恢复供水。"}).json()["told"] == 2
    for sender in ("app-1", "app-2"):
        news = api.get("/api/chat/messages", params={"sender_id": sender, "message_id": last[sender]}).json()
        assert [m["sender"] for m in news["messages"]] == ["bot"]
        assert news["messages"][0]["text"].startswith("【处理结果】9栋停水的问题已处理完毕：水泵已修复")
    assert api.get("/api/chat/messages", params={"sender_id": "nobody-yet"}).json() == \
        {"conversation_id": None, "status": "bot", "messages": []}
    assert httpx.get(server.url + "/api/chat/messages", params={"sender_id": "app-1"}).status_code == 401
    other = httpx.Client(base_url=server.url, timeout=30)  # another key's senders are not this key's
    with services.db.session() as session:
        _, other_key = create_api_key(session, "另一个系统", None, services.clock())
    assert other.get("/api/chat/messages", params={"sender_id": "app-1"},
                     headers={"Authorization": f"Bearer {other_key}"}).json()["messages"] == []

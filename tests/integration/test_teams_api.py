"""Teams and agents' load over HTTP on a live server with the demo data (issue 28): the admin's 团队 API (bad input
refused in Chinese and nothing stored), the agent's state, insults masked in the console's payload, the
supervisor's view and the per-team figures."""
from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from bot.storage.models import Handoff, Staff, Team, TeamMember
from bot.tools.devserver import LiveServer
from tests.clients import signed_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("teams"), settings, parser) as live:
        yield live


def seen(server, *usernames, state="online"):
    """These agents' consoles were seen just now (what /ws/agent does), in ``state``."""
    services = server.app.state.services
    with services.db.session() as s:
        for member in s.scalars(sa.select(Staff).where(Staff.username.in_(usernames))):
            member.last_seen, member.state = services.clock(), state


def counts(server):
    with server.app.state.services.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Team)), \
            s.scalar(sa.select(sa.func.count()).select_from(TeamMember))


def test_admins_manage_teams_and_bad_input_is_refused_in_chinese_with_nothing_stored(server):
    admin = signed_in(server, "admin", "admin123")
    listed = admin.get("/api/admin/teams").json()
    assert [t["name"] for t in listed["teams"]] == ["客服", "投诉专员", "工程部", "收费"]  # the demo's
    assert {k["id"] for k in listed["kinds"]} == {"complaint", "billing", "repair"}
    staff = {a["display_name"]: a["id"] for a in admin.get("/api/admin/agents").json()["agents"]}
    with server.app.state.services.db.session() as s:
        tech = s.scalar(sa.select(Staff.id).where(Staff.username == "tech1"))
    before = counts(server)
    for body, status, code in (
            ({"name": "投诉专员", "kinds": ["complaint"]}, 409, "team_name_taken"),
            ({"name": "夜班", "kinds": ["anything"]}, 422, "unknown_team_kind"),
            ({"name": "夜班", "member_ids": [tech]}, 422, "unknown_team_member"),  # a technician answers nobody
            ({"name": "夜班", "member_ids": [999999]}, 422, "unknown_team_member"),
            ({"name": "夜班", "communities": ["atlantis"]}, 422, "unknown_community"),
            ({"name": "   "}, 422, "invalid_name"),
            ({"name": "夜班", "member_ids": ["1"]}, 422, None)):
        r = admin.post("/api/admin/teams", json=body)
        assert r.status_code == status, (body, r.text)
        assert code is None or r.json()["code"] == code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["detail"] if isinstance(r.json()["detail"], str)) \
            or isinstance(r.json()["detail"], list)
    assert counts(server) == before
    assert admin.put("/api/admin/teams/999999", json={"name": "夜班"}).json()["code"] == "team_not_found"

    made = admin.post("/api/admin/teams", json={"name": "夜班", "kinds": ["billing"], "communities": ["jinxiu"],
                                                "member_ids": [staff["客服小林"], staff["客服小林"]]})
    assert made.status_code == 200
    team = next(t for t in made.json()["teams"] if t["name"] == "夜班")
    assert team["kinds_labels"] == ["赔偿与收费争议"] and [m["display_name"] for m in team["members"]] == ["客服小林"]
    renamed = admin.put(f"/api/admin/teams/{team['id']}", json={"name": "夜班收费", "kinds": [], "member_ids": []})
    assert next(t for t in renamed.json()["teams"] if t["id"] == team["id"])["members"] == []
    assert admin.delete(f"/api/admin/teams/{team['id']}").json() == {"ok": True}
    assert counts(server) == before


def test_an_agents_state_is_theirs_to_set_and_nonsense_is_refused(server):
    agent = signed_in(server, "tousu", "agent123")
    bad = agent.post("/api/agent/state", json={"state": "asleep"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    me = agent.post("/api/agent/state", json={"state": "break"}).json()
    assert (me["state"], me["state_label"]) == ("break", "小休")
    assert agent.get("/api/agent/queue").json()["me"]["state"] == "break"
    agent.post("/api/agent/state", json={"state": "online"}).raise_for_status()


def test_an_insult_is_masked_in_the_console_payload_and_the_queue(server):
    seen(server, "agent", "tousu", "gongcheng")
    resident = httpx.Client(base_url=server.url, timeout=60)
    resident.post("/api/widget/session").raise_for_status()
    resident.post("/api/widget/messages", json={"text": "你们物业都是废物，投诉多少次了"}).raise_for_status()
    agent, specialist = signed_in(server, "agent", "agent123"), signed_in(server, "tousu", "agent123")
    queue = specialist.get("/api/agent/queue").json()
    item = next(q for q in queue["queue"] if q["team_label"] == "投诉专员")
    assert "废物" not in item["summary"] and "已被机器人标记为辱骂" in item["summary"]
    # 客服小林 is not of 投诉专员: the item is under 其他, not in the queue proper
    mine = agent.get("/api/agent/queue").json()
    assert item["handoff_id"] in {q["handoff_id"] for q in mine["others"]}
    assert item["handoff_id"] not in {q["handoff_id"] for q in mine["queue"]}

    conversation = specialist.get(f"/api/agent/conversations/{item['conversation_id']}").json()
    insult = next(m for m in conversation["messages"] if m["sender"] == "resident")
    assert insult["flag"]["cues"] == ["insult"]
    assert insult["flag"]["masked_text"] == "***（已被机器人标记为辱骂，点击显示）"
    assert all("废物" not in r["text"] for r in conversation["handoff"]["context_labels"]["readings"])
    assert all(m["flag"] is None for m in conversation["messages"] if m["sender"] != "resident")
    # the resident's own history is not masked: they see what they wrote
    assert any(m["text"] == "你们物业都是废物，投诉多少次了" for m in resident.get("/api/widget/history").json()["messages"])


def test_the_supervisor_view_and_the_figures_per_team(server):
    seen(server, "agent", "tousu", "gongcheng")
    resident = httpx.Client(base_url=server.url, timeout=60)
    resident.post("/api/widget/session").raise_for_status()
    resident.post("/api/widget/messages", json={"text": "我要投诉，你们这服务太差了，气死我了！！！"}).raise_for_status()
    specialist = signed_in(server, "tousu", "agent123")
    item = next(q for q in specialist.get("/api/agent/queue").json()["queue"] if q["team_label"] == "投诉专员")
    specialist.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").raise_for_status()
    with server.app.state.services.db.session() as s:
        angry = (s.get(Handoff, item["handoff_id"]).context.get("emotion") or {}).get("label") == "angry"
    admin = signed_in(server, "admin", "admin123")
    rows = {a["display_name"]: a for a in admin.get("/api/admin/agents").json()["agents"]}
    assert rows["投诉专员小周"]["open_conversations"] >= 1 and rows["投诉专员小周"]["state_label"] == "在线"
    assert rows["投诉专员小周"]["teams"] == ["投诉专员"] and rows["投诉专员小周"]["cap"] == 5
    assert rows["投诉专员小周"]["angry_open"] == (1 if angry else 0)
    assert rows["管理员"]["state_label"] == "离线"  # never seen on the console
    specialist.post(f"/api/agent/conversations/{item['conversation_id']}/resolve").raise_for_status()
    rows = {a["display_name"]: a for a in admin.get("/api/admin/agents").json()["agents"]}
    assert rows["投诉专员小周"]["handled_today"] >= 1 and rows["投诉专员小周"]["average_handling_seconds"] is not None

    figures = {t["team"]: t for t in admin.get("/api/admin/figures", params={"days": 14}).json()["teams"]}
    assert set(figures) >= {"投诉专员", "工程部", "收费", "综合队列"}
    assert figures["投诉专员"]["handled"] >= 1 and figures["投诉专员"]["average_wait_seconds"] is not None
    assert figures["工程部"]["handoffs"] == 0 and figures["工程部"]["csat"] is None


def test_the_console_reads_its_own_part_without_the_queue(server):
    """After a queue frame the console asks only for its conversations, state and teams (?queue=false): the same
    values as the whole answer's, and no queue read again."""
    specialist = signed_in(server, "tousu", "agent123")
    whole = specialist.get("/api/agent/queue").json()
    own = specialist.get("/api/agent/queue", params={"queue": "false"})
    own.raise_for_status()
    assert set(own.json()) == {"mine", "me", "my_teams"}
    assert {k: own.json()[k] for k in ("mine", "me", "my_teams")} == {k: whole[k] for k in ("mine", "me", "my_teams")}
    assert [t["name"] for t in own.json()["my_teams"]] == ["投诉专员"]
    assert specialist.get("/api/agent/queue", params={"queue": "maybe"}).status_code == 422

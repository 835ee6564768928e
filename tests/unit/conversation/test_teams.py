"""Teams and agents who last (issue 28) through the engine on the demo data: the reason decides the team (投诉专员,
工程部, 收费, everyone for an emergency, the general queue otherwise), a team nobody of which is available falls
back to the general queue and the resident is told, auto-assignment by load under a cap, and 小休 gets nothing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.api.agent import me_json
from bot.handoffs import handoff as handoffs
from bot.handoffs import teams
from bot.realtime import live
from bot.storage.models import Conversation, Handoff, Staff, Team
from tests.unit.conversation.world import NOW


@pytest.mark.parametrize("priority,reasons,kind", [
    ("normal", ["complaint"], "complaint"),
    ("normal", ["neighbour dispute", "room: 3-2-501"], "complaint"),
    ("high", ["angry tone (0.91)"], "complaint"),
    ("high", ["insult", "threat: media"], "complaint"),
    ("high", ["compensation or legal dispute"], "billing"),
    ("high", ["repeated chasing of a work order"], "repair"),
    ("high", ["angry chase of a work order", "anger words"], "repair"),  # the subject decides over the tone
    ("high", ["work order not completed in time: WO1"], "repair"),
    ("urgent", ["emergency keyword: 电梯困人", "insult"], "emergency"),
    ("normal", ["resident asked for a person"], "general"),
    ("normal", ["two failed understandings in a row"], "general"),
])
def test_the_reason_decides_the_kind(priority, reasons, kind):
    assert teams.kind_of(priority, reasons) == kind


def online(world, *usernames, state=None):
    """Only these staff were seen on the console just now (optionally in a state)."""
    with world.db.session() as s:
        for member in s.scalars(sa.select(Staff)):
            member.last_seen = NOW if member.username in usernames else None
            if state and member.username in state:
                member.state = state[member.username]


def stored(world, result) -> Handoff:
    with world.db.session() as s:
        h = s.scalar(sa.select(Handoff).where(Handoff.conversation_id == result.conversation_id))
        s.expunge(h)
        return h


def team_id(world, name):
    with world.db.session() as s:
        return s.scalar(sa.select(Team.id).where(Team.name == name))


def test_a_complaint_goes_to_the_complaint_team_and_says_so(world):
    online(world, "agent", "tousu", "gongcheng")
    r = world.say("我要投诉，你们保洁一个星期没打扫楼道了", sender="c1")
    h = stored(world, r)
    assert (h.kind, h.team_id) == ("complaint", team_id(world, "投诉专员"))
    assert "已为您转接人工客服（投诉专员）" in world.texts(r) and "当前排队第 1 位" in world.texts(r)
    r = world.say("转人工", sender="g1")  # anything else: the general queue
    assert (stored(world, r).kind, stored(world, r).team_id) == ("general", None)
    assert "已为您转接人工客服，当前排队" in world.texts(r)


def test_an_emergency_goes_to_everyone_not_a_team(world):
    online(world, "agent", "tousu", "gongcheng")
    r = world.say("3栋电梯困人了，快来人")
    h = stored(world, r)
    assert (h.kind, h.team_id, h.priority) == ("emergency", None, "urgent")


@pytest.mark.parametrize("state", [{}, {"tousu": "break"}, {"tousu": "offline"}])
def test_a_team_with_nobody_available_falls_back_to_the_general_queue_honestly(world, state):
    online(world, "agent", *(["tousu"] if state else []), state=state)  # the specialist is absent, or on a break
    r = world.say("我要投诉，你们保洁一个星期没打扫楼道了")
    h = stored(world, r)
    assert (h.kind, h.team_id) == ("complaint", None)
    assert "投诉专员暂时不在线，已为您转接其他客服，当前排队第 1 位" in world.texts(r)
    with world.db.session() as s:  # the general queue: every agent sees it first
        mine = live.agent_queue_json(s, NOW, s.scalar(sa.select(Staff.id).where(Staff.username == "agent")))
        assert [q["handoff_id"] for q in mine["queue"]] == [h.id] and mine["others"] == []


def test_nobody_available_at_all_is_still_the_callback_path(world):
    online(world, "agent", "tousu", state={"agent": "break", "tousu": "break"})  # everyone on 小休
    r = world.say("我要投诉，你们保洁一个星期没打扫楼道了")
    assert r.handoff["status"] == "callback" and "登记回电" in world.texts(r)


def ids(world):
    with world.db.session() as s:
        return {m.username: m.id for m in s.scalars(sa.select(Staff))}


def test_auto_assignment_goes_to_the_least_loaded_available_agent_up_to_the_cap(world, monkeypatch):
    monkeypatch.setenv("WUYE_AUTO_ASSIGN", "1")
    monkeypatch.setenv("WUYE_AGENT_MAX_CONVERSATIONS", "2")
    online(world, "agent", "admin", "tousu", "gongcheng", state={"tousu": "break", "gongcheng": "busy"})
    staff = ids(world)
    given = []
    for n in range(5):
        r = world.say("转人工", sender=f"r{n}")
        h = stored(world, r)
        given.append(h.agent_id)
        if h.agent_id:
            assert h.status == "claimed" and r.handoff["status"] == "claimed"
            name = "客服小林" if h.agent_id == staff["agent"] else "管理员"
            assert f"已为您转接人工客服 {name}" in world.texts(r)
    # least loaded first (ties: the lower id), never the agent on 小休 nor the busy one, none beyond the cap of 2
    assert given == [staff["agent"], staff["admin"], staff["agent"], staff["admin"], None]
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation).where(
            Conversation.assignee_id.in_([staff["tousu"], staff["gongcheng"]]))) == 0
    assert "当前排队第 1 位" in world.texts(r)  # the fifth waits in the queue


def test_auto_assignment_prefers_the_team_and_skips_a_member_on_a_break(world, monkeypatch):
    monkeypatch.setenv("WUYE_AUTO_ASSIGN", "1")
    online(world, "agent", "tousu", "gongcheng")
    staff = ids(world)
    r = world.say("我要投诉，你们保洁一个星期没打扫楼道了", sender="c1")
    assert stored(world, r).agent_id == staff["tousu"]  # as free as 小林, but of the team
    online(world, "agent", "tousu", "gongcheng", state={"tousu": "break"})
    r = world.say("我要投诉，你们保洁一个星期没打扫楼道了", sender="c2")
    h = stored(world, r)
    assert h.agent_id != staff["tousu"] and h.agent_id is not None and h.team_id is None


def test_a_claim_beyond_the_cap_is_refused_and_changes_nothing(world, monkeypatch):
    monkeypatch.setenv("WUYE_AGENT_MAX_CONVERSATIONS", "1")
    online(world, "agent")
    first, second = world.say("转人工", sender="a"), world.say("转人工", sender="b")
    with world.db.session() as s:
        me = s.scalar(sa.select(Staff).where(Staff.username == "agent"))
        handoffs.claim(s, stored(world, first).id, me, NOW)
    with pytest.raises(handoffs.AtCapacity):
        with world.db.session() as s:
            handoffs.claim(s, stored(world, second).id, s.get(Staff, ids(world)["agent"]), NOW)
    h = stored(world, second)
    assert (h.status, h.agent_id) == ("queued", None)


def test_three_angry_conversations_in_a_row_suggest_a_break(world):
    online(world, "agent")
    for n in range(3):
        r = world.say("你们物业都是废物，气死我了！！！", sender=f"angry{n}")
        with world.db.session() as s:
            me = s.scalar(sa.select(Staff).where(Staff.username == "agent"))
            handoffs.claim(s, stored(world, r).id, me, NOW)
        with world.db.session() as s:
            state = me_json(s, s.scalar(sa.select(Staff).where(Staff.username == "agent")))
        assert state["angry_streak"] == n + 1
    assert state["break_prompt"] == "连续处理了 3 个情绪激动的会话，休息一下吧？"
    with world.db.session() as s:
        me = s.scalar(sa.select(Staff).where(Staff.username == "agent"))
        me.state = "break"
    with world.db.session() as s:  # on 小休 already: not asked again
        assert me_json(s, s.scalar(sa.select(Staff).where(Staff.username == "agent")))["break_prompt"] is None


def test_a_waiting_request_that_turns_into_a_complaint_moves_to_the_complaint_team(world):
    online(world, "agent", "tousu")
    r = world.say("转人工")
    assert (stored(world, r).kind, stored(world, r).team_id) == ("general", None)
    world.say("你们物业都是废物")  # an insult while queued: the complaint team's now
    h = stored(world, r)
    assert (h.kind, h.team_id, h.status) == ("complaint", team_id(world, "投诉专员"), "queued")


def test_with_auto_assignment_an_agent_who_frees_up_takes_the_next_waiting_request(world, monkeypatch):
    monkeypatch.setenv("WUYE_AUTO_ASSIGN", "1")
    monkeypatch.setenv("WUYE_AGENT_MAX_CONVERSATIONS", "1")
    online(world, "agent")
    first, second = world.say("转人工", sender="a"), world.say("转人工", sender="b")
    assert stored(world, first).agent_id == ids(world)["agent"] and stored(world, second).status == "queued"
    with world.db.session() as s:
        me = s.get(Staff, ids(world)["agent"])
        handoffs.resolve(s, first.conversation_id, me, NOW)
        assert handoffs.pull_next(s, me, NOW).id == stored(world, second).id
    assert (stored(world, second).status, stored(world, second).agent_id) == ("claimed", ids(world)["agent"])
    with world.db.session() as s:  # at the cap again: nothing more is taken
        assert handoffs.pull_next(s, s.get(Staff, ids(world)["agent"]), NOW) is None


def test_auto_assignment_never_gives_a_conversation_to_an_agent_of_another_xiaoqu(world, monkeypatch):
    monkeypatch.setenv("WUYE_AUTO_ASSIGN", "1")
    online(world, "agent", "gongcheng")
    with world.db.session() as s:  # 客服小林 serves 滨江壹号 only; the resident is of 锦绣花园 (the default)
        s.scalar(sa.select(Staff).where(Staff.username == "agent")).community_id = "binjiang"
    assert world.kb.communities[0].id != "binjiang"
    r = world.say("转人工")
    assert stored(world, r).agent_id == ids(world)["gongcheng"]

"""Handoffs through the engine: emergencies, callbacks out of hours, the bot silent while an agent owns the conversation, asking for a person again, neighbour disputes."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.handoffs import handoff as handoffs
from bot.storage.models import Conversation, Message, Staff
from tests.unit.conversation.world import NOW, arrears_household


def test_emergency_gives_the_number_and_opens_an_urgent_handoff_on_top(world):
    world.agents_online()
    world.say("我要投诉楼上噪音", sender="calm")
    r = world.say("3栋电梯困人了，快来人")
    assert "020-8888 6699" in r.replies[0].text
    assert r.handoff["priority"] == "urgent" and r.handoff["queue_position"] == 1
    assert any("紧急" in text for _, text in world.sms.sent)
    with world.db.session() as s:
        top = handoffs.queue(s)[0]
        assert top.priority == "urgent" and "电梯困人" in " ".join(top.reasons)
        assert top.context["transcript"][-1]["text"].startswith("3栋电梯困人")


def test_out_of_hours_creates_a_callback_ticket_and_asks_phone_and_time(world):
    r = world.say("我要找人工客服")  # no agent online, resident not bound: asked for a number
    assert r.handoff["status"] == "callback" and r.handoff["ticket"].startswith("LY")
    assert "登记回电" in world.texts(r) and "手机号码" in world.texts(r)
    assert "没有识别到手机号" in world.texts(world.say("随便"))
    r = world.say("13912345678")
    assert "方便接听" in world.texts(r) and [b.title for b in r.replies[-1].buttons][:2] == ["尽快", "今天"]
    r = world.say("明天上午")
    assert "明天 12:00 前拨打您尾号5678的手机" in world.texts(r) and "13912345678" not in world.texts(r)
    assert r.handoff["callback_at"] == "2026-11-28T12:00:00+08:00"  # stored in UTC, sent with the zone
    with world.db.session() as s:
        handoff = s.scalars(sa.select(handoffs.Handoff)).all()[-1]
        assert (handoff.callback_phone, handoff.callback_window) == ("13912345678", "明天上午")
        assert s.scalar(sa.select(Conversation.flow).where(Conversation.id == r.conversation_id)) is None


def test_callback_confirms_the_bound_phone_with_a_button(world):
    household = arrears_household(world)
    world.bind(household)
    r = world.say("转人工")
    assert f"尾号{household.phone[-4:]}" in world.texts(r) and household.phone[:7] not in world.texts(r)
    assert household.phone not in world.texts(r)
    confirm = r.replies[-1].buttons[0]
    assert confirm.title == "就用这个号码"
    r = world.say(confirm.payload)
    r = world.say(next(b.payload for b in r.replies[-1].buttons if b.title == "尽快"))
    assert "今天 10:30 前" in world.texts(r)  # inside agent hours: within 30 minutes
    with world.db.session() as s:
        handoff = s.scalars(sa.select(handoffs.Handoff)).all()[-1]
        assert handoff.callback_phone == household.phone and handoff.callback_at == NOW + dt.timedelta(minutes=30)


def test_bot_is_silent_while_an_agent_owns_the_conversation_and_resumes_after(world):
    household = arrears_household(world)
    world.bind(household)
    staff = world.agents_online()[0]
    r = world.say("转人工")
    assert r.handoff["status"] == "queued"
    with world.db.session() as s:
        handoff = handoffs.queue(s)[0]
        card = handoff.context
        assert card["household"]["room"] == household.label and float(card["household"]["fees_owed"]) > 0
        assert any(t["text"] == "转人工" for t in card["transcript"])
        handoffs.claim(s, handoff.id, s.get(Staff, staff.id), NOW)
        conversation_id = handoff.conversation_id
    r = world.say("物业几点上班")
    assert r.replies == [] and r.handoff["status"] == "claimed"
    with world.db.session() as s:
        handoffs.agent_reply(s, conversation_id, s.get(Staff, staff.id), "您好，我是客服小林", NOW)
        handoffs.resolve(s, conversation_id, s.get(Staff, staff.id), NOW)
    r = world.say("物业几点上班")
    assert "办公时间" in world.texts(r) and r.handoff is None
    with world.db.session() as s:
        senders = [m.sender for m in s.scalars(sa.select(Message).where(Message.conversation_id == conversation_id))]
        assert "agent" in senders and senders.count("resident") >= 5


def test_asking_for_a_person_again_while_queued_is_answered_truthfully(world):
    world.agents_online()
    world.say("我要投诉保安态度差", sender="ahead")
    r = world.say("转人工")
    assert r.handoff["queue_position"] == 2
    r = world.say("转人工")
    assert "仍在排队" in world.texts(r) and "第 2 位" in world.texts(r) and "加急" not in world.texts(r)
    assert r.handoff["priority"] == "normal"
    world.engine.clock = lambda: NOW + dt.timedelta(minutes=15)
    world.agents_online()
    r = world.say("怎么还没人，转人工")
    assert r.handoff["priority"] == "high" and "等待时间较长" in world.texts(r)
    with world.db.session() as s:
        assert s.scalar(sa.select(Conversation.priority).where(Conversation.id == r.conversation_id)) == "high"


def test_neighbour_noise_gets_sympathy_the_rule_and_a_person(world):
    world.agents_online()
    household = arrears_household(world)
    world.bind(household)
    r = world.say("楼上每天半夜拖椅子")
    text = world.texts(r)
    assert "理解您的困扰" in text and "22:00" in text and household.label in text
    assert r.handoff and r.handoff["priority"] == "normal"
    with world.db.session() as s:
        top = handoffs.queue(s)[0]
        assert "neighbour dispute" in top.reasons and f"room: {household.label}" in top.reasons

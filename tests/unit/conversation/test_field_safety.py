"""Issue 25 points 3, 6 and 7 through the engine with the real model and a real database: a split message keeps its
anger, no flow question traps the resident, and English requests are understood."""
from __future__ import annotations

import sqlalchemy as sa

from bot.storage.models import Conversation, Handoff, WorkOrder
from tests.unit.conversation.world import stored_route


def _handoff(world, conversation_id):
    with world.db.session() as s:
        return s.scalars(sa.select(Handoff).where(Handoff.conversation_id == conversation_id)).one()


def test_a_split_message_is_handed_off_at_its_strongest_part_with_its_anger(world):
    """"物业几点上班？你们到底管不管！我投诉三次了": the office hours are answered, and the one handoff is high (repeated
    chasing), the card angry — not normal and 平静 because its calm complaint part came first."""
    r = world.say("物业几点上班？你们到底管不管！我投诉三次了")
    assert "办公时间" in world.texts(r) or "上班" in world.texts(r)
    handoff = _handoff(world, r.conversation_id)
    assert handoff.priority == "high"
    assert "repeated chasing" in handoff.context["reasons"]
    assert handoff.context["emotion"]["label"] == "angry"
    assert stored_route(world, "物业几点上班？你们到底管不管！我投诉三次了")["priority"] == "high"


def _orders(world):
    with world.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(WorkOrder))


def test_no_slot_takes_nonsense_and_a_question_asked_again_offers_a_person_and_a_way_out(world):
    before = _orders(world)
    world.say("我要报修")
    r = world.say("厨房水龙头坏了")
    assert "位置" in world.texts(r) or "房号" in world.texts(r) or "哪" in world.texts(r)
    with world.db.session() as s:
        asking = s.get(Conversation, r.conversation_id).flow["asking"]
    r = world.say("啊啊啊啊")  # not a place
    with world.db.session() as s:
        conversation = s.get(Conversation, r.conversation_id)
        assert conversation.flow["asking"] == asking and "啊啊啊啊" not in str(conversation.flow["slots"])
    payloads = [b.payload for b in r.replies[-1].buttons]
    assert payloads[-2:] == ["/handoff", "/cancel"]
    assert [b.title for b in r.replies[-1].buttons][-2:] == ["转人工客服", "取消办理"]
    r = world.say("asdfgh")  # asked again, the way out still offered
    assert [b.payload for b in r.replies[-1].buttons][-2:] == ["/handoff", "/cancel"]
    r = world.say("/cancel")
    assert stored_route(world, "/cancel")["action"] == "cancel_flow"
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None
    assert _orders(world) == before


def test_the_cancel_button_outside_a_flow_is_a_stale_button(world):
    world.say("物业几点上班")
    world.say("/cancel")
    assert stored_route(world, "/cancel")["action"] == "stale_button"


def test_english_requests_for_a_person_and_common_questions_are_understood(world):
    r = world.say("Can I speak to a real person", sender="en1")
    assert stored_route(world, "Can I speak to a real person")["decision"] == "handoff"
    assert _handoff(world, r.conversation_id).priority == "normal"
    world.say("your robot is useless, let me talk to a human", sender="en2")
    assert stored_route(world, "your robot is useless, let me talk to a human")["decision"] == "handoff"
    for text, faq in (("how much is the property fee", "fee_standard"),
                      ("What time does the management office open?", "office_hours"),
                      ("where is the parcel locker", "express_delivery")):
        world.say(text, sender="en3")
        route = stored_route(world, text)
        assert route["decision"] == "answer" and route["target"] == faq, (text, route)

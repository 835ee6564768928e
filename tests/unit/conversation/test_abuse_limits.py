"""Abuse limits in conversations: verification codes per room, cooldown and lock-out, one page per emergency, a message flood."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from bot.storage.models import Message
from tests.unit.conversation.world import NOW, arrears_household


def test_codes_for_one_room_are_capped_across_identities(world):
    household = arrears_household(world)
    sent_before = len(world.sms.sent)
    answers = []
    for i in range(6):
        world.say("查一下物业费", sender=f"stranger{i}")
        answers.append(world.texts(world.say(household.label, sender=f"stranger{i}")))
        world.engine.clock = (lambda k: (lambda: NOW + dt.timedelta(minutes=2 * k)))(i + 1)  # past the cooldown
    codes = [t for to, t in world.sms.sent[sent_before:] if to == household.phone]
    assert len(codes) == 3  # codes_per_room: 3 an hour, whoever asks
    assert "上限" in answers[-1] and "尾号" not in answers[-1]


def test_a_second_code_within_the_cooldown_is_refused(world):
    household = arrears_household(world)
    world.say("查一下物业费", sender="quick")
    world.say(household.label, sender="quick")
    world.say("查一下物业费", sender="quick2")
    assert "秒后再试" in world.texts(world.say(household.label, sender="quick2"))


def test_five_wrong_codes_lock_binding_for_a_while(world):
    household = arrears_household(world)
    world.say("查物业费", sender="guesser")
    world.say(household.label, sender="guesser")
    code = re.search(r"验证码是 (\d{6})", world.sms.sent[-1][1]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        assert "不正确" in world.texts(world.say(wrong, sender="guesser"))
    assert "错误次数过多" in world.texts(world.say(wrong, sender="guesser"))
    world.engine.clock = lambda: NOW + dt.timedelta(minutes=5)  # past the cooldown, inside the lock-out
    world.say("查物业费", sender="guesser")
    sent = len(world.sms.sent)
    assert "错误次数过多" in world.texts(world.say(household.label, sender="guesser"))
    assert len(world.sms.sent) == sent


def test_the_same_emergency_pages_once(world):
    pages = lambda: [t for _, t in world.sms.sent if t.startswith("【紧急】")]  # noqa: E731
    before = len(pages())
    for _ in range(10):
        r = world.say("电梯困人了快来", sender="panic")
        assert r.handoff["priority"] == "urgent"
    assert len(pages()) - before == 1


def test_a_message_flood_is_refused_politely_and_not_stored(world):
    from bot.core.errors import TooManyRequests

    for i in range(30):
        world.say(f"你好{i}", sender="flood")
    with world.db.session() as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.sender == "resident"))
    with pytest.raises(TooManyRequests) as refused:
        world.say("你好", sender="flood")
    assert refused.value.status == 429 and "太频繁" in refused.value.message
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.sender == "resident")) == stored


def test_the_code_already_sent_is_still_taken_after_leaving_and_coming_back(world):
    """查物业费 → room → (an FAQ in between) → 查物业费 → room again inside the cooldown: the resident is told to
    type the code already received, and that code then binds."""
    household = arrears_household(world)
    world.say("查一下物业费", sender="back")
    world.say(household.label, sender="back")
    code = re.search(r"验证码是 (\d{6})", world.sms.sent[-1][1]).group(1)
    world.say("物业几点上班", sender="back")
    world.say("查一下物业费", sender="back")
    sent = len(world.sms.sent)
    again = world.texts(world.say(household.label, sender="back"))
    assert "验证码" in again and len(world.sms.sent) == sent
    assert "验证成功" in world.texts(world.say(code, sender="back"))


def test_inside_the_cooldown_a_stranger_is_not_told_to_type_a_code_they_cannot_have(world):
    household = arrears_household(world)
    world.say("查一下物业费", sender="first")
    world.say(household.label, sender="first")
    world.say("查一下物业费", sender="second")
    refused = world.texts(world.say(household.label, sender="second"))
    assert "秒后再试" in refused and "已收到的验证码" not in refused
    # still asking for the room: after the wait the room alone sends the code
    world.engine.clock = lambda: NOW + dt.timedelta(minutes=2)
    sent = len(world.sms.sent)
    assert "验证码已发送" in world.texts(world.say(household.label, sender="second"))
    assert len(world.sms.sent) == sent + 1


def test_the_room_typed_again_where_the_code_is_asked_is_not_a_wrong_code(world):
    """Asked for the code, the resident types the room again (thinking it was not taken): told to type the code
    already sent, no attempt used; the code then binds."""
    household = arrears_household(world)
    world.say("查一下物业费", sender="again")
    world.say(household.label, sender="again")
    code = re.search(r"验证码是 (\d{6})", world.sms.sent[-1][1]).group(1)
    sent = len(world.sms.sent)
    again = world.texts(world.say(household.label, sender="again"))
    assert "不正确" not in again and "6 位验证码" in again and len(world.sms.sent) == sent
    assert "验证成功" in world.texts(world.say(code, sender="again"))

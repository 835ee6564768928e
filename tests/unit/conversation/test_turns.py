"""One turn's guarantees: bad messages refused with nothing stored, one identity for simultaneous first messages, nothing lost across a restart in the middle of a flow."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from bot.conversation.engine import InputError
from bot.storage.models import Message


def test_a_restart_in_the_middle_of_a_flow_loses_nothing(world):
    world.say("我要报修")
    world.say("阳台地漏返水")
    world.engine = world.new_engine()  # the process restarts
    assert "紧急" in world.texts(world.say("5栋2单元301"))
    world.engine = world.new_engine()
    world.say("一般")
    world.say("13700001111")
    text = world.texts(world.say("尽快"))
    assert re.search(r"WO\d{11}", text)


@pytest.mark.parametrize("text", ["", "   ", "字" * 5000], ids=["empty", "blank", "huge"])
def test_bad_messages_are_refused_and_nothing_is_stored(world, text):
    def stored():
        with world.db.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(Message))

    before = stored()
    with pytest.raises(InputError):
        world.say(text)
    assert stored() == before


def test_simultaneous_first_messages_of_one_resident_share_one_identity(world):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: world.say(t, sender="twin"), ["你好", "物业几点上班", "谢谢", "在吗"]))
    assert len({r.conversation_id for r in results}) == 1
    with world.db.session() as s:
        from bot.storage.models import ChatIdentity
        assert s.scalar(sa.select(sa.func.count()).select_from(ChatIdentity).where(ChatIdentity.sender_id == "twin")) == 1

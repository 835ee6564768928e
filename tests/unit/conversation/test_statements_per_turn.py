"""How many SQL statements a resident's turn of each kind sends (issue 29 point 2), pinned on SQLite and PostgreSQL.

A turn's cost is mostly its fixed work and its round trips; these counts were cut (docs/figures/
2026-12-06-bench-chat.md, 2026-12-07-turn-cpu.md, 2026-12-07-turn-cpu-b.md, 2026-12-07-turn-cpu-e.md) and a change
that adds a statement to a kind of turn fails here. When a statement is added on purpose, update the count with the reason in the commit. Each dialect plays on a database of its own, so
that no other test's rows (limits, pages, open incidents, agents online) change the path a turn takes."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from bot.tools.demo import load_demo_data
from tests.databases import scratch_postgres
from tests.unit.conversation.world import NOW, World, arrears_household

# per kind, the statements of each of its turns in order (nobody online at NOW: a handoff is a callback ticket); the
# repair's third turn names a room, which is checked against the 小区's buildings and floors (one statement)
EXPECTED = {
    "sqlite": {
        "faq": [5], "faq_follow_up": [6], "repair": [6, 6, 7, 9], "binding": [6, 11, 13], "fee": [7],
        "person": [10], "emergency": [12], "outage": [18], "outage_joined": [16], "complaint": [10], "multi": [5],
        "agent_owns": [5],
    },
    "postgresql": {
        "faq": [2], "faq_follow_up": [4], "repair": [2, 3, 4, 5], "binding": [2, 8, 10], "fee": [5],
        "person": [5], "emergency": [7], "outage": [14], "outage_joined": [12], "complaint": [5], "multi": [2],
        "agent_owns": [4],
    },
}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request, tmp_path, parser, settings):
    if request.param == "sqlite":
        world = World(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
        with world.db.session() as s:
            load_demo_data(s, world.kb.communities, today=NOW.date())
        yield request.param, world
        return
    with scratch_postgres("wuye_statements") as (url,):
        world = World(url, parser, settings)
        try:
            with world.db.session() as s:
                load_demo_data(s, world.kb.communities, today=NOW.date())
            yield request.param, world
        finally:
            world.engine.db.engine.dispose()
            world.db.engine.dispose()


def test_statements_per_turn_of_each_kind(fresh):
    dialect, world = fresh
    counted = {"n": 0}

    def count(*_):
        counted["n"] += 1

    counts = {}

    def turn(kind, text, sender):
        counted["n"] = 0
        result = world.say(text, sender)
        counts.setdefault(kind, []).append(counted["n"])
        return result

    sa.event.listen(world.engine.db.engine, "before_cursor_execute", count)
    turn("faq", "物业几点上班", "faq")
    turn("faq_follow_up", "停车月卡多少钱", "faq")  # the next turn of the same conversation
    for text in ("我要报修", "厨房水龙头漏水", "3栋2单元501，13800138000，明天上午", "/slot urgency normal"):
        last = turn("repair", text, "repair")
    assert "已为您创建维修工单" in world.texts(last)
    household = arrears_household(world)
    turn("binding", "查一下我家物业费", "fee")
    turn("binding", household.label, "fee")
    code = re.search(r"验证码是 (\d{6})", world.sms.sent[-1][1]).group(1)
    assert "验证成功" in world.texts(turn("binding", code, "fee"))
    assert household.label in world.texts(turn("fee", "我家还欠多少物业费", "fee"))
    assert "登记" in world.texts(turn("person", "我要跟真人说话", "person"))
    assert "应急电话" in world.texts(turn("emergency", "我家着火了", "emergency"))
    turn("outage", "9栋停水了", "outage")
    turn("outage_joined", "9栋停水了", "outage-2")  # a second report joins the first one's incident
    turn("complaint", "我要投诉保安态度太差了", "complaint")
    turn("multi", "物业几点上班？另外停车月卡多少钱", "multi")
    with world.db.session() as s:  # an agent owns the person's conversation: the bot stays silent
        s.execute(sa.text("UPDATE conversations SET status = 'open' WHERE id = (SELECT max(c.id) FROM conversations c "
                          "JOIN chat_identities i ON i.id = c.identity_id WHERE i.sender_id = 'person')"))
    turn("agent_owns", "还在吗", "person")
    sa.event.remove(world.engine.db.engine, "before_cursor_execute", count)
    assert counts == EXPECTED[dialect], repr(counts)

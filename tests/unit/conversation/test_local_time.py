"""Local time in conversations: relative times on the 小区's clock, times sent with their zone, statutory holidays and 调休 working days."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from bot.storage.models import Message, Staff, WorkOrder
from tests.unit.conversation.world import at


def test_relative_times_are_read_on_the_local_clock_not_the_servers(world):
    at(world, dt.datetime(2026, 11, 27, 17, 0))  # UTC 17:00 is already Saturday 01:00 in Beijing
    world.say("我要报修", sender="night")
    world.say("卫生间漏水", sender="night")
    world.say("3栋1单元201", sender="night")
    world.say("一般", sender="night")
    world.say("13700002222", sender="night")
    text = world.texts(world.say("明天下午三点", sender="night"))
    number = re.search(r"WO\d{11}", text).group()
    assert number.startswith("WO20261128")  # the 小区's date, not the server's
    with world.db.session() as s:
        assert s.scalar(sa.select(WorkOrder.preferred_time).where(WorkOrder.number == number)) == "2026-11-29T15:00"


def test_message_times_are_sent_with_their_zone(world):
    from bot.realtime import live

    at(world, dt.datetime(2026, 11, 27, 14, 31))  # 22:31 in Beijing
    r = world.say("物业几点上班", sender="late")
    with world.db.session() as s:
        message = s.scalars(sa.select(Message).where(Message.conversation_id == r.conversation_id)).first()
        assert live.message_json(message)["at"] == "2026-11-27T22:31:00+08:00"


def test_statutory_holidays_close_the_agents_of_a_小区_without_holiday_hours(world):
    world.agents_online()
    at(world, dt.datetime(2026, 10, 1, 2, 0))  # National Day, 10:00 in Beijing
    with world.db.session() as s:
        for staff in s.scalars(sa.select(Staff)):
            staff.last_seen = dt.datetime(2026, 10, 1, 2, 0)
    closed = world.engine.handle("web", "holiday-bj", "转人工", community_id="binjiang")
    assert closed.handoff["status"] == "callback" and "国庆节" in world.texts(closed)
    open_ = world.engine.handle("web", "holiday-jx", "转人工", community_id="jinxiu")  # holiday_agent_hours 9-17
    assert open_.handoff["status"] == "queued"


def test_a_调休_working_saturday_has_weekday_hours(world):
    def ask(utc, sender):
        with world.db.session() as s:
            for staff in s.scalars(sa.select(Staff)):
                staff.last_seen = utc
        at(world, utc)
        return world.engine.handle("web", sender, "转人工", community_id="binjiang")

    # binjiang: weekdays 08:30-21:00, ordinary weekends 10:00-16:00; 17:00 in Beijing = 09:00 UTC
    assert ask(dt.datetime(2026, 10, 10, 9, 0), "tiaoxiu").handoff["status"] == "queued"  # 调休: a working Saturday
    assert ask(dt.datetime(2026, 10, 17, 9, 0), "weekend").handoff["status"] == "callback"  # an ordinary Saturday

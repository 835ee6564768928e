"""Promises that follow what was asked (issue 25, point 5): the visit time a resident asked for is kept as asked
(明天上午 is a morning, not 9 o'clock), promised when it can be kept and said plainly when it cannot, and shown in words
on the desk, the agent console and the status answer; the callback status repeats the time promised; a raised
priority is told with its reason in words."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from bot.core import labels
from bot.core.localtime import Wish, wish_text
from bot.realtime import live
from bot.storage.models import Staff, WorkOrder
from bot.work_orders import desk
from tests.unit.conversation.world import NOW, at, stored_route

# NOW is 10:00 on Friday 27 November in Beijing: 明天上午 is 28 November 9:00–12:00, i.e. 01:00–04:00 UTC
MORNING_END_UTC = dt.datetime(2026, 11, 28, 4, 0)


def report(world, sender: str, when: str) -> str:
    world.say("我要报修", sender=sender)
    world.say("厨房水龙头漏水", sender=sender)
    world.say("3栋2单元501，13800138000", sender=sender)
    world.say("一般", sender=sender)
    return world.texts(world.say(when, sender=sender))


def order_of(session, text: str) -> WorkOrder:
    return session.scalar(sa.select(WorkOrder).where(WorkOrder.number == re.search(r"WO\d{11}", text).group()))


def test_tomorrow_morning_is_kept_promised_and_shown_in_words(world):
    text = report(world, "morning", "明天上午")
    # the promise is the morning asked for, not a completion deadline that contradicts it ("明天 10:00 前修好")
    assert "师傅将于明天上午（9:00–12:00）上门维修" in text, text
    assert "工程部会在 2 小时内（今天 12:00 前）派单" in text and "前修好" not in text
    with world.db.session() as s:
        order = order_of(s, text)
        assert order.preferred_time == "2026-11-28 上午"  # the morning kept, not "2026-11-28T09:00"
        assert order.response_due == NOW + dt.timedelta(hours=2)  # dispatch: the SLA's
        # the 24-hour completion deadline (tomorrow 10:00) would fall inside the morning asked for: it waits for it
        assert order.completion_due == MORNING_END_UTC
        detail = desk.order_json(s, order, NOW, world.kb, desk.staff_names(s), detail=True)
        assert detail["preferred_time_text"] == "明天 上午 9:00–12:00"
        later = desk.order_json(s, order, NOW + dt.timedelta(days=1), world.kb, desk.staff_names(s), detail=True)
        assert later["preferred_time_text"] == "今天 上午 9:00–12:00"
        assert "T09:00" not in str(detail) and "T09:00" not in str(later)
        number = order.number
    # the status answer repeats the promise
    status = world.texts(world.say(f"查询工单 {number}", sender="morning"))
    assert "师傅将于明天上午（9:00–12:00）上门" in status, status
    # dispatching tells the resident the same time, not "预计明天 12:00前上门"
    with world.db.session() as s:
        order = order_of(s, number)
        agent = s.scalar(sa.select(Staff).where(Staff.username == "agent"))
        tech = s.scalar(sa.select(Staff).where(Staff.role == "technician"))
        desk.assign(s, order, agent, tech.id, "", NOW + dt.timedelta(minutes=20), world.kb)
    told = world.texts(world.say("查询工单", sender="morning"))
    with world.db.session() as s:
        conversation_id = order_of(s, number).conversation_id
        messages = live.conversation_json(s, conversation_id)["messages"]
    assigned = next(m["text"] for m in messages if "已接单" in m["text"])
    assert "将按您约定的时间于明天上午（9:00–12:00）上门维修" in assigned and "前上门" not in assigned, assigned
    assert "师傅将于明天上午（9:00–12:00）上门" in told


def test_the_agent_console_shows_the_wish_in_words(world):
    household = world.household(building=3, unit=2)
    world.agents_online()
    world.bind(household, sender="console")
    world.say("卫生间水龙头一直滴水", sender="console")
    world.say("一般", sender="console")
    text = world.texts(world.say("明天上午", sender="console"))
    assert "明天上午（9:00–12:00）" in text, text
    r = world.say("转人工", sender="console")
    assert r.handoff is not None
    with world.db.session() as s:
        card = live.conversation_json(s, r.conversation_id)["handoff"]
    times = [e["value"] for e in card["context_labels"]["entities"] if e["label"] == "时间"]
    assert times == ["11月28日 上午 9:00–12:00"], card["context_labels"]["entities"]
    orders = card["context"]["household"]["open_work_orders"]
    assert [o["preferred_time_text"] for o in orders if "滴水" in o["description"]] == ["11月28日 上午 9:00–12:00"]


def test_the_agent_console_shows_a_building_or_unit_as_the_resident_wrote_it(world):
    """"7栋一点水都没有了" showed 房号 7 on the card; it is an outage report too (it was the outage FAQ)."""
    world.agents_online()
    r = world.say("7栋一点水都没有了", sender="seven")
    assert stored_route(world, "7栋一点水都没有了")["action"] in ("incident", "join_incident")
    r = world.say("转人工", sender="unit")
    world.say("5栋2单元楼道灯坏了，麻烦找人来修", sender="unit")
    with world.db.session() as s:
        card = live.conversation_json(s, r.conversation_id)["handoff"]
    rooms = [e["value"] for e in card["context_labels"]["entities"] if e["label"] == "房号"]
    assert labels.room_text("5-2") == "5栋2单元" and labels.room_text("3-2-1102") == "3栋2单元1102"
    assert labels.room_text("7", "7栋") == "7栋"
    assert all(v != "5-2" for v in rooms), rooms


def test_a_wish_the_dispatch_deadline_cannot_meet_is_said_plainly(world):
    at(world, NOW + dt.timedelta(hours=1))  # 11:00: dispatched by 13:00, after the morning is over
    text = report(world, "late", "今天上午")
    assert "您希望的今天上午（9:00–12:00）可能来不及安排" in text and "约定上门时间" in text, text
    assert "师傅将于" not in text and "前修好" in text
    with world.db.session() as s:
        assert order_of(s, text).preferred_time == "2026-11-27 上午"


def test_an_exact_hour_and_the_residents_own_words_are_kept(world):
    text = report(world, "hour", "明天下午三点")
    assert "师傅将于明天 15:00 上门维修" in text, text
    with world.db.session() as s:
        assert order_of(s, text).preferred_time == "2026-11-28T15:00"
    text = report(world, "words", "下班后都可以")
    assert "您希望的上门时间（下班后都可以）已记在工单上" in text, text
    text = report(world, "asap", "尽快")
    assert "您希望" not in text and "前修好" in text


def test_wishes_read_back_in_words():
    today = dt.date(2026, 12, 6)
    morning = Wish.from_entity("2026-12-07T09:00", "明天上午")
    assert morning.stored() == "2026-12-07 上午" and Wish.parse(morning.stored()) == morning
    assert morning.text(today) == "明天 上午 9:00–12:00" and morning.promise(today) == "明天上午（9:00–12:00）"
    assert morning.text() == "12月7日 上午 9:00–12:00"  # stored for later (a context card): the date, never "明天"
    assert Wish.from_entity("2026-12-07T19:00", "明晚").text(today) == "明天 晚上 18:00–21:00"
    assert Wish.from_entity("2026-12-07T09:00", "明天上午9点").text(today) == "明天 9:00"
    assert wish_text("2026-12-07T09:00") == "12月7日 9:00"  # an order stored before: still never ISO
    assert wish_text("尽快") == "尽快" and wish_text(None) == ""


def test_the_callback_status_repeats_the_time_promised(world):
    world.say("我要找人工客服", sender="cb")  # nobody online: a callback ticket
    world.say("13912345678", sender="cb")
    promised = world.texts(world.say("今天", sender="cb"))
    when = re.search(r"工作人员会在(今天 \d\d:\d\d) 前拨打", promised).group(1)
    assert when == "今天 22:00"  # jinxiu's agents work until 22:00
    again = world.texts(world.say("转人工", sender="cb"))
    assert f"将在{when} 前回电" in again and "前后" not in again, again
    at(world, NOW + dt.timedelta(hours=13))  # 23:00: the promise has passed, and the status owns up to it
    raised = world.texts(world.say("转人工", sender="cb"))  # waited long: raised first (bot/routing/router.py rule 7)
    assert "升级为优先处理（原因：等待时间较长" in raised, raised
    late = world.texts(world.say("转人工", sender="cb"))
    assert "原定今天 22:00 前回电，已经超时" in late, late


def test_a_raised_priority_is_told_in_natural_words_with_its_reason(world):
    world.agents_online()
    world.say("转人工", sender="raise")
    world.engine.clock = lambda: NOW + dt.timedelta(minutes=15)
    world.agents_online()
    text = world.texts(world.say("怎么还没人，转人工", sender="raise"))
    assert "已将您的求助升级为优先处理（原因：等待时间较长，已等 15 分钟）" in text, text
    assert "您的情况" not in text and "优先级提高为" not in text
    # the reasons as the resident reads them: the real reason, never their own words held against them, never vague
    assert labels.resident_reason_label("overdue work order chased: WO20261127001") == "工单 WO20261127001 已超过承诺的时间"
    assert labels.resident_reason_label("emergency keyword: 电梯困人") == "紧急情况：电梯困人"
    assert labels.resident_reason_label("insult") == labels.resident_reason_label("threat: media") == "您的情况比较着急"
    assert labels.resident_reason_label("angry chase of a work order") == "您催促的工单迟迟没有处理"
    assert labels.resident_reason_label("电梯困人了: emergency") == "紧急情况：电梯困人了"
    assert labels.resident_reason_label("物业费多少: answer") is None  # another request of the message: no reason
    assert labels.resident_reason_label("something new") is None
    assert labels.reason_label(desk.LATE_COMPLETION_REASON.format(number="WO20261127001")) == "工单超时未完成：WO20261127001"

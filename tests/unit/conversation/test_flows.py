"""The resident flows through the engine: binding and fee lookup, repairs and repair status, parking, and how slots are filled, re-asked, cancelled and switched."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from bot.storage.models import Bill, Conversation, Handoff, Household, Message, ParkingCard, VisitorPass, WorkOrder
from tests.unit.conversation.world import arrears_household, stored_route


def test_fee_lookup_binds_with_sms_code_then_shows_only_own_bill(world):
    household = arrears_household(world)
    world.bind(household)
    text = world.texts(world.say("我家还欠多少物业费"))
    assert household.label in text and "待缴" in text and "已缴至" in text
    with world.db.session() as s:
        owed = sum(b.amount for b in s.scalars(sa.select(Bill).where(Bill.household_id == household.id,
                                                                      Bill.paid.is_(False))))
    assert f"{owed:.2f}" in text


def test_wrong_code_is_refused_and_binding_not_made(world):
    household = arrears_household(world)
    world.say("查物业费")
    world.say(household.label)
    r = world.say("000000" if "000000" not in world.sms.sent[-1][1] else "111111")
    assert "不正确" in world.texts(r)
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.text.like("%验证成功%"))) == 0


def test_naming_another_room_never_reveals_its_data(world):
    mine = arrears_household(world)
    other = world.household(building=2, unit=2)
    world.bind(mine)
    text = world.texts(world.say(f"帮我查一下{other.label}的物业费"))
    assert "隐私" in text and other.owner_name not in text and "待缴" not in text
    # an unbound resident typing a room only gets a code sent to that room's registered phone
    text = world.texts(world.say(f"查一下{other.label}的物业费", sender="stranger"))
    # … and learns nothing of it: not even the phone's last digits (anyone can type a room number)
    assert "验证码已发送" in text and other.phone[-4:] not in text and "尾号" not in text and "待缴" not in text


def test_repair_request_asks_one_question_at_a_time_and_creates_a_work_order(world):
    r = world.say("我要报修")
    assert "描述" in world.texts(r)
    assert "地点" in world.texts(world.say("厨房下水道堵了"))
    assert "紧急" in world.texts(world.say("3栋1单元201"))
    assert "电话" in world.texts(world.say("一般"))
    assert "什么时候" in world.texts(world.say("13912345678"))
    text = world.texts(world.say("明天下午三点"))
    number = re.search(r"WO\d{11}", text).group()
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == number))
        assert order.description == "厨房下水道堵了" and order.contact_phone == "13912345678"
        assert order.preferred_time == "2026-11-28T15:00" and order.status == "待受理"
        assert [e.status for e in order.events] == ["待受理"]


def test_repair_status_and_chasing_three_times_hands_off_high(world):
    household = world.household(building=1, unit=1)
    world.bind(household)
    world.say("卫生间水龙头一直滴水")
    for answer in ("一般", "明天上午"):
        world.say(answer)
    with world.db.session() as s:
        number = s.scalar(sa.select(WorkOrder.number).where(WorkOrder.household_id == household.id)
                          .order_by(WorkOrder.id.desc()))
    text = world.texts(world.say(f"查一下工单{number}"))
    assert number in text and "待受理" in text
    world.say("我的报修怎么还没人来")
    world.say("维修师傅到底什么时候来")
    r = world.say("报修的师傅还没来，到底什么时候来")
    assert r.handoff and r.handoff["priority"] == "high"
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == number))
        assert order.chase_count == 3 and len(order.events) == 4


def test_angry_chase_hands_off_high_at_once(world):
    r = world.say("报修一个星期了都没人管，你们是干什么吃的！！！")
    assert r.handoff["priority"] == "high"


def test_another_households_work_order_is_not_shown_nor_confirmed(world):
    with world.db.session() as s:
        order = s.scalars(sa.select(WorkOrder).order_by(WorkOrder.id)).first()
        number, description = order.number, order.description
    theirs = world.texts(world.say(f"查一下工单{number}", sender="nosy"))
    assert description not in theirs and "没有找到" in theirs
    missing = world.texts(world.say("查一下工单WO20200101999", sender="nosy2"))
    assert theirs.replace(number, "") == missing.replace("WO20200101999", "")  # exists or not: the same answer


def test_parking_card_visitor_pass_and_plate_change(world):
    with world.db.session() as s:
        card = s.scalars(sa.select(ParkingCard).order_by(ParkingCard.id)).first()
        household, plate = s.get(Household, card.household_id), card.plate
    world.bind(household)
    text = world.texts(world.say("我的月卡什么时候到期"))
    assert plate in text and f"{card.expires_on:%Y-%m-%d}" in text and "350" in text
    assert "车牌" in world.texts(world.say("帮我登记一个访客车辆"))
    assert "什么时候" in world.texts(world.say("粤B66K88"))
    text = world.texts(world.say("明天下午三点"))
    assert "已登记访客车辆 粤B66K88" in text
    text = world.texts(world.say("我换车了，车牌改成粤BD12345"))
    assert "粤BD12345" in text
    with world.db.session() as s:
        assert s.scalar(sa.select(VisitorPass.plate).where(VisitorPass.household_id == household.id)) == "粤B66K88"
        assert s.get(ParkingCard, card.id).plate == "粤BD12345"


def test_cancel_typed_in_english_cancels_the_flow_and_is_never_a_place(world):
    world.say("My kitchen tap is leaking", sender="en")
    r = world.say("cancel", sender="en")  # asked where: "cancel" is not the place
    assert "取消" in world.texts(r) and "紧急" not in world.texts(r)
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None
    world.say("我要报修", sender="en")
    assert "取消" in world.texts(world.say("Never mind.", sender="en"))


def test_cancel_and_topic_switch_mid_flow(world):
    r = world.say("我要报修")
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow["name"] == "repair_request"
    assert "取消" in world.texts(world.say("算了"))
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None
    world.say("查一下我家物业费")  # asks for the room
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow["asking"] == "bind_room"
    text = world.texts(world.say("门禁卡丢了怎么补办"))
    assert "门禁卡" in text and "工本费" in text and "还没有提交" not in text  # a look-up loses nothing
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None


def test_slots_given_early_or_together_are_all_used(world):
    world.say("我要报修")
    assert "地点" in world.texts(world.say("厨房水龙头漏水"))
    r = world.say("3栋2单元501，13800138000，明天上午")
    assert "紧急" in world.texts(r) and "电话" not in world.texts(r)  # only the urgency is still missing
    assert [b.payload for b in r.replies[-1].buttons] == ["/slot urgency normal", "/slot urgency urgent"]
    text = world.texts(world.say("/slot urgency normal"))
    assert "联系您尾号8000的手机" in text and "13800138000" not in text  # masked, as everywhere a phone is said back
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == re.search(r"WO\d{11}", text).group()))
        assert (order.location, order.contact_phone, order.preferred_time, order.urgency) == \
            ("3栋2单元501", "13800138000", "2026-11-28 上午", "normal")  # the morning asked for, not 9 o'clock


def test_a_description_with_a_time_or_room_in_it_is_taken_as_the_description(world):
    """After 我要报修, "what is broken" answered together with when (or where): the description is taken, the time
    kept too; a later bare answer ("一般", a phone, a time) is never made the description instead."""
    world.say("我要报修")
    assert "地点" in world.texts(world.say("卫生间水管漏水，明天下午3点以后家里有人"))
    assert "紧急" in world.texts(world.say("1栋1单元102"))
    assert "电话" in world.texts(world.say("一般"))
    text = world.texts(world.say("13800138000"))
    number = re.search(r"WO\d{11}", text).group()
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == number))
        assert (order.description, order.category, order.location, order.preferred_time) == \
            ("卫生间水管漏水，明天下午3点以后家里有人", "水电", "1栋1单元102", "2026-11-28T15:00")
    world.say("我要报修", sender="r2")
    assert "紧急" in world.texts(world.say("空调不制冷了，5栋1单元302", sender="r2"))


def test_a_time_alone_where_the_description_is_asked_is_kept_and_the_description_asked_again(world):
    world.say("我要报修")
    r = world.texts(world.say("明天下午三点"))
    assert "描述" in r and "时间" in r  # the time is acknowledged, not silently swallowed
    assert "地点" in world.texts(world.say("阳台灯不亮了"))


def test_one_message_with_everything_creates_the_work_order_at_once(world):
    text = world.texts(world.say("5栋1单元302卫生间马桶堵了，不急，电话13700001111，明天下午三点来修"))
    number = re.search(r"WO\d{11}", text).group()
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == number))
        assert (order.contact_phone, order.preferred_time, order.urgency) == ("13700001111", "2026-11-28T15:00", "normal")
        # the description is what is broken: the number, kept as the contact, is not repeated in it (every progress
        # message quotes the description, and a phone is never said back unmasked)
        assert "13700001111" not in order.description and "马桶堵了" in order.description
    assert "13700001111" not in text


def test_another_request_is_never_swallowed_as_a_slot_value(world):
    world.say("我要报修")
    world.say("阳台灯不亮了")
    assert "紧急" in world.texts(world.say("3栋1单元201"))
    r = world.say("查一下进度")  # asked "情况紧急吗？": this is another request, not the urgency
    assert "紧急" not in world.texts(r) and ("工单" in world.texts(r) or "报修记录" in world.texts(r))
    # the resident is told the report halfway through was not sent (else "报修到哪一步了" reads as if it were)
    assert r.replies[-1].text == "另外，您刚才的报修还没有提交；需要的话再说“我要报修”重新开始。"
    assert stored_route(world, "查一下进度")["action"] == "start_flow"
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WorkOrder).where(WorkOrder.location == "3栋1单元201")) == 0


def test_a_reply_that_is_no_answer_is_asked_again(world):
    world.say("我要报修")
    world.say("门锁坏了")
    world.say("2栋1单元101")
    r = world.say("嗯嗯嗯")  # not an urgency
    assert "一般" in world.texts(r) and "紧急" in world.texts(r)
    # asked again: with a way on (issue 25 point 6)
    assert [b.payload for b in r.replies[-1].buttons] == ["/slot urgency normal", "/slot urgency urgent", "/handoff",
                                                          "/cancel"]
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow["asking"] == "urgency"


def test_a_stale_button_is_refused_not_taken_as_a_slot(world):
    r = world.say("可以养狗吗")
    stale = r.replies[0].buttons[0]
    assert stale.title == "没有解决我的问题" and stale.payload == "/not_helpful pets"
    world.say("我要报修")
    assert "地点" in world.texts(world.say("客厅插座没电"))
    r = world.say(stale.payload)  # tapped later, under the location question
    assert "失效" in world.texts(r) and "地点" in world.texts(r)
    r = world.say("/slot urgency urgent")  # a button of a question not asked yet
    assert "失效" in world.texts(r)
    with world.db.session() as s:
        flow = s.get(Conversation, r.conversation_id).flow
        assert flow["asking"] == "location" and "location" not in flow["slots"] and "urgency" not in flow["slots"]
    assert stored_route(world, stale.payload)["action"] == "stale_button"
    with world.db.session() as s:  # stored as the button's title, the payload kept with the reading
        tapped = s.scalars(sa.select(Message).where(Message.sender == "resident").order_by(Message.id.desc())).all()[1]
        assert (tapped.text, tapped.nlu["payload"]) == ("没有解决我的问题", "/not_helpful pets")


def test_water_from_the_neighbours_air_conditioner_is_not_a_repair_form(world):
    world.agents_online()
    r = world.say("空调外机滴水，滴到我家窗台上")
    assert r.handoff and "描述" not in world.texts(r) and "地点" not in world.texts(r)
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None



def test_a_days_work_order_numbers_follow_that_days_highest_whatever_other_days_hold(world_on_each_database):
    """The day's next number (actions/repairs.py next_number) is read as a range of the number's index: orders of the
    day before and the day after, and numbers of another form, do not move it; past 999 it has four digits."""
    world = world_on_each_database

    def report(sender: str) -> str:
        for text in ("我要报修", "厨房水龙头漏水", "3栋2单元501，13800138000，明天上午"):
            world.say(text, sender)
        return re.search(r"WO\d{11,}", world.texts(world.say("/slot urgency normal", sender))).group()

    with world.db.session() as s:
        today = s.scalar(sa.select(sa.func.count()).select_from(WorkOrder).where(WorkOrder.number.like("WO20261127%")))
    first = report("numbers-1")
    assert first == f"WO20261127{today + 1:03d}"
    with world.db.session() as s:  # copies of that order under other days' numbers (and of other forms)
        columns = ", ".join(c.name for c in WorkOrder.__table__.c if c.name not in ("id", "number"))
        for other in ("WO20261128009", "WO20261126950", "WO2026112", "WX20261127990"):
            s.execute(sa.text(f"INSERT INTO work_orders (number, {columns}) SELECT :number, {columns} FROM work_orders "
                              "WHERE number = :first"), {"number": other, "first": first})
    assert report("numbers-2") == f"WO20261127{today + 2:03d}"
    with world.db.session() as s:  # past the day's 999th order the numbers have four digits (more than 20 of them:
        # a retry's skip no longer reaches a free one)
        for other in ["WO20261127999"] + [f"WO20261127{n}" for n in range(1000, 1021)]:
            s.execute(sa.text(f"INSERT INTO work_orders (number, {columns}) SELECT :number, {columns} FROM work_orders "
                              "WHERE number = :first"), {"number": other, "first": first})
    assert report("numbers-3") == "WO202611271021"


def test_a_plate_typed_for_the_room_is_asked_for_the_room_not_told_the_room_is_unknown(world):
    world.say("明天有朋友来，帮我登记一下访客车", sender="visitor")
    r = world.say("粤B12345", sender="visitor")
    assert world.texts(r).startswith("请先输入您的房号") and "没有找到" not in world.texts(r)
    r = world.say("9栋9单元909", sender="visitor")  # a room that does not exist
    assert "没有找到这个房号" in world.texts(r)


def test_a_bound_resident_reporting_after_a_bare_request_is_not_asked_the_place(world):
    """"我要报修" then "阳台的灯不亮": the place was taken from the binding only when the first message described
    the problem; after a bare request a bound resident was asked the place, and asked it again after each answer."""
    household = world.household(building=1, unit=1)
    world.bind(household, sender="bound")
    world.say("我要报修", sender="bound")
    r = world.say("阳台的灯不亮", sender="bound")
    assert "紧急" in world.texts(r) and "地点" not in world.texts(r)
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow["slots"]["location"] == household.label


def test_asking_when_within_the_promise_is_not_a_chase(world):
    """"我的报修什么时候来" minutes after the report was recorded as the first chase and "通知工程部加快处理"; within
    the promise it is answered with the progress; past it, it is a chase."""
    household = world.household(building=1, unit=1)
    world.bind(household, sender="when")
    world.say("阳台的灯不亮", sender="when")
    world.say("一般", sender="when")
    world.say("尽快", sender="when")
    r = world.say("我的报修什么时候来", sender="when")
    assert "预计" in world.texts(r) and "催促" not in world.texts(r)
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.household_id == household.id).order_by(WorkOrder.id.desc()))
        assert order.chase_count == 0
        order.response_due = order.created_at - dt.timedelta(minutes=1)  # the dispatch promise has passed
        s.commit()
    r = world.say("我的报修什么时候来", sender="when")
    assert "催促" in world.texts(r)


def test_paid_yet_shown_as_owed_shows_the_bill_and_hands_to_billing(world):
    household = arrears_household(world)
    world.bind(household, sender="paid")
    r = world.say("我上个月交过了怎么还显示欠费", sender="paid")
    assert "待缴" in world.texts(r) and "到账延迟" in world.texts(r) and r.handoff is not None
    with world.db.session() as s:
        handoff = s.scalars(sa.select(Handoff).where(Handoff.conversation_id == r.conversation_id)).one()
        assert "fee dispute" in handoff.reasons and handoff.kind == "billing"
    r = world.say("查一下我家物业费", sender="paid")  # a plain look-up hands nothing off
    assert "到账延迟" not in world.texts(r)


def test_a_repair_at_a_room_the_community_cannot_have_is_asked_again(world):
    """An unbound resident's repair at "1栋1单元1201" (1栋 has no twelfth floor) carried a place nobody lives at; the
    room is now checked against the 小区's buildings, units and floors, and the place asked again."""
    world.say("我要报修", sender="typo")
    world.say("卫生间水管漏水", sender="typo")
    r = world.say("1栋1单元1201", sender="typo")
    assert "没有“1栋1单元1201”这个房号" in world.texts(r) and "维修地点" in world.texts(r)
    with world.db.session() as s:
        assert "location" not in s.get(Conversation, r.conversation_id).flow["slots"]
    assert "紧急" in world.texts(world.say("1栋1单元102", sender="typo"))
    # the room in the first message: a building the 小区 does not have
    r = world.say("19栋1单元301厨房水龙头漏水", sender="typo2")
    assert "没有“19栋1单元301”这个房号" in world.texts(r) and "维修地点" in world.texts(r)
    r = world.say("2栋2单元301", sender="typo2")
    assert "紧急" in world.texts(r)
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow["slots"]["location"] == "2栋2单元301"


def test_a_bare_12345_at_the_room_question_is_asked_again_not_handed_off_as_a_threat(world):
    world.say("查一下我家物业费", sender="digits")
    r = world.say("12345", sender="digits")
    assert "非常抱歉" not in world.texts(r) and "房号" in world.texts(r)
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Handoff).where(
            Handoff.conversation_id == r.conversation_id)) == 0

"""Handoffs through the engine: emergencies, callbacks out of hours, the bot silent while an agent owns the conversation, asking for a person again, neighbour disputes."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.handoffs import handoff as handoffs
from bot.storage.models import Conversation, Handoff, Household, Message, Staff
from tests.unit.conversation.world import NOW, arrears_household, stored_route


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


def _last_callback(world):
    with world.db.session() as s:
        return s.scalars(sa.select(handoffs.Handoff)).all()[-1]


def test_a_resident_who_will_not_leave_a_number_keeps_the_ticket_and_is_told_where_the_answer_comes(world):
    world.say("我要找人工客服")
    r = world.say("不想留电话")
    assert "不登记回电了" in world.texts(r) and "会在这里回复您" in world.texts(r) and "已取消" not in world.texts(r)
    handoff = _last_callback(world)
    assert handoff.ticket in world.texts(r) and handoff.status == "callback"  # still waiting for a person
    assert (handoff.callback_phone, handoff.callback_at) == (None, None)  # nothing of the callback stored
    assert r.handoff["status"] == "callback"
    assert "办公时间" in world.texts(world.say("物业几点上班"))  # the question ended: the next message is read anew


def test_cancel_while_the_callback_is_asked_ends_only_the_questions(world):
    world.say("转人工")
    r = world.say("随便")  # asked again: the way on is not leaving a number (a person is already coming)
    assert "没有识别到手机号" in world.texts(r)
    assert [b.title for b in r.replies[-1].buttons] == ["不留电话，在这里等回复"]
    r = world.say(r.replies[-1].buttons[0].payload)
    assert "不登记回电了" in world.texts(r) and _last_callback(world).status == "callback"
    world.say("转人工", sender="r2")
    r = world.say("取消", sender="r2")
    assert "不登记回电了" in world.texts(r) and "已取消" not in world.texts(r)


def test_a_time_in_a_story_is_not_when_to_call(world):
    world.say("转人工")
    r = world.say("楼上装修太吵了，周末早上七点就开始砸墙")  # told while asked for a number: not a callback time
    assert "手机号" in world.texts(r)
    r = world.say("13912345678")
    assert "方便接听" in world.texts(r)  # the time is still asked
    r = world.say("明天下午三点")
    assert "已登记回电" in world.texts(r) and _last_callback(world).callback_window != "周末"
    world.say("转人工", sender="r2")
    r = world.say("13812345678 明天上午", sender="r2")  # beside a number, a time is the window
    assert "已登记回电" in world.texts(r) and _last_callback(world).callback_window == "明天上午"


def test_a_number_given_in_the_message_that_asks_for_a_person_is_the_callback_number(world):
    """"转人工，电话13912345678" out of hours: the number just typed is not asked for again."""
    r = world.say("转人工，我电话13912345678")
    assert r.handoff["status"] == "callback"
    assert "手机号码" not in world.texts(r) and "方便接听" in world.texts(r)
    r = world.say("明天上午")
    assert "尾号5678" in world.texts(r) and _last_callback(world).callback_phone == "13912345678"
    r = world.say("我要找人工客服 13812345678 明天下午三点", sender="r2")  # number and time: nothing left to ask
    assert "已登记回电" in world.texts(r) and "尾号5678" in world.texts(r)
    assert (_last_callback(world).callback_phone, r.handoff["status"]) == ("13812345678", "callback")


def test_a_complaint_told_where_the_callback_time_is_asked_is_not_the_time(world):
    world.say("转人工")
    assert "方便接听" in world.texts(world.say("13912345678"))
    r = world.say("楼上每天晚上很吵，我要投诉")  # 晚上 in a story is not "call me today"
    assert "已登记回电" not in world.texts(r) and "方便接听" in world.texts(r)
    assert _last_callback(world).callback_window is None
    assert "已登记回电" in world.texts(world.say("今天晚上七点以后打给我吧"))


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


def test_the_bound_phone_questions_buttons_count_typed_as_on_wechat(world):
    household = arrears_household(world)
    world.bind(household)
    world.say("转人工")
    assert "方便接听" in world.texts(world.say("就用这个号码"))  # WeChat lists the titles to type
    with world.db.session() as s:  # another household of the 小区: a code is not sent again to the same phone at once
        other = s.scalar(sa.select(Household).where(Household.community_id == household.community_id,
                                                             Household.phone != household.phone))
    world.bind(other, "r2")
    world.say("转人工", sender="r2")
    assert "请留一个方便回电的手机号码" in world.texts(world.say("换一个号码", sender="r2"))


def test_a_no_to_the_registered_phone_asks_for_another_number(world):
    household = arrears_household(world)
    world.bind(household)
    world.say("转人工")
    for no in ("不是", "不行"):
        assert "请留一个方便回电的手机号码" in world.texts(world.say(no)), no  # "不是" read 是 before: a yes


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


def test_a_resident_whose_own_home_leaks_downstairs_is_not_told_to_ask_the_upstairs_neighbour(world):
    r = world.say("我家卫生间漏水到楼下了", sender="own")
    assert "关闭家里的进水总阀" in world.texts(r) and "需要楼上住户配合" not in world.texts(r)
    assert r.handoff is not None  # the same person goes: the leak and the neighbour below
    r = world.say("楼上卫生间渗水，我家天花板有一块水印", sender="below")  # "我家…渗" but from above
    assert "需要楼上住户配合" in world.texts(r)


def test_a_car_in_ones_space_or_a_dog_off_its_lead_is_reported_to_a_person_not_looked_up(world):
    """"我的车位被别人占了" started the parking look-up (verify, then the card's expiry); the dogs were a
    clarification between the pets FAQ and 失物招领."""
    r = world.say("我的车位被别人占了", sender="space")
    assert "联系占用车辆的车主" in world.texts(r) and "验证身份" not in world.texts(r) and r.handoff is not None
    with world.db.session() as s:
        handoff = s.scalars(sa.select(Handoff).where(Handoff.conversation_id == r.conversation_id)).one()
        assert "parking space taken" in handoff.reasons
    assert stored_route(world, "我的车位被别人占了")["action"] == "neighbour"
    r = world.say("有人在小区遛狗不牵绳", sender="dog")
    assert "遛狗须牵绳" in world.texts(r) and r.handoff is not None
    assert stored_route(world, "有人在小区遛狗不牵绳")["action"] == "neighbour"
    r = world.say("楼下的狗天天叫", sender="bark")  # a barking dog is noise: the quiet hours, not the lead
    assert "安静时段" in world.texts(r) and "牵绳" not in world.texts(r)
    r = world.say("遛狗不牵绳罚款吗", sender="rule")  # a question about the rule is answered, not reported
    assert stored_route(world, "遛狗不牵绳罚款吗")["action"] == "answer" and r.handoff is None


def test_an_upset_resident_hears_an_apology_before_the_queue_and_a_plain_request_does_not(world):
    world.agents_online()
    r = world.say("你们这物业干什么吃的，垃圾三天没人收了", sender="upset")
    assert r.replies[0].text == "非常抱歉给您带来不好的体验，您反映的问题我们会认真处理。" and r.handoff is not None
    assert "排队第" in world.texts(r)
    r = world.say("转人工", sender="plain")
    assert "抱歉" not in world.texts(r) and r.handoff is not None


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


def test_what_the_bot_cannot_read_while_a_person_is_awaited_is_noted_for_them_not_met_with_the_menu(world):
    """A queued resident's "明天上午" met 抱歉，这个问题我回答不了 and the bot's topic buttons; a topic no entry answers
    offered 转人工 to someone already waiting. They are told where they stand; a question the bot can answer still is."""
    world.agents_online()
    r = world.say("转人工", sender="q1")
    assert r.handoff is not None
    for text in ("明天上午", "。。。", "附近有什么好吃的餐馆"):
        r = world.say(text, sender="q1")
        route = stored_route(world, text)
        assert route["action"] == "still_queued" and route["reasons"] == ["added while waiting"], (text, route)
        assert "仍在排队" in world.texts(r) and "回答不了" not in world.texts(r) and "答不上来" not in world.texts(r)
        assert not any(b.payload == "/handoff" for reply in r.replies for b in reply.buttons or [])
    r = world.say("物业几点上班", sender="q1")
    assert stored_route(world, "物业几点上班")["action"] == "answer"
    assert world.say("明天上午", sender="q2") and stored_route(world, "明天上午")["action"] != "still_queued"


def test_asking_how_long_while_waiting_says_where_it_stands_and_withdrawing_closes_the_request(world_on_each_database):
    """"还要等多久" was a clarification offering FAQ entries; "算了不用了" was "好的" with the handoff left in the
    agents' queue (or a callback ticket someone would call back). On both databases: the turn writes the closed
    handoff in its own statement where it can (engine ``_other_changes``)."""
    world = world_on_each_database
    world.agents_online()
    r = world.say("转人工", sender="wait")
    assert r.handoff is not None
    r = world.say("还要等多久", sender="wait")
    assert stored_route(world, "还要等多久")["action"] == "still_queued" and "排队" in world.texts(r)
    r = world.say("算了不用了", sender="wait")
    assert stored_route(world, "算了不用了")["action"] == "withdraw_handoff"
    assert "已为您取消人工客服排队" in world.texts(r) and r.handoff is None and "resolved" in r.changes
    with world.db.session() as s:
        handoff = s.scalars(sa.select(Handoff).where(Handoff.conversation_id == r.conversation_id)).one()
        conversation = s.get(Conversation, r.conversation_id)
        assert handoff.status == "resolved" and "resident withdrew" in handoff.reasons
        assert conversation.status == "bot" and conversation.waiting_since is None and conversation.priority is None
    assert stored_route(world, "算了不用了")  # and the next question is the bot's again
    r = world.say("物业几点上班", sender="wait")
    assert stored_route(world, "物业几点上班")["action"] == "answer" and r.handoff is None


def test_withdrawing_a_callback_ticket_closes_it_with_its_number(world):
    r = world.say("转人工", sender="late")  # nobody online: a callback ticket, asked for a phone
    with world.db.session() as s:
        ticket = s.scalars(sa.select(Handoff).where(Handoff.conversation_id == r.conversation_id)).one().ticket
    assert ticket and "回电" in world.texts(r)
    world.say("不想留电话", sender="late")  # (a no to the phone question keeps the ticket: a person still answers)
    r = world.say("算了不用了", sender="late")
    assert f"已为您取消回电登记（编号 {ticket}）" in world.texts(r)
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None


def test_a_further_urgent_message_after_the_page_is_added_not_asked_the_triage_question(world):
    world.agents_online()
    r = world.say("3栋1单元电梯困人了", sender="lift")
    pages = len(world.sms.sent)
    assert r.handoff["priority"] == "urgent" and stored_route(world, "3栋1单元电梯困人了")["action"] == "emergency"
    r = world.say("里面是我妈，快点", sender="lift")
    assert stored_route(world, "里面是我妈，快点")["action"] in ("urgent_again", "emergency")
    assert "现在有人受伤、被困或危险正在发生吗" not in world.texts(r) and "应急电话" in world.texts(r)
    assert len(world.sms.sent) <= pages + 1

"""Whole conversations through the engine with the real model and a real database."""
from __future__ import annotations

import datetime as dt
import re
from typing import List

import pytest
import sqlalchemy as sa

from bot.conversation.engine import ConversationEngine, InputError
from bot.core.notify import LogSmsSender
from bot.handoffs import handoff as handoffs
from bot.kb.knowledge import load_knowledge_base
from bot.storage.db import open_database
from bot.storage.models import Bill, Conversation, Household, Message, ParkingCard, Staff, VisitorPass, WorkOrder
from bot.tools.demo import load_demo_data

NOW = dt.datetime(2026, 11, 27, 2, 0)  # UTC: a Friday morning in Beijing (10:00), inside agent hours


class World:
    def __init__(self, url: str, parser, settings):
        self.url = url
        self.parser = parser
        self.settings = settings
        self.sms = LogSmsSender()
        self.db = open_database(url)
        self.kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
        self.engine = self.new_engine()

    def new_engine(self) -> ConversationEngine:
        """A fresh engine on the same database: what a process restart gives."""
        return ConversationEngine(db=open_database(self.url), parser=self.parser, kb_provider=lambda: self.kb,
                                  sms=self.sms, clock=lambda: NOW)

    def say(self, text: str, sender: str = "r1"):
        return self.engine.handle("web", sender, text)

    def texts(self, result) -> str:
        return "\n".join(r.text for r in result.replies)

    def household(self, **where) -> Household:
        with self.db.session() as s:
            query = sa.select(Household)
            for key, value in where.items():
                query = query.where(getattr(Household, key) == value)
            return s.scalars(query.order_by(Household.id)).first()

    def agents_online(self) -> List[Staff]:
        with self.db.session() as s:
            staff = list(s.scalars(sa.select(Staff)))
            for member in staff:
                member.last_seen = NOW
            return staff

    def bind(self, household: Household, sender: str = "r1") -> None:
        r = self.say("查一下我家物业费", sender)
        assert "房号" in self.texts(r)
        r = self.say(household.label, sender)
        assert "验证码已发送" in self.texts(r)
        code = re.search(r"验证码是 (\d{6})", self.sms.sent[-1][1]).group(1)
        assert self.sms.sent[-1][0] == household.phone
        r = self.say(code, sender)
        assert "验证成功" in self.texts(r)


@pytest.fixture
def world(tmp_path, parser, settings):
    w = World(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
    with w.db.session() as s:
        load_demo_data(s, w.kb.communities, today=NOW.date())
    return w


def arrears_household(world: World) -> Household:
    with world.db.session() as s:
        hid = s.scalar(sa.select(Bill.household_id).where(Bill.paid.is_(False)).order_by(Bill.household_id))
        return s.get(Household, hid)


def test_faq_answer_uses_the_communitys_values(world):
    r = world.say("物业电话是多少")
    assert "020-8888 6601" in world.texts(r)
    r2 = world.engine.handle("web", "r-binjiang", "物业电话是多少", community_id="binjiang")
    assert "0571-8765 4300" in world.texts(r2)


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
    assert "门禁卡" in text and "工本费" in text
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None


def test_clarify_ladder_ends_in_handoff(world):
    world.agents_online()
    r1 = world.say("那个东西怎么弄啊")
    assert r1.replies[0].buttons and r1.handoff is None
    assert any(b.payload == "/handoff" for b in r1.replies[0].buttons)
    r2 = world.say("这个怎么搞")
    assert r2.handoff and r2.handoff["priority"] == "normal" and r2.handoff["status"] == "queued"


def test_rejecting_answers_twice_hands_off(world):
    world.agents_online()
    world.say("垃圾几点扔")
    world.say("没有解决我的问题")
    world.say("物业几点上班")
    r = world.say("没有解决我的问题")
    assert r.handoff and r.handoff["priority"] == "normal"


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


def test_several_requests_in_one_message_are_all_acted_on(world):
    text = world.texts(world.say("物业费多少钱一平？另外厨房水龙头漏水"))
    assert "2.80" in text  # the fee standard answer
    assert "地点" in text or "紧急" in text  # and the repair flow started


def test_a_story_before_the_question_is_context_not_a_request(world):
    result = world.say("上周楼上装修吵得我睡不着，我老公还上去吵了一架。想问一下装修几点可以开始？", sender="story")
    assert result.handoff is None  # the complaint in the story does not open a handoff
    assert world.engine.kb_provider().render("renovation_hours") == result.replies[0].text


def test_request_segments_keep_requests_and_drop_the_story():
    from bot.routing.router import request_segments

    assert request_segments("物业费多少？另外厨房漏水") == ["物业费多少", "厨房漏水"]
    assert request_segments("上周楼上装修，吵得不行。想问一下装修几点可以开始？") == ["想问一下装修几点可以开始"]
    assert request_segments("电梯困人了！另外我要投诉保安") == ["电梯困人了", "我要投诉保安"]
    assert request_segments("物业费多少另外厨房漏水") == ["物业费多少", "厨房漏水"]  # voice input: no punctuation
    # 另外 after a modal is "separately", not "besides": the question keeps its topic
    assert request_segments("装修押金多少？清运费要另外交吗") == ["装修押金多少", "清运费要另外交吗"]
    assert request_segments("快递放哪 需不需要另外付钱") == ["快递放哪 需不需要另外付钱"]
    # 还有 / 顺便 inside a clause join words; the thanks and the story are not requests
    assert request_segments("楼下草坪啥时候打药呀🤔 家里有娃还有只狗，怕碰到") == ["楼下草坪啥时候打药呀🤔 家里有娃还有只狗，怕碰到"]
    assert request_segments("以前都是去物业办公室交费，顺便把停车费也交了。现在物业费有哪些交法？麻烦你们了") == \
        ["现在物业费有哪些交法"]
    assert request_segments("孙子要来住，他的门禁卡我都给办好了。请问能装哪几家的宽带？") == ["请问能装哪几家的宽带"]


def test_two_questions_of_one_faq_get_its_answer_once(world):
    result = world.say("物业费多少钱一平？物业费是按建筑面积算的吗？", sender="one-faq-twice")
    answers = [b.payload for r in result.replies for b in r.buttons if b.payload.startswith("/not_helpful ")]
    assert answers == ["/not_helpful fee_standard"]


def test_a_detail_asked_in_the_same_message_is_the_first_questions_and_a_set_apart_question_its_own(world):
    """Rule 10d within one message: "是纸质的还是电子的，要去哪里领" after an invoice question in the same message
    is the invoice's detail (the invoice answer's words carry it), answered once, not the utilities-account FAQ;
    a part after 还有 / 另外 that is confident of another FAQ alone is its own question (``set_apart``)."""
    def answered(result):
        return [b.payload.split(" ", 1)[1] for r in result.replies for b in r.buttons
                if b.payload.startswith("/not_helpful ")]

    assert answered(world.say("请问交了物业费以后能开发票吗？是纸质的还是电子的，要去哪里领", sender="a")) == ["invoice"]
    assert answered(world.say("绿化多久修剪一次？还有狗能在草坪上跑吗", sender="b")) == ["greenery", "pets"]
    # no connector, but the part opens with its own subject (狗), which the greenery answer never mentions
    assert answered(world.say("绿化多久修剪一次？狗能在草坪上跑吗", sender="c")) == ["greenery", "pets"]
    assert answered(world.say("搬家那天得跟物业打招呼不？货梯让用不？", sender="d")) == ["move_in_out"]  # 货梯 is in it


def test_a_question_and_a_request_for_a_person_get_the_answer_and_the_person(world):
    result = world.say("业委会找谁啊？另外我要转人工", sender="two-requests")
    assert result.route["action"] == "several" and result.route["decision"] == "handoff"
    assert result.handoff is not None
    assert world.engine.kb_provider().render("owners_committee") == result.replies[0].text  # the answer comes first


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


# --- engine v2: one policy, forms, honest small answers (issue 7) ------------------------------------------
def stored_route(world, text):
    """The route stored with the latest resident message that was ``text`` (typed, or a button's payload)."""
    with world.db.session() as s:
        for message in s.scalars(sa.select(Message).where(Message.sender == "resident").order_by(Message.id.desc())):
            if message.text == text or (message.nlu or {}).get("payload") == text:
                return message.nlu["route"]


def test_slots_given_early_or_together_are_all_used(world):
    world.say("我要报修")
    assert "地点" in world.texts(world.say("厨房水龙头漏水"))
    r = world.say("3栋2单元501，13800138000，明天上午")
    assert "紧急" in world.texts(r) and "电话" not in world.texts(r)  # only the urgency is still missing
    assert [b.payload for b in r.replies[-1].buttons] == ["/slot urgency normal", "/slot urgency urgent"]
    text = world.texts(world.say("/slot urgency normal"))
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == re.search(r"WO\d{11}", text).group()))
        assert (order.location, order.contact_phone, order.preferred_time, order.urgency) == \
            ("3栋2单元501", "13800138000", "2026-11-28T09:00", "normal")


def test_one_message_with_everything_creates_the_work_order_at_once(world):
    text = world.texts(world.say("5栋1单元302卫生间马桶堵了，不急，电话13700001111，明天下午三点来修"))
    number = re.search(r"WO\d{11}", text).group()
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.number == number))
        assert (order.contact_phone, order.preferred_time, order.urgency) == ("13700001111", "2026-11-28T15:00", "normal")


def test_another_request_is_never_swallowed_as_a_slot_value(world):
    world.say("我要报修")
    world.say("阳台灯不亮了")
    assert "紧急" in world.texts(world.say("3栋1单元201"))
    r = world.say("查一下进度")  # asked "情况紧急吗？": this is another request, not the urgency
    assert "紧急" not in world.texts(r) and ("工单" in world.texts(r) or "报修记录" in world.texts(r))
    assert stored_route(world, "查一下进度")["action"] == "start_flow"
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WorkOrder).where(WorkOrder.location == "3栋1单元201")) == 0


def test_a_reply_that_is_no_answer_is_asked_again(world):
    world.say("我要报修")
    world.say("门锁坏了")
    world.say("2栋1单元101")
    r = world.say("嗯嗯嗯")  # not an urgency
    assert "一般" in world.texts(r) and "紧急" in world.texts(r)
    assert [b.payload for b in r.replies[-1].buttons] == ["/slot urgency normal", "/slot urgency urgent"]
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


def test_nonsense_is_a_failed_understanding(world):
    world.agents_online()
    r = world.say("啊啊啊啊")
    assert "没看懂" in world.texts(r) and "还有什么可以帮您" not in world.texts(r)
    assert stored_route(world, "啊啊啊啊")["failed"] is True
    r = world.say("asdfgh")
    assert r.handoff and r.handoff["status"] == "queued"
    assert "two failed understandings in a row" in stored_route(world, "asdfgh")["reasons"]


def test_out_of_scope_gets_an_honest_refusal_and_the_topic_menu(world):
    r = world.say("房价多少")
    assert "回答不了" in world.texts(r) and "2.80" not in world.texts(r)
    titles = [b.title for b in r.replies[0].buttons]
    assert {"查询物业费", "报修", "转人工客服"} <= set(titles)
    assert stored_route(world, "房价多少")["decision"] == "reject"


def test_the_same_answer_is_never_sent_twice_in_a_row(world):
    first = world.texts(world.say("小区可以养狗吗"))
    r = world.say("小区里可以养狗吗？")  # the same question again: the answer did not help
    assert world.texts(r) != first and "刚刚已经回答过" in world.texts(r)
    assert [b.payload for b in r.replies[0].buttons] == ["/handoff"]
    assert stored_route(world, "小区里可以养狗吗？")["action"] == "repeat"


def test_a_follow_up_question_gets_the_sentence_of_the_answer_it_asks_about(world):
    """Rule 10d: "补一张要多少钱" right after the access-card answer is a detail of that answer (not "answered
    already"); the fee's sentence is sent, the whole answer a button away."""
    world.say("门禁卡丢了怎么办")
    r = world.say("补一张要多少钱")
    route = stored_route(world, "补一张要多少钱")
    assert route["action"] == "detail" and route["target"] == "access_card" and not route["failed"]
    text = world.texts(r)
    assert "工本费" in text and "元" in text and "挂失后旧卡立即失效" not in text
    assert [b.payload for b in r.replies[0].buttons] == ["/faq access_card", "/not_helpful access_card"]
    assert "挂失后旧卡立即失效" in world.texts(world.say("/faq access_card"))  # the whole answer


def test_an_elliptical_follow_up_is_read_with_the_question_before_it(world):
    """Read alone, "是纸质的还是电子的，要去哪里领" is the utilities-account FAQ; after an invoice question it is
    about the invoice. A complete new question after an answer is read on its own."""
    world.say("发票怎么开")
    r = world.say("是纸质的还是电子的，要去哪里领")
    assert stored_route(world, "是纸质的还是电子的，要去哪里领")["target"] == "invoice"
    assert "发票" in world.texts(r)
    world.say("物业费多少钱一平")
    world.say("厨房水管漏水了要报修")
    assert stored_route(world, "厨房水管漏水了要报修")["action"] == "start_flow"


def test_a_short_new_question_after_an_answer_is_not_taken_for_its_detail(world):
    """Read with "物业中心几点下班" before it, "宽带报装找你们不" reads as office hours (0.80), yet broadband keeps
    0.19 and the office-hours answer has none of its words: it is read alone (FOLLOW_UP_KEEP_LOW). "顺便问下…"
    says a new question begins (NEW_QUESTION)."""
    world.say("物业中心几点下班")
    r = world.say("宽带报装找你们不")
    route = stored_route(world, "宽带报装找你们不")
    assert route["action"] != "detail" and route["target"] == "broadband"
    assert [b.payload for b in r.replies[-1].buttons][-1] == "/not_helpful broadband"
    world.say("停电前物业会提前通知吗", sender="other")
    world.say("顺便问下 电费在哪交啊", sender="other")
    route = stored_route(world, "顺便问下 电费在哪交啊")
    assert route["action"] != "detail" and route["target"] == "utilities_account"


def test_without_an_answer_before_it_a_message_is_read_alone(world):
    world.say("是纸质的还是电子的，要去哪里领")
    route = stored_route(world, "是纸质的还是电子的，要去哪里领")
    assert route["action"] != "detail" and not any("question" in r or "follow-up" in r for r in route["reasons"])


def test_rejected_answers_are_stored_as_failed_and_reported(world):
    world.agents_online()
    world.say("垃圾几点扔")
    world.say("没有解决我的问题")
    route = stored_route(world, "没有解决我的问题")
    assert route["action"] == "not_helpful" and route["failed"] is True
    from bot.reporting.reports import failures

    with world.db.session() as s:
        examples = [e for group in failures(s)["groups"] for e in group["examples"]]
    # the failed question is the one whose answer was rejected, not the words of the rejection
    assert any(e["text"] == "垃圾几点扔" and e["reason"] == "not_helpful" for e in examples)
    assert not any(e["text"] == "没有解决我的问题" for e in examples)


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


def test_water_from_the_neighbours_air_conditioner_is_not_a_repair_form(world):
    world.agents_online()
    r = world.say("空调外机滴水，滴到我家窗台上")
    assert r.handoff and "描述" not in world.texts(r) and "地点" not in world.texts(r)
    with world.db.session() as s:
        assert s.get(Conversation, r.conversation_id).flow is None


def test_thresholds_live_in_the_router_only():
    import bot.conversation.engine as engine
    import bot.routing.router as router

    for name in ("SWITCH_CONFIDENCE", "REJECTION", "EMERGENCY_INTENT_THRESHOLD", "CLARIFY_THRESHOLD"):
        assert not hasattr(engine, name) and hasattr(router, name)


# --- abuse limits (issue 8) --------------------------------------------------------------------------------
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


# --- local time, holidays, 调休 (issue 9) -------------------------------------------------------------------
def at(world, utc: dt.datetime) -> None:
    world.engine.clock = lambda: utc


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

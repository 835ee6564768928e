"""Residents' voice with the real model and database (issue 28 point 2): a suggestion is recorded with a number
and acknowledged, an admin's reply reaches the resident's conversation; a poll is offered, voted on by button and by a
digit typed on WeChat, once per household."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from bot.storage import outbox
from bot.storage.models import ChatIdentity, Conversation, Message, Poll, PollVote, Staff, Suggestion
from bot.voice import polls, suggestions
from tests.unit.conversation.world import NOW, stored_route


def _poll(world, per="household", buildings=(), opens=NOW - dt.timedelta(hours=1),
          closes=NOW + dt.timedelta(days=3), show_results=False, community="jinxiu") -> int:
    with world.db.session() as s:
        poll = Poll(community_id=community, buildings=list(buildings), question="小区东门是否改为24小时开放？",
                    options=["同意", "不同意", "无所谓"], per=per, opens_at=opens, closes_at=closes,
                    show_results=show_results, created_at=NOW)
        s.add(poll)
        s.flush()
        return poll.id


def _bound(world, household, sender):
    """A second identity of the same household, already verified (a second code to the same phone within minutes
    is refused by the code limits: tested in the binding flow's own tests)."""
    world.say("你好", sender)
    with world.db.session() as s:
        identity = s.scalar(sa.select(ChatIdentity).where(ChatIdentity.sender_id == sender))
        identity.household_id, identity.verified_at = household.id, NOW


def _votes(world, poll_id):
    with world.db.session() as s:
        return [(v.voter, v.option, v.channel) for v in s.scalars(sa.select(PollVote).where(PollVote.poll_id == poll_id))]


def test_a_suggestion_is_recorded_with_a_number_and_acknowledged(world):
    household = world.household(community_id="jinxiu")
    world.bind(household)
    r = world.say("建议物业在小区东门装一个智能快递柜，取件方便很多")
    assert world.texts(r) == "感谢您的建议！编号 JY20261127001，我们会认真研究，有结果会在这里告诉您。"
    route = stored_route(world, "建议物业在小区东门装一个智能快递柜，取件方便很多")
    assert route["action"] == "suggestion" and route["decision"] != "handoff" and r.handoff is None
    r = world.say("希望小区里能多放几张长椅，老人散步走累了可以歇歇", sender="r2")  # unbound: the 小区, no building
    assert "编号 JY20261127002" in world.texts(r)
    with world.db.session() as s:
        first, second = s.scalars(sa.select(Suggestion).order_by(Suggestion.id)).all()
        identity = s.scalar(sa.select(ChatIdentity).where(ChatIdentity.sender_id == "r1"))
        assert (first.number, first.text, first.status) == \
            ("JY20261127001", "建议物业在小区东门装一个智能快递柜，取件方便很多", "pending")
        assert (first.community_id, first.building, first.household_id, first.identity_id) == \
            ("jinxiu", household.building, household.id, identity.id)
        assert s.get(Conversation, first.conversation_id).identity_id == identity.id
        assert (second.number, second.building, second.household_id) == ("JY20261127002", None, None)


def test_announcing_a_suggestion_asks_for_it_and_the_next_message_is_recorded(world):
    """"我有个建议" was recorded as the suggestion (admins got an empty one, the real one a second number)."""
    def count():
        with world.db.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(Suggestion))
    before = count()
    r = world.say("我有个建议", sender="sugg")
    assert r.replies[-1].text == suggestions.ASK and count() == before
    r = world.say("小区里能不能多装几个充电桩", sender="sugg")
    assert "感谢您的建议" in world.texts(r) and count() == before + 1
    with world.db.session() as s:
        latest = s.scalars(sa.select(Suggestion).order_by(Suggestion.id.desc())).first()
        assert latest.text == "小区里能不能多装几个充电桩"
        assert s.get(Conversation, r.conversation_id).flow is None
    world.say("我想提个意见", sender="sugg2")  # a question instead is answered, and nothing is recorded
    r = world.say("物业费多少钱一平", sender="sugg2")
    assert stored_route(world, "物业费多少钱一平")["action"] == "answer" and count() == before + 1


def test_an_angry_suggestion_still_goes_to_a_person_first(world):
    r = world.say("你们物业到底管不管！我投诉三次了，建议你们赶紧把门禁修好！！！")
    assert r.handoff is not None and r.handoff["priority"] == "high"
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Suggestion)) == 0


def test_the_admins_reply_reaches_the_residents_conversation_and_the_status_changes(world):
    world.say("建议物业在小区东门装一个智能快递柜，取件方便很多")
    with world.db.session() as s:
        suggestion = s.scalar(sa.select(Suggestion))
        admin = s.scalar(sa.select(Staff).where(Staff.role == "admin"))
        suggestions.answer(s, suggestion.id, admin, "adopted", "已经采纳，快递柜下个月安装。", NOW)
        recorded = outbox.take(s)  # what live.change sends after the commit (the widget, a WeChat push)
        assert list(recorded.conversations) == [suggestion.conversation_id]
        assert recorded.conversations[suggestion.conversation_id].kinds == ["message_stored"]
    with world.db.session() as s:
        suggestion = s.scalar(sa.select(Suggestion))
        assert (suggestion.status, suggestion.reply) == ("adopted", "已经采纳，快递柜下个月安装。")
        last = s.scalar(sa.select(Message).where(Message.conversation_id == suggestion.conversation_id)
                        .order_by(Message.id.desc()))
        assert last.sender == "bot"
        assert last.text == "关于您的建议（编号 JY20261127001，已采纳），物业回复：已经采纳，快递柜下个月安装。"
        listed = suggestions.listing(s, world.kb)
        assert listed["suggestions"][0]["status_label"] == "已采纳" and listed["groups"][0]["count"] == 1


def test_asking_for_a_poll_when_none_is_open_is_told_so_not_answered_from_an_entry(world):
    for text in ("有投票吗", "最近小区有什么投票吗", "投票在哪里投",  # the classifier alone read 有投票吗 as 发票
                 "小区最近有什么投票吗", "我们小区最近有投票吗", "小区里最近有没有投票"):  # the time after the 小区 too
        r = world.say(text, "r9")
        assert world.texts(r) == "目前没有正在进行的投票。" and r.route["action"] == "poll"
    r = world.say("维修资金使用要业主投票吗", "r9")  # a vote only mentioned: the knowledge base's question
    assert r.route["action"] != "poll"


def test_a_poll_is_offered_and_voted_once_per_household(world):
    household = world.household(community_id="jinxiu")
    poll_id = _poll(world)
    world.bind(household, "r1")
    r = world.say("最近小区有什么投票吗", "r1")
    assert "【投票】小区东门是否改为24小时开放？" in world.texts(r) and "每户一票" in world.texts(r)
    assert [b.payload for b in r.replies[-1].buttons] == [f"/vote {poll_id} 1", f"/vote {poll_id} 2", f"/vote {poll_id} 3"]
    r = world.say(f"/vote {poll_id} 2", "r1")
    assert world.texts(r) == "投票成功！您选择了“不同意”，感谢参与。"
    _bound(world, household, "r2")  # another member of the same family
    r = world.say(f"/vote {poll_id} 1", "r2")
    assert "您家已经投过票了（选择：不同意）" in world.texts(r)
    assert _votes(world, poll_id) == [(f"h{household.id}", 2, "web")]
    with world.db.session() as s:
        assert polls.counts(s, s.get(Poll, poll_id)) == [0, 1, 0]


def test_an_unbound_resident_cannot_vote_in_a_household_poll_and_a_closed_poll_takes_no_vote(world):
    poll_id = _poll(world)
    r = world.say(f"/vote {poll_id} 1")
    assert "需要先验证您的房屋" in world.texts(r)
    closed = _poll(world, per="resident", closes=NOW - dt.timedelta(minutes=1))
    r = world.say(f"/vote {closed} 1")
    assert "已经结束" in world.texts(r)
    assert _votes(world, poll_id) == [] and _votes(world, closed) == []


def test_the_way_to_bind_the_vote_refusal_names_is_one_the_bot_understands(world):
    """An unbound resident refused a household vote is told what to send; sending exactly that starts the binding
    (the room question), and once bound, asking for the poll again offers it."""
    poll_id = _poll(world)
    r = world.say(f"/vote {poll_id} 1")
    told = re.search(r"发送“([^”]+)”", world.texts(r))
    assert told, world.texts(r)
    r = world.say(told.group(1))
    assert "请输入您的房号" in world.texts(r), world.texts(r)
    building = _poll(world, per="resident", buildings=[99])
    r = world.say("取消", sender="r3")
    r = world.say(f"/vote {building} 1", sender="r3")
    assert re.search(r"发送“([^”]+)”", world.texts(r)) and "99栋" in world.texts(r)


def test_a_digit_typed_on_wechat_after_the_offer_is_the_vote(world):
    poll_id = _poll(world, per="resident")
    r = world.engine.handle("wechat", "oWeChat1", "我要投票")
    assert "请点选项，或直接回复选项的数字" in world.texts(r) and "3. 无所谓" in world.texts(r)
    r = world.engine.handle("wechat", "oWeChat1", "3")
    assert world.texts(r) == "投票成功！您选择了“无所谓”，感谢参与。"
    assert stored_route(world, "3")["action"] == "vote"
    r = world.engine.handle("wechat", "oWeChat1", "投票")  # asked again: what they chose, not a second vote
    assert "已经参加了投票" in world.texts(r) and "无所谓" in world.texts(r)
    with world.db.session() as s:
        identity = s.scalar(sa.select(ChatIdentity).where(ChatIdentity.sender_id == "oWeChat1"))
    assert _votes(world, poll_id) == [(f"i{identity.id}", 3, "wechat")]
    r = world.engine.handle("wechat", "oWeChat1", "3")  # a digit with no poll offered is not a vote
    assert _votes(world, poll_id) == [(f"i{identity.id}", 3, "wechat")]


def test_a_building_poll_is_offered_only_to_its_buildings(world):
    household = world.household(community_id="jinxiu")
    other = household.building + 1
    poll_id = _poll(world, buildings=[other])
    world.bind(household)
    r = world.say(f"/vote {poll_id} 1")
    assert f"只面向{other}栋的住户" in world.texts(r) and _votes(world, poll_id) == []


def test_a_notice_linking_a_poll_offers_it_and_a_poll_of_another_community_is_refused(world):
    import pytest

    from bot.core.localtime import to_local
    from bot.outages import notices

    poll_id = _poll(world)
    household = world.household(community_id="jinxiu")
    day = to_local(NOW).date()
    values = {"community_id": "jinxiu", "kind": "water", "buildings": [household.building], "poll_id": poll_id,
              "text": "水箱清洗。东门开放时间正在征求意见，欢迎投票。", "starts_at": f"{day} 08:00", "ends_at": f"{day} 20:00"}
    with world.db.session() as s:
        notices.create(s, world.kb, values, None, NOW)
    world.bind(household)
    r = world.say("怎么停水了")
    assert r.route["action"] == "notice" and ("参与投票", f"/poll {poll_id}") in \
        [(b.title, b.payload) for b in r.replies[-1].buttons]
    r = world.say(f"/poll {poll_id}")
    assert "【投票】小区东门是否改为24小时开放？" in world.texts(r)
    other = _poll(world, community="binjiang")
    with world.db.session() as s, pytest.raises(notices.NoticePollInvalid):
        notices.create(s, world.kb, {**values, "poll_id": other}, None, NOW)


def test_suggestions_are_grouped_by_similar_words_newest_group_first(world):
    world.say("你好")
    with world.db.session() as s:
        conversation = s.scalar(sa.select(Conversation))
        for i, text in enumerate(["建议小区东门装一个智能快递柜", "希望小区里多放几张长椅", "建议东门装一个快递柜"], 1):
            s.add(Suggestion(number=f"JY20261127{i:03d}", text=text, conversation_id=conversation.id,
                             identity_id=conversation.identity_id, community_id="jinxiu", status="pending",
                             created_at=NOW))
    with world.db.session() as s:
        listed = suggestions.listing(s, world.kb)
    assert [x["number"] for x in listed["suggestions"]] == ["JY20261127003", "JY20261127002", "JY20261127001"]
    assert [(g["count"], [x["number"] for x in g["examples"]]) for g in listed["groups"]] == \
        [(2, ["JY20261127003", "JY20261127001"]), (1, ["JY20261127002"])]
    assert listed["suggestions"][0]["community"] == "锦绣花园" and listed["suggestions"][0]["status_label"] == "待处理"


def test_a_closed_poll_shows_its_results_to_residents_who_ask_when_the_admin_allowed_it(world):
    shown = _poll(world, per="resident", closes=NOW + dt.timedelta(minutes=30), show_results=True)
    world.say(f"/vote {shown} 1", "r1")
    world.say(f"/vote {shown} 2", "r2")
    world.say(f"/vote {shown} 1", "r3")
    world.engine.clock = lambda: NOW + dt.timedelta(hours=1)
    r = world.say("投票结果出来了吗", "r4")
    assert world.texts(r) == "投票“小区东门是否改为24小时开放？”已结束，共 3 票：\n同意：2 票（67%）\n不同意：1 票（33%）\n无所谓：0 票（0%）"
    with world.db.session() as s:
        s.get(Poll, shown).show_results = False
    r = world.say("投票结果出来了吗", "r5")
    assert "投票" not in world.texts(r) or "已结束，共" not in world.texts(r)  # not shown: routed as any question

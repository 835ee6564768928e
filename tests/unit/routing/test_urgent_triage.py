"""The router's triage band (docs/decisions/0003-urgent-triage-band.md) with the real trained model: sure
emergencies page at once, borderline ones ask first, and while the question is open its answers and a further urgent
message decide the page."""
from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from bot.core import labels
from bot.handoffs import urgent_check
from bot.reporting import daily, reports
from bot.routing import router
from bot.routing.router import ConversationState, decide

ASKED = ConversationState(flow=router.URGENT_CHECK, asking=router.CHECK_SLOT,
                          offered=[urgent_check.YES, urgent_check.NO])


def test_a_sure_emergency_pages_at_once_and_a_borderline_one_asks_first(parser):
    sure = parser.parse("3栋电梯困人了，快来人")
    assert sure.urgency >= router.PAGE_ALONE_AT and decide(sure).action == "emergency"
    assert decide(dataclasses.replace(sure, urgency=None)).action == "emergency"  # a model without urgency: as before
    # a short keyword report pages at once from PAGE_SHORT_RULE_AT, a long one only from PAGE_RULE_AT
    assert decide(dataclasses.replace(sure, urgency=router.PAGE_SHORT_RULE_AT)).action == "emergency"
    route = decide(dataclasses.replace(sure, urgency=router.PAGE_SHORT_RULE_AT - 0.01))
    assert route.priority == "urgent" and route.action == router.URGENT_CHECK
    long = parser.parse("楼下管道冒出来的水已经漫到电表箱那里了，箱子里滋滋响，快来个电工")
    assert router.rule_emergencies(long)
    assert decide(dataclasses.replace(long, urgency=router.PAGE_RULE_AT)).action == "emergency"
    assert decide(dataclasses.replace(long, urgency=router.PAGE_RULE_AT - 0.01)).action == router.URGENT_CHECK


def test_a_cry_for_help_alone_pages_a_short_message_at_once_only_when_it_reads_as_an_emergency(parser):
    """"救命 快递" (救命 as emphasis before a routine word) is asked first at any P(urgent) below PAGE_RULE_AT;
    "快来人啊" reads as an emergency and still pages at once from PAGE_SHORT_RULE_AT."""
    parcel = parser.parse("救命 快递")
    assert router.rule_emergencies(parcel) == ["求救"] and parcel.intent != "emergency"
    route = decide(dataclasses.replace(parcel, urgency=router.PAGE_RULE_AT - 0.01))
    assert route.priority == "urgent" and route.action == router.URGENT_CHECK
    cry = parser.parse("快来人啊")
    assert cry.intent == "emergency" and decide(dataclasses.replace(cry, urgency=router.PAGE_SHORT_RULE_AT)).action == "emergency"
    trapped = parser.parse("救命 电梯里出不去了")  # another rule with it: the short floor as before
    assert decide(dataclasses.replace(trapped, urgency=router.PAGE_SHORT_RULE_AT)).action == "emergency"


def test_the_band_never_changes_what_is_urgent(parser):
    for text in ("3栋电梯困人了，快来人", "厨房着火了", "我爸用着呼吸机，整栋楼没电", "物业几点上班", "家里停水了"):
        reading = parser.parse(text)
        for urgency in (0.06, 0.5, 0.7, 0.94, 0.96):
            r = dataclasses.replace(reading, urgency=urgency)
            assert (decide(r).priority == "urgent") == router.is_emergency(r), (text, urgency)


@pytest.mark.parametrize("text, action", [
    (urgent_check.YES, "emergency"), (urgent_check.NO, router.URGENT_CHECK_NO),
    ("是的", "emergency"), ("有人被困在里面", "emergency"), ("快来", "emergency"),
    ("不是", router.URGENT_CHECK_NO), ("没有，就是问问", router.URGENT_CHECK_NO), ("没事了", router.URGENT_CHECK_NO),
    ("没有人受伤", router.URGENT_CHECK_NO), ("不知道", router.URGENT_CHECK_REASK), ("没反应", router.URGENT_CHECK_REASK),
    ("物业费多少钱一平", router.URGENT_CHECK_REASK), ("/cancel", router.URGENT_CHECK_REASK),
    ("/handoff", router.URGENT_CHECK_REASK), ("/slot danger_now maybe", router.URGENT_CHECK_REASK),
])
def test_the_open_question_is_answered_or_asked_again(parser, text, action):
    route = decide(parser.parse(text), ASKED)
    assert route.action == action, route
    assert route.priority == {"emergency": "urgent", router.URGENT_CHECK_NO: "normal"}.get(action)


def test_a_further_urgent_message_pages_at_once_even_when_borderline(parser):
    reading = dataclasses.replace(parser.parse("电表箱冒烟了"), urgency=0.3)
    assert decide(reading).action == router.URGENT_CHECK
    assert decide(reading, ASKED).action == "emergency"


def test_a_button_of_the_question_counts_only_while_it_is_open(parser):
    assert decide(parser.parse(urgent_check.YES)).action == "stale_button"


def test_no_story_clause_asks_by_probability_alone(parser):
    """A part of a message of several that is urgent only by probability is a story clause (``several_routes``),
    asked or not."""
    text = "我家孩子咳嗽了好几天，现在已经好了。物业费怎么交？"
    segments = router.request_segments(text)
    readings = [dataclasses.replace(parser.parse(s), urgency=0.9) for s in segments]
    kept = router.several_routes(text, segments, readings, ConversationState(), parser.parse)
    assert all(rt.action not in ("emergency", router.URGENT_CHECK) for _, _, rt in kept)


def test_the_console_says_where_the_question_stands():
    assert labels.reason_label("asked first: is it happening now").startswith("疑似紧急")
    assert "已通知值班" in labels.reason_label(urgent_check.TIMED_OUT_REASON)
    assert "已通知值班" in labels.reason_label("resident confirmed danger now (button)")
    assert "不是紧急" in labels.reason_label("resident said no danger now (button)")
    assert "已通知值班" in labels.reason_label(urgent_check.AGENT_CONFIRMED_REASON)
    assert "未通知值班" in labels.reason_label(urgent_check.AGENT_DECLINED_REASON)



def test_the_figures_group_every_triage_reason_the_router_and_the_timeout_write(parser):
    """The figures' triage counts (bot/reporting/reports.py) read the reasons the router and the timeout put on the
    handoff, as the daily summary groups them: a reworded reason would silently count as 0."""
    borderline = dataclasses.replace(parser.parse("3栋电梯困人了，快来人"), urgency=router.PAGE_SHORT_RULE_AT - 0.01)
    written = {
        "asked": decide(borderline).reasons[-1],
        "confirmed": decide(parser.parse(urgent_check.YES), ASKED).reasons[0],
        "declined": decide(parser.parse(urgent_check.NO), ASKED).reasons[0],
        "timed_out": urgent_check.TIMED_OUT_REASON,
        "agent_confirmed": urgent_check.AGENT_CONFIRMED_REASON, "agent_declined": urgent_check.AGENT_DECLINED_REASON,
    }
    assert {name: daily.reason_key(reason) for name, reason in written.items()} == reports.TRIAGE_REASONS
    typed = {decide(parser.parse(text), ASKED).reasons[0] for text in ("是的", "不是")}
    assert {daily.reason_key(r) for r in typed} == {reports.TRIAGE_REASONS["confirmed"], reports.TRIAGE_REASONS["declined"]}
    assert reports.triage_figures(Counter({"asked first": 5, "resident said no danger now": 2})) == {
        "asked": 5, "confirmed": 0, "declined": 2, "timed_out": 0, "agent_confirmed": 0, "agent_declined": 0, "other": 3}
    assert reports.triage_figures(Counter({"asked first": 3, urgent_check.AGENT_CONFIRMED_REASON: 1,
                                           urgent_check.AGENT_DECLINED_REASON: 1}))["other"] == 1


@pytest.mark.parametrize("text", [
    "刚才闻到燃气味，原来是灶上的火被汤浇灭了，已经关了通风了，现在没味了",
    "老人在电梯门口绊了一下，没摔着，门槛有点高",
    "有人在楼道里放鞭炮，烟很大，已经放完了，太过分了",
    "钥匙落在家里，门自己锁上了，手机也在里面，借邻居手机发的",
    "钥匙断在锁里了，门打不开，我人在外面",
])
def test_a_danger_told_as_over_or_a_door_locked_with_nobody_inside_is_asked_first(parser, text):
    """Urgent still (the resident is asked, and the timeout pages), but nobody is paged at once even when the model
    is sure: these were 6 of the 8 non-emergencies paged at once in the urgency CV (scripts/urgency_bands.py)."""
    reading = dataclasses.replace(parser.parse(text), urgency=0.99)
    route = decide(reading)
    assert route.priority == "urgent" and route.action == router.URGENT_CHECK, route


@pytest.mark.parametrize("text", [
    "两岁的孩子在屋里，门被风带上了，钥匙在里面",
    "家里就一个婴儿，门被风带上了，钥匙在里面，灶上还煮着东西",
    "燃气灶关了但是现在还有很重的煤气味",
    "厨房着火了，火已经烧到窗帘了",
    "火已经灭了，但是现在又冒烟了",  # said over, then going on again
])
def test_someone_inside_or_a_danger_going_on_still_pages_at_once(parser, text):
    reading = dataclasses.replace(parser.parse(text), urgency=0.99)
    assert decide(reading).action == "emergency"

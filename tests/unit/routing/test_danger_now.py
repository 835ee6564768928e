"""The second check on a message that would page (bot/routing/danger_now.py, issue 25): the wording's cues of no
danger now, undone by a danger still on; and the emergency rules for people who cannot be reached and lost children."""
from __future__ import annotations

import pytest

from bot.routing.danger_now import not_now_cues
from bot.routing.router import emergency_matches, is_exclamation, urgency_floors
from bot.routing import router


@pytest.mark.parametrize("text, kind", [
    ("万一电梯困人了打什么电话", "hypothetical"),
    ("刚才厨房冒烟，已经关火开窗，现在没事了", "over"),
    ("上礼拜楼下烧烤店着火，烟飘进我家", "past"),
    ("听说隔壁小区着火了", "hearsay"),
    ("电梯一直停在顶楼不动，里面是空的", "harmless"),
    ("楼上的花盆摆在栏杆外面，建议你们提醒一下", "request"),
    ("闻到一股烧焦味，原来是我锅里的鸡蛋糊了哈哈哈", "figure"),
    ("猫卡在阳台防盗网外面了，我够不着", "animal"),
    ("钥匙断在锁里了，门打不开，我人在外面", "locked_out"),
    ("厨房下水道返味，一股馊味", "nuisance"),
    ("家里停电了", "outage"),
    ("这个月燃气费怎么这么贵", "billing"),
])
def test_each_kind_of_no_danger_now_is_read(text, kind):
    assert kind in not_now_cues(text), not_now_cues(text)


@pytest.mark.parametrize("text", [
    "我妈一个人住，从昨天早上到现在电话都不接",  # past, but still on
    "厨房油锅起火盖不住，我已经跑出来了",  # over for the writer, not for the fire
    "停电了，我爸在用制氧机，现在机器停了",  # an outage with someone depending on power
    "宝宝被锁在车里了，钥匙也落在里面",  # a lockout with a child inside
    "楼道液化气味特别重，还有人在那抽烟",  # smoke beside a gas smell is no nuisance
    "电梯困人了，快来",
])
def test_a_danger_still_on_is_not_read_as_over(text):
    assert not not_now_cues(text), not_now_cues(text)


def test_a_cued_message_needs_more_of_the_urgency_model():
    assert urgency_floors("听说隔壁小区着火了") == (router.CUE_FLOOR, router.CUE_ALONE)
    assert urgency_floors("隔壁着火了") == (router.KEYWORD_FLOOR, router.URGENT_ALONE)
    assert router.CUE_FLOOR > router.KEYWORD_FLOOR and router.CUE_ALONE > router.URGENT_ALONE


def test_help_as_emphasis_is_an_exclamation_and_a_cry_with_a_danger_is_not():
    for text in ("救命，楼下广场舞的音响太吵了", "救命啊，厨余垃圾到底扔哪个桶"):
        assert is_exclamation(text), text
    for text in ("救命 快来人", "救命！我儿子吃东西噎住了", "救命啊着火了", "物业几点上班"):
        assert not is_exclamation(text), text


@pytest.mark.parametrize("text", [
    "俺舅一个人住你们小区9号楼，俩天失联了",
    "我奶奶每天都会回电话的，今天一整天打不通",
    "我儿子在小区里走丢了，才3岁",
    "孩子丢了 帮忙看住大门",
    "my 4yo son wandered off near the fountain, can't find him",
    "俺摸了一下防盗门被电了一下，麻酥酥的",
    "天花板往下滴水滴到电闸上了",
    "dian ti kun ren le 9栋 kuai lai",
])
def test_people_who_cannot_be_reached_lost_children_and_live_current_are_emergency_rules(text):
    assert emergency_matches(text), text


@pytest.mark.parametrize("text", ["孩子的书包丢了", "孩子滑板车丢了能看监控不", "物业电话怎么一直打不通"])
def test_a_childs_lost_things_and_an_unanswered_office_are_not(text):
    assert not emergency_matches(text), text

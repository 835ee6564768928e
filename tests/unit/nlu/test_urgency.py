"""Urgent only when urgent (issue 25 point 2): the urgency model (bot/nlu/urgency.py) in the real trained model, and
the router's use of it, on the frozen held-out near-misses and on the kinds the issue names."""
from __future__ import annotations

import pytest
import yaml

from bot.core.settings import PROJECT_ROOT
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.entities import without_places
from bot.nlu.urgency import load_urgency_directory, load_urgency_examples
from bot.routing.router import URGENT_CHECK, decide, first_message_route, request_segments

HELDOUT = PROJECT_ROOT / "tests" / "heldout" / "urgency_near_miss.yml"


def test_the_heldout_near_misses_are_frozen_and_not_trained_on(settings):
    heldout = load_urgency_examples(HELDOUT)
    assert len(heldout) == 320 and sum(u for _, u in heldout) == 150
    trained = {t for group in load_urgency_directory(settings.nlu_dir / "urgency").values() for t, _ in group}
    assert len(trained) >= 1200 and not trained & {t for t, _ in heldout}


def test_heldout_near_misses_every_emergency_paged_and_far_fewer_false_pages(parser, settings):
    """The frozen held-out set (author N2, written from the spec alone): every emergency urgent (the number and the
    queue at once; paged at once or asked first, and paged on no answer); urgent non-emergencies 23 of 170 (13.5 %)
    when written, 24 (14.1 %) with the fourth author, 51 (30.0 %) before the urgency model. With the triage band
    (docs/decisions/0003-urgent-triage-band.md) 2 of them page at once (1.2 %): the issue's ≤ 1 % is not met yet
    (docs/figures/2026-12-07-urgency-b.md)."""
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    missed = false = false_at_once = 0
    for text, urgent in load_urgency_examples(HELDOUT):
        reading = parser.parse(text)
        route = first_message_route(reading, parser.parse, request_segments(text), kb.support)
        paged = route.priority == "urgent"
        missed += urgent and not paged
        false += paged and not urgent
        asked = route.action == URGENT_CHECK or (route.action == "several" and any(
            r.endswith(f": {URGENT_CHECK}") for r in route.reasons))
        false_at_once += paged and not urgent and not asked
    assert missed == 0
    assert false <= 26  # 23 when written, 24 with four authors
    assert false_at_once <= 2  # 2 when the triage band was measured


@pytest.mark.parametrize("text", ["我爸用着呼吸机，整栋楼没电", "我妈有病了，躺在床上起不来", "楼下王奶奶两天没出门了，敲门也没人应",
                                  "隔壁一直有股烧焦的味道，敲门没人"])
def test_danger_now_without_the_usual_words_pages(parser, text):
    route = decide(parser.parse(text))
    assert route.priority == "urgent" and route.action == "emergency", route


@pytest.mark.parametrize("text", ["救命，这个月电费怎么翻倍了", "万一电梯困人了打什么电话", "听说隔壁小区进小偷了，我们小区安全吗",
                                  "家里停水了"])
def test_exclaimed_hypothetical_rumoured_dangers_and_outage_reports_page_nobody(parser, text):
    assert decide(parser.parse(text)).priority != "urgent"


def test_ill_is_not_an_insult_but_you_are_ill_is(parser):
    ill = parser.parse("我妈有病了，躺在床上起不来")
    assert "insult" not in ill.emotion["cues"] and decide(ill).priority == "urgent"
    assert "insult" in parser.parse("你有病吧").emotion["cues"]


def test_the_parse_carries_the_urgency_and_the_model_has_it(parser):
    assert parser.parse("电梯困人了").urgency > 0.9
    assert parser.parse("物业几点上班").urgency < 0.1


def test_an_urgency_file_without_items_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "x.yml"
    bad.write_text(yaml.safe_dump({"nlu": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="x.yml"):
        load_urgency_examples(bad)


ROUTINE = ["声控灯不亮了", "厨房水龙头一直滴水", "马桶冲不下去", "门锁坏了打不开", "窗户关不严漏风", "卫生间地漏堵了", "阳台晾衣架坏了",
           "楼道灯坏了", "插座没电了", "空调滴水", "墙皮掉了一块", "单元门禁刷不开", "防盗门关不上", "洗手池下面漏水", "门铃不响"]


@pytest.mark.parametrize("address", ["，3栋2单元5楼", "，5栋1单元1102", " 12栋3单元", "，地址是8栋2单元301"])
def test_a_routine_repair_with_its_address_is_not_urgent(parser, address):
    """Emergencies in our data name their place far more often than routine reports: with "，3栋2单元5楼" added, 16
    of 20 routine repairs were urgent (P(urgent) 0.04 → 0.74 on average; "门铃不响" read as the emergency intent,
    0.83). The classifiers now read a message without its rooms, buildings and floors (``without_places``)."""
    urgent = [t + address for t in ROUTINE if decide(parser.parse(t + address)).priority == "urgent"]
    assert not urgent


@pytest.mark.parametrize("opening", ["我家在7栋，", "我住在7栋，", "我是7栋的，"])
def test_a_routine_repair_opened_with_where_one_lives_is_not_urgent(parser, opening):
    """"我家在7栋，门铃不响" was asked the emergency question: the 在 left behind when the place was removed read as
    the 在 of 正在 / 还在 (8 of 20 routine repairs opening "我家在7栋，" and 9 of 20 with "我住在7栋，" were urgent). None
    pages; at most one is asked the triage question ("墙皮掉了一块" may fall on someone: P(urgent) ~0.5 either way)."""
    routes = [decide(parser.parse(opening + t)) for t in ROUTINE]
    assert not [r for r in routes if r.action == "emergency"]
    assert len([r for r in routes if r.priority == "urgent"]) <= 1, [r.reasons for r in routes if r.priority]


def test_without_places_removes_rooms_buildings_and_floors_only():
    assert without_places("声控灯不亮了，3栋2单元5楼") == "声控灯不亮了，"
    assert without_places("电梯卡在8楼和9楼中间") == "电梯卡在和中间"
    assert without_places("5-2-301漏水") == "漏水"
    assert without_places("楼上漏水") == "楼上漏水" and without_places("三楼着火了") == "着火了"
    assert without_places("帮我查一下2栋2单元101室的物业费") == "帮我查一下的物业费"  # overlapping rooms
    # the 在 of where one lives goes with the place; the 在 of what happened stays
    assert without_places("我家在7栋，门铃不响了") == "我家，门铃不响了"
    assert without_places("我住在3栋2单元501，插座没电") == "我，插座没电"
    assert without_places("有人困在3栋电梯里") == "有人困在电梯里"

"""Urgent only when urgent (issue 25 point 2): the urgency model (bot/nlu/urgency.py) in the real trained model, and
the router's use of it, on the frozen held-out near-misses and on the kinds the issue names."""
from __future__ import annotations

import pytest
import yaml

from bot.core.settings import PROJECT_ROOT
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.urgency import load_urgency_directory, load_urgency_examples
from bot.routing.router import decide, first_message_route, request_segments

HELDOUT = PROJECT_ROOT / "tests" / "heldout" / "urgency_near_miss.yml"


def test_the_heldout_near_misses_are_frozen_and_not_trained_on(settings):
    heldout = load_urgency_examples(HELDOUT)
    assert len(heldout) == 320 and sum(u for _, u in heldout) == 150
    trained = {t for group in load_urgency_directory(settings.nlu_dir / "urgency").values() for t, _ in group}
    assert len(trained) >= 1200 and not trained & {t for t, _ in heldout}


def test_heldout_near_misses_every_emergency_paged_and_far_fewer_false_pages(parser, settings):
    """The frozen held-out set (author N2, written from the spec alone): every emergency paged; false pages 23 of 170
    (13.5 %) when written, 24 (14.1 %) with the fourth author, 51 (30.0 %) before the urgency model — the issue's
    target (≤ 1 %) is not met yet (docs/figures/2026-12-06-urgency.md)."""
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    missed = false = 0
    for text, urgent in load_urgency_examples(HELDOUT):
        reading = parser.parse(text)
        paged = first_message_route(reading, parser.parse, request_segments(text), kb.support).priority == "urgent"
        missed += urgent and not paged
        false += paged and not urgent
    assert missed == 0
    assert false <= 26  # 23 when written, 24 with four authors


@pytest.mark.parametrize("text", ["我爸用着呼吸机，整栋楼没电", "我妈有病了，躺在床上起不来", "楼下王奶奶两天没出门了，敲门也没人应",
                                  "隔壁一直有股烧焦的味道，敲门没人"])
def test_danger_now_without_the_usual_words_pages(parser, text):
    route = decide(parser.parse(text))
    assert route.priority == "urgent" and route.action == "emergency", route


@pytest.mark.parametrize("text", ["救命，这个月电费怎么翻倍了", "万一电梯困人了打什么电话", "听说隔壁小区进小偷了，我们小区安全吗",
                                  "家里停水了"])
def test_exclaimed_hypothetical_rumoured_dangers_and_outage_reports_page_nobody(parser, text):
    assert decide(parser.parse(text)).priority != "urgent"


@pytest.mark.parametrize("text", ["刚才楼道冒烟是有人烧纸，已经烧完了，就是想说这样不安全",
                                  "要是哪天电梯停在半空，里面的人该按哪个按钮",
                                  "业主群里说3栋有人晕倒了，是真的吗",
                                  "救命，停车费怎么又涨了",
                                  "门禁卡忘带了，进不去单元门，在楼下等着",
                                  "我家狗被关在储物间里出不来了，一直叫"])
def test_the_second_check_keeps_no_danger_now_from_the_pager(parser, text):
    """The wording's cues (bot/routing/danger_now.py): over, hypothetical, hearsay, emphasis, a lockout, only a pet."""
    assert decide(parser.parse(text)).priority != "urgent"


@pytest.mark.parametrize("text", ["昨天晚上开始我爸电话就打不通了，他一个人住8栋，到现在都没人接",
                                  "厨房着火了我已经跑出来了，火还在烧",
                                  "我妈在电梯里出不来了，停电了", "孩子在小区里走丢了，5岁，穿蓝衣服"])
def test_a_danger_still_on_pages_whatever_else_the_message_tells(parser, text):
    route = decide(parser.parse(text))
    assert route.priority == "urgent" and route.action == "emergency", route


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

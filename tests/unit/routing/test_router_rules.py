"""The emergency rules of bot/routing/router.py against the training data: they catch keyword-free descriptions and
almost never fire on anything else."""
from __future__ import annotations

import yaml

from bot.routing.router import emergency_matches


def _phrasings(settings):
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.kb.knowledge import load_knowledge_base

    out = [(q, "faq") for e in load_knowledge_base(settings.faq_dir, settings.communities_file).entries.values()
           for q in e.questions]
    generated = settings.generated_faq_nlu.resolve()
    for path in sorted(settings.nlu_dir.rglob("*.yml")):
        if path.resolve() == generated or "nlu" not in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}):
            continue
        out += [(m.get("text"), m.get("intent")) for m in load_data(str(path)).intent_examples]
    return out


def test_rules_catch_most_keyword_free_emergencies_and_almost_nothing_else(settings):
    from rasa.shared.nlu.training_data.loading import load_data

    implicit = [m.get("text") for m in load_data(str(settings.nlu_dir / "styles" / "emergency_implicit.yml")).intent_examples]
    caught = sum(bool(emergency_matches(t)) for t in implicit)
    assert len(implicit) >= 40 and caught / len(implicit) >= 0.75
    others = [t for t, intent in _phrasings(settings) if intent != "emergency"]
    false_alarms = [t for t in others if emergency_matches(t)]
    assert len(false_alarms) / len(others) <= 0.002, false_alarms


def test_rules_read_the_normalised_text_too(settings):
    from bot.nlu.normalize import get_normalizer

    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
    for written in ("𨋢困咗人呀，快啲嚟", "lift困人了", "dt困人了快来"):
        assert not emergency_matches(written)
        assert emergency_matches(written, normalizer.normalize(written).text), normalizer.normalize(written).text
    assert not emergency_matches("电动车被偷了能查监控吗")


def test_a_stove_that_will_not_light_is_not_a_fire():
    for text in ("天然气打不着火了", "燃气灶点不着火怎么办", "还好没着火"):
        assert not emergency_matches(text), text
    for text in ("厨房着火了", "楼道着火啦快来人", "着火了"):
        assert emergency_matches(text), text


def test_a_past_resolved_danger_before_a_question_is_not_an_emergency():
    from bot.routing.router import told_as_past

    past = ["前年楼上水管爆了把我家淹了，后来保险都赔完了，现在准备重新装修，装修垃圾要怎么清运",
            "之前我家电动车被偷过一次，后来派出所帮忙找回来了，现在想问问小区的监控能保存多久",
            "我父亲之前在家晕倒过一次，送医院查了没啥大事，已经回家了，想问小区里有没有充电桩"]
    for text in past:
        assert emergency_matches(text) and told_as_past(text), text
    now = ["之前水管修好了，现在又爆了，水一直往外喷怎么办", "上次修好的插座刚才又冒火花了，快来人",
           "去年漏过一次气，修好了，今天又有煤气味，怎么办", "前年水管爆过一次后来修好了"]  # the last asks nothing
    for text in now:
        assert emergency_matches(text) and not told_as_past(text), text


def test_a_child_who_swallowed_pills_is_an_emergency():
    for text in ("他刚抓了一把药片吃进去了", "孩子误食了纽扣电池", "老人喝了农药"):
        assert emergency_matches(text), text
    assert not emergency_matches("药片饭后吃还是饭前吃")


def test_peritoneal_dialysis_without_power_is_an_emergency():
    for text in ("整栋楼断电了，我爸正在做腹透", "停电了，腹透机停了"):
        assert emergency_matches(text), text
    assert not emergency_matches("腹透的病人物业有没有上门服务")


def test_a_car_rolling_with_nobody_at_the_wheel_and_a_suction_machine_that_cannot_charge_are_emergencies(settings):
    from bot.nlu.normalize import get_normalizer

    normalize = lambda text: get_normalizer(settings.normalize_dir, settings.dictionary_dir).normalize(text).text  # noqa: E731
    for text in ("有辆车没拉手刹在斜坡上滑，正朝小朋友玩的地方过去", "地库坡道上一辆白车里面没人，自己在往下溜",
                 "楼里停电了，我妈用的吸痰机充不了电"):
        assert emergency_matches(text), text
    for text in ("我爸有老年痴呆，刚才在小区里走丢了", "隔离屋阿婆两日冇见出过门，拍门冇人应", "俺舅一个人住9号楼，俩天失联了",
                 "停电一整天了，冰箱里是胰岛素，已经不冷了", "电体停半空 手机只剩5%电 快点😭"):
        assert emergency_matches(text, normalize(text)), text
    for text in ("溜冰场在哪", "车位上有别人的车", "吸痰机坏了去哪修", "我家狗走丢了", "快递员敲门没人应就放门口了",
                 "在车库里我自己往下走的时候滑了一下，没事"):
        assert not emergency_matches(text), text


def test_flames_leaping_out_and_glass_about_to_fall_are_emergencies_and_a_complaint_about_the_lift_is_not(settings):
    from bot.nlu.normalize import get_normalizer

    for text in ("楼下餐馆后厨窜出火苗 烧到外面的油烟管道了", "阳台上蹿出火苗来了", "28楼有块窗玻璃碎了挂在框上 风一吹就晃",
                 "外墙的瓷砖摇摇欲坠", "楼顶那块铁皮随时会掉下来"):
        assert emergency_matches(text), text
    for text in ("燃气灶火苗很小怎么办", "电梯里有人尿尿 太恶心了", "电梯里有人抽烟", "晾衣架怎么装",
                 "3栋电梯里有人被关住了"):
        assert bool(emergency_matches(text)) == text.startswith("3栋"), text
    normalize = get_normalizer(settings.normalize_dir, settings.dictionary_dir).normalize
    drill = "Hi, when is the fire drill this week?"
    assert "消防演练" in normalize(drill).text and not emergency_matches(drill, normalize(drill).text)
    assert emergency_matches("fire in block 3", normalize("fire in block 3").text)


def test_english_reports_of_the_same_dangers_and_a_child_nobody_can_find(settings):
    """The urgency CV's misses once T4 and T5 joined the training data: English words the normaliser did not know,
    and a child gone missing told without 走丢."""
    from bot.nlu.normalize import get_normalizer

    normalize = get_normalizer(settings.normalize_dir, settings.dictionary_dir).normalize
    for text in ("dad is on a home ventilator and the power just went out",
                 "the socket in my kitchen is sparking and smells burnt",
                 "the 6F balcony railing is hanging loose over the walkway",
                 "my 4yo son wandered off near the fountain, can't find him", "孩子玩躲猫猫找不见了，会不会跑进地库了",
                 "女儿不见了"):
        assert emergency_matches(text, normalize(text).text), (text, normalize(text).text)
    for text in ("孩子的外套找不到了", "my son lost his scooter", "the power is out in building 6, is this planned?",
                 "儿子的书包不见了"):
        assert not emergency_matches(text, normalize(text).text), (text, normalize(text).text)
    assert "停电" in normalize("the power just went out").text


def test_complaining_several_times_to_no_avail_is_repeated_chasing():
    """The tryout's 投诉了好几次都没用 read calm and was clarified; the handoff after it was normal priority."""
    from bot.nlu.emotion import ANGRY_CUES, match_cues

    for text in ("我家楼上装修天天电钻响，周末一大早就开始，投诉了好几次都没用！", "跟你们反映好多次了", "催了好几遍也没人来"):
        assert "repeated chasing" in match_cues(text, ANGRY_CUES), text
    for text in ("这个月停水好几次了，是什么原因", "电梯一年保养好几次吗"):
        assert "repeated chasing" not in match_cues(text, ANGRY_CUES), text


def test_waste_before_the_word_property_company_is_not_an_insult():
    from bot.nlu.emotion import ANGRY_CUES, match_cues

    assert "insult" not in match_cues("大件垃圾物业收不收费啊", ANGRY_CUES)
    assert "insult" not in match_cues("装修垃圾物业管不管清运", ANGRY_CUES)
    assert "insult" in match_cues("你们这垃圾物业", ANGRY_CUES) and "insult" in match_cues("垃圾物业！", ANGRY_CUES)


# --- the policy table, row by row, on hand-made readings (the docstring of bot/routing/router.py) ----------------
import dataclasses  # noqa: E402
from typing import Any, Dict, List, Optional  # noqa: E402

import pytest  # noqa: E402

from bot.routing.router import ConversationState, decide  # noqa: E402


@dataclasses.dataclass
class Reading:
    text: str
    intent: str = "faq"
    confidence: float = 0.95
    faq_id: Optional[str] = "pets"
    faq_confidence: float = 0.9
    emotion: Dict[str, Any] = dataclasses.field(default_factory=lambda: {"label": "neutral", "score": 0.9, "cues": []})
    entities: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    faq_ranking: List[Dict[str, Any]] = dataclasses.field(default_factory=lambda: [{"id": "pets"}, {"id": "fee_standard"}])
    normalized_text: str = ""
    ranking: Dict[str, float] = dataclasses.field(default_factory=dict)
    opening: Optional[str] = None  # what NluReading.opening_noun finds (a noun the message opens with)

    def probability(self, intent: str) -> float:
        return self.ranking.get(intent, self.confidence if intent == self.intent else 0.0)

    def opening_noun(self) -> Optional[str]:
        return self.opening


REPAIR_ASKING_URGENCY = dict(flow="repair_request", asking="urgency", offered=["/slot urgency normal", "/slot urgency urgent"])
WAITING = dict(handoff_status="queued", handoff_priority="normal")
ROWS = [
    # row, reading, state, (decision, action, priority, failed)
    ("0 topic button", Reading("/faq pets"), {}, ("answer", "answer", None, False)),
    ("0 offered slot button", Reading("/slot urgency normal"), REPAIR_ASKING_URGENCY, ("flow", "slot", None, False)),
    ("0 stale slot button", Reading("/slot urgency normal"), dict(flow="repair_request", asking="location"),
     ("clarify", "stale_button", None, False)),
    ("0 stale not-helpful", Reading("/not_helpful pets"), {}, ("clarify", "stale_button", None, False)),
    ("1 emergency rule", Reading("电梯困人了"), REPAIR_ASKING_URGENCY, ("handoff", "emergency", "urgent", False)),
    ("2 emergency probability", Reading("屋里怪怪的很不对劲", intent="faq", ranking={"emergency": 0.5}), {},
     ("handoff", "emergency", "urgent", False)),
    ("2 not when it fills a slot", Reading("屋里怪怪的很不对劲", ranking={"emergency": 0.5}),
     dict(REPAIR_ASKING_URGENCY, fills_slot=True), ("flow", "continue_flow", None, False)),
    ("3 cancel", Reading("算了"), REPAIR_ASKING_URGENCY, ("flow", "cancel_flow", None, False)),
    ("4 fills a slot", Reading("13800138000", intent="fee_lookup"), dict(REPAIR_ASKING_URGENCY, fills_slot=True),
     ("flow", "continue_flow", None, False)),
    ("5 anger", Reading("你们搞什么", emotion={"label": "angry", "score": 0.9, "cues": []}), {},
     ("handoff", "handoff", "high", False)),
    ("6 dispute", Reading("车被砸坏了要求赔偿"), {}, ("handoff", "handoff", "high", False)),
    ("7 human agent", Reading("转人工", intent="human_agent"), {}, ("handoff", "handoff", "normal", False)),
    ("7 still queued", Reading("转人工", intent="human_agent"), WAITING, ("handoff", "still_queued", "normal", False)),
    ("7 raised after waiting", Reading("转人工", intent="human_agent"), dict(WAITING, waiting_minutes=12),
     ("handoff", "raise_priority", "high", False)),
    ("8 strict slot asked again", Reading("嗯嗯好", intent="affirm"), REPAIR_ASKING_URGENCY,
     ("flow", "reask", None, False)),
    ("8 free-text slot takes it", Reading("在阳台", intent="faq", confidence=0.4),
     dict(flow="repair_request", asking="location", free_text=True), ("flow", "continue_flow", None, False)),
    ("8 another request leaves the flow", Reading("查一下进度", intent="repair_status", faq_id=None), REPAIR_ASKING_URGENCY,
     ("flow", "start_flow", None, False)),
    ("9 nonsense", Reading("啊啊啊啊", intent="affirm"), {}, ("clarify", "nonsense", None, True)),
    ("9 vague", Reading("这个怎么搞", intent="faq", confidence=0.4), {}, ("clarify", "clarify", None, True)),
    ("10 rejection", Reading("没有解决我的问题", intent="deny"), dict(last_answer="pets"),
     ("clarify", "not_helpful", None, True)),
    ("10a live notice of the kind", Reading("怎么停水了", faq_id="outage_notice"), dict(notice_kinds=("water",)),
     ("answer", "notice", None, False)),
    ("10a a repair report about it", Reading("3栋厨房没水了要报修", intent="repair_request", faq_id=None),
     dict(notice_kinds=("water",), scope_known=True), ("answer", "notice", None, False)),
    ("10b open incident: joined", Reading("3栋停水了", faq_id="outage_notice"),
     dict(incident_kinds=("water",), scope_known=True), ("answer", "join_incident", None, False)),
    ("10c first report opens the incident", Reading("电梯坏了不动了", intent="repair_request", faq_id=None),
     dict(scope_known=True), ("handoff", "incident", "normal", False)),
    ("10c not without a scope", Reading("怎么停水了", faq_id="outage_notice"), {}, ("answer", "answer", None, False)),
    ("10c a plan question is no report", Reading("明天停水吗", faq_id="outage_notice"), dict(scope_known=True),
     ("answer", "answer", None, False)),
    ("11 unsure", Reading("楼道那个灯的事情", confidence=0.4), {}, ("clarify", "clarify", None, True)),
    ("11 unsure, out of scope likely", Reading("房价涨了没有", confidence=0.45, ranking={"out_of_scope": 0.4}), {},
     ("reject", "out_of_scope", None, False)),
    ("12 neighbour", Reading("楼上每天半夜拖椅子", faq_id="quiet_hours"), {}, ("handoff", "neighbour", "normal", False)),
    ("13 complaint", Reading("保安态度太差了", intent="complaint"), {}, ("handoff", "handoff", "normal", False)),
    ("14 answer", Reading("能养狗吗"), {}, ("answer", "answer", None, False)),
    ("14 same answer again", Reading("养狗有什么规定"), dict(last_answer="pets"), ("answer", "repeat", None, True)),
    ("15 flow", Reading("我要报修", intent="repair_request"), {}, ("flow", "start_flow", None, False)),
    ("16 smalltalk", Reading("谢谢", intent="thanks"), {}, ("smalltalk", "smalltalk", None, False)),
    ("17 unsure emergency", Reading("有点担心", intent="emergency", ranking={"emergency": 0.2}), {},
     ("clarify", "clarify", None, True)),
    ("18 out of scope", Reading("今天天气怎么样", intent="out_of_scope"), {}, ("reject", "out_of_scope", None, False)),
    ("two failed in a row", Reading("啊啊啊啊"), dict(failed_turns=1), ("handoff", "two_failed", "normal", True)),
]


@pytest.mark.parametrize("row,reading,state,expected", ROWS, ids=[r[0] for r in ROWS])
def test_the_policy_table_holds_row_by_row(row, reading, state, expected):
    route = decide(reading, ConversationState(**state))
    assert (route.decision, route.action, route.priority, route.failed) == expected


def test_another_request_under_a_flow_drops_it_and_an_answer_keeps_it():
    assert decide(Reading("查一下进度", intent="repair_status", faq_id=None),
                  ConversationState(**REPAIR_ASKING_URGENCY)).leaves_flow is True
    assert decide(Reading("13800138000"), ConversationState(**REPAIR_ASKING_URGENCY, fills_slot=True)).leaves_flow is False


def test_a_question_asked_again_is_not_a_follow_up():
    from bot.routing.router import is_same_question

    assert is_same_question("小区里可以养狗吗？", "小区可以养狗吗")
    assert not is_same_question("补一张要多少钱", "门禁卡丢了怎么办")
    assert not is_same_question("？？", "门禁卡丢了怎么办")  # nothing to compare


def test_rule_10d_reads_an_unsure_follow_up_with_the_last_question_and_leaves_a_confident_new_request():
    """The context reading is asked for only when the rule applies, and a confident reading of something else on
    its own (a repair) is never replaced by it."""
    asked = []

    def parse(text):
        asked.append(text)
        return Reading(text, "faq", 0.95, faq_id="invoice", faq_confidence=0.9)

    state = ConversationState(last_answer="invoice", last_question="发票怎么开")
    route = decide(Reading("是纸质的还是电子的", "faq", 0.6, faq_id="utilities_account", faq_confidence=0.4), state, parse)
    assert route.action == "detail" and route.target == "invoice" and asked == ["发票怎么开，是纸质的还是电子的"]
    asked.clear()
    route = decide(Reading("厨房水管漏水了要报修", "repair_request", 0.97, faq_id=None), state, parse)
    assert route.action == "start_flow" and not asked
    route = decide(Reading("是纸质的还是电子的", "faq", 0.6, faq_id="utilities_account", faq_confidence=0.4),
                   ConversationState(), parse)
    assert route.decision == "clarify" and not asked  # no answer before it: read alone


def test_rule_10d_leaves_a_message_whose_own_faq_still_counts_unless_the_last_answer_carries_it():
    """A message confident alone about another FAQ that keeps FOLLOW_UP_KEEP_LOW…FOLLOW_UP_KEEP of it read with the
    last question is read alone, unless the last answer's own words carry more of it (``faq_support``); a message
    opened by "顺便问下" is read alone without asking for the context reading."""
    from bot.routing.router import FOLLOW_UP_KEEP, FOLLOW_UP_KEEP_LOW

    keep = (FOLLOW_UP_KEEP + FOLLOW_UP_KEEP_LOW) / 2
    asked = []

    def parse(text):
        asked.append(text)
        return Reading(text, "faq", 0.95, faq_id="office_hours", faq_confidence=0.8,
                       faq_ranking=[{"id": "office_hours", "confidence": 0.8}, {"id": "broadband", "confidence": keep}])

    alone = Reading("宽带报装找你们不", "faq", 0.96, faq_id="broadband", faq_confidence=0.9)
    support = {"office_hours": 0.0, "broadband": 9.0}
    state = ConversationState(last_answer="office_hours", last_question="物业中心几点下班",
                              faq_support=lambda faq_id, text: support[faq_id])
    route = decide(alone, state, parse)
    assert route.action == "answer" and route.target == "broadband" and asked
    support["office_hours"] = 12.0  # the last answer carries the message: its detail
    route = decide(alone, state, parse)
    assert route.action == "detail" and route.target == "office_hours"
    support["office_hours"] = 0.0
    low = lambda text: Reading(text, "faq", 0.95, faq_id="office_hours", faq_confidence=0.8,  # noqa: E731
                               faq_ranking=[{"id": "office_hours"}, {"id": "broadband", "confidence": FOLLOW_UP_KEEP_LOW / 2}])
    assert decide(alone, state, low).action == "detail"  # its own FAQ no longer counts: the last answer's detail
    asked.clear()
    opened = Reading("顺便问下 宽带报装找你们不", "faq", 0.96, faq_id="broadband", faq_confidence=0.7)
    assert decide(opened, state, parse).action == "answer" and not asked


def test_a_part_after_a_connector_is_set_apart():
    """router.Segment.set_apart: the part follows 还有 / 另外 / 顺便问下 (the splitter strips them from the part);
    such a part, confident alone about another FAQ, is not read with the part before it."""
    from bot.routing.router import request_segments

    def apart(text):
        return [(str(s), s.set_apart) for s in request_segments(text)]

    assert apart("小区绿化多久打一次药？还有狗能在草坪上遛吗") == [("小区绿化多久打一次药", False), ("狗能在草坪上遛吗", True)]
    assert apart("物业费多少钱 顺便问下停车费呢") == [("物业费多少钱", False), ("停车费呢", True)]
    assert apart("能开发票吗？是纸质的还是电子的，要去哪里领") == [("能开发票吗", False), ("是纸质的还是电子的，要去哪里领", False)]
    # the same words twice: each part knows its own place (a search for the words would find the first one)
    assert apart("停车费多少？另外停车费多少") == [("停车费多少", False), ("停车费多少", True)]
    asked = []

    def parse(text):
        asked.append(text)
        return Reading(text, "faq", 0.95, faq_id="greenery", faq_confidence=0.9, faq_ranking=[{"id": "greenery"}])

    part = Reading("狗能在草坪上遛吗", "faq", 0.95, faq_id="pets", faq_confidence=0.8)
    state = dict(last_answer="greenery", last_question="小区绿化多久打一次药", last_in_message=True,
                 faq_support=lambda faq_id, text: 4.0 if faq_id == "greenery" else 1.0)
    assert decide(part, ConversationState(**state, set_apart=True), parse).target == "pets" and not asked
    route = decide(part, ConversationState(**state), parse)  # not set apart: the earlier answer's words carry it
    assert route.action == "detail" and route.target == "greenery" and asked


def test_a_part_that_names_its_own_subject_is_its_own_question():
    """Within one message, a part the earlier answer's words carry (草坪 is in the greenery answer) is still its own
    question when it opens with a noun that answer never mentions (router.names_own_subject): "狗" after the greenery
    question, not "草坪"; and without such a noun it stays the earlier question's detail."""
    def parse(text):
        return Reading(text, "faq", 0.95, faq_id="greenery", faq_confidence=0.9, faq_ranking=[{"id": "greenery"}])

    def support(faq_id, text):
        if faq_id != "greenery":
            return 1.0
        return 0.0 if text == "狗" else 4.0

    state = dict(last_answer="greenery", last_question="绿化多久修剪一次", faq_support=support)
    dog = Reading("狗能在草坪上跑吗", "faq", 0.95, faq_id="pets", faq_confidence=0.8, opening="狗")
    assert decide(dog, ConversationState(**state, last_in_message=True), parse).target == "pets"
    lawn = Reading("草坪上能遛狗吗", "faq", 0.95, faq_id="pets", faq_confidence=0.8, opening="草坪")
    assert decide(lawn, ConversationState(**state, last_in_message=True), parse).action == "detail"
    bare = Reading("能在草坪上跑吗", "faq", 0.95, faq_id="pets", faq_confidence=0.8)
    assert decide(bare, ConversationState(**state, last_in_message=True), parse).action == "detail"
    # between two turns the rule is not used: the resident asked after reading the answer
    assert decide(dog, ConversationState(**state), parse).action == "detail"


def test_a_fire_that_caught_or_will_not_go_out_live_metal_and_a_body_in_crisis_are_emergencies():
    """Author T7's keyword-free emergencies (tests/dev/urgency_t7.yml), and the near words that are none."""
    for text in ("阳台晾的衣服被楼下飘上来的火点着了 我灭不掉", "油锅里的火扑不灭", "我家阳台铁栏杆摸上去麻手 带电了",
                 "洗衣机外壳一摸就麻", "我怀孕八个月 羊水破了 电梯又停了下不去", "我爸心脏病犯了 电梯停了下不去"):
        assert emergency_matches(text), text
    for text in ("蟑螂怎么都灭不掉", "燃气灶火点着了又灭了 是不是坏了", "冬天摸栏杆冻得麻手", "老婆快生了 新生儿落户要什么材料"):
        assert not emergency_matches(text), text


def test_a_bare_12345_is_not_the_hotline_threat_but_the_hotline_among_words_is():
    """The second tryout typed 12345 at the room question of a fee look-up: a high-priority handoff, "非常抱歉给您带来
    不好的体验". A bare number at a flow's question is a mistyped room, code or phone."""
    from bot.nlu.emotion import ANGRY_CUES, match_cues

    for text in ("12345", " 12345 ", "123456"):
        assert "threat: 12345" not in match_cues(text, ANGRY_CUES), text
    for text in ("再不修我就打12345", "12345投诉你们", "我已经打了12345了", "市长热线见"):
        assert "threat: 12345" in match_cues(text, ANGRY_CUES), text

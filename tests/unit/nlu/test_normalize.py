"""The normaliser (bot/nlu/normalize.py): every table, the map back to the original text, bad input, validation."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.nlu.normalize import Normalizer, TableError, check_tables, get_normalizer, load_tables
from tests.conftest import subprocess_env


@pytest.fixture(scope="module")
def normalizer(settings) -> Normalizer:
    return get_normalizer(settings.normalize_dir, settings.dictionary_dir)


def norm(normalizer: Normalizer, text: str) -> str:
    return normalizer.normalize(text).text


def test_tables_are_large_enough_and_valid(settings):
    tables = load_tables(settings.normalize_dir, settings.dictionary_dir)
    assert len(tables.cantonese) >= 150
    assert len(tables.abbreviations) >= 50 and len(tables.english) >= 50 and len(tables.homophones) >= 50
    assert check_tables(settings.normalize_dir) == []


@pytest.mark.parametrize("text,expected", [
    ("電梯壞了請派人維修", "电梯坏了请派人维修"),  # traditional → simplified
    ("請問停車場月租多少", "请问停车场月租多少"),
    ("３栋２单元１１０２", "3栋2单元1102"),  # full-width → half-width
    ("ＡＢＣ", "ABC"),
])
def test_traditional_and_full_width(normalizer, text, expected):
    assert norm(normalizer, text) == expected


@pytest.mark.parametrize("text,must_contain", [
    ("點解冇熱水", "为什么没有热水"),
    ("係咪停水呀", "是不是停水"),
    ("我哋幾時可以泊車", "我们什么时候"),
    ("啲垃圾放喺邊度", "放在哪里"),
    ("唔該幫我睇下", "看"),
])
def test_cantonese(normalizer, text, must_contain):
    assert must_contain in norm(normalizer, text)


@pytest.mark.parametrize("text,must_contain", [
    ("wy几点上班", "物业几点上班"), ("tcf多少钱", "停车费多少钱"), ("wxjj怎么查", "维修基金怎么查"),
    ("ywh选举", "业委会"), ("WYF交了吗", "物业费"),
])
def test_pinyin_abbreviations(normalizer, text, must_contain):
    assert must_contain in norm(normalizer, text)


def test_generated_abbreviations_come_from_the_domain_dictionary_and_skip_english(normalizer):
    from pypinyin import Style, lazy_pinyin

    # a generated one: initials of a domain word that no other domain word shares
    generated = {k: v for k, v in normalizer._abbr.items() if k not in normalizer.tables.abbreviations}
    assert generated, "the domain dictionary yields unambiguous abbreviations"
    key, word = next(iter(sorted(generated.items())))
    assert "".join(lazy_pinyin(word, style=Style.FIRST_LETTER)) == key
    assert word in norm(normalizer, f"{key}怎么办")
    for english in ("hello ok", "ok thanks", "hi"):
        assert norm(normalizer, english) == english


@pytest.mark.parametrize("text,expected", [
    ("物业非在哪交", "物业费在哪交"), ("我要保修厨房水龙头", "我要报修厨房水龙头"), ("维修基因怎么查", "维修基金怎么查"),
    ("电费再哪交", "电费在哪交"), ("停车为怎么租", "停车位怎么租"),
])
def test_homophones_and_typos(normalizer, text, expected):
    assert norm(normalizer, text) == expected


@pytest.mark.parametrize("text", ["物业非常好", "房子还在保修期内吗", "我想联系物业", "停车为什么这么贵", "九点解决", "宠物也要登记吗"])
def test_words_that_are_already_right_are_never_rewritten(normalizer, text):
    assert norm(normalizer, text) == text


def test_pinyin_check_corrects_one_character_towards_a_domain_word_only(normalizer):
    # not in the curated table: found by pinyin against the domain dictionary (门禁卡 ← 门禁咖: same pinyin ka)
    assert "门禁卡" in norm(normalizer, "门禁咖丢了怎么补")
    assert norm(normalizer, "今天天气不错") == "今天天气不错"


@pytest.mark.parametrize("text,must_contain", [
    ("小区有WiFi吗", "宽带"), ("EV charger在哪", "充电桩"), ("可以用wechat pay吗", "微信支付"), ("Lift坏了", "电梯"),
])
def test_english_terms(normalizer, text, must_contain):
    assert must_contain in norm(normalizer, text)


def test_emoji_are_removed_for_intent_but_kept_for_emotion(normalizer):
    result = normalizer.normalize("[发怒]电梯又坏了😡😡")
    assert result.text == "电梯又坏了"
    assert "😡" in result.emotion_text and "[发怒]" in result.emotion_text


def test_offsets_point_into_the_original_text(normalizer):
    original = "點解三號樓嘅水喉冇水"
    result = normalizer.normalize(original)
    start = result.text.index("三号楼")
    s, e = result.original_span(start, start + 3)
    assert original[s:e] == "三號樓"
    water = result.text.index("水管")
    s, e = result.original_span(water, water + 2)
    assert original[s:e] == "水喉"


@pytest.mark.parametrize("text", ["\ud800物业", "物\x00业\x07费", "😀" * 10000, "物业ร้าน費ﾃｽﾄ\u202e", "\u200b\ufeff",
                                  "a" * 5000, "[微笑]" * 500])
def test_bad_input_never_raises(normalizer, text):
    result = normalizer.normalize(text)
    assert "\x00" not in result.text and "\ud800" not in result.text
    assert len(result.starts) == len(result.text) == len(result.ends)


def test_entities_of_normalised_text_are_reported_on_the_original(parser):
    text = "我住喺三號樓二單元1102室，點解冇水"
    reading = parser.parse(text)
    room = next(e for e in reading.entities if e["entity"] == "room")
    assert room["value"] == "3-2-1102"
    assert text[room["start"]:room["end"]].startswith("三號樓")


def _tables_copy(settings, tmp_path: Path) -> Path:
    target = tmp_path / "normalize"
    shutil.copytree(settings.normalize_dir, target)
    return target


def test_broken_tables_are_reported_with_file_and_line(settings, tmp_path):
    tables = _tables_copy(settings, tmp_path)
    path = tables / "abbreviations.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "  WY: 物业\n  wy: 物业\n", encoding="utf-8")
    problems = check_tables(tables)
    lines = len(text.splitlines())
    assert any(p.file == "abbreviations.yml" and p.line == lines + 1 and "小写" in p.message for p in problems)
    assert any(p.file == "abbreviations.yml" and p.line == lines + 2 and "重复" in p.message for p in problems)
    (tables / "english.yml").write_text("english: [oops\n", encoding="utf-8")
    assert any(p.file == "english.yml" for p in check_tables(tables))
    with pytest.raises(TableError):
        load_tables(tables)


def test_wuye_faq_check_validates_the_tables(settings, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data, ignore=shutil.ignore_patterns("generated"))
    with open(data / "nlu" / "normalize" / "cantonese.yml", "a", encoding="utf-8") as f:
        f.write("  點解: \n")
    out = subprocess.run([sys.executable, "-m", "bot.tools.cli", "faq", "check"], capture_output=True, text=True,
                         env=subprocess_env(WUYE_DATA_DIR=str(data)), timeout=120)
    assert out.returncode == 1
    assert "cantonese.yml:" in out.stderr


def test_the_model_carries_its_own_tables(trained_model, tmp_path):
    """The tables are stored in the model archive: a model reads with the tables it was trained with."""
    import tarfile

    with tarfile.open(trained_model) as archive:
        names = archive.getnames()
    assert any(n.endswith("tables/cantonese.yml") for n in names)
    assert any(n.endswith("dict/property.txt") for n in names)


def test_the_stored_pinyin_readings_normalise_exactly_as_pypinyin(settings, tmp_path):
    """A trained model stores the normaliser's pinyin data (abbreviations, readings) so serving needs no pypinyin;
    the normaliser built from that JSON gives the same text and edits as one computing with pypinyin, on every
    evaluation message and on the homophone table's own misspellings."""
    import json

    from tests.unit.nlu.test_fast_parser import evaluation_texts

    tables = load_tables(settings.normalize_dir, settings.dictionary_dir)
    live = Normalizer(tables)
    path = tmp_path / "pinyin.json"
    path.write_text(json.dumps(Normalizer.pinyin_data(tables), ensure_ascii=False), encoding="utf-8")
    stored = Normalizer(tables, json.loads(path.read_text(encoding="utf-8")))
    texts = evaluation_texts(settings)
    texts += [f"请问{wrong}怎么办" for wrong in tables.homophones] + ["物业非在哪交", "保修厨房水管", "维修基因怎么用"]
    assert len(texts) > 300
    for text in texts:
        a, b = live.normalize(text), stored.normalize(text)
        assert (a.text, a.changes) == (b.text, b.changes), text
    assert stored.normalize("物业非在哪交").text != "物业非在哪交"  # the readings do their work


def test_full_pinyin_is_decoded_into_the_words_of_the_training_texts(settings):
    """Full pinyin typed for Chinese reads as the Chinese it spells, with or without spaces between syllables; the
    training texts decide between homophones (jiao after 物业费 is 交, which they use, not jieba's commoner 叫);
    English sentences and lone English words that also spell pinyin stay as they were."""
    tables = load_tables(settings.normalize_dir, settings.dictionary_dir)
    corpus = ["物业费怎么交", "停车月卡多少钱", "宠物能坐电梯吗", "装修几点可以开工"]
    n = Normalizer(tables, Normalizer.pinyin_data(tables, corpus))
    assert norm(n, "wuyefei zenme jiao") == "物业费怎么交"
    assert norm(n, "wu ye fei zen me jiao") == "物业费怎么交"
    assert norm(n, "tingche yueka duoshao qian") == "停车月卡多少钱"
    assert norm(n, "请问chongwu neng zuo dianti ma") == "请问宠物能坐电梯吗"
    assert norm(n, "zhuangxiu jidian keyi kaigong?") == "装修几点可以开工?"
    edit = n.normalize("wuyefei zenme jiao").changes
    assert any(kind == "拼音" for kind, *_ in edit), edit
    for english in ("you can take one", "I like tea", "change 密码", "Where do couriers leave my parcels?", "ok"):
        assert norm(n, english) == norm(Normalizer(tables, Normalizer.pinyin_data(tables, [])), english), english
        assert not any(kind == "拼音" for kind, *_ in n.normalize(english).changes), english
    # a normaliser built outside training knows only the domain words: it decodes nothing it cannot spell whole
    bare = Normalizer(tables, Normalizer.pinyin_data(tables, []))
    assert norm(bare, "wuyefei zenme jiao") in ("wuyefei zenme jiao", "物业费 zenme jiao", "物业费zenme jiao")


def test_the_trained_model_answers_a_question_typed_in_pinyin(parser):
    reading = parser.parse("wuyefei zenme jiao")
    assert reading.intent == "faq" and reading.faq_id == "payment_methods", reading
    assert parser.parse("tingche yueka duoshao qian").faq_id in ("parking_monthly_card", "parking_fee")


def test_english_grammar_words_go_only_where_a_term_was_translated(normalizer):
    assert norm(normalizer, "What are the opening hours of the property management office?") == "什么 营业时间 物业 办公室?"
    assert norm(normalizer, "Do I need to book the elevator for moving in?") == "我要 预约 电梯 搬入?"
    # nothing translated: the run stays whole (small talk, a name, English the table lacks)
    assert norm(normalizer, "thank you so much") == "thank you so much"
    assert norm(normalizer, "Is it raining in Shanghai") == "Is it raining in Shanghai"


@pytest.mark.parametrize("text,faq_id", [
    ("How much is the property management fee per square meter?", "fee_standard"),
    ("Do I need to book the elevator for moving in?", "move_in_out"),
    ("How do I contact the homeowners' committee?", "owners_committee"),
])
def test_the_trained_model_answers_whole_english_questions(parser, text, faq_id):
    reading = parser.parse(text)
    assert reading.intent == "faq" and reading.faq_id == faq_id, reading


def test_a_long_latin_message_is_not_decoded_and_stays_cheap(settings):
    """No question is 120 letters of pinyin; a longer stretch is left as it is, and reading it stays linear (a
    4,000-letter message took 142 ms before the syllable check was bounded)."""
    import time

    from bot.nlu.normalize import SPELLED_MAX_LETTERS

    tables = load_tables(settings.normalize_dir, settings.dictionary_dir)
    n = Normalizer(tables, Normalizer.pinyin_data(tables, ["物业费怎么交"]))
    long = "wu ye fei " * (SPELLED_MAX_LETTERS // 6)
    assert norm(n, long) == long.strip()
    started = time.thread_time()  # this thread's: the suite's servers run timers in other threads of the process
    for text in ("ba" * 2000, "wu ye fei " * 400):
        n.normalize(text)
    assert time.thread_time() - started < 0.5

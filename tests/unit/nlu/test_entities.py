"""Entity rules and Chinese numeral normalisation (pure functions)."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.nlu.entities import extract_entities
from bot.nlu.numerals import cn_to_int

NOW = dt.datetime(2026, 11, 27, 10, 0)  # a Friday


@pytest.mark.parametrize("text,value", [("十二", 12), ("二十", 20), ("一百零二", 102), ("一一零二", 1102), ("两", 2),
                                        ("三千五百", 3500), ("1102", 1102)])
def test_chinese_numerals(text, value):
    assert cn_to_int(text) == value


def values(text, kind):
    return [(e.value, e.text) for e in extract_entities(text, NOW) if e.entity == kind]


@pytest.mark.parametrize("text,value,span", [
    ("3栋2单元1102的物业费", "3-2-1102", "3栋2单元1102"),
    ("三号楼二单元1102室漏水了", "3-2-1102", "三号楼二单元1102室"),
    ("帮我查下5-2-1102欠不欠费", "5-2-1102", "5-2-1102"),
    ("十二栋一单元801", "12-1-801", "十二栋一单元801"),
    ("我住8幢", "8", "8幢"),
])
def test_rooms(text, value, span):
    assert values(text, "room") == [(value, span)]


def test_a_floor_or_a_date_is_not_a_room():
    assert values("电梯停在8楼不动", "room") == []
    assert values("3号下午来修", "room") == []


@pytest.mark.parametrize("text,value", [("粤B12345明天到", "粤B12345"), ("新能源车粤BD12345", "粤BD12345"),
                                        ("车牌浙a·88e88", "浙A88E88"), ("京N9P527", "京N9P527")])
def test_plates(text, value):
    assert [v for v, _ in values(text, "plate")] == [value]


def test_phone_work_order_amount():
    assert values("电话 138-1234-5678", "phone") == [("13812345678", "138-1234-5678")]
    assert values("查工单WO20261120003", "work_order") == [("WO20261120003", "WO20261120003")]
    assert values("工单号：20261120003", "work_order")[0][0] == "WO20261120003"
    assert values("欠了三百块还是1200元", "amount") == [("300", "三百块"), ("1200", "1200元")]


@pytest.mark.parametrize("text,value", [
    ("明天下午三点来修", "2026-11-28T15:00"),
    ("周六上午有空", "2026-11-28T09:00"),
    ("下周一上午9点半", "2026-11-30T09:30"),
    ("后天晚上八点", "2026-11-29T20:00"),
    ("12月3号下午", "2026-12-03T15:00"),
    ("今天", "2026-11-27"),
])
def test_times(text, value):
    assert values(text, "time")[0][0] == value


def test_bare_part_of_day_is_not_a_time():
    assert values("早上好", "time") == []


def test_the_extractor_reports_spans_of_what_the_resident_wrote():
    """The Rasa component finds entities on the normalised reading and reports them on the original text."""
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.entity_extractor import PropertyEntityExtractor
    from bot.core.settings import get_settings
    from bot.nlu.normalize import NORMALIZED_KEY, get_normalizer

    settings = get_settings()
    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)

    def found(text):
        reading = normalizer.normalize(text)  # as the pipeline's normaliser leaves a message
        message = Message(data={"text": reading.text})
        message.set(NORMALIZED_KEY, reading)
        return {e["entity"]: e for e in PropertyEntityExtractor({}).process([message])[0].get("entities")}

    assert set(found("粤B12345明天下午三点到3栋2单元1102")) == {"plate", "time", "room"}
    text = "三號樓二單元1102室的水管漏了"
    room = found(text)["room"]
    assert room["value"] == "3-2-1102" and text[room["start"]:room["end"]].startswith("三號樓")

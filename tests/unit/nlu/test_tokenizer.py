"""The Rasa-with-Chinese traps, each guarded: dictionary directory, loud failures, mixed text, fresh process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.nlu.tokenizer import DictionaryError, DomainJiebaTokenizer, dictionary_files
from tests.conftest import subprocess_env


def test_dictionary_is_a_directory_with_150_plus_domain_words(settings):
    files = dictionary_files(str(settings.dictionary_dir))
    words = [line.split()[0] for f in files for line in open(f, encoding="utf-8") if line.strip()]
    assert len(set(words)) >= 150
    for word in ("物业费", "门禁卡", "电梯困人", "月卡", "访客车辆", "报修", "工单", "维修基金"):
        assert word in words


def test_dictionary_path_that_is_a_file_fails_loudly(settings):
    a_file = dictionary_files(str(settings.dictionary_dir))[0]
    with pytest.raises(DictionaryError, match="is a file"):
        dictionary_files(a_file)


def test_missing_or_empty_dictionary_fails_loudly(tmp_path):
    with pytest.raises(DictionaryError, match="missing"):
        dictionary_files(str(tmp_path / "nope"))
    with pytest.raises(DictionaryError, match="holds no dictionary"):
        dictionary_files(str(tmp_path))
    with pytest.raises(DictionaryError):
        DomainJiebaTokenizer.create({**DomainJiebaTokenizer.get_default_config(), "dictionary_path": str(tmp_path)},
                                    None, None, None)


def test_mixed_chinese_english_with_spaces_gives_no_whitespace_tokens(parser):
    from rasa.shared.nlu.training_data.message import Message

    tokenizer = DomainJiebaTokenizer(
        {**DomainJiebaTokenizer.get_default_config(), "dictionary_path": None}, None, None
    )
    tokens = tokenizer.tokenize(Message({"text": "我家 WiFi 坏了 help 一下 门禁卡"}), "text")
    assert tokens and all(t.text.strip() for t in tokens)
    reading = parser.parse("我家 WiFi 坏了  help 一下")
    assert reading.intent and reading.emotion["label"] in ("neutral", "anxious", "angry")


def test_domain_words_are_single_tokens_with_the_trained_model_in_a_fresh_process(trained_model):
    out = subprocess.run(
        [sys.executable, "-m", "bot.tools.cli", "parse", "--no-train", "--tokens", "电梯困人了", "我的门禁卡和维修基金"],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert "电梯困人" in lines[0]["tokens"]
    assert "门禁卡" in lines[1]["tokens"] and "维修基金" in lines[1]["tokens"]


def test_training_data_is_tokenised_only_when_asked():
    """bot/config.yml turns training-time tokenising off (nothing trained after the tokenizer reads tokens); Rasa's
    default, on, still tokenises for a featurizer that would."""
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    def tokenised(**config) -> bool:
        tokenizer = DomainJiebaTokenizer({**DomainJiebaTokenizer.get_default_config(), **config}, None, None)
        data = tokenizer.process_training_data(TrainingData([Message({"text": "门禁卡丢了", "intent": "faq"})]))
        return data.training_examples[0].get("text_tokens") is not None

    assert tokenised() and not tokenised(tokenize_training_data=False)


def test_tokens_are_jiebas_tokenize_and_a_loaded_dictionary_forgets_the_cuts_before_it(tmp_path):
    """The tokenizer reads the cut the classifiers' features share (``jieba_words``): its tokens and offsets are
    jieba.tokenize's, whitespace dropped; a dictionary loaded with a model is used at once, not cuts made before."""
    import jieba
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.tokenizer import jieba_words

    tokenizer = DomainJiebaTokenizer({**DomainJiebaTokenizer.get_default_config(), "dictionary_path": None}, None, None)
    for text in ["我家 WiFi 坏了  help 一下 门禁卡", "电梯困人了！！", "  多  个   空格\t\t", "ＡＢＣ大写", "",
                 "物业费多少钱一平", "三号楼2单元1501厨房漏水了"]:
        expected = [(w, s) for w, s, _ in jieba.tokenize(text) if w.strip()]
        assert [(t.text, t.start) for t in tokenizer.tokenize(Message({"text": text}), "text")] == expected, text
    word = "嘀嗒喵呜楼"  # not a word of any dictionary: cut into pieces until a model's dictionary holds it
    assert word not in jieba_words(f"我住{word}三层")
    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("tokenizer")
    with storage.write_to(resource) as directory:
        (directory / "words.txt").write_text(f"{word} 100 n\n", encoding="utf-8")
    DomainJiebaTokenizer.load(DomainJiebaTokenizer.get_default_config(), storage, resource, None)
    try:
        assert word in jieba_words(f"我住{word}三层")
    finally:
        jieba.del_word(word)
        jieba_words.cache_clear()

"""The general-knowledge lexicon (bot/nlu/lexicon.py): loading, validation with file:line, matching, and the model
that stores it."""
import json
import shutil
import subprocess
import sys
import tarfile

import pytest

from bot.nlu.lexicon import LexiconError, LexiconMatcher, check_lexicon, load_lexicon
from tests.conftest import subprocess_env


def test_the_project_lexicon_loads_and_is_large(settings):
    entries = load_lexicon(settings.lexicon_dir)
    assert len(entries) >= 5000
    categories = {c for cats in entries.values() for c in cats}
    assert {"疾病", "菜名", "手机应用", "电视频道", "电影", "股票"} <= categories
    assert check_lexicon(settings.lexicon_dir) == []


def test_problems_are_reported_with_file_and_line(tmp_path):
    (tmp_path / "a.yml").write_text("categories:\n  疾病:\n    - 感冒\n    - 感冒\n    - 癌\n  菜名: 红烧肉\n"
                                    "extra: 1\n", encoding="utf-8")
    (tmp_path / "b.yml").write_text("categories: [oops\n", encoding="utf-8")
    problems = {(p.file, p.line, p.message.split("'")[0]) for p in check_lexicon(tmp_path)}
    assert ("a.yml", 4, "类别 ") in problems  # the repeated 感冒
    assert any(f == "a.yml" and line == 5 for f, line, _ in problems)  # one character is no name
    assert any(f == "a.yml" and line == 6 for f, line, _ in problems)  # a category must list names
    assert any(f == "a.yml" and line == 7 for f, line, _ in problems)  # unknown top-level key
    assert any(f == "b.yml" for f, _, _ in problems)  # not YAML
    with pytest.raises(LexiconError):
        load_lexicon(tmp_path)


def test_names_in_several_files_and_categories_merge_lower_cased(tmp_path):
    (tmp_path / "a.yml").write_text("categories:\n  体育:\n    - NBA\n    - 巴塞罗那\n", encoding="utf-8")
    (tmp_path / "b.yml").write_text("categories:\n  地名:\n    - 巴塞罗那\n", encoding="utf-8")
    assert load_lexicon(tmp_path) == {"nba": ["体育"], "巴塞罗那": ["体育", "地名"]}
    assert load_lexicon(tmp_path / "missing") == {}


def test_matching_is_leftmost_longest_and_whole_messages_are_marked():
    m = LexiconMatcher({"大肠癌": ["疾病"], "肠癌": ["疾病"], "中山": ["地名"], "红烧肉": ["菜名"], "nba": ["体育"]})
    assert m.tokens("大肠癌", ["大肠癌"]) == ["LX疾病", "LXW疾病"]  # the longest name, once; it is the message
    assert m.tokens("大肠癌怎么治疗比较好", ["大肠癌", "怎么", "治疗", "比较", "好"]) == ["LX疾病"]
    # a 2-character name counts only as a jieba word of its own ("中山路" is a street, not the city)
    assert m.tokens("中山路怎么走", ["中山路", "怎么", "走"]) == []
    assert m.tokens("去中山", ["去", "中山"]) == ["LX地名"]  # 2 of 3 characters: not the whole message
    assert m.tokens("中山。", ["中山", "。"]) == ["LX地名", "LXW地名"]  # punctuation does not count
    assert m.tokens("今晚nba有比赛吗", ["今晚", "nba", "有", "比赛", "吗"]) == ["LX体育"]
    assert LexiconMatcher({}).tokens("红烧肉", ["红烧肉"]) == []


def test_the_model_stores_its_lexicon_and_reads_names_with_it(trained_model, tmp_path):
    """The archive carries the names (serving reads no data file), and a bare name reads as its category's
    tokens in the classifier's features."""
    from bot.nlu.flat_classifier import FlatModel

    with tarfile.open(trained_model) as archive:
        # the classifier's (the urgency model stores a flat model too: bot/nlu/urgency.py)
        members = [m for m in archive.getmembers() if "FlatIntentFaqClassifier" in m.name]
        member = next(m for m in members if m.name.endswith("flat.json"))
        meta = json.loads(archive.extractfile(member).read().decode("utf-8"))
        archive.extractall(tmp_path, members=[m for m in members if m.name.endswith(("flat.json", "flat.npz"))])
    assert meta["features"] == "v4" and len(meta["lexicon"]) >= 5000
    model = FlatModel.load(next(tmp_path.rglob("flat.json")).parent)
    lexicon_block = model.blocks("甲亢")[-1]
    assert lexicon_block == ["LX疾病", "LXW疾病"]
    assert any(k.startswith("LX") for k in model.vocab[-1])


def test_wuye_faq_check_validates_the_lexicon(settings, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data, ignore=shutil.ignore_patterns("generated"))
    (data / "nlu" / "lexicon" / "broken.yml").write_text("categories:\n  菜名:\n    - 宫保鸡丁\n    - 宫保鸡丁\n",
                                                          encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "bot.tools.cli", "faq", "check"], capture_output=True, text=True,
                         env=subprocess_env(WUYE_DATA_DIR=str(data)), timeout=120)
    assert out.returncode == 1
    assert "broken.yml:4:" in out.stderr

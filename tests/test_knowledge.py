"""The FAQ knowledge base: the contract, validation with file and line, per-community rendering."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.contract import FAQ_IDS
from bot.knowledge import KnowledgeBaseError, load_knowledge_base
from tests.conftest import subprocess_env


def test_every_contract_faq_id_has_many_phrasings_and_an_answer(settings):
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    assert set(FAQ_IDS) <= set(kb.entries)
    for faq_id in FAQ_IDS:
        entry = kb.entries[faq_id]
        assert len(entry.questions) >= 12, faq_id
        assert len(kb.render(faq_id)) > 40, faq_id


def test_answers_use_each_communitys_own_values(settings):
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    a, b = kb.communities[0], kb.communities[1]
    first, second = kb.render("office_hours", a.id), kb.render("office_hours", b.id)
    assert a.values["office_phone"] in first and b.values["office_phone"] in second
    assert a.values["office_phone"] not in second
    assert b.values["fee_per_m2"] in kb.render("fee_standard", b.id)


def test_faq_files_do_not_use_rasa_keys(settings):
    for path in settings.faq_dir.glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        for key in ("nlu:", "responses:", "rules:", "stories:"):
            assert f"\n{key}" not in "\n" + text, (path, key)


def _problems(data: Path, **overrides: str):
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(data / "faq", data / "communities.yml", overrides=overrides)
    return [str(p) for p in info.value.problems]


def test_duplicate_id_is_reported_with_file_and_line(data_copy):
    text = (data_copy / "faq" / "notices.yml").read_text(encoding="utf-8")
    extra = text + (
        "  - id: pets\n    title: t\n    questions:\n" + "".join(f"      - 新的问题{i}\n" for i in range(12))
        + "    answer: 答案\n"
    )
    problems = _problems(data_copy, **{"notices.yml": extra})
    dup = [p for p in problems if "duplicate id 'pets'" in p]
    assert dup and dup[0].startswith("data/faq/notices.yml:") and "first at data/faq/living.yml:" in dup[0]
    line = int(dup[0].split(":")[1])
    assert extra.splitlines()[line - 1].strip() == "- id: pets"


def test_missing_answer_unknown_variable_and_shared_question(data_copy):
    broken = (
        "faq:\n"
        "  - id: test_one\n    title: t\n    questions:\n"
        + "".join(f"      - 测试问题{i}\n" for i in range(12))
        + "  - id: test_two\n    title: t\n    questions:\n      - 物业几点上班\n"
        + "".join(f"      - 另一个问题{i}\n" for i in range(12))
        + "    answer: 请致电 {no_such_value}\n"
    )
    problems = _problems(data_copy, **{"zz_test.yml": broken})
    assert any(p.startswith("data/faq/zz_test.yml:2:") and "missing answer" in p for p in problems), problems
    assert any("unknown template variable '{no_such_value}'" in p for p in problems), problems
    assert any(p.startswith("data/faq/zz_test.yml:20:") and "also under 'office_hours'" in p for p in problems), problems


def test_broken_yaml_reports_the_line(data_copy):
    problems = _problems(data_copy, **{"living.yml": "faq:\n  - id: x\n    questions: [unclosed\n    answer: y\n"})
    assert any(p.startswith("data/faq/living.yml:") and "invalid YAML" in p for p in problems), problems
    # the file is also missing required ids now, which is reported too
    assert any("required FAQ id 'garbage_sorting'" in p for p in problems)


def test_faq_check_cli_exit_codes(data_copy):
    ok = subprocess.run([sys.executable, "-m", "bot.cli", "faq", "check"], capture_output=True, text=True,
                        env=subprocess_env(WUYE_DATA_DIR=str(data_copy)), timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "33 FAQ entries" in ok.stdout
    path = data_copy / "faq" / "notices.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("{office_phone}", "{office_fone}"), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "faq", "check"], capture_output=True, text=True,
                         env=subprocess_env(WUYE_DATA_DIR=str(data_copy)), timeout=120)
    assert bad.returncode == 1
    assert "data/faq/notices.yml:" in bad.stderr and "{office_fone}" in bad.stderr

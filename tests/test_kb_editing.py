"""Saving an FAQ entry changes only that entry's lines: comments, layout and the other entries stay as written."""
from __future__ import annotations

import difflib
import re

import pytest

from bot import yamlio
from bot.kb_editing import save_entry
from bot.knowledge import KnowledgeBaseError, load_knowledge_base
from tests.conftest import settings_for


def test_every_shipped_faq_file_round_trips_byte_for_byte(settings):
    for path in sorted(settings.faq_dir.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        assert yamlio.dump_round_trip(yamlio.load_round_trip(text)) == text, path.name


def _entry_span(lines, faq_id):
    """0-based [start, end) of the entry's lines, up to the next entry."""
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {faq_id}")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"\s*- id: ", lines[i])), len(lines))
    return start, end


def _changed_lines(before, after):
    """0-based line numbers in `before` that the diff replaces or deletes, and where insertions happen."""
    touched = set()
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag != "equal":
            touched.update(range(i1, i2) if i2 > i1 else [i1])
    return touched


def test_saving_one_entry_changes_only_its_lines_and_keeps_comments(data_copy, tmp_path):
    settings = settings_for(data_copy, tmp_path / "models")
    path = settings.faq_dir / "living.yml"
    # An admin's comments in and around other entries, and inside the edited one.
    text = path.read_text(encoding="utf-8")
    text = text.replace("  - id: bulky_waste\n", "  # 大件垃圾：每周六清运（管理员备注）\n  - id: bulky_waste\n", 1)
    text = text.replace("      - 遛狗要拴绳吗\n", "      - 遛狗要拴绳吗  # 最常见的问法\n", 1)
    path.write_text(text, encoding="utf-8")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    entry = kb.entries["pets"]

    new_kb = save_entry(settings, kb, "pets", entry.title, entry.questions + ["小区里能养猫吗"],
                        entry.answer.rstrip("\n") + "\n另：请勿在公共绿地遛狗。")

    after = path.read_text(encoding="utf-8")
    before_lines, after_lines = text.splitlines(), after.splitlines()
    start, end = _entry_span(before_lines, "pets")
    touched = _changed_lines(before_lines, after_lines)
    assert touched, "nothing was written"
    assert all(start <= i <= end for i in touched), (
        f"lines outside the 'pets' entry ({start + 1}-{end}) changed:\n"
        + "".join(difflib.unified_diff(text.splitlines(True), after.splitlines(True))))
    diff = [line for line in difflib.unified_diff(before_lines, after_lines, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert sorted(diff) == sorted(["+      - 小区里能养猫吗", "+      另：请勿在公共绿地遛狗。"]), diff
    assert "  # 大件垃圾：每周六清运（管理员备注）\n  - id: bulky_waste\n" in after
    assert "      - 遛狗要拴绳吗  # 最常见的问法\n" in after
    assert after.startswith("# 日常生活与公共服务.\n")
    assert "小区里能养猫吗" in new_kb.entries["pets"].questions
    assert "公共绿地" in new_kb.render("pets")


def test_removing_and_rewording_questions_touches_only_those_lines(data_copy, tmp_path):
    settings = settings_for(data_copy, tmp_path / "models")
    path = settings.faq_dir / "living.yml"
    before = path.read_text(encoding="utf-8")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    entry = kb.entries["garbage_sorting"]
    questions = [q for q in entry.questions if q != "电池是什么垃圾"]
    questions[0] = "垃圾一般什么时候扔"
    save_entry(settings, kb, "garbage_sorting", entry.title, questions, entry.answer)
    diff = [line for line in difflib.unified_diff(before.splitlines(), path.read_text(encoding="utf-8").splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert sorted(diff) == sorted(["-      - 垃圾什么时候扔", "+      - 垃圾一般什么时候扔", "-      - 电池是什么垃圾"]), diff


def test_an_invalid_edit_leaves_the_file_untouched(data_copy, tmp_path):
    settings = settings_for(data_copy, tmp_path / "models")
    path = settings.faq_dir / "living.yml"
    before = path.read_text(encoding="utf-8")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    entry = kb.entries["pets"]
    with pytest.raises(KnowledgeBaseError):
        save_entry(settings, kb, "pets", entry.title, entry.questions, entry.answer + "{no_such_var}")
    assert path.read_text(encoding="utf-8") == before

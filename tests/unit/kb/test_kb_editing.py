"""Saving an FAQ entry changes only that entry's lines: comments, layout and the other entries stay as written."""
from __future__ import annotations

import difflib
import re

import pytest

from bot.core import yamlio
from bot.kb.kb_editing import save_entry
from bot.kb.knowledge import KnowledgeBaseError, load_knowledge_base
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


# --- concurrent saves: versions and the file lock -------------------------------------------------------------

def _on_disk(settings, faq_id, file_name="living.yml"):
    """The entry as the file holds it now, and the file's version (what an admin sees after a refresh)."""
    from bot.kb.knowledge import _parse_file, file_version

    text = (settings.faq_dir / file_name).read_text(encoding="utf-8")
    entry = next(e for e in _parse_file(text, f"data/faq/{file_name}", []) if e.id == faq_id)
    return entry, file_version(text)


def _living_ids(kb):
    return [e.id for e in kb.entries.values() if e.file == "data/faq/living.yml"]


def test_a_save_based_on_an_old_version_is_refused(data_copy, tmp_path):
    from bot.core.errors import FaqEditConflict

    settings = settings_for(data_copy, tmp_path / "models")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    version = kb.versions["data/faq/living.yml"]
    pets, sorting = kb.entries["pets"], kb.entries["garbage_sorting"]
    new_kb = save_entry(settings, kb, "pets", pets.title, pets.questions, pets.answer + "\n甲的修改", base_version=version)
    assert new_kb.versions["data/faq/living.yml"] != version
    before = (settings.faq_dir / "living.yml").read_text(encoding="utf-8")
    with pytest.raises(FaqEditConflict) as info:
        save_entry(settings, kb, "garbage_sorting", sorting.title, sorting.questions, sorting.answer + "\n乙的修改",
                   base_version=version)
    assert info.value.message == "已被他人修改，请刷新后再编辑" and info.value.status == 409
    assert info.value.current_version == new_kb.versions["data/faq/living.yml"]
    assert (settings.faq_dir / "living.yml").read_text(encoding="utf-8") == before
    # another file's version is its own: a save there is not refused
    fees = kb.entries["fee_standard"]
    save_entry(settings, kb, "fee_standard", fees.title, fees.questions, fees.answer + "\n丙",
               base_version=kb.versions[fees.file])


def _run_threads(n, work):
    import threading

    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_ten_concurrent_saves_with_the_same_version_exactly_one_wins(data_copy, tmp_path):
    from bot.core.errors import FaqEditConflict

    settings = settings_for(data_copy, tmp_path / "models")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    ids, version = _living_ids(kb), kb.versions["data/faq/living.yml"]

    def save(i):
        entry = kb.entries[ids[i % len(ids)]]
        try:
            save_entry(settings, kb, entry.id, entry.title, entry.questions, entry.answer + f"\n并发修改{i}号",
                       base_version=version)
            return 200
        except FaqEditConflict:
            return 409

    results = _run_threads(10, save)
    text = (settings.faq_dir / "living.yml").read_text(encoding="utf-8")
    assert results.count(200) == 1 and results.count(409) == 9, results
    for i, status in enumerate(results):
        assert (f"并发修改{i}号" in text) == (status == 200)
    load_knowledge_base(settings.faq_dir, settings.communities_file)  # and the file is still valid


def test_ten_concurrent_saves_with_fresh_versions_lose_no_edit(data_copy, tmp_path):
    """Ten admins edit entries of one file at once; each reloads and retries on 409: every edit ends up in the file."""
    from bot.core.errors import FaqEditConflict

    settings = settings_for(data_copy, tmp_path / "models")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    ids = _living_ids(kb)  # 9 entries: two admins edit the first one

    def save(i):
        conflicts = 0
        while True:
            entry, version = _on_disk(settings, ids[i % len(ids)])
            try:
                save_entry(settings, kb, entry.id, entry.title, entry.questions, entry.answer + f"\n刷新后修改{i}号",
                           base_version=version)
                return conflicts
            except FaqEditConflict:
                conflicts += 1
                assert conflicts < 100

    conflicts = _run_threads(10, save)
    text = (settings.faq_dir / "living.yml").read_text(encoding="utf-8")
    assert all(f"刷新后修改{i}号" in text for i in range(10)), text
    final = load_knowledge_base(settings.faq_dir, settings.communities_file)
    assert "刷新后修改0号" in final.render(ids[0]) and "刷新后修改9号" in final.render(ids[0])
    assert sum(conflicts) >= 0  # how many retries happened depends on timing; none was lost either way


def test_an_added_phrasing_goes_into_the_entry_as_it_is_on_disk(data_copy, tmp_path):
    from bot.kb.kb_editing import add_question

    settings = settings_for(data_copy, tmp_path / "models")
    stale = load_knowledge_base(settings.faq_dir, settings.communities_file)
    pets = stale.entries["pets"]
    save_entry(settings, stale, "pets", pets.title, pets.questions, pets.answer + "\n别人刚改的")  # another instance
    add_question(settings, stale, "pets", "小区里能养兔子吗")
    entry, _ = _on_disk(settings, "pets")
    assert "别人刚改的" in entry.answer and "小区里能养兔子吗" in entry.questions

"""bot/kb/community_editing.py without a server: an edit rewrites only the lines of the values it changes (comments
and order kept, the file reads back as meant), and each value's format is checked naming the value."""
from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from bot.core.settings import PROJECT_ROOT
from bot.kb.community import CommunityConfigError, load_communities
from bot.kb.community_editing import CommunityRejected, check_values, render_community
from bot.kb.knowledge import load_knowledge_base

FILE = PROJECT_ROOT / "data" / "communities.yml"


def changed_lines(before: str, after: str):
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_an_edit_rewrites_only_its_values_and_reads_back(tmp_path):
    text = FILE.read_text(encoding="utf-8")
    jinxiu = {c.id: c for c in load_communities(FILE)}["jinxiu"].values
    values = {**jinxiu, "on_duty_phone": "13800138000", "fee_per_m2": "2.90"}
    del values["holiday_agent_hours"]
    out = render_community(text, "jinxiu", values, create=False)
    assert sorted(changed_lines(text, out)) == sorted([
        '-    fee_per_m2: "2.80"',
        '-    holiday_agent_hours: "09:00-17:00"  # statutory holidays (chinese-calendar); without it: closed that day',
        '+    fee_per_m2: "2.90"', '+    on_duty_phone: "13800138000"'])
    (tmp_path / "c.yml").write_text(out, encoding="utf-8")
    assert {c.id: c for c in load_communities(tmp_path / "c.yml")}["jinxiu"].values == values
    assert out.startswith("# Community (小区) configuration.")


def test_unchanged_values_write_the_file_byte_identical():
    text = FILE.read_text(encoding="utf-8")
    binjiang = {c.id: c for c in load_communities(FILE)}["binjiang"].values
    assert render_community(text, "binjiang", dict(binjiang), create=False) == text


@pytest.mark.parametrize("key, value", [("office_phone", "abc"), ("on_duty_phone", "1380013800"),
                                        ("agent_hours", "24:00-25:00"), ("holiday_agent_hours", "18:00-09:00"),
                                        ("buildings", "0、1"), ("Bad-Key", "x")])
def test_each_value_is_checked_naming_it(key, value):
    kb = load_knowledge_base(PROJECT_ROOT / "data" / "faq", FILE)
    values = {**kb.communities[0].values, key: value}
    with pytest.raises(CommunityRejected) as refused:
        check_values(kb, values)
    assert refused.value.field == key and key in refused.value.message


def test_a_retired_community_keeps_its_flag_through_an_edit_and_a_bad_flag_names_its_line(tmp_path):
    text = FILE.read_text(encoding="utf-8").replace("  - id: binjiang\n", "  - id: binjiang\n    retired: true\n")
    path = tmp_path / "c.yml"
    path.write_text(text, encoding="utf-8")
    binjiang = {c.id: c for c in load_communities(path)}["binjiang"]
    assert binjiang.retired and "retired" not in binjiang.values  # not a value answers could use
    out = render_community(text, "binjiang", {**binjiang.values, "office_phone": "0571-8765 4301"}, create=False)
    assert "  - id: binjiang\n    retired: true\n" in out
    with pytest.raises(CommunityRejected, match="停用"):
        check_values(load_knowledge_base(PROJECT_ROOT / "data" / "faq", FILE), {**binjiang.values, "retired": "false"})
    path.write_text(text.replace("retired: true", "retired: 也许"), encoding="utf-8")
    with pytest.raises(CommunityConfigError, match="retired 只能是 true 或 false") as info:
        load_communities(path)
    assert info.value.line == text.splitlines().index("  - id: binjiang") + 1

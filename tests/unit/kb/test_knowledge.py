"""The FAQ knowledge base: the contract, validation with file and line, per-community rendering."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from bot.core.contract import FAQ_IDS
from bot.kb.knowledge import KnowledgeBaseError, load_knowledge_base
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
    dup = [p for p in problems if "条目 ID“pets”重复了" in p]
    assert dup and dup[0].startswith("data/faq/notices.yml:") and "第一次出现在 data/faq/living.yml:" in dup[0]
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
    assert any(p.startswith("data/faq/zz_test.yml:2:") and "缺少答案" in p for p in problems), problems
    assert any("{no_such_value} 不是每个小区都有的变量" in p for p in problems), problems
    assert any(p.startswith("data/faq/zz_test.yml:20:") and "也在条目“office_hours”下" in p for p in problems), problems


def test_broken_yaml_reports_the_line(data_copy):
    problems = _problems(data_copy, **{"living.yml": "faq:\n  - id: x\n    questions: [unclosed\n    answer: y\n"})
    assert any(p.startswith("data/faq/living.yml:3: YAML 格式错误：方括号列表 [ 没有闭合") and "直到第 4 行" in p
               for p in problems), problems
    # the file is also missing required ids now, which is reported too
    missing = [p for p in problems if "缺少必需的条目" in p]  # said once, with every id
    assert len(missing) == 1 and "“garbage_sorting”" in missing[0] and "“pets”" in missing[0], problems
    assert "可能在上面读不出来的文件里" in missing[0]


# Words that may stay in a Chinese problem: the file format's own names (what the admin types in the file) and
# quoted ids, {variables} and paths (removed before the check).
FORMAT_WORDS = {"YAML", "UTF", "Tab", "ID", "Rasa",
                "faq", "id", "title", "questions", "answer", "retired", "true", "false"}
ENGLISH = re.compile(r"\b(expected|unknown|invalid|missing|duplicate|must|found|while|scanning|parsing|error|"
                     r"not|but|got|allowed|entry|question|needed|required|empty|mapping|list)\b", re.I)


def _words(problem: str) -> str:
    """A problem without its place, quoted names, {variables} and paths: the words the check wrote."""
    text = re.sub(r"^[\w/.]+:\d+: ", "", problem)
    return re.sub(r"“[^”]*”|\{[^}]*\}|data/[\w/.-]+(:\d+)?", " ", text)


def _english_left(problem: str) -> List[str]:
    """The English words of a problem but the file format's own."""
    return [w for w in re.findall(r"[A-Za-z]{2,}", _words(problem)) if w not in FORMAT_WORDS]


BROKEN = {  # file → (text, the line its problem is on, what the problem says)
    "zz_syntax.yml": ("faq:\n  - id: zz_syntax\n    title: 语法\n    questions: [没有闭合的列表\n    answer: 答\n",
                      4, "方括号列表 [ 没有闭合"),  # where it was opened (PyYAML stops on line 5)
    "zz_tab.yml": ("faq:\n\t- id: zz_tab\n", 2, "制表符（Tab）"),
    "zz_quote.yml": ('faq:\n  - id: zz_quote\n    title: "没有闭合的引号\n', 3, "引号没有闭合"),
    "zz_colon.yml": ("faq:\n  - id: zz_colon\n    title: 标题: 还有冒号\n", 3, "文字里的“: ”要加引号"),
    "zz_indent.yml": ("faq:\n  - id: zz_indent\n    title: 缩进\n   answer: 答\n", 4, "缩进不对"),
    "zz_variable.yml": ("faq:\n  - id: zz_variable\n    title: 变量\n    questions:\n      - 测试变量的问题\n"
                        "    answer: 请致电 {office_fone}\n", 6, "{office_fone} 不是每个小区都有的变量"),
    "zz_empty_answer.yml": ('faq:\n  - id: zz_empty_answer\n    title: 空答案\n    questions:\n      - 测试空答案\n'
                            '    answer: ""\n', 2, "缺少答案"),
    "zz_shared_question.yml": ("faq:\n  - id: zz_shared\n    title: 重复问法\n    questions:\n      - 物业几点上班\n"
                               "    answer: 答\n", 5, "也在条目“office_hours”下"),
    "zz_no_title.yml": ("faq:\n  - id: zz_no_title\n    questions:\n      - 测试没有标题\n    answer: 答\n",
                        2, "缺少标题"),
    "zz_duplicate_id.yml": ("faq:\n  - id: pets\n    title: 重复\n    questions:\n      - 测试重复的条目\n"
                            "    answer: 答\n", 2, "条目 ID“pets”重复了"),
    "zz_fields.yml": ("faq:\n  - id: Bad-Id\n    title: 字段\n    questions: []\n    answer: 答\n    colour: 红\n",
                      2, "不认识的字段“colour”"),
    "zz_top.yml": ("faq: []\nresponses: {}\nextra: 1\n", 3, "不认识顶层的“extra:”"),
    "zz_blank.yml": ("", 1, "文件是空的"),
}


def test_every_knowledge_base_problem_is_in_chinese_with_its_file_and_line(data_copy):
    """Broken in many ways at once (YAML syntax, an unknown variable, an empty answer, a question of another entry,
    no title, a duplicate id…): each problem says where (file:line) and what, in Chinese — no English phrase of the
    YAML parser or of the checks."""
    problems = _problems(data_copy, **{name: text for name, (text, _, _) in BROKEN.items()})
    for name, (_, line, says) in BROKEN.items():
        assert any(p.startswith(f"data/faq/{name}:{line}: ") and says in p for p in problems), (name, problems)
    for problem in problems:
        assert re.match(r"data/(faq|communities\.yml)[\w/.]*:\d+: ", problem), problem
        assert re.search(r"[\u4e00-\u9fff]", _words(problem)), problem
        assert not ENGLISH.search(_words(problem)) and _english_left(problem) == [], problem


def test_a_file_that_is_not_utf8_and_a_broken_communities_file_are_reported_in_chinese(data_copy, tmp_path):
    from bot.kb.community import CommunityConfigError, load_communities

    (data_copy / "faq" / "zz_gbk.yml").write_bytes("faq:\n  - id: zz_gbk\n    title: 编码\n".encode("gbk"))
    problems = _problems(data_copy)
    assert any(p.startswith("data/faq/zz_gbk.yml:3: ") and "不是 UTF-8 编码" in p for p in problems), problems
    communities = data_copy / "communities.yml"
    text = communities.read_text(encoding="utf-8")
    zone = re.search(r"time_zone: *(\S+)", text)
    communities.write_text(text.replace(zone.group(0), "time_zone: Mars/Olympus"), encoding="utf-8")
    with pytest.raises(CommunityConfigError) as info:
        load_communities(communities)
    assert "时区“Mars/Olympus”不存在" in info.value.message and info.value.line > 1
    communities.write_text("communities:\n  - id: a\n    name: [未闭合\n", encoding="utf-8")
    with pytest.raises(CommunityConfigError) as info:
        load_communities(communities)
    assert info.value.message.startswith("YAML 格式错误") and _english_left(info.value.message) == []


def test_faq_check_cli_exit_codes(data_copy):
    ok = subprocess.run([sys.executable, "-m", "bot.tools.cli", "faq", "check"], capture_output=True, text=True,
                        env=subprocess_env(WUYE_DATA_DIR=str(data_copy)), timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "33 FAQ entries" in ok.stdout
    path = data_copy / "faq" / "notices.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("{office_phone}", "{office_fone}"), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "bot.tools.cli", "faq", "check"], capture_output=True, text=True,
                         env=subprocess_env(WUYE_DATA_DIR=str(data_copy)), timeout=120)
    assert bad.returncode == 1
    assert "data/faq/notices.yml:" in bad.stderr and "{office_fone}" in bad.stderr


# --- answer templates: rendered with every 小区's values, only bare names, bounded ---------------------------

def _with_pets_answer(data: Path, answer: str) -> str:
    """living.yml with the 'pets' answer replaced (a literal block, as the admin page writes it)."""
    from bot.kb.kb_editing import render_faq_edit

    kb = load_knowledge_base(data / "faq", data / "communities.yml")
    entry = kb.entries["pets"]
    return render_faq_edit((data / "faq" / "living.yml").read_text(encoding="utf-8"), "pets", entry.title,
                           entry.questions, answer)


@pytest.mark.parametrize("field, says", [
    ("{office_hours:d}", "格式说明"),
    ("{office_hours:x<5000000}", "格式说明"),
    ("{office_hours:{office_phone}}", "格式说明"),
    ("{office_hours!r}", "转换"),
    ("{office_hours!s:>9}", "转换"),
    ("{office_hours.upper}", "属性或下标"),
    ("{office_hours[0]}", "属性或下标"),
    ("{}", "没有变量名"),
    ("{0}", "不是变量名"),
    ("{no_such_value}", "不是每个小区都有的变量"),
    ("{office_hours", "花括号不成对"),
    ("office_hours}", "花括号不成对"),
])
def test_unsafe_answer_templates_are_refused_with_file_and_line(data_copy, field, says):
    text = _with_pets_answer(data_copy, f"养宠物请遵守规定。\n办公时间：{field}\n谢谢配合。\n")
    problems = _problems(data_copy, **{"living.yml": text})
    ours = [p for p in problems if "“pets”" in p]
    assert len(ours) == 1 and says in ours[0] and ours[0].startswith("data/faq/living.yml:"), problems
    line = int(ours[0].split(":")[1])
    if says != "花括号不成对":  # the line of the field itself
        assert field in text.splitlines()[line - 1], (line, text.splitlines()[line - 1])


def test_rendered_answers_are_bounded_for_every_community(data_copy):
    text = _with_pets_answer(data_copy, "设施：" + "{amenities}；" * 40 + "\n")
    problems = [p for p in _problems(data_copy, **{"living.yml": text}) if "“pets”" in p]
    assert len(problems) == 1 and "2000" in problems[0] and "个字" in problems[0], problems
    ok = _with_pets_answer(data_copy, "设施：" + "{amenities}；" * 3 + "花括号请写 {{ 和 }}。\n")
    kb = load_knowledge_base(data_copy / "faq", data_copy / "communities.yml", overrides={"living.yml": ok})
    for community in kb.communities:
        rendered = kb.render("pets", community.id)
        assert community.values["amenities"] in rendered and "{ 和 }" in rendered and len(rendered) <= 2000


def test_render_never_evaluates_anything_but_bare_names(settings):
    from bot.kb.knowledge import TemplateError, render_template

    values = {"a": "x"}
    assert render_template("{a}{{a}}", values) == "x{a}"
    for template in ("{a.__class__}", "{a[0]}", "{a!r}", "{a:>99999999}", "{b}", "{0}"):
        with pytest.raises(TemplateError):
            render_template(template, values)


# --- every instance follows the files; a broken file never stops the server ----------------------------------

def _wait_for(condition, seconds=5.0):
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_two_holders_on_one_data_dir_both_follow_a_save(data_copy, tmp_path):
    from bot.kb.kb_editing import save_entry
    from bot.kb.knowledge import KnowledgeHolder
    from tests.conftest import settings_for

    settings = settings_for(data_copy, tmp_path / "models")
    first, second = KnowledgeHolder(settings), KnowledgeHolder(settings)  # two instances
    entry = first.current.entries["pets"]
    new = save_entry(settings, first.current, "pets", entry.title, entry.questions, entry.answer + "\n第二实例也看得到。",
                     base_version=first.current.versions[entry.file])
    first.current = new
    assert "第二实例也看得到" in first().render("pets")
    assert "第二实例也看得到" not in second().render("pets")  # checked at most once a second…
    assert _wait_for(lambda: "第二实例也看得到" in second().render("pets"), 3)  # …and then reloaded
    assert second().versions == first().versions


def test_a_broken_file_on_disk_keeps_the_last_good_version_serving(data_copy, tmp_path, caplog):
    from bot.kb.knowledge import KnowledgeHolder
    from tests.conftest import settings_for

    settings = settings_for(data_copy, tmp_path / "models")
    holder = KnowledgeHolder(settings, check_interval=0.05)
    path = data_copy / "faq" / "living.yml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("      - 遛狗要拴绳吗\n", "      - 遛狗要拴绳吗\n    answer: [unclosed\n", 1), encoding="utf-8")
    assert _wait_for(lambda: holder.current is not None and holder.problems)
    assert any(p.startswith("data/faq/living.yml:") for p in holder.problems), holder.problems
    assert "拴绳" in holder().render("pets")  # still served
    assert "data/faq/living.yml:" in caplog.text
    path.write_text(good.replace("拴绳", "牵绳"), encoding="utf-8")
    assert _wait_for(lambda: "牵绳" in holder().render("pets"))
    assert holder.problems == []


def test_a_broken_file_at_start_up_serves_the_last_good_copy_and_faq_check_reports_it(data_copy, tmp_path, caplog):
    from bot.kb.knowledge import KnowledgeHolder, snapshot_path
    from tests.conftest import settings_for

    settings = settings_for(data_copy, tmp_path / "models")
    KnowledgeHolder(settings)  # a good start keeps a copy
    assert snapshot_path(settings).exists()
    path = data_copy / "faq" / "notices.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("{office_phone}", "{office_phone:>5000000}", 1),
                    encoding="utf-8")
    holder = KnowledgeHolder(settings)  # the restart
    assert holder.serving_last_good and "020-8888 6601" in holder().render("office_hours")
    assert len(holder().entries) == 33
    assert any(p.startswith("data/faq/notices.yml:") and "格式说明" in p for p in holder.problems), holder.problems
    assert "data/faq/notices.yml:" in caplog.text
    bad = subprocess.run([sys.executable, "-m", "bot.tools.cli", "faq", "check"], capture_output=True, text=True,
                         env=subprocess_env(WUYE_DATA_DIR=str(data_copy)), timeout=120)
    assert bad.returncode == 1 and "data/faq/notices.yml:" in bad.stderr and "格式说明" in bad.stderr


def test_a_broken_file_with_no_good_version_ever_fails_clearly(data_copy, tmp_path):
    from bot.kb.knowledge import KnowledgeBaseUnavailable, KnowledgeHolder
    from tests.conftest import settings_for

    path = data_copy / "faq" / "notices.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("{office_phone}", "{office_fone}", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseUnavailable) as info:
        KnowledgeHolder(settings_for(data_copy, tmp_path / "empty-models"))
    message = str(info.value)
    assert "没有可用的上一个正确版本" in message and "data/faq/notices.yml:" in message and "{office_fone}" in message


def test_a_follow_up_gets_the_sentence_of_the_answer_it_asks_about(settings):
    """bot.kb.knowledge.answer_detail: the fee sentence for a price question, the loss sentence for 挂失, nothing
    for a question no sentence stands out for, nor for a sentence that only introduces the list after it."""
    from bot.kb.knowledge import answer_detail

    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    card = kb.render("access_card")
    fee = answer_detail(card, "补一张要多少钱")
    assert fee and "工本费" in fee and "挂失" not in fee
    lost = answer_detail(card, "丢了怎么挂失")
    assert lost and "挂失" in lost and "工本费" not in lost
    assert answer_detail(card, "好的") is None
    assert answer_detail("规定如下：\n1. 甲。\n2. 乙。\n3. 丙。", "有什么规定") is None
    assert answer_detail("一句话。", "多少钱") is None  # too short an answer to cut


def test_an_faqs_own_words_say_how_much_of_a_question_they_carry(settings):
    """KnowledgeBase.support (rule 10d's check before taking a follow-up as the last answer's detail): the invoice
    answer carries "是纸质的还是电子的", the office-hours one does not carry "宽带报装", the broadband one does."""
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    paper = "是纸质的还是电子的，要去哪里领"
    assert kb.support("invoice", paper) > kb.support("utilities_account", paper)
    broadband = "宽带报装找你们不"
    assert kb.support("office_hours", broadband) < kb.support("broadband", broadband)
    assert kb.support("office_hours", broadband) == 0.0
    assert kb.support("no_such_faq", broadband) == 0.0

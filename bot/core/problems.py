"""Problems found in an admin-edited data file, with the file and line (the knowledge base, the normaliser's tables),
in Chinese: :func:`yaml_error` says what the YAML parser found in words an admin can act on."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import yaml


@dataclass(frozen=True)
class FileProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ProblemsError(ValueError):
    """Carries every problem found."""

    def __init__(self, problems: Sequence[FileProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- the YAML parser's messages in Chinese ---------------------------------------------------------------------
# PyYAML says what it expected and what it found in English ("expected ',' or ']', but got '<stream end>'"); admins
# read Chinese. The tokens it names, its problems (by pattern) and the construct it was reading (its context, with the
# line where that construct began) are translated; a message not listed still reads as Chinese (YAML_UNKNOWN).
YAML_TOKENS = {
    "<stream end>": "文件结尾", "<document start>": "文档分隔线 ---", "<document end>": "文档结束标记 ...",
    "<block end>": "缩进结束", "<block mapping start>": "新的一组“键: 值”", "<block sequence start>": "新的列表",
    "<scalar>": "一段文字", "<alias>": "别名 *", "<anchor>": "锚点 &", "<tag>": "标签 !", "<directive>": "指令 %",
    "?": "一个新的键", ":": "冒号 :", "-": "列表项“- ”", ",": "逗号 ,", "[": "左方括号 [", "]": "右方括号 ]",
    "{": "左花括号 {", "}": "右花括号 }", "\\t": "制表符（Tab）", " ": "空格", "\\x00": "空字符",
}
# (pattern of PyYAML's problem, Chinese): {0} is the token or character found, in words; {raw} as written; {end} the
# line where PyYAML stopped (for what was opened and never closed, the problem is reported where it was opened)
YAML_PROBLEMS: Tuple[Tuple[str, str], ...] = (
    (r"expected ',' or '\]', but got (.+)", "方括号列表 [ 没有闭合：直到第 {end} 行也没有右方括号 ]（那里是{0}）"),
    (r"expected ',' or '\}', but got (.+)", "花括号 {{ 没有闭合：直到第 {end} 行也没有右花括号 }}（那里是{0}）"),
    (r"expected <block end>, but found (.+)", "缩进不对：这里不应出现{0}（同一层的键和列表项要左对齐；上一行是否少了冒号或引号？）"),
    (r"could not find expected ':'", "缺少冒号：键后面要写“: ”再写值（冒号后有空格）"),
    (r"mapping values are not allowed here", "这里不能出现“键: 值”：文字里的“: ”要加引号，或检查缩进"),
    (r"sequence entries are not allowed here", "这里不能出现列表项“- ”：检查缩进"),
    (r"mapping keys are not allowed here", "这里不能出现“? ”：以 ? 开头的文字请加引号"),
    (r"found character '\\t' that cannot start any token", "缩进只能用空格，不能用制表符（Tab）"),
    (r"found character (.+) that cannot start any token", "{0}不能出现在这里：以 @、` 等符号开头的文字请加引号"),
    (r"found unexpected end of stream", "引号没有闭合：直到文件结尾（第 {end} 行）也没有配对的引号"),
    (r"found unexpected document separator", "引号没有闭合：直到第 {end} 行的 --- 也没有配对的引号"),
    (r"found unknown escape character (.+)", "双引号里的“\\{raw}”不是有效的转义：反斜杠本身请写成 \\\\，或改用单引号"),
    (r"found undefined alias (.+)", "别名“*{raw}”没有定义（以 * 开头的文字请加引号）"),
    (r"found undefined tag handle (.+)", "标签“{raw}”没有定义（以 ! 开头的文字请加引号）"),
    (r"found duplicate anchor (.+?);.*", "锚点“&{raw}”重复了"),
    (r"found incompatible YAML document.*", "不支持这个 YAML 版本（请删掉开头的 %YAML 行）"),
    (r"expected alphabetic or numeric character, but found (.+)", "别名或锚点名只能用字母和数字，却是{0}（以 * 或 & 开头的文字请加引号）"),
    (r"expected the node content, but found (.+)", "这里应有内容，却是{0}"),
    (r"expected a comment or a line break, but found (.+)", "这里应换行或写注释，却是{0}"),
    (r"expected chomping or indentation indicators, but found (.+)", "“|”或“>”后面只能写 +、- 或缩进数字，却是{0}"),
    (r"expected indentation indicator in the range 1-9, but found 0", "“|”或“>”后的缩进数字只能是 1–9"),
    (r"invalid indentation or unclosed '\[' or '\{'", "缩进不对，或 [ 、{{ 没有闭合"),
    (r"but found another document", "一个文件只能有一个文档：请删掉多余的 ---"),
    (r".*special characters are not allowed.*", "文件里有不允许的控制字符，请删掉"),
)
# What PyYAML was reading when it stopped, whose first line is said after the problem.
YAML_CONTEXTS = {
    "while parsing a block mapping": "这一组“键: 值”从第 {line} 行开始",
    "while parsing a block collection": "这一层从第 {line} 行开始",
    "while scanning a simple key": "这个键在第 {line} 行",
    "while scanning a block scalar": "多行文字从第 {line} 行开始",
}
YAML_UNKNOWN = "格式有误（请检查这一行和上一行的缩进、冒号和引号）"


def _yaml_token(found: str) -> str:
    """What PyYAML found, in words: '<stream end>' → 文件结尾, '\\t' → 制表符（Tab）, another character → “x”."""
    found = _unquoted(found)
    return YAML_TOKENS.get(found) or f"“{found}”"


def _unquoted(found: str) -> str:
    found = found.strip()
    return found[1:-1] if len(found) > 1 and found[0] == found[-1] and found[0] in "'\"" else found


def yaml_error(exc: Exception, text: Optional[str] = None) -> Tuple[int, str]:
    """The line (1-based) and a Chinese message for a YAML error. ``text``: the document, for the reader's errors
    (a control character), which give a character position instead of a line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    end = mark.line + 1 if mark is not None else 1
    position = getattr(exc, "position", None)
    if mark is None and text is not None and isinstance(position, int):  # yaml.reader.ReaderError
        end = text[:position].count("\n") + 1
    problem = " ".join(str(x) for x in (getattr(exc, "problem", None), getattr(exc, "reason", None)) if x)
    what, unclosed = YAML_UNKNOWN, False
    for pattern, chinese in YAML_PROBLEMS:
        match = re.fullmatch(pattern, problem)
        if match:
            found = match.groups()
            what = chinese.format(*(_yaml_token(g) for g in found), raw=_unquoted(found[0]) if found else "", end=end)
            unclosed = "{end}" in chinese
            break
    context, context_mark = str(getattr(exc, "context", None) or ""), getattr(exc, "context_mark", None)
    if context_mark is not None and unclosed:  # where the bracket or quote was opened: that is where to fix it
        return context_mark.line + 1, f"YAML 格式错误：{what}"
    if context_mark is not None and context in YAML_CONTEXTS:
        what += f"（{YAML_CONTEXTS[context].format(line=context_mark.line + 1)}）"
    return end, f"YAML 格式错误：{what}"


def yaml_mapping_root(path: Path, key: str, problems: List[FileProblem]):
    """The top-level mapping node of a YAML file (composed, so every node knows its line), or None with the problem
    appended: not YAML, or not a mapping (``key`` names the top-level key the file should have)."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except UnicodeDecodeError:
        problems.append(FileProblem(path.name, 1, "不是 UTF-8 编码的文字，请用 UTF-8 保存"))
        return None
    except yaml.YAMLError as exc:
        problems.append(FileProblem(path.name, *yaml_error(exc, text)))
        return None
    if not isinstance(root, yaml.MappingNode):
        problems.append(FileProblem(path.name, 1, f"顶层应为映射，含键 '{key}:'"))
        return None
    return root

"""The FAQ knowledge base (data/faq/*.yml): loading with file/line positions, validation, rendering.

Each file has one top-level key ``faq:`` (never ``nlu:``/``responses:``, so Rasa does not read it) holding a
list of entries ``{id, title, questions: [...], answer}``. Answers are templates whose ``{names}`` come from
data/communities.yml: only bare names (no format spec, conversion, attribute or index), checked by rendering every
answer with every 小区's values, and at most MAX_RENDERED_CHARS long once rendered.

:class:`KnowledgeHolder` serves the knowledge base: it reloads when the files change on disk (every instance, checked
at most once a second), keeps serving the last good version when they do not validate, and keeps a copy of the last
good version in the models directory so a broken file at start-up does not stop the server.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import string
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from bot.core.contract import FAQ_IDS
from bot.core.problems import FileProblem, ProblemsError, yaml_error
from bot.kb.community import Community, CommunityConfigError, load_communities, template_variables

MIN_QUESTIONS = 1  # an entry is answerable from its title, answer and one question (bot/nlu/matching.py)
FEW_QUESTIONS = 3  # below this many questions `wuye faq check` and /admin show a hint (not an error)
MAX_RENDERED_CHARS = 2000  # an answer, rendered with any 小区's values
RELOAD_INTERVAL = 1.0  # seconds between two looks at the files' mtimes

logger = logging.getLogger(__name__)


FaqProblem = FileProblem


class KnowledgeBaseError(ProblemsError):
    """Raised when the knowledge base does not validate; carries every problem found."""


class KnowledgeBaseUnavailable(KnowledgeBaseError):
    """The files do not validate and no good version was ever kept: the server cannot start."""

    def __init__(self, problems: Sequence[FaqProblem], snapshot: Path):
        super().__init__(problems)
        self.args = (f"知识库有 {len(self.problems)} 处问题，且没有可用的上一个正确版本（{snapshot}），无法启动；"
                     f"请按下面的位置修改后用 `wuye faq check` 检查：\n" + "\n".join(str(p) for p in self.problems),)


class TemplateError(ValueError):
    """An answer template that cannot be rendered safely."""


def file_version(text: str) -> str:
    """The version of a knowledge base file: sha256 of its UTF-8 text (what an edit says it was based on)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class FaqEntry:
    id: str
    title: str
    questions: List[str]
    answer: str
    file: str
    line: int
    question_lines: List[int] = field(default_factory=list)
    answer_line: int = 0
    answer_style: Optional[str] = None  # '|' when the answer is a literal block: its lines map to file lines
    retired: bool = False  # kept for history and figures, never answered, not trained


def few_questions_hint(entry: FaqEntry) -> Optional[str]:
    """The hint for an active entry with fewer than FEW_QUESTIONS questions (None otherwise)."""
    if entry.retired or len(entry.questions) >= FEW_QUESTIONS:
        return None
    return f"只有 {len(entry.questions)} 个问法，建议至少 {FEW_QUESTIONS} 个"


@dataclass
class KnowledgeBase:
    entries: Dict[str, FaqEntry]
    communities: List[Community]
    versions: Dict[str, str] = field(default_factory=dict)  # "data/faq/x.yml" → file_version of the text loaded

    @property
    def active(self) -> Dict[str, FaqEntry]:
        """The entries residents are answered from (retired ones stay in ``entries`` for history and figures)."""
        return {k: e for k, e in self.entries.items() if not e.retired}

    def hints(self) -> List[FaqProblem]:
        """Advice that is not an error: active entries with fewer than FEW_QUESTIONS questions."""
        return [FaqProblem(e.file, e.line, f"“{e.id}”{hint}（住户的问法越多样，答得越准）")
                for e in self.active.values() for hint in [few_questions_hint(e)] if hint]

    def community(self, community_id: Optional[str] = None) -> Community:
        for c in self.communities:
            if c.id == community_id:
                return c
        return self.communities[0]

    def named_community(self, text: str) -> Optional[str]:
        """The one 小区 in service whose name the text says ("滨江壹号5栋电梯困人了"), else None (none, or several)."""
        named = [c.id for c in self.communities if not c.retired and c.name and c.name in text]
        return named[0] if len(named) == 1 else None

    def render(self, faq_id: str, community_id: Optional[str] = None) -> str:
        entry = self.entries[faq_id]
        return render_template(entry.answer, self.community(community_id).values).strip()

    def support(self, faq_id: str, question: str) -> float:
        """``answer_support`` of one FAQ (0 for an unknown id)."""
        entry = self.entries.get(faq_id)
        return answer_support(entry.title, entry.answer, question) if entry else 0.0

    def questions_fingerprint_items(self) -> List[Tuple[str, List[str]]]:
        """What training depends on: the active entries' ids, titles, questions and answer texts (the classifier
        reads titles and answer sentences as phrasings too)."""
        return sorted((e.id, [e.title, *e.questions, e.answer]) for e in self.active.values())


# --- the part of an answer a follow-up asks about ------------------------------------------------------------
# "补一张要多少钱" after the access-card answer: the sentence with the fee, not the whole answer again. The cues
# stand for what a kind of question is answered with (a price by 元, a time by digits and 点/天, a place by 楼/室).
DETAIL_CUES: Tuple[Tuple[str, str], ...] = (
    (r"多少钱|几块|几毛|收费|费用|价格|贵不贵|要钱|花钱|免费|工本费|押金", r"\d+(\.\d+)?\s*元|免费|收费|费用|押金"),
    (r"几点|什么时候|啥时候|时间|多久|多长时间|几天|哪天|周末|周六|周日|礼拜|节假日|晚上|中午", r"\d+[:：]\d+|\d+\s*(点|天|小时|分钟|个工作日)|周[一二三四五六日末]|节假日|工作日|当天|当场"),
    (r"哪里|哪儿|在哪|地址|地方|位置|去哪", r"物业服务中心|\{?office_address|\d+\s*(号楼|栋|楼|层|室)|前台|大堂|门岗"),
    (r"带什么|带啥|证件|材料|手续|要什么|需要什么|拿什么", r"身份证|房产证|证明|凭证|复印件|材料|合同|申请"),
    (r"电话|打给谁|找谁|联系", r"电话|\d{7,}|拨打|联系"),
    (r"网上|手机|线上|公众号|app|APP|微信|支付宝|小程序", r"公众号|微信|支付宝|线上|小程序|APP|App|网上"),
)
DETAIL_STOP = set("的了吗呢啊呀吧嘛么什怎要能可以是不有没在哪里个一这那我你您他她它们多少几还也就都和跟请问下想")


def answer_sentences(answer: str) -> List[str]:
    """An answer's sentences (its lines, each cut after 。；), without list numbers' blank pieces."""
    out = []
    for line in answer.splitlines():
        out += [s.strip() for s in re.split(r"(?<=[。；;])", line) if len(s.strip()) > 1]
    return out


def _question_terms(question: str) -> Tuple[set, set]:
    """A question's content characters (not ``DETAIL_STOP``) and its Chinese character pairs."""
    chars = {c for c in question if "\u4e00" <= c <= "\u9fff" and c not in DETAIL_STOP}
    bigrams = {question[i:i + 2] for i in range(len(question) - 1)
               if all("\u4e00" <= c <= "\u9fff" for c in question[i:i + 2])}
    return chars, bigrams


def _overlap(sentence: str, terms: Tuple[set, set]) -> float:
    """1 per content character and 2 per character pair of the question found in the sentence."""
    chars, bigrams = terms
    return sum(1.0 for c in chars if c in sentence) + sum(2.0 for b in bigrams if b in sentence)


def answer_detail(answer: str, question: str) -> Optional[str]:
    """The sentence of a (rendered) answer that a follow-up question asks about, or None when no sentence stands
    out (the whole answer is sent again). Scored by the question's content characters and bigrams found in the
    sentence, and by the kind of answer the question asks for (``DETAIL_CUES``)."""
    sentences = answer_sentences(answer)
    if len(sentences) < 3:
        return None
    terms = _question_terms(question)
    cues = [want for asked, want in DETAIL_CUES if re.search(asked, question)]

    def score(sentence: str) -> float:
        return _overlap(sentence, terms) + sum(3.0 for want in cues if re.search(want, sentence))

    scored = sorted(((score(s), i) for i, s in enumerate(sentences)), reverse=True)
    (best, i), (second, _) = scored[0], scored[1]
    if best < 3.0 or best == second or sentences[i].endswith(("：", ":")):
        return None  # nothing stands out, or the sentence only introduces the list after it: the whole answer
    return sentences[i]


def answer_support(title: str, answer: str, question: str) -> float:
    """How much of a question an FAQ's own words carry: the best ``_overlap`` of its title or one sentence of its
    answer (template). Rule 10d compares it for the FAQ just answered and the FAQ the question reads as alone
    ("是纸质的还是电子的" is in the invoice answer's words; "宽带报装找你们不" is not in the office-hours one's)."""
    terms = _question_terms(question)
    return max(_overlap(s, terms) for s in answer_sentences(answer) + [title])


def _template_fields(template: str) -> List[Tuple[str, Optional[str], Optional[str], Optional[str]]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:  # Python's own words ("Single '}' encountered…") are English: an admin reads these
        raise TemplateError("花括号不成对：每个 { 都要有对应的 }；要显示花括号本身请写成 {{ 和 }}") from exc


def _field_problem(name: str, spec: Optional[str], conversion: Optional[str]) -> Optional[str]:
    """Why ``{name!conversion:spec}`` is not allowed in an answer (None: it is a bare name)."""
    shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
    if not name:
        return f"{shown} 没有变量名；要显示花括号本身请写成 {{{{ 和 }}}}"
    if not name.isidentifier():
        if re.match(r"\w+[.\[]", name):
            return f"{shown} 不能取属性或下标，只能写 {{变量名}}"
        return f"{shown} 不是变量名；要显示花括号本身请写成 {{{{ 和 }}}}"
    if conversion:
        return f"{shown} 不能带转换 !{conversion}，只能写 {{{name}}}"
    if spec:
        return f"{shown} 不能带格式说明 :{spec}，只能写 {{{name}}}"
    return None


def render_template(template: str, values: Mapping[str, str]) -> str:
    """The answer with every ``{name}`` replaced by its value; nothing but bare names is ever evaluated.

    Raises TemplateError for anything else (format specs, conversions, attributes, indexes, unknown names)."""
    out: List[str] = []
    for literal, name, spec, conversion in _template_fields(template):
        out.append(literal)
        if name is None:
            continue
        problem = _field_problem(name, spec, conversion)
        if problem:
            raise TemplateError(problem)
        if name not in values:
            raise TemplateError(f"{{{name}}} 不是小区变量")
        out.append(str(values[name]))
    return "".join(out)


def normalise_question(text: str) -> str:
    return re.sub(r"[\s，。？！、,.?!~～…；;：:]+", "", text).lower()


def _scalar(node: yaml.Node) -> Optional[str]:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


ENTRY_FIELDS = "id、title、questions、answer、retired"
NOT_UTF8 = "不是 UTF-8 编码的文字，请用 UTF-8 重新保存"


def _decode_line(exc: UnicodeDecodeError) -> int:
    """The line of the first byte that is not UTF-8."""
    return bytes(exc.object[:exc.start]).count(b"\n") + 1


def _read_text(path: Path, display: str, problems: List[FaqProblem]) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(FaqProblem(display, _decode_line(exc), NOT_UTF8))
        return None


def _parse_file(text: str, display: str, problems: List[FaqProblem]) -> List[FaqEntry]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        problems.append(FaqProblem(display, *yaml_error(exc, text)))
        return []
    if root is None:
        problems.append(FaqProblem(display, 1, "文件是空的：应以 faq: 开头，下面是条目列表"))
        return []
    if not isinstance(root, yaml.MappingNode):
        problems.append(FaqProblem(display, root.start_mark.line + 1, "文件顶层应是 faq:，下面是条目列表"))
        return []
    faq_node = None
    for key, value in root.value:
        k = _scalar(key)
        if k in ("nlu", "responses", "rules", "stories"):
            problems.append(FaqProblem(display, key.start_mark.line + 1,
                                       f"顶层的“{k}:”是 Rasa 训练数据用的，知识库文件只能有 faq:"))
        elif k == "faq":
            faq_node = value
        else:
            problems.append(FaqProblem(display, key.start_mark.line + 1, f"不认识顶层的“{k}:”，知识库文件只能有 faq:"))
    if faq_node is None:
        problems.append(FaqProblem(display, 1, "缺少顶层的 faq: 条目列表"))
        return []
    if not isinstance(faq_node, yaml.SequenceNode):
        problems.append(FaqProblem(display, faq_node.start_mark.line + 1,
                                   "faq: 下面应是条目列表（每个条目以“- id:”开头）"))
        return []
    entries: List[FaqEntry] = []
    for item in faq_node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            problems.append(FaqProblem(display, line, f"条目应由“字段: 值”组成（{ENTRY_FIELDS}）"))
            continue
        fields = {_scalar(k): v for k, v in item.value}
        unknown = set(fields) - {"id", "title", "questions", "answer", "retired"}
        for name in sorted(str(u) for u in unknown):
            problems.append(FaqProblem(display, line, f"不认识的字段“{name}”（条目只能有 {ENTRY_FIELDS}）"))
        faq_id = _scalar(fields["id"]) if "id" in fields else None
        if not faq_id:
            problems.append(FaqProblem(display, line, "条目缺少 id（条目 ID）"))
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]*", faq_id):
            problems.append(FaqProblem(display, line, f"条目 ID“{faq_id}”只能用小写字母、数字和下划线，并以字母开头"))
        title = _scalar(fields["title"]) if "title" in fields else None
        if not title or not title.strip():
            problems.append(FaqProblem(display, line, f"“{faq_id}”缺少标题（title）"))
        retired_text = (_scalar(fields["retired"]) or "").lower() if "retired" in fields else "false"
        if retired_text not in ("true", "false", "yes", "no"):
            problems.append(FaqProblem(display, fields["retired"].start_mark.line + 1,
                                       f"“{faq_id}”的 retired 只能是 true 或 false"))
        questions: List[str] = []
        question_lines: List[int] = []
        qnode = fields.get("questions")
        if not isinstance(qnode, yaml.SequenceNode) or not qnode.value:
            problems.append(FaqProblem(display, line, f"“{faq_id}”缺少问法（questions 列表）"))
        else:
            for q in qnode.value:
                value = _scalar(q)
                if value is None or not value.strip():
                    problems.append(FaqProblem(display, q.start_mark.line + 1, f"“{faq_id}”有一个问法是空的"))
                    continue
                questions.append(value.strip())
                question_lines.append(q.start_mark.line + 1)
        anode = fields.get("answer")
        answer = _scalar(anode) if anode is not None else None
        if not answer or not answer.strip():
            problems.append(FaqProblem(display, line, f"“{faq_id}”缺少答案（answer）"))
            answer = ""
        entries.append(
            FaqEntry(
                id=faq_id, title=title or faq_id, questions=questions, answer=answer, file=display, line=line,
                question_lines=question_lines, answer_line=(anode.start_mark.line + 1) if anode is not None else line,
                answer_style=getattr(anode, "style", None), retired=retired_text in ("true", "yes"),
            )
        )
    return entries


def _answer_line(entry: FaqEntry, needle: str) -> int:
    """The file line of the first answer line containing ``needle`` (a literal block maps line by line)."""
    if entry.answer_style == "|":
        for i, text in enumerate(entry.answer.split("\n")):
            if needle in text:
                return entry.answer_line + 1 + i
    return entry.answer_line


def _template_problems(entry: FaqEntry, communities: List[Community]) -> List[FaqProblem]:
    """Every problem of the entry's answer template, found by rendering it with every 小区's values."""
    allowed = template_variables(communities)
    try:
        fields = _template_fields(entry.answer)
    except TemplateError as exc:
        return [FaqProblem(entry.file, entry.answer_line, f"“{entry.id}”的答案模板有误：{exc}")]
    problems = []
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        line = _answer_line(entry, "{" + name)
        problem = _field_problem(name, spec, conversion)
        if problem:
            problems.append(FaqProblem(entry.file, line, f"“{entry.id}”的答案模板有误：{problem}"))
        elif name not in allowed:
            problems.append(FaqProblem(
                entry.file, line, f"“{entry.id}”的答案里的 {{{name}}} 不是每个小区都有的变量（见 data/communities.yml）"))
    if problems:
        return problems
    for community in communities:
        try:
            rendered = render_template(entry.answer, community.values).strip()
        except TemplateError as exc:  # not expected after the checks above; never let it reach a resident
            return [FaqProblem(entry.file, entry.answer_line, f"“{entry.id}”按小区 {community.id} 无法生成答案：{exc}")]
        if len(rendered) > MAX_RENDERED_CHARS:
            return [FaqProblem(entry.file, entry.answer_line,
                               f"“{entry.id}”按小区 {community.id} 生成的答案有 {len(rendered)} 个字，"
                               f"超过 {MAX_RENDERED_CHARS} 字的上限")]
    return problems


def load_knowledge_base(
    faq_dir: Path,
    communities_file: Path,
    *,
    required_ids: Sequence[str] = FAQ_IDS,
    min_questions: int = MIN_QUESTIONS,
    overrides: Optional[Dict[str, str]] = None,
) -> KnowledgeBase:
    """Load and validate every data/faq/*.yml. Raises KnowledgeBaseError listing all problems.

    ``overrides`` maps a file name to replacement text, so an edit can be validated before it is written.
    """
    problems: List[FaqProblem] = []
    communities = load_communities(communities_file)
    files = {p.name: p for p in sorted(faq_dir.glob("*.yml"))}
    entries: Dict[str, FaqEntry] = {}
    seen_questions: Dict[str, FaqEntry] = {}
    overrides = overrides or {}
    versions: Dict[str, str] = {}
    for name in sorted(set(files) | set(overrides)):
        display = f"data/faq/{name}"
        text = overrides[name] if name in overrides else _read_text(files[name], display, problems)
        if text is not None:
            versions[display] = file_version(text)
        for entry in _parse_file(text, display, problems) if text is not None else []:
            if entry.id in entries:
                first = entries[entry.id]
                problems.append(
                    FaqProblem(entry.file, entry.line,
                               f"条目 ID“{entry.id}”重复了（第一次出现在 {first.file}:{first.line}）")
                )
                continue
            entries[entry.id] = entry
            problems.extend(_template_problems(entry, communities))
            if len(entry.questions) < min_questions:
                problems.append(
                    FaqProblem(entry.file, entry.line,
                               f"“{entry.id}”只有 {len(entry.questions)} 个问法，至少需要 {min_questions} 个")
                )
            for q, qline in zip(entry.questions if not entry.retired else [], entry.question_lines):
                key = normalise_question(q)
                other = seen_questions.get(key)
                if other is not None and other.id != entry.id:
                    problems.append(
                        FaqProblem(entry.file, qline, f"“{entry.id}”（{entry.title}）的问法“{q}”也在条目“{other.id}”下"
                                                      f"（{other.title}，{other.file}:{other.line}），"
                                                      f"一个问法只能属于一个条目")
                    )
                elif other is None:
                    seen_questions[key] = entry
    missing = [faq_id for faq_id in required_ids if faq_id not in entries]
    if missing:  # one problem, not one per id: a file that cannot be read at all loses all of its entries at once
        unreadable = any("YAML 格式错误" in p.message or p.message == NOT_UTF8 for p in problems)
        problems.append(FaqProblem("data/faq", 0, "缺少必需的条目" + "、".join(f"“{i}”" for i in missing)
                                   + "（对话流程要用到它们）" + ("；它们可能在上面读不出来的文件里" if unreadable else "")))
    if problems:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(entries=entries, communities=communities, versions=versions)


def _files_signature(settings) -> Tuple[Any, ...]:
    """What changes when a knowledge base file is written: names, mtimes, sizes and inodes (atomic replaces)."""
    result = []
    for path in [*sorted(Path(settings.faq_dir).glob("*.yml")), Path(settings.communities_file)]:
        try:
            st = path.stat()
        except OSError:
            result.append((path.name, None))
            continue
        result.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(result)


def snapshot_path(settings) -> Path:
    """Where the last good knowledge base of this data directory is kept (one per data dir in the models dir)."""
    key = hashlib.sha256(str(Path(settings.data_dir).resolve()).encode()).hexdigest()[:16]
    return Path(settings.models_dir) / f"kb-last-good-{key}.json"


def _read_sources(settings) -> Dict[str, Any]:
    faq = {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(settings.faq_dir).glob("*.yml"))}
    return {"faq": faq, "communities": Path(settings.communities_file).read_text(encoding="utf-8")}


def _load_sources(sources: Dict[str, Any]) -> KnowledgeBase:
    """Load a knowledge base from file texts (a snapshot), through the same validation."""
    with tempfile.TemporaryDirectory(prefix="wuye-kb-") as tmp:
        faq_dir = Path(tmp) / "faq"
        faq_dir.mkdir()
        for name, text in sources["faq"].items():
            (faq_dir / Path(name).name).write_text(text, encoding="utf-8")
        communities = Path(tmp) / "communities.yml"
        communities.write_text(sources["communities"], encoding="utf-8")
        return load_knowledge_base(faq_dir, communities)


def _problems_of(exc: Exception, settings) -> List[FaqProblem]:
    if isinstance(exc, KnowledgeBaseError):
        return list(exc.problems)
    if isinstance(exc, UnicodeDecodeError):
        return [FaqProblem("data/faq", _decode_line(exc), NOT_UTF8)]
    if isinstance(exc, CommunityConfigError):
        return [FaqProblem("data/communities.yml", exc.line, exc.message)]
    if isinstance(exc, OSError):  # a file removed or unreadable between the listing and the read
        name = Path(exc.filename).name if exc.filename else ""
        return [FaqProblem(f"data/faq/{name}" if name.endswith(".yml") else "data/faq", 0,
                           "文件读不出来（被删除、正在写入或没有读权限），请检查后重新保存")]
    return [FaqProblem("data/communities.yml", 0, str(exc))]


class KnowledgeHolder:
    """The knowledge base being served; replaced only by a version that validated (see bot/kb/kb_editing.py).

    On access it looks at the files at most every ``check_interval`` seconds and reloads when they changed, so
    every instance serves what is on disk. A version that does not validate is logged (file:line, also in
    ``problems``) and the last good one keeps serving; the last good one is also kept on disk
    (:func:`snapshot_path`) and used at start-up when the files are broken. ``listeners`` are called with
    (old, new) after a reload (the trainer retrains when the questions changed)."""

    def __init__(self, settings, check_interval: float = RELOAD_INTERVAL) -> None:
        self.settings = settings
        self.check_interval = check_interval
        self.problems: List[str] = []
        self.serving_last_good = False
        self.listeners: List[Callable[[KnowledgeBase, KnowledgeBase], None]] = []
        # called (in a background thread) with every new version, reloaded or saved: the entry model is primed
        self.on_version: List[Callable[[KnowledgeBase], None]] = []
        self._lock = threading.RLock()  # a reload's listeners may save a version themselves
        self._signature = _files_signature(settings)
        self._checked = time.monotonic()
        try:
            sources = _read_sources(settings)
            self._current = load_knowledge_base(settings.faq_dir, settings.communities_file, overrides=sources["faq"])
        except (KnowledgeBaseError, CommunityConfigError, UnicodeDecodeError) as exc:
            problems = _problems_of(exc, settings)
            self._report(problems)
            self._current = self._last_good(problems)
        else:
            self._keep(sources)

    @property
    def current(self) -> KnowledgeBase:
        now = time.monotonic()
        if now - self._checked >= self.check_interval and self._lock.acquire(blocking=False):
            try:  # one thread looks; the others go on with the current version meanwhile
                self._checked = now
                signature = _files_signature(self.settings)
                if signature != self._signature:
                    self._signature = signature
                    self._reload()
            finally:
                self._lock.release()
        return self._current

    @current.setter
    def current(self, kb: KnowledgeBase) -> None:
        """An admin's save (already validated). The save validated every file as it is on disk now, so no file is
        broken any more, and the files' signature is taken now: the watcher does not load them again.

        Under the watcher's lock: a reload that read the files just before this save was written would otherwise
        swap the version before the save in after it, and serve it for a second (an admin's page that reloaded its
        list then showed its own save undone: the 小区 retire/restore browser test failed one run in three)."""
        with self._lock:
            self._current = kb
            self._signature = _files_signature(self.settings)
            self._checked = time.monotonic()
            self.problems, self.serving_last_good = [], False
        self._announce(kb)

    def _announce(self, kb: KnowledgeBase) -> None:
        def run() -> None:
            for callback in list(self.on_version):
                try:
                    callback(kb)
                except Exception:  # noqa: BLE001 - priming never stops serving
                    logger.exception("knowledge base version callback failed")
        if self.on_version:
            threading.Thread(target=run, name="wuye-kb-version", daemon=True).start()

    def watch(self, stop: threading.Event) -> None:
        """Look at the files every ``check_interval`` seconds in a thread until ``stop`` is set, so a file changed
        by hand or by another instance is served (and retrained) without waiting for a request to read it."""
        def run() -> None:
            while not stop.wait(self.check_interval):
                try:
                    self.current  # noqa: B018 - the look reloads on a change
                except Exception:  # noqa: BLE001 - the watcher never dies
                    logger.exception("knowledge base watcher")
        threading.Thread(target=run, name="wuye-kb-watch", daemon=True).start()

    def __call__(self) -> KnowledgeBase:
        return self.current

    def _reload(self) -> None:
        try:
            sources = _read_sources(self.settings)
            new = load_knowledge_base(self.settings.faq_dir, self.settings.communities_file, overrides=sources["faq"])
        except (KnowledgeBaseError, CommunityConfigError, UnicodeDecodeError, OSError) as exc:
            self._report(_problems_of(exc, self.settings))
            return
        old, self._current = self._current, new
        self.problems, self.serving_last_good = [], False
        logger.info("knowledge base reloaded: %d FAQ entries", len(new.entries))
        self._keep(sources)
        self._announce(new)
        for listener in list(self.listeners):
            try:
                listener(old, new)
            except Exception:  # noqa: BLE001 - a listener never stops serving
                logger.exception("knowledge base listener failed")

    def _report(self, problems: Sequence[FaqProblem]) -> None:
        """The files on disk do not validate: what is served from now on is the last good version (the one already
        loaded, or at start-up the copy kept beside the models), and /admin says so with these problems."""
        self.problems = [str(p) for p in problems]
        self.serving_last_good = True
        logger.error("the knowledge base does not validate (%d problems); the last good version keeps serving:\n%s",
                     len(self.problems), "\n".join(self.problems))

    def _keep(self, sources: Dict[str, Any]) -> None:
        """Write the last good version's files atomically beside the models (best effort)."""
        path = snapshot_path(self.settings)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".kb-", suffix=".tmp", dir=str(path.parent))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"data_dir": str(self.settings.data_dir), "saved": time.time(), **sources}, f,
                          ensure_ascii=False)
            os.replace(tmp, path)
        except OSError:
            logger.warning("could not keep a copy of the last good knowledge base in %s", path, exc_info=True)
            return
        for other in path.parent.glob("kb-last-good-*.json"):  # copies of data directories that are gone (tests)
            try:
                head = re.match(r'\{"data_dir": ("(?:[^"\\]|\\.)*")', other.read_text(encoding="utf-8")[:4096])
                if other != path and head and not Path(json.loads(head.group(1))).exists():
                    other.unlink()
            except (OSError, ValueError):
                continue

    def _last_good(self, problems: Sequence[FaqProblem]) -> KnowledgeBase:
        path = snapshot_path(self.settings)
        try:
            sources = json.loads(path.read_text(encoding="utf-8"))
            kb = _load_sources(sources)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.error("no usable last good knowledge base at %s (%s)", path, exc)
            raise KnowledgeBaseUnavailable(problems, path) from None
        logger.warning("serving the last good knowledge base kept at %s (saved %s)", path,
                       time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sources.get("saved", 0))))
        self.serving_last_good = True
        return kb

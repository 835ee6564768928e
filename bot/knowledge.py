"""The FAQ knowledge base (data/faq/*.yml): loading with file/line positions, validation, rendering.

Each file has one top-level key ``faq:`` (never ``nlu:``/``responses:``, so Rasa does not read it) holding a
list of entries ``{id, title, questions: [...], answer}``. Answers are templates whose ``{names}`` come from
data/communities.yml.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from bot.community import Community, load_communities, template_variables
from bot.contract import FAQ_IDS
from bot.problems import FileProblem, ProblemsError

MIN_QUESTIONS = 12


FaqProblem = FileProblem


class KnowledgeBaseError(ProblemsError):
    """Raised when the knowledge base does not validate; carries every problem found."""


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


@dataclass
class KnowledgeBase:
    entries: Dict[str, FaqEntry]
    communities: List[Community]

    def community(self, community_id: Optional[str] = None) -> Community:
        for c in self.communities:
            if c.id == community_id:
                return c
        return self.communities[0]

    def render(self, faq_id: str, community_id: Optional[str] = None) -> str:
        entry = self.entries[faq_id]
        return entry.answer.format_map(self.community(community_id).values).strip()

    def questions_fingerprint_items(self) -> List[Tuple[str, List[str]]]:
        """What training depends on: ids and questions (answers are rendered live, never trained)."""
        return sorted((e.id, list(e.questions)) for e in self.entries.values())


def normalise_question(text: str) -> str:
    return re.sub(r"[\s，。？！、,.?!~～…；;：:]+", "", text).lower()


def _scalar(node: yaml.Node) -> Optional[str]:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def _read_text(path: Path, display: str, problems: List[FaqProblem]) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(FaqProblem(display, 1, f"not UTF-8 text ({exc.reason})"))
        return None


def _parse_file(text: str, display: str, problems: List[FaqProblem]) -> List[FaqEntry]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problems.append(FaqProblem(display, line, f"invalid YAML: {getattr(exc, 'problem', exc)}"))
        return []
    if root is None:
        problems.append(FaqProblem(display, 1, "empty file: expected a top-level 'faq:' list"))
        return []
    if not isinstance(root, yaml.MappingNode):
        problems.append(FaqProblem(display, root.start_mark.line + 1, "expected a mapping with a 'faq:' key"))
        return []
    faq_node = None
    for key, value in root.value:
        k = _scalar(key)
        if k in ("nlu", "responses", "rules", "stories"):
            problems.append(FaqProblem(display, key.start_mark.line + 1, f"top-level key '{k}' is reserved for Rasa"))
        elif k == "faq":
            faq_node = value
        else:
            problems.append(FaqProblem(display, key.start_mark.line + 1, f"unknown top-level key '{k}'"))
    if faq_node is None:
        problems.append(FaqProblem(display, 1, "missing top-level 'faq:' list"))
        return []
    if not isinstance(faq_node, yaml.SequenceNode):
        problems.append(FaqProblem(display, faq_node.start_mark.line + 1, "'faq' must be a list of entries"))
        return []
    entries: List[FaqEntry] = []
    for item in faq_node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            problems.append(FaqProblem(display, line, "each FAQ entry must be a mapping"))
            continue
        fields = {_scalar(k): v for k, v in item.value}
        unknown = set(fields) - {"id", "title", "questions", "answer"}
        for name in sorted(str(u) for u in unknown):
            problems.append(FaqProblem(display, line, f"unknown field '{name}'"))
        faq_id = _scalar(fields["id"]) if "id" in fields else None
        if not faq_id:
            problems.append(FaqProblem(display, line, "entry without an 'id'"))
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]*", faq_id):
            problems.append(FaqProblem(display, line, f"id '{faq_id}' must be lower_snake_case"))
        title = _scalar(fields["title"]) if "title" in fields else None
        questions: List[str] = []
        question_lines: List[int] = []
        qnode = fields.get("questions")
        if not isinstance(qnode, yaml.SequenceNode) or not qnode.value:
            problems.append(FaqProblem(display, line, f"'{faq_id}': missing 'questions' list"))
        else:
            for q in qnode.value:
                value = _scalar(q)
                if value is None or not value.strip():
                    problems.append(FaqProblem(display, q.start_mark.line + 1, f"'{faq_id}': empty question"))
                    continue
                questions.append(value.strip())
                question_lines.append(q.start_mark.line + 1)
        anode = fields.get("answer")
        answer = _scalar(anode) if anode is not None else None
        if not answer or not answer.strip():
            problems.append(FaqProblem(display, line, f"'{faq_id}': missing answer"))
            answer = ""
        entries.append(
            FaqEntry(
                id=faq_id, title=title or faq_id, questions=questions, answer=answer, file=display, line=line,
                question_lines=question_lines, answer_line=(anode.start_mark.line + 1) if anode is not None else line,
            )
        )
    return entries


def _template_problems(entry: FaqEntry, allowed: Iterable[str]) -> List[FaqProblem]:
    allowed = set(allowed)
    problems = []
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(entry.answer) if name is not None]
    except ValueError as exc:
        return [FaqProblem(entry.file, entry.answer_line, f"'{entry.id}': broken answer template: {exc}")]
    for name in names:
        if name not in allowed:
            problems.append(
                FaqProblem(entry.file, entry.answer_line, f"'{entry.id}': unknown template variable '{{{name}}}'")
            )
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
    allowed = template_variables(communities)
    files = {p.name: p for p in sorted(faq_dir.glob("*.yml"))}
    entries: Dict[str, FaqEntry] = {}
    seen_questions: Dict[str, FaqEntry] = {}
    overrides = overrides or {}
    for name in sorted(set(files) | set(overrides)):
        display = f"data/faq/{name}"
        text = overrides[name] if name in overrides else _read_text(files[name], display, problems)
        for entry in _parse_file(text, display, problems) if text is not None else []:
            if entry.id in entries:
                first = entries[entry.id]
                problems.append(
                    FaqProblem(entry.file, entry.line, f"duplicate id '{entry.id}' (first at {first.file}:{first.line})")
                )
                continue
            entries[entry.id] = entry
            problems.extend(_template_problems(entry, allowed))
            if len(entry.questions) < min_questions:
                problems.append(
                    FaqProblem(entry.file, entry.line,
                               f"'{entry.id}': {len(entry.questions)} questions, at least {min_questions} needed")
                )
            for q, qline in zip(entry.questions, entry.question_lines):
                key = normalise_question(q)
                other = seen_questions.get(key)
                if other is not None and other.id != entry.id:
                    problems.append(
                        FaqProblem(entry.file, qline, f"question '{q}' of '{entry.id}' is also under '{other.id}'")
                    )
                elif other is None:
                    seen_questions[key] = entry
    for faq_id in required_ids:
        if faq_id not in entries:
            problems.append(FaqProblem("data/faq", 0, f"required FAQ id '{faq_id}' is missing"))
    if problems:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(entries=entries, communities=communities)


class KnowledgeHolder:
    """The knowledge base being served; replaced only by a version that validated (see bot/kb_editing.py)."""

    def __init__(self, settings) -> None:
        self.current = load_knowledge_base(settings.faq_dir, settings.communities_file)

    def __call__(self) -> KnowledgeBase:
        return self.current

"""Editing the knowledge base files safely: one entry changed in place (comments and layout kept), validated like
`wuye faq check`, written atomically."""
from __future__ import annotations

import difflib
import os
import tempfile
from typing import Any, List

from bot import yamlio
from bot.knowledge import KnowledgeBase, load_knowledge_base


def _set_questions(seq: Any, questions: List[str]) -> None:
    """Change the question list in place by its differences only, so untouched lines and their comments stay."""
    old = [str(q) for q in seq]
    ops = difflib.SequenceMatcher(a=old, b=questions, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag != "equal":
            seq[i1:i2] = questions[j1:j2]


def render_faq_edit(original_text: str, faq_id: str, title: str, questions: List[str], answer: str) -> str:
    """The file's text with one entry changed: a ruamel.yaml round trip, so everything else is written as it was."""
    data = yamlio.load_round_trip(original_text)
    item = next(e for e in data["faq"] if hasattr(e, "get") and str(e.get("id")) == faq_id)
    if str(item.get("title")) != title:
        item["title"] = title
    _set_questions(item["questions"], questions)
    if str(item.get("answer") or "").rstrip("\n") != answer.rstrip("\n"):
        item["answer"] = yamlio.literal_block(answer)
    return yamlio.dump_round_trip(data)


def atomic_write(path, text: str) -> None:
    directory = os.path.dirname(str(path))
    fd, tmp = tempfile.mkstemp(prefix=".faq-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_entry(settings, kb: KnowledgeBase, faq_id: str, title: str, questions: List[str], answer: str) -> KnowledgeBase:
    """Validate exactly like `wuye faq check`, then write the entry's file atomically. Raises KnowledgeBaseError."""
    entry = kb.entries[faq_id]
    file_name = entry.file.rsplit("/", 1)[-1]
    path = settings.faq_dir / file_name
    original = path.read_text(encoding="utf-8")
    text = render_faq_edit(original, faq_id, title, [q.strip() for q in questions if q.strip()], answer)
    new_kb = load_knowledge_base(settings.faq_dir, settings.communities_file, overrides={file_name: text})
    atomic_write(path, text)
    return new_kb

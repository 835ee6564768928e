"""Editing the knowledge base files safely: one entry re-rendered, validated like `wuye faq check`, written atomically."""
from __future__ import annotations

import os
import tempfile
from typing import List

import yaml

from bot.knowledge import FaqEntry, KnowledgeBase, load_knowledge_base


class _Literal(str):
    pass


class _FaqDumper(yaml.SafeDumper):
    pass


_FaqDumper.add_representer(_Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|"))


def _header(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            lines.append(line)
        else:
            break
    return "\n".join(lines) + ("\n" if lines else "")


def render_faq_file(original_text: str, entries: List[FaqEntry]) -> str:
    data = {"faq": [{"id": e.id, "title": e.title, "questions": list(e.questions),
                     "answer": _Literal(e.answer.rstrip("\n") + "\n")} for e in entries]}
    body = yaml.dump(data, Dumper=_FaqDumper, allow_unicode=True, sort_keys=False, width=1000, indent=2)
    return _header(original_text) + body


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
    siblings = [e for e in kb.entries.values() if e.file == entry.file]
    siblings.sort(key=lambda e: e.line)
    updated = [FaqEntry(id=e.id, title=title if e.id == faq_id else e.title,
                        questions=[q.strip() for q in questions if q.strip()] if e.id == faq_id else e.questions,
                        answer=answer if e.id == faq_id else e.answer, file=e.file, line=e.line)
               for e in siblings]
    text = render_faq_file(original, updated)
    new_kb = load_knowledge_base(settings.faq_dir, settings.communities_file, overrides={file_name: text})
    atomic_write(path, text)
    return new_kb

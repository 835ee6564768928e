"""Editing the knowledge base files safely: one entry changed in place (comments and layout kept), validated like
`wuye faq check`, written atomically.

A save names the version of the file it was based on (:func:`bot.kb.knowledge.file_version`, given out with the entry):
under an exclusive lock on a lock file beside the FAQ file (``fcntl.flock``, so it holds across threads, processes
and instances sharing the data directory) the file is read, its version compared, the edit applied to what is on
disk now, validated and written; a save based on an older version is refused (:class:`FaqEditConflict`), so no
edit is ever lost.
"""
from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

from bot.core import yamlio
from bot.core.errors import FaqEditConflict
from bot.kb.knowledge import (FaqEntry, FaqProblem, KnowledgeBase, KnowledgeBaseError, _parse_file, file_version,
                               load_knowledge_base, normalise_question)


def _set_questions(seq: Any, questions: List[str]) -> None:
    """Change the question list in place by its differences only, so untouched lines and their comments stay."""
    old = [str(q) for q in seq]
    ops = difflib.SequenceMatcher(a=old, b=questions, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag != "equal":
            seq[i1:i2] = questions[j1:j2]


def render_faq_edit(original_text: str, faq_id: str, title: str, questions: List[str], answer: str,
                    retired: Optional[bool] = None) -> str:
    """The file's text with one entry changed: a ruamel.yaml round trip, so everything else is written as it was.
    ``retired``: None leaves the flag as it is; False removes it (an active entry carries none)."""
    data = yamlio.load_round_trip(original_text)
    item = next(e for e in data["faq"] if hasattr(e, "get") and str(e.get("id")) == faq_id)
    if str(item.get("title")) != title:
        item["title"] = title
    _set_questions(item["questions"], questions)
    if str(item.get("answer") or "").rstrip("\n") != answer.rstrip("\n"):
        item["answer"] = yamlio.literal_block(answer)
    if retired is True:
        item["retired"] = True
    elif retired is False and "retired" in item:
        del item["retired"]
    return yamlio.dump_round_trip(data)


def render_faq_append(original_text: Optional[str], faq_id: str, title: str, questions: List[str],
                      answer: str) -> str:
    """The file's text with one new entry at the end (a new file holds just ``faq:`` and the entry)."""
    data = yamlio.load_round_trip(original_text) if original_text and original_text.strip() else None
    if data is None or not data.get("faq") or not hasattr(data["faq"], "append"):
        data = yamlio.load_round_trip("faq:\n  - id: x\n")  # block style, as the knowledge base is written
        data["faq"].pop()
    item = yamlio.load_round_trip("id: x\n")  # a round-trip mapping, keys in the order written
    for key, value in (("id", faq_id), ("title", title), ("questions", list(questions)),
                       ("answer", yamlio.literal_block(answer))):
        item[key] = value
    data["faq"].append(item)
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


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock for read-check-write of ``path``: ``.<name>.lock`` beside it, locked with flock."""
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


Change = Callable[[FaqEntry], Tuple[str, List[str], str]]
NEW_ENTRIES_FILE = "custom.yml"  # where entries created in /admin go unless a file is named


def distinct_questions(questions: List[str]) -> List[str]:
    """The questions stripped, blank ones dropped, each once: a phrasing typed twice (or the same but for spaces and
    punctuation, as questions are compared) is kept the first time only, not stored and counted twice."""
    seen, result = set(), []
    for q in (q.strip() for q in questions):
        key = normalise_question(q)
        if q and key not in seen:
            seen.add(key)
            result.append(q)
    return result


def new_entry_id(kb: KnowledgeBase, title: str) -> str:
    """A lower_snake_case id from the title's pinyin ("供暖时间与报停" → gong_nuan_shi_jian_yu_bao_ting), shortened
    and made unique among every entry, retired ones included (their history keeps the id)."""
    from pypinyin import lazy_pinyin  # the normaliser's dependency already; imported on the admin's path only

    words = [re.sub(r"[^a-z0-9]", "", w.lower()) for w in lazy_pinyin(title)]
    base = "_".join(w for w in words if w)[:40].strip("_") or "entry"
    if not base[0].isalpha():
        base = "faq_" + base
    candidate, n = base, 2
    while candidate in kb.entries:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def create_entry(settings, kb: KnowledgeBase, faq_id: str, title: str, questions: List[str], answer: str,
                 file_name: str = NEW_ENTRIES_FILE) -> KnowledgeBase:
    """Append a new entry to ``data/faq/<file_name>`` (created if missing) under the file's lock, validated like
    `wuye faq check` with the whole knowledge base (a duplicate id or question in another file is refused)."""
    path = Path(settings.faq_dir) / file_name
    with file_lock(path):
        original = path.read_text(encoding="utf-8") if path.exists() else None
        text = render_faq_append(original, faq_id, title, distinct_questions(questions), answer)
        new_kb = load_knowledge_base(settings.faq_dir, settings.communities_file, overrides={file_name: text})
        _refuse_shared_title(new_kb, faq_id)
        atomic_write(path, text)
        return new_kb


def _refuse_shared_title(kb: KnowledgeBase, faq_id: str) -> None:
    """Two entries in service under one title cannot be told apart in /admin's list, the 未解决问题 picker or the
    console's search: an admin's save that would make them so is refused, naming the entry that has the title (a
    retired entry may share it, listed as 【已停用】; `wuye faq check` does not hold files edited by hand to it)."""
    entry = kb.entries[faq_id]
    other = next((e for e in kb.entries.values() if e.id != faq_id and not e.retired and not entry.retired
                  and e.title.strip() == entry.title.strip()), None)
    if other is not None:
        raise KnowledgeBaseError([FaqProblem(entry.file, entry.line, f"标题“{entry.title.strip()}”已是条目“{other.id}”"
                                                                     f"的标题，请换一个标题，以便在列表里区分")])


def set_retired(settings, kb: KnowledgeBase, faq_id: str, retired: bool,
                base_version: Optional[str] = None) -> KnowledgeBase:
    """Retire an entry (kept in its file with ``retired: true``: in history and figures, never answered) or bring
    it back (validated again: its questions may meanwhile belong to another entry)."""
    return edit_entry(settings, kb, faq_id, lambda e: (e.title, e.questions, e.answer), base_version,
                      retired=retired)


def edit_entry(settings, kb: KnowledgeBase, faq_id: str, change: Change,
               base_version: Optional[str] = None, retired: Optional[bool] = None) -> KnowledgeBase:
    """Apply ``change`` (the entry as it is on disk now → title, questions, answer) to the entry's file under the
    file's lock. Raises FaqEditConflict when ``base_version`` is given and the file is no longer that version (or
    the entry is gone), KnowledgeBaseError when the result does not validate; nothing is written then."""
    file_name = kb.entries[faq_id].file.rsplit("/", 1)[-1]
    path = Path(settings.faq_dir) / file_name
    with file_lock(path):
        original = path.read_text(encoding="utf-8")
        version = file_version(original)
        if base_version is not None and base_version != version:
            raise FaqEditConflict(version)
        on_disk = next((e for e in _parse_file(original, f"data/faq/{file_name}", []) if e.id == faq_id), None)
        if on_disk is None:  # moved or removed by someone else since this knowledge base was loaded
            raise FaqEditConflict(version)
        title, questions, answer = change(on_disk)
        text = render_faq_edit(original, faq_id, title, distinct_questions(questions), answer, retired)
        new_kb = load_knowledge_base(settings.faq_dir, settings.communities_file, overrides={file_name: text})
        if retired is not True:  # retiring takes an entry out of service: it clashes with nothing
            _refuse_shared_title(new_kb, faq_id)
        atomic_write(path, text)
        return new_kb


def save_entry(settings, kb: KnowledgeBase, faq_id: str, title: str, questions: List[str], answer: str,
               base_version: Optional[str] = None) -> KnowledgeBase:
    """Validate exactly like `wuye faq check`, then write the entry's file atomically (see :func:`edit_entry`).
    Raises KnowledgeBaseError, or FaqEditConflict for a save based on an older version of the file."""
    return edit_entry(settings, kb, faq_id, lambda _entry: (title, questions, answer), base_version)


def add_question(settings, kb: KnowledgeBase, faq_id: str, question: str) -> KnowledgeBase:
    """One more phrasing for an entry, added to the entry as it is on disk now (nobody's edit is overwritten)."""
    return edit_entry(settings, kb, faq_id, lambda e: (e.title, e.questions + [question.strip()], e.answer))

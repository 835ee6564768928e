"""Admin work: editing the knowledge base safely, background retraining, failed questions and figures."""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import statistics
import tempfile
import threading
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional

import yaml
from sqlalchemy import select

from bot.knowledge import FaqEntry, KnowledgeBase, load_knowledge_base
from bot.storage.models import Conversation, Handoff, Message

logger = logging.getLogger(__name__)


# --- the knowledge base as files ---------------------------------------------------------------------

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


# --- background retraining ---------------------------------------------------------------------------

class Trainer:
    """Retrains in a background thread; the new model replaces the old one only when it is loaded."""

    def __init__(self, services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._again = False
        self.state: Dict[str, Any] = {"state": "idle", "model": getattr(services.parser, "model_path", None) and
                                      services.parser.model_path.name, "error": None, "started": None, "finished": None}

    def schedule(self) -> None:
        with self._lock:
            if self.state["state"] == "training":
                self._again = True
                return
            self.state.update(state="training", started=dt.datetime.now().isoformat(timespec="seconds"), error=None)
        threading.Thread(target=self._run, name="wuye-retrain", daemon=True).start()

    def _run(self) -> None:
        from bot.nlu.parser import NluParser
        from bot.nlu.training import train

        while True:
            try:
                result = train(self._services.settings)
                parser = NluParser.load(result.model_path)
                self._services.engine.parser = parser  # atomic swap: requests in flight finish on the old one
                self._services.parser = parser
                with self._lock:
                    self.state.update(model=result.model_path.name, error=None)
            except Exception as exc:  # noqa: BLE001 - report, keep serving the old model
                logger.exception("background retraining failed")
                with self._lock:
                    self.state.update(error=str(exc))
            with self._lock:
                if self._again:
                    self._again = False
                    continue
                self.state.update(state="idle" if not self.state["error"] else "failed",
                                  finished=dt.datetime.now().isoformat(timespec="seconds"))
                return


# --- what the bot failed on --------------------------------------------------------------------------

def _bigrams(text: str) -> set:
    text = re.sub(r"\s+", "", text)
    return {text[i:i + 2] for i in range(max(1, len(text) - 1))}


def group_similar(texts: List[Dict[str, Any]], threshold: float = 0.3) -> List[Dict[str, Any]]:
    groups: List[Dict[str, Any]] = []
    for item in texts:
        grams = _bigrams(item["text"])
        best = None
        for group in groups:
            inter = len(grams & group["grams"])
            union = len(grams | group["grams"]) or 1
            if inter / union >= threshold:
                best = group
                break
        if best is None:
            groups.append({"grams": grams, "items": [item]})
        else:
            best["items"].append(item)
            best["grams"] |= grams
    result = []
    for group in sorted(groups, key=lambda g: -len(g["items"])):
        items = group["items"]
        suggestions = Counter(i["suggested_faq"] for i in items if i.get("suggested_faq"))
        result.append({"text": items[0]["text"], "count": len(items), "examples": items[:10],
                       "suggested_faq": suggestions.most_common(1)[0][0] if suggestions else None,
                       "reasons": sorted({i["reason"] for i in items})})
    return result


def failures(session, limit: int = 500) -> Dict[str, Any]:
    rows = list(session.scalars(select(Message).where(Message.sender == "resident", Message.nlu.isnot(None))
                                .order_by(Message.id.desc()).limit(5000)))
    failed = []
    for m in rows:
        route = (m.nlu or {}).get("route") or {}
        decision = route.get("decision")
        if decision in ("clarify", "reject") or (decision == "handoff" and route.get("priority") == "normal"
                                                 and any("failed" in r or "rejected" in r for r in route.get("reasons", []))):
            faq = (m.nlu or {}).get("faq") or {}
            failed.append({"message_id": m.id, "text": m.text, "reason": decision,
                           "suggested_faq": faq.get("id"), "at": m.created_at.isoformat()})
        if len(failed) >= limit:
            break
    reasons: Counter = Counter()
    for h in session.scalars(select(Handoff)):
        for r in h.reasons:
            reasons[re.sub(r"\s*\(.*\)$", "", r.split(":")[0])] += 1
    return {"groups": group_similar(failed), "handoff_reasons": dict(reasons.most_common())}


def figures(session, days: int = 14, today: Optional[dt.date] = None) -> Dict[str, Any]:
    today = today or dt.date.today()
    start = today - dt.timedelta(days=days - 1)
    conversations = list(session.scalars(select(Conversation)))
    handoffs = list(session.scalars(select(Handoff)))
    handed = {h.conversation_id for h in handoffs}
    per_day: Dict[str, Dict[str, Any]] = defaultdict(lambda: {"conversations": 0, "bot_only": 0, "handoffs": 0, "waits": []})
    for c in conversations:
        day = c.created_at.date()
        if day >= start:
            per_day[day.isoformat()]["conversations"] += 1
            per_day[day.isoformat()]["bot_only"] += c.id not in handed
    by_priority: Counter = Counter()
    by_reason: Counter = Counter()
    waits = []
    for h in handoffs:
        by_priority[h.priority] += 1
        for r in h.reasons:
            by_reason[re.sub(r"\s*\(.*\)$", "", r.split(":")[0])] += 1
        day = h.created_at.date()
        if day >= start:
            per_day[day.isoformat()]["handoffs"] += 1
            if h.claimed_at:
                wait = (h.claimed_at - h.created_at).total_seconds()
                per_day[day.isoformat()]["waits"].append(wait)
                waits.append(wait)
    series = []
    for i in range(days):
        day = (start + dt.timedelta(days=i)).isoformat()
        d = per_day.get(day, {"conversations": 0, "bot_only": 0, "handoffs": 0, "waits": []})
        series.append({"day": day, "conversations": d["conversations"], "bot_only": d["bot_only"],
                       "handoffs": d["handoffs"],
                       "median_wait_seconds": statistics.median(d["waits"]) if d["waits"] else None})
    total = len(conversations)
    return {
        "conversations": total,
        "bot_only_share": (sum(1 for c in conversations if c.id not in handed) / total) if total else None,
        "handoffs_by_priority": dict(by_priority), "handoffs_by_reason": dict(by_reason.most_common()),
        "median_wait_seconds": statistics.median(waits) if waits else None,
        "per_day": series,
    }

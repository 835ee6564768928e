"""What the admin pages report: the questions the bot failed on (grouped by similarity) and the figures."""
from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional

from sqlalchemy import select

from bot.storage.models import Conversation, Handoff, Message, Rating, Staff


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
    question_before: Dict[int, Message] = {}  # a rejection's failed question is the one answered before it
    for older, newer in zip(rows[1:], rows):
        if older.conversation_id == newer.conversation_id:
            question_before[newer.id] = older
    for m in rows:
        route = (m.nlu or {}).get("route") or {}
        decision = route.get("decision")
        # the route stored is the one taken: "failed" marks failed understandings (unclear, nonsense, rejected or
        # repeated answers, the handoff after two of them); routes stored before that flag existed are read as before
        legacy = "failed" not in route and (decision == "clarify" or (decision == "handoff" and any(
            "failed" in r or "rejected" in r for r in route.get("reasons", []))))
        if route.get("failed") or decision == "reject" or legacy:
            subject = m
            if route.get("action") in ("not_helpful", "repeat") or "rejected" in " ".join(route.get("reasons", [])):
                subject = question_before.get(m.id, m)
            faq = (subject.nlu or {}).get("faq") or {}
            failed.append({"message_id": subject.id, "text": subject.text, "reason": route.get("action") or decision,
                           "suggested_faq": faq.get("id"), "at": subject.created_at.isoformat()})
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
        "ratings": rating_figures(session, start, days),
        "conversations": total,
        "bot_only_share": (sum(1 for c in conversations if c.id not in handed) / total) if total else None,
        "handoffs_by_priority": dict(by_priority), "handoffs_by_reason": dict(by_reason.most_common()),
        "median_wait_seconds": statistics.median(waits) if waits else None,
        "per_day": series,
    }


def _average(scores: List[int]) -> Optional[float]:
    return round(sum(scores) / len(scores), 2) if scores else None


def rating_figures(session, start: dt.date, days: int) -> Dict[str, Any]:
    """满意度评价: every rating's average and count, per agent (all time) and per day (the figures' window)."""
    rows = list(session.scalars(select(Rating)))
    names = {s.id: s.display_name for s in session.scalars(select(Staff))}
    by_agent: Dict[Optional[int], List[int]] = defaultdict(list)
    by_day: Dict[str, List[int]] = defaultdict(list)
    for r in rows:
        by_agent[r.agent_id].append(r.score)
        if r.created_at.date() >= start:
            by_day[r.created_at.date().isoformat()].append(r.score)
    return {
        "count": len(rows), "average": _average([r.score for r in rows]),
        "by_agent": [{"agent_id": agent_id, "agent": names.get(agent_id, "未知客服"), "count": len(scores),
                      "average": _average(scores), "scores": {str(n): scores.count(n) for n in range(1, 6)}}
                     for agent_id, scores in sorted(by_agent.items(), key=lambda kv: -len(kv[1]))],
        "per_day": [{"day": day, "count": len(by_day.get(day, [])), "average": _average(by_day.get(day, []))}
                    for day in ((start + dt.timedelta(days=i)).isoformat() for i in range(days))],
    }

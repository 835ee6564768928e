"""CSV exports for admins: conversations, handoffs and failed questions of a date range (小区-local dates).

Written with the standard library's ``csv`` (UTF-8 with a BOM, so Excel on Chinese Windows opens it right);
phone numbers never appear; every cell that a spreadsheet would read as a formula (=, +, -, @) is prefixed
with a quote (CSV injection).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Dict, Iterable, List

from sqlalchemy import select

from bot.core import labels
from bot.core.localtime import iso, to_utc
from bot.core.logs import mask
from bot.reporting.reports import failures
from bot.storage.models import Conversation, Handoff, Message

KINDS = ("conversations", "handoffs", "failed")
MAX_DAYS = 366


def _cell(value: Any) -> str:
    text = "" if value is None else mask(str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_csv(header: List[str], rows: Iterable[List[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def utc_range(start: dt.date, end: dt.date) -> tuple:
    """[start 00:00, end+1 00:00) in the default 小区 zone, as stored (UTC) times."""
    return to_utc(dt.datetime.combine(start, dt.time())), to_utc(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))


def export(session, kind: str, start: dt.date, end: dt.date) -> bytes:
    low, high = utc_range(start, end)
    if kind == "conversations":
        rows = []
        for c in session.scalars(select(Conversation).where(Conversation.created_at >= low, Conversation.created_at < high)
                                 .order_by(Conversation.id)):
            messages = list(session.scalars(select(Message).where(Message.conversation_id == c.id).order_by(Message.id)))
            first = next((m.text for m in messages if m.sender == "resident"), "")
            rows.append([c.id, iso(c.created_at), labels.channel_label(c.channel), c.community_id,
                         labels.status_label(c.status), labels.priority_label(c.priority) if c.priority else "",
                         sum(m.sender == "resident" for m in messages), first[:200]])
        return to_csv(["会话编号", "开始时间", "渠道", "小区", "状态", "优先级", "住户消息数", "第一句话"], rows)
    if kind == "handoffs":
        rows = [[h.id, h.conversation_id, iso(h.created_at), labels.priority_label(h.priority), labels.status_label(h.status),
                 "；".join(labels.reason_labels(h.reasons)), h.ticket or "",
                 iso(h.claimed_at) or "", iso(h.resolved_at) or "",
                 int((h.claimed_at - h.created_at).total_seconds()) if h.claimed_at else ""]
                for h in session.scalars(select(Handoff).where(Handoff.created_at >= low, Handoff.created_at < high)
                                         .order_by(Handoff.id))]
        return to_csv(["转人工编号", "会话编号", "时间", "优先级", "状态", "原因", "留言编号", "接入时间", "解决时间",
                       "等待秒数"], rows)
    if kind == "failed":

        items: List[Dict[str, Any]] = [e for g in failures(session, limit=5000)["groups"] for e in g["examples"]]
        rows = [[e["message_id"], e["at"], e["text"], e["reason"], e.get("suggested_faq") or ""]
                for e in items if low.isoformat() <= e["at"][:19] < high.isoformat()]
        return to_csv(["消息编号", "时间(UTC)", "住户的话", "原因", "建议的问答"], rows)
    raise ValueError(kind)

"""CSV exports for admins: conversations, handoffs and failed questions of a date range (小区-local dates).

Written with the standard library's ``csv`` (UTF-8 with a BOM, so Excel on Chinese Windows opens it right);
phone numbers never appear; every cell that a spreadsheet would read as a formula (=, +, -, @) is prefixed
with a quote (CSV injection).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Dict, Iterable, Iterator, List

from sqlalchemy import Integer, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from bot.core import labels
from bot.core.localtime import iso, to_utc
from bot.core.logs import mask
from bot.reporting.reports import failure_label, failures
from bot.storage.models import Community, Conversation, Handoff, Message

KINDS = ("conversations", "handoffs", "failed")
MAX_DAYS = 366


def _cell(value: Any) -> str:
    text = "" if value is None else mask(str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


_SAFE_INT = 10 ** 10  # fewer digits than a phone number's 11, so mask() leaves it as it is


def _int_cell(value: Any) -> str:
    """A count or id as _cell writes it, without the regex: a non-negative int under 11 digits is its digits."""
    return str(value) if value.__class__ is int and 0 <= value < _SAFE_INT else _cell(value)


class _Cells(dict):
    """_cell of the few values a column repeats (labels, 小区 ids, channels), each worked out once per export."""

    def __missing__(self, value: Any) -> str:
        text = _cell(value)
        if len(self) < 10000:
            self[value] = text
        return text


def to_csv(header: List[str], rows: Iterable[List[Any]]) -> bytes:
    return b"".join(csv_chunks(header, [rows]))


def csv_chunks(header: List[str], batches: Iterable[Iterable[List[Any]]], written: bool = False) -> Iterator[bytes]:
    """The CSV as chunks: the BOM and header, then one chunk per batch of rows (a stream never holds the file).
    ``written``: the rows' cells are already as :func:`_cell` writes them (the exports' own rows)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    yield ("\ufeff" + out.getvalue()).encode("utf-8")
    for rows in batches:
        out.seek(0)
        out.truncate()
        if written:
            writer.writerows(rows)
        else:
            for row in rows:
                writer.writerow([_cell(v) for v in row])
        if out.tell():
            yield out.getvalue().encode("utf-8")


def utc_range(start: dt.date, end: dt.date) -> tuple:
    """[start 00:00, end+1 00:00) in the default 小区 zone, as stored (UTC) times."""
    return to_utc(dt.datetime.combine(start, dt.time())), to_utc(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))


BATCH = 2000  # rows per query and per chunk of a streamed export


def _keyset(session, query, key, batch: int = BATCH) -> Iterator[list]:
    """``query``'s rows in batches of ascending ``key`` (each batch a fresh query after the last key seen: no
    OFFSET, no server-side cursor held open between chunks)."""
    last = None
    while True:
        rows = session.execute((query if last is None else query.where(key > last)).order_by(key).limit(batch)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _among(column, values: List[int], postgresql: bool):
    """``column IN values``; on PostgreSQL as one array value (binding 2000 values cost more than the query)."""
    return column == any_(bindparam(None, values, type_=ARRAY(Integer))) if postgresql else column.in_(values)


def _conversation_rows(session, low, high) -> Iterator[List[List[str]]]:
    """Each conversation of the range with its number of resident messages and the first of them: counted and
    picked per batch of conversations in the database, from the residents' messages' index alone (it read every
    message of every conversation before). Cells as _cell writes them: the repeated ones worked out once, the
    times and counts (no formula sign, no 11 digits) as they are."""
    c = Conversation
    query = select(c.id, c.created_at, c.channel, c.community_id, c.status, c.priority).where(
        c.created_at >= low, c.created_at < high)
    channels, statuses, priorities = _Cells(), _Cells(), _Cells()
    # the 小区 by its name, as everywhere people read it (the id is for programs)
    communities = _Cells({cid: _cell(name) for cid, name in session.execute(select(Community.id, Community.name))})
    communities[None] = ""
    postgresql = session.get_bind().dialect.name == "postgresql"
    for batch in _keyset(session, query, c.id):
        ids = [row[0] for row in batch]
        counted = {cid: (n, first) for cid, n, first in session.execute(
            select(Message.conversation_id, func.count(), func.min(Message.id))
            .where(Message.sender == "resident", _among(Message.conversation_id, ids, postgresql))
            .group_by(Message.conversation_id))}
        texts = dict(session.execute(select(Message.id, Message.text).where(
            _among(Message.id, [first for _, first in counted.values()], postgresql))).all()) if counted else {}
        rows = []
        for cid, created, channel, community, status, priority in batch:
            n, first = counted.get(cid, (0, None))
            rows.append([_int_cell(cid), iso(created), channels[labels.channel_label(channel)], communities[community],
                         statuses[labels.status_label(status)],
                         priorities[labels.priority_label(priority) if priority else ""], _int_cell(n),
                         _cell(texts.get(first, "")[:200])])
        yield rows


def _handoff_rows(session, low, high) -> Iterator[List[List[str]]]:
    h = Handoff
    query = select(h.id, h.conversation_id, h.created_at, h.priority, h.status, h.reasons, h.ticket, h.claimed_at,
                   h.resolved_at).where(h.created_at >= low, h.created_at < high)  # not the context card: it is large
    priorities, statuses, reasons_cells, tickets = _Cells(), _Cells(), _Cells(), _Cells()
    for batch in _keyset(session, query, h.id):
        yield [[_int_cell(hid), _int_cell(conversation_id), iso(created), priorities[labels.priority_label(priority)],
                statuses[labels.status_label(status)], reasons_cells["；".join(labels.reason_labels(reasons))],
                _cell(ticket or ""), iso(claimed) or "", iso(resolved) or "",
                _int_cell(int((claimed - created).total_seconds())) if claimed else ""]
               for hid, conversation_id, created, priority, status, reasons, ticket, claimed, resolved in batch]


HEADERS = {
    "conversations": ["会话编号", "开始时间", "渠道", "小区", "状态", "优先级", "住户消息数", "第一句话"],
    "handoffs": ["转人工编号", "会话编号", "时间", "优先级", "状态", "原因", "留言编号", "接入时间", "解决时间", "等待秒数"],
    "failed": ["消息编号", "时间", "住户的话", "原因", "建议的问答"],
}


def stream(session, kind: str, start: dt.date, end: dt.date) -> Iterator[bytes]:
    """The export as chunks of bytes, read from the database batch by batch: a one-year export holds one batch
    of rows at a time, never the whole file (issue 29: 1.1 GB of worker memory for 4.6 MiB of CSV)."""
    low, high = utc_range(start, end)
    if kind == "conversations":
        return csv_chunks(HEADERS[kind], _conversation_rows(session, low, high), written=True)
    if kind == "handoffs":
        return csv_chunks(HEADERS[kind], _handoff_rows(session, low, high), written=True)
    if kind == "failed":  # at most 5000 failed questions: one batch
        items: List[Dict[str, Any]] = [e for g in failures(session, limit=5000)["groups"] for e in g["examples"]]
        # the time on the 小区's clock and the reason in words, as the other exports write them
        return csv_chunks(HEADERS[kind], [[[e["message_id"], iso(dt.datetime.fromisoformat(e["at"])), e["text"],
                                             failure_label(e["reason"]), e.get("suggested_faq") or ""]
                                            for e in items if low.isoformat() <= e["at"][:19] < high.isoformat()]])
    raise ValueError(kind)


def export(session, kind: str, start: dt.date, end: dt.date) -> bytes:
    """The whole export in memory (tests, small ranges); the API streams :func:`stream`."""
    return b"".join(stream(session, kind, start, end))

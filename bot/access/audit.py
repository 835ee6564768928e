"""The audit log of staff reads of household data (issue 26 point 5b): written when the console opens a bound
resident's conversation card (the household, its phone and bills) and when the desk opens a work order (address,
contact phone); read, filtered and exported as CSV by admins only (/api/admin/audit).

A read is recorded in the same session as the read itself, so a read that failed leaves no row and a row always
means the data was served."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.localtime import iso, to_local
from bot.storage.models import AuditEntry, Staff

CONVERSATION_CARD, WORK_ORDER = "conversation_card", "work_order"
DATA_EXPORT, DATA_ERASE = "data_export", "data_erase"  # a resident's request for their data (bot/households/privacy.py)
ACTIONS = {CONVERSATION_CARD: "打开会话资料卡", WORK_ORDER: "打开工单", DATA_EXPORT: "导出住户数据",
           DATA_ERASE: "删除住户数据"}
CSV_HEADER = ["时间", "员工编号", "员工", "操作", "住户编号", "记录", "原因"]  # the time on the 小区's clock


def record(session: Session, staff: Staff, action: str, household_id: Optional[int], record_kind: str,
           record_id: int, reason: str, now: dt.datetime) -> AuditEntry:
    entry = AuditEntry(staff_id=staff.id, staff_name=staff.username, action=action, household_id=household_id,
                       record_kind=record_kind, record_id=record_id, reason=reason[:64], created_at=now)
    session.add(entry)
    return entry


def search(session: Session, staff_id: Optional[int] = None, household_id: Optional[int] = None,
           action: Optional[str] = None, start: Optional[dt.datetime] = None, end: Optional[dt.datetime] = None,
           page: int = 1, per_page: int = 50) -> Tuple[int, List[AuditEntry]]:
    """The matching entries, newest first, one page of them; with the total for paging."""
    query = select(AuditEntry)
    if staff_id is not None:
        query = query.where(AuditEntry.staff_id == staff_id)
    if household_id is not None:
        query = query.where(AuditEntry.household_id == household_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if start is not None:
        query = query.where(AuditEntry.created_at >= start)
    if end is not None:
        query = query.where(AuditEntry.created_at < end)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(session.scalars(query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
                                .offset((page - 1) * per_page).limit(per_page)))
    return total, rows


RECORD_KINDS = {"conversation": "会话", "work_order": "工单", "household": "住户", "identity": "聊天身份"}


def record_label(entry: AuditEntry) -> str:
    """The record read, in words: 工单 #17, not work_order #17."""
    return f"{RECORD_KINDS.get(entry.record_kind, entry.record_kind)} #{entry.record_id}"


def entry_json(entry: AuditEntry) -> Dict[str, Any]:
    # the time with its offset like every other API time (bot.core.localtime.iso): the page shows the 小区's clock
    return {"id": entry.id, "at": iso(entry.created_at), "staff_id": entry.staff_id,
            "staff": entry.staff_name, "action": entry.action, "action_label": ACTIONS.get(entry.action, entry.action),
            "household_id": entry.household_id, "record_kind": entry.record_kind, "record_id": entry.record_id,
            "record_label": record_label(entry), "reason": entry.reason}


def csv_row(entry: AuditEntry) -> List[Any]:
    return [to_local(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"), entry.staff_id, entry.staff_name,
            ACTIONS.get(entry.action, entry.action), entry.household_id, record_label(entry),
            entry.reason]

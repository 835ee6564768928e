"""Retention (issue 26 point 5, privacy by default): each kind of personal data is kept for its period in the
settings (``retention_*_days``), then deleted or blanked — exactly what has expired, nothing else.

Run by the timers loop (bot/timers.py, every ``retention_poll_seconds``) on the app's clock and by
`wuye retention run`; both print or log the counts. Each kind runs in its own transaction, so a failure in one
leaves the others done and the next run finishes it (every step is idempotent: what is gone is not found again).
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from sqlalchemy import Text, cast, delete, or_, update

from bot.core.domain import WorkOrderStatus
from bot.core.settings import Settings
from bot.storage.db import Database
from bot.storage.models import (Handoff, IncidentReport, Message, RateEvent, SeenMessage, SetupToken,
                                VerificationCode, WorkOrder)


@dataclass(frozen=True)
class Kind:
    key: str
    label: str  # shown in /admin → 数据保留
    setting: str  # the Settings field holding its period in days
    what: str  # what happens when it expires, in Chinese


KINDS: List[Kind] = [
    Kind("messages", "会话消息", "retention_messages_days", "超过期限的消息删除，转人工资料卡里摘录的聊天一并清空"),
    Kind("phones", "回电号码与工单联系电话", "retention_phones_days", "转人工结束或工单完成/取消后，超过期限的号码清空"),
    Kind("photos", "上传的照片", "retention_photos_days", "上传超过期限的照片文件删除"),
    Kind("codes", "验证码与首次设置令牌", "retention_codes_days", "过期（设置令牌：已使用或过期）超过期限的删除"),
    Kind("logs", "频率限制记录与消息去重记录", "retention_logs_days", "超过期限的记录删除"),
]


def periods(settings: Settings) -> List[Dict[str, object]]:
    """Each kind with its period, for /admin and `wuye retention show`."""
    return [{"kind": k.key, "label": k.label, "days": getattr(settings, k.setting), "what": k.what} for k in KINDS]


def _cutoff(settings: Settings, kind: str, now: dt.datetime) -> dt.datetime:
    setting = next(k.setting for k in KINDS if k.key == kind)
    return now - dt.timedelta(days=getattr(settings, setting))


def run(db: Database, settings: Settings, now: dt.datetime) -> Dict[str, int]:
    """Delete or blank everything past its period at ``now`` (naive UTC, the app's clock); returns the counts:
    messages, context_cards, callback_phones, contact_phones, photos, codes, setup_tokens, rate_events, seen_messages."""
    counts: Dict[str, int] = {}
    cutoff = _cutoff(settings, "messages", now)
    with db.session() as session:
        old = Message.created_at < cutoff
        # an incident report keeps pointing at its conversation; only the link to the message it quoted goes
        session.execute(update(IncidentReport).where(IncidentReport.message_id.in_(
            session.query(Message.id).filter(old).scalar_subquery())).values(message_id=None)
            .execution_options(synchronize_session=False))
        counts["messages"] = session.execute(delete(Message).where(old).execution_options(
            synchronize_session=False)).rowcount
        # the agent's context card copies up to 30 lines of the transcript, the readings and the bot's answers: a
        # closed handoff opened before the cutoff quotes only messages past the period, so its card goes with them
        # (compared as text: PostgreSQL's json has no equality; both store the empty card as "{}")
        counts["context_cards"] = session.execute(update(Handoff).where(
            Handoff.created_at < cutoff, Handoff.resolved_at.isnot(None), cast(Handoff.context, Text) != "{}")
            .values(context={}).execution_options(synchronize_session=False)).rowcount
    cutoff = _cutoff(settings, "phones", now)
    with db.session() as session:
        counts["callback_phones"] = session.execute(update(Handoff).where(
            Handoff.callback_phone.isnot(None), Handoff.resolved_at.isnot(None), Handoff.resolved_at < cutoff)
            .values(callback_phone=None).execution_options(synchronize_session=False)).rowcount
        # a closed order's last change is its closing (done or cancelled); updated_at is kept as it was, so the
        # blanking does not look like a change of the order itself
        counts["contact_phones"] = session.execute(update(WorkOrder).where(
            WorkOrder.contact_phone.isnot(None), WorkOrder.status.in_(WorkOrderStatus.closed()),
            WorkOrder.updated_at < cutoff)
            .values(contact_phone=None, updated_at=WorkOrder.updated_at).execution_options(synchronize_session=False)).rowcount
    counts["photos"] = _delete_photos(settings.upload_dir, _cutoff(settings, "photos", now))
    cutoff = _cutoff(settings, "codes", now)
    with db.session() as session:
        counts["codes"] = session.execute(delete(VerificationCode).where(VerificationCode.expires_at < cutoff)
                                          .execution_options(synchronize_session=False)).rowcount
        # the first admin's one-time tokens (bot/access/first_run.py) are codes too: of no use once used or expired
        counts["setup_tokens"] = session.execute(delete(SetupToken).where(
            or_(SetupToken.expires_at < cutoff, SetupToken.used_at < cutoff))
            .execution_options(synchronize_session=False)).rowcount
    cutoff = _cutoff(settings, "logs", now)
    with db.session() as session:
        counts["rate_events"] = session.execute(delete(RateEvent).where(RateEvent.created_at < cutoff)
                                                .execution_options(synchronize_session=False)).rowcount
        counts["seen_messages"] = session.execute(delete(SeenMessage).where(SeenMessage.created_at < cutoff)
                                                  .execution_options(synchronize_session=False)).rowcount
    return counts


def _delete_photos(upload_dir: Path, cutoff: dt.datetime) -> int:
    """Uploads are written once and never changed, so a file's modification time is its upload time."""
    if not upload_dir.is_dir():
        return 0
    limit = calendar.timegm(cutoff.timetuple())  # naive UTC → epoch seconds, like st_mtime
    deleted = 0
    for path in upload_dir.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                deleted += 1
        except FileNotFoundError:  # another process's run took it first
            continue
    return deleted

"""Residents' suggestions (建议).

A message the router reads as a suggestion (rule 12a) is stored with a number — JY, the 小区's local date and a
sequence of the day (JY20261206001) — with the resident's 小区 and building when known (a bound household, else a
room named in the message), and acknowledged with that number. Admins list them (newest first, grouped by similar
words as the failures report groups questions: bot/reporting/reports.py ``group_similar``), set a status
(待处理/已采纳/暂不采纳/已回复) and reply; a reply is a bot message in the resident's conversation, recorded in the
outbox (bot/storage/outbox.py) so it goes out as the desk's messages do: the widget live, WeChat as a push.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import NotFound, WuyeError, check_text
from bot.core.localtime import iso, to_local
from bot.outages.notices import building_in, time_zone_of
from bot.reporting.reports import group_similar
from bot.storage import outbox
from bot.storage.models import ChatIdentity, Conversation, Message, Staff, Suggestion
from bot.storage.outbox import Kind
from bot.turn.context import FlowSpec

STATUSES = {"pending": "待处理", "adopted": "已采纳", "declined": "暂不采纳", "replied": "已回复"}
MAX_REPLY = 1000
NUMBER_ATTEMPTS = 5  # two suggestions numbered at once: the loser takes the next number


class SuggestionNotFound(NotFound):
    code, message = "suggestion_not_found", "找不到这条建议"


class SuggestionInvalid(WuyeError):
    status, code, message = 422, "suggestion_invalid", "建议的处理内容不正确"


class UnknownSuggestionStatus(SuggestionInvalid):
    code, message = "suggestion_status_invalid", "状态只能是：" + "、".join(f"{k}（{v}）" for k, v in STATUSES.items())


class EmptySuggestionReply(SuggestionInvalid):
    code, message = "suggestion_reply_empty", "回复内容不能为空"


class SuggestionReplyTooLong(SuggestionInvalid):
    code, message = "suggestion_reply_too_long", "回复太长了，请控制在 {max_chars} 个字以内"


# --- the resident's side ------------------------------------------------------------------------------------------
def _number(session: Session, day: dt.date) -> str:
    prefix = f"JY{day:%Y%m%d}"
    last = session.scalar(select(Suggestion.number).where(Suggestion.number.like(f"{prefix}%"))
                          .order_by(Suggestion.number.desc()).limit(1))
    return f"{prefix}{(int(last[len(prefix):]) + 1 if last else 1):03d}"


def record(ctx: Any) -> Suggestion:
    """Store the turn's message as a suggestion with the next number of the 小区's local day (the number is unique:
    a number taken at the same moment by another process is retried with the next one)."""
    household = ctx.household
    building = household.building if household is not None else building_in(ctx.reading.entities)
    day = to_local(ctx.now, ctx.time_zone).date()
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            with ctx.session.begin_nested():
                suggestion = Suggestion(number=_number(ctx.session, day), text=ctx.text[:2000],
                                        conversation_id=ctx.conversation.id, identity_id=ctx.identity.id,
                                        household_id=household.id if household is not None else None,
                                        community_id=ctx.community_id, building=building, status="pending",
                                        created_at=ctx.now)
                ctx.session.add(suggestion)
            return suggestion
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# "我有个建议" says one is coming, it is not one: recorded as it was, admins got an empty suggestion and the real
# one a second number
ANNOUNCED = re.compile(r"^\W*(你好|您好|在吗)?\W*(我|我们)?(想|要|还)?(有|提|给你们提|跟你们提|反映|说)(个|一个|几个|点|一点|条|一条)?"
                       r"(小)?(建议|意见|想法)\W*(可以吗|行吗|想说|要提|要说)?\W*$")
FLOW_NAME = "suggestion"
ASK = "好的，请说说您的建议，我会记录下来转给物业。"


def acknowledge(ctx: Any) -> None:
    if ANNOUNCED.match(ctx.text):
        ctx.ask(FLOW_NAME, {}, "content", ASK)
        return
    suggestion = record(ctx)
    ctx.say(f"感谢您的建议！编号 {suggestion.number}，我们会认真研究，有结果会在这里告诉您。")


def _resume(ctx: Any, slots: Dict[str, Any]) -> None:
    ctx.end_flow()
    acknowledge(ctx)  # the message after the question is the suggestion (asked again only if it announces again)


FLOW = FlowSpec(name=FLOW_NAME, title="建议", start=_resume, resume=_resume, free_text_slots=("content",))


# --- the admins' side ---------------------------------------------------------------------------------------------
def suggestion_json(s: Suggestion, kb: Any, channel: Optional[str] = None) -> Dict[str, Any]:
    tz = time_zone_of(kb, s.community_id or "")
    try:
        community = kb.community(s.community_id).name if s.community_id else ""
    except (KeyError, AttributeError):
        community = s.community_id or ""
    return {"id": s.id, "number": s.number, "text": s.text, "community_id": s.community_id,
            "community": community, "building": s.building, "status": s.status,
            "status_label": STATUSES.get(s.status, s.status), "reply": s.reply,
            "created_at": iso(s.created_at, tz), "replied_at": iso(s.replied_at, tz) if s.replied_at else None,
            "conversation_id": s.conversation_id, "channel": channel}


def listing(session: Session, kb: Any, status: Optional[str] = None, community: Optional[str] = None,
            limit: int = 500) -> Dict[str, Any]:
    """Newest first, and the same grouped by similar words (each group: its newest text, the count, its
    suggestions newest first; the group with the newest suggestion first)."""
    if status is not None and status not in STATUSES:
        raise UnknownSuggestionStatus()
    query = select(Suggestion, Conversation.channel).join(Conversation, Suggestion.conversation_id == Conversation.id)
    if status:
        query = query.where(Suggestion.status == status)
    if community:
        query = query.where(Suggestion.community_id == community)
    rows = [suggestion_json(s, kb, channel) for s, channel in
            session.execute(query.order_by(Suggestion.id.desc()).limit(limit))]
    groups = group_similar([{**r, "reason": r["status"]} for r in rows])
    for group in groups:
        group.pop("suggested_faq", None)
        group["newest_id"] = max(i["id"] for i in group["examples"])
        group["statuses"] = group.pop("reasons")
    groups.sort(key=lambda g: -g["newest_id"])
    return {"suggestions": rows, "groups": groups, "statuses": STATUSES}


def get(session: Session, suggestion_id: int) -> Suggestion:
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise SuggestionNotFound()
    return suggestion


def answer(session: Session, suggestion_id: int, staff: Staff, status: Optional[str], reply: str,
           now: dt.datetime) -> Suggestion:
    """An admin's status and reply. A reply goes to the resident's conversation as a bot message (through the
    outbox: sent after the commit); a reply with the status left 待处理 makes it 已回复. Everything is checked
    before anything changes."""
    reply = reply or ""
    if len(reply) > MAX_REPLY:
        raise SuggestionReplyTooLong(max_chars=MAX_REPLY)
    reply = check_text(reply.strip(), MAX_REPLY, allow_empty=True) if reply.strip() else ""
    if status is not None and status not in STATUSES:
        raise UnknownSuggestionStatus()
    if status is None and not reply:
        raise EmptySuggestionReply()
    if status == "replied" and not reply:
        raise EmptySuggestionReply()
    suggestion = get(session, suggestion_id)
    status = status or ("replied" if suggestion.status == "pending" else suggestion.status)
    if reply and status == "pending":
        status = "replied"
    suggestion.status = status
    if reply:
        outbox.record(session, Kind.MESSAGE_STORED, suggestion.conversation_id)
        decided = {"adopted": "，已采纳", "declined": "，暂不采纳"}.get(status, "")
        session.add(Message(conversation_id=suggestion.conversation_id, sender="bot", staff_id=staff.id,
                            text=f"关于您的建议（编号 {suggestion.number}{decided}），物业回复：{reply}", created_at=now))
        suggestion.reply, suggestion.replied_by, suggestion.replied_at = reply, staff.id, now
    session.flush()
    return suggestion


def channel_of(session: Session, suggestion: Suggestion) -> Optional[str]:
    return session.scalar(select(ChatIdentity.channel).where(ChatIdentity.id == suggestion.identity_id))

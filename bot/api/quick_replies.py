"""Agent tools outside the conversation actions of bot/api/agent.py.

- 快捷回复: admins manage them (``/api/admin/quick-replies``: list, create, edit, delete); agents list them
  (``GET /api/agent/quick-replies``) and insert one by typing ``/shortcut`` in the console's reply box or from
  the picker. A reply may use the 小区 variables FAQ answers use ({emergency_phone}, {office_phone}…): an agent who
  serves several 小区 inserts it rendered for the open conversation's 小区 (``rendered``).
- 满意度评价 from the web widget: ``POST /api/widget/rating`` (the widget's rating card; WeChat residents type
  the digit instead, see bot/handoffs/ratings.py). One rating per handoff, only the resident's own, only once resolved.
"""
from __future__ import annotations

from typing import Annotated, Any, Dict, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictStr, conint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.api.agent import RowId, rendering_community
from bot.api.deps import ConsoleStaff, CurrentAdmin, DbDep, NowDep, OptionalResident, ServicesDep, SessionDep
from bot.core.errors import NotFound, NoWidgetSession, WuyeError, check_text
from bot.kb.knowledge import TemplateError, render_template
from bot.handoffs import ratings
from bot.realtime import live
from bot.storage import outbox
from bot.storage.models import ChatIdentity, Message, QuickReply
from bot.storage.outbox import Kind

router = APIRouter()

SHORTCUT = r"^[^\s/]{1,16}$"


class QuickReplyNotFound(NotFound):
    code, message = "quick_reply_not_found", "找不到这条快捷回复"


class ShortcutTaken(WuyeError):
    status, code, message = 409, "shortcut_taken", "快捷键“{shortcut}”已被其他快捷回复使用，请换一个"


class QuickReplyTemplate(WuyeError):
    status, code, message = 422, "quick_reply_template", "快捷回复的内容有误：{problem}"


class QuickReplyBody(BaseModel):
    shortcut: StrictStr = Field(..., regex=SHORTCUT, description="typed after “/” in the console: 1–16 characters, "
                                                                 "no spaces or “/” (e.g. ty, 停水)")
    title: StrictStr = Field(..., min_length=1, max_length=64)
    text: StrictStr = Field(..., min_length=1, max_length=2000)


def quick_reply_json(row: QuickReply) -> Dict[str, Any]:
    return {"id": row.id, "shortcut": row.shortcut, "title": row.title, "text": row.text,
            "updated_at": row.updated_at.isoformat()}


def _all(session) -> Dict[str, Any]:
    return {"quick_replies": [quick_reply_json(r) for r in session.scalars(select(QuickReply).order_by(QuickReply.shortcut))]}


def _rendered(text: str, values: Dict[str, str]) -> str:
    try:
        return render_template(text, values)
    except TemplateError:  # saved before replies were templates (a stray brace): as written
        return text


@router.get("/api/agent/quick-replies", tags=["agent"],
            summary="快捷回复 for the console (agents and admins), rendered for the conversation's 小区")
def list_for_agents(staff: ConsoleStaff, session: SessionDep, services: ServicesDep,
                    conversation_id: Annotated[Optional[int], Query(ge=1, le=2**31 - 1)] = None) -> Dict[str, Any]:
    values = services.knowledge.current.community(rendering_community(session, staff, conversation_id)).values
    replies = _all(session)
    for reply in replies["quick_replies"]:
        reply["rendered"] = _rendered(reply["text"], values)
    return replies


def _check_template(services, text: str) -> None:
    """A reply renders for every 小区, or it is refused naming the problem (as an FAQ answer's template is)."""
    for community in services.knowledge.current.communities:
        try:
            render_template(text, community.values)
        except TemplateError as exc:
            raise QuickReplyTemplate(problem=f"{exc}（{community.name}）") from exc


@router.get("/api/admin/quick-replies", tags=["admin"], summary="快捷回复: the list (admins)")
def list_quick_replies(staff: CurrentAdmin, session: SessionDep) -> Dict[str, Any]:
    return _all(session)


def _save(session, row: QuickReply, body: QuickReplyBody, now) -> Dict[str, Any]:
    # blank, NUL or lone surrogates: refused in Chinese (422), as agent replies are
    row.shortcut, row.title, row.text = body.shortcut, check_text(body.title, 64), check_text(body.text, 2000)
    row.updated_at = now
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise ShortcutTaken(shortcut=body.shortcut) from exc
    return quick_reply_json(row)


@router.post("/api/admin/quick-replies", tags=["admin"], summary="快捷回复: create (shortcut unique, 409 otherwise)")
def create_quick_reply(body: QuickReplyBody, staff: CurrentAdmin, db: DbDep, services: ServicesDep,
                       now: NowDep) -> Dict[str, Any]:
    _check_template(services, body.text)
    with db.session() as session:  # committed before the answer goes out
        return _save(session, QuickReply(created_by=staff.id, created_at=now), body, now)


@router.put("/api/admin/quick-replies/{reply_id}", tags=["admin"], summary="快捷回复: edit")
def update_quick_reply(reply_id: RowId, body: QuickReplyBody, staff: CurrentAdmin, db: DbDep, services: ServicesDep,
                       now: NowDep) -> Dict[str, Any]:
    _check_template(services, body.text)
    with db.session() as session:
        row = session.get(QuickReply, reply_id)
        if row is None:
            raise QuickReplyNotFound()
        return _save(session, row, body, now)


@router.delete("/api/admin/quick-replies/{reply_id}", tags=["admin"], summary="快捷回复: delete")
def delete_quick_reply(reply_id: RowId, staff: CurrentAdmin, db: DbDep) -> Dict[str, Any]:
    with db.session() as session:
        row = session.get(QuickReply, reply_id)
        if row is None:
            raise QuickReplyNotFound()
        session.delete(row)
    return {"ok": True}


# --- 满意度评价 from the web widget ----------------------------------------------------------------------------

class RatingBody(BaseModel):
    handoff_id: conint(strict=True, ge=1, le=2**31 - 1) = Field(..., description="from the offer's buttons (/rate <id> <score>)")
    score: conint(strict=True, ge=1, le=5) = Field(..., description="1 非常不满意 … 5 非常满意")
    comment: Optional[StrictStr] = Field(None, max_length=500, description="optional: what the resident adds")


@router.post("/api/widget/rating", tags=["web widget"],
             summary="满意度评价: the resident rates a resolved handoff of their own, once (409 already_rated)")
async def rate(body: RatingBody, resident: OptionalResident, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    if resident is None:
        raise NoWidgetSession()
    comment = check_text(body.comment, 500, allow_empty=True) if body.comment is not None else None
    async with live.change(services) as session:  # the rating's messages go out once it has committed
        identity = session.scalar(select(ChatIdentity).where(ChatIdentity.channel == "web",
                                                             ChatIdentity.sender_id == resident))
        if identity is None:
            raise ratings.RatingNotFound()
        rating = ratings.rate(session, identity.id, body.handoff_id, body.score, comment, now)
        conversation_id = rating.conversation_id
        # the resident's own page draws them from the response: not pushed through the channel again
        outbox.record(session, Kind.MESSAGE_STORED, conversation_id, push=False)
        session.add(Message(conversation_id=conversation_id, sender="resident",
                            text=ratings.summary_text(body.score, comment), created_at=now,
                            nlu={"rating": {"handoff_id": body.handoff_id, "score": body.score}}))
        session.add(Message(conversation_id=conversation_id, sender="bot", created_at=now,
                            text=ratings.THANKS.format(score=body.score, label=ratings.SCORES[body.score])))
        result = {"ok": True, "rating": {"handoff_id": body.handoff_id, "score": body.score, "comment": comment}}
    return result

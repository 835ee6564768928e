"""Notices and incidents over HTTP.

- ``/api/admin/notices`` (admins): list (``?community=``, withdrawn ones too with ``?all=true``), one with its
  history, create, edit (only what changes), withdraw. Every change is a ``NoticeRevision``; bad input is a typed
  Chinese 422 (window end before start, unknown 小区 or buildings, empty text, unknown kind, a time that is no time).
  Times are the 小区's local time ("2026-11-27 09:00" or with an offset) and come back as ISO 8601 with it.
- ``GET /api/widget/notices``: the live notices for the widget's banner — the resident's building when bound,
  else the 小区's (``?community=``, default the first) with the buildings each covers.
- ``/api/agent/incidents`` (any signed-in staff): open and recent incidents with their report counts, one with
  its reporters, and ``POST …/{id}/resolve`` with the resolution text, which every linked conversation gets as
  a bot message (announced through bot/realtime/live.py: the widget, watching agents, WeChat push).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictStr, conint
from sqlalchemy import select

from bot.access.permissions import community_scope
from bot.api import scope
from bot.api.agent import RowId
from bot.api.deps import (ConsoleStaff, CurrentAdmin, NowDep, OptionalResident, ResidentCommunity, ServicesDep,
                          SessionDep)
from bot.outages import incidents, notices
from bot.realtime import live
from bot.storage.models import ChatIdentity, Conversation, Incident, Notice

router = APIRouter()
Building = conint(strict=True, ge=1, le=999)


class NoticeBody(BaseModel):
    community_id: Optional[StrictStr] = Field(None, max_length=32, description="the 小区 id (data/communities.yml)")
    kind: Optional[StrictStr] = Field(None, description="water 停水 | power 停电 | gas 停气 | elevator 电梯停用 | "
                                                        "activity 活动 | other 通知")
    buildings: Optional[List[Building]] = Field(None, max_items=200, description="[] or missing: the whole 小区")  # type: ignore[valid-type]
    title: Optional[StrictStr] = Field(None, max_length=64, description="empty: made from the scope and the kind")
    text: Optional[StrictStr] = Field(None, max_length=5000, description="what residents read: reason, what to do…")
    starts_at: Optional[StrictStr] = Field(None, max_length=40, description="小区 local time, e.g. 2026-11-27 09:00")
    ends_at: Optional[StrictStr] = Field(None, max_length=40, description="after starts_at")
    poll_id: Optional[conint(strict=True, ge=0, le=2**31 - 1)] = Field(  # type: ignore[valid-type]
        None, description="a poll of the 小区 the notice links to (参与投票); 0 removes the link")


@router.get("/api/admin/notices", tags=["admin"], summary="Notices: the list (newest first)")
def list_notices(staff: CurrentAdmin, services: ServicesDep, session: SessionDep, now: NowDep,
                 community: Optional[str] = Query(None, max_length=32),
                 all: bool = Query(False, description="withdrawn and ended ones too")) -> Dict[str, Any]:
    kb = services.knowledge()
    query = select(Notice).order_by(Notice.starts_at.desc(), Notice.id.desc())
    if community:
        query = query.where(Notice.community_id == community)
    rows = [notices.notice_json(n, kb, now) for n in session.scalars(query)]
    if not all:
        rows = [r for r in rows if r["state"] not in ("withdrawn", "ended")]
    # every 小区, retired ones marked: the form offers only those in service for a new notice (a retired one takes
    # none: notices.check_in_service), and shows a retired one's buildings when an old notice of it is edited
    communities = [{"id": c.id, "name": c.name, "retired": c.retired,
                    "buildings": notices.community_buildings(session, c.id)} for c in kb.communities]
    return {"notices": rows, "communities": communities, "kinds": notices.KINDS}


@router.get("/api/admin/notices/{notice_id}", tags=["admin"], summary="Notices: one, with its history")
def get_notice(notice_id: RowId, staff: CurrentAdmin, services: ServicesDep, session: SessionDep,
               now: NowDep) -> Dict[str, Any]:
    return notices.notice_json(notices.get(session, notice_id), services.knowledge(), now, history=True,
                               session=session)


@router.post("/api/admin/notices", tags=["admin"], summary="Notices: publish one")
def create_notice(body: NoticeBody, staff: CurrentAdmin, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge()
    with services.db.session() as session:  # committed before the answer goes out
        notice = notices.create(session, kb, body.dict(), staff, now)
        return notices.notice_json(notice, kb, now, history=True, session=session)


@router.put("/api/admin/notices/{notice_id}", tags=["admin"], summary="Notices: edit (give only what changes)")
def edit_notice(notice_id: RowId, body: NoticeBody, staff: CurrentAdmin, services: ServicesDep,
                now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge()
    with services.db.session() as session:
        notice = notices.edit(session, kb, notice_id, body.dict(), staff, now)
        return notices.notice_json(notice, kb, now, history=True, session=session)


@router.post("/api/admin/notices/{notice_id}/withdraw", tags=["admin"], summary="Notices: withdraw (kept in history)")
def withdraw_notice(notice_id: RowId, staff: CurrentAdmin, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge()
    with services.db.session() as session:
        notice = notices.withdraw(session, notice_id, staff, now)
        return notices.notice_json(notice, kb, now, history=True, session=session)


@router.get("/api/widget/notices", tags=["web widget"], summary="Live notices for the widget's banner")
def widget_notices(resident: OptionalResident, linked: ResidentCommunity, services: ServicesDep, session: SessionDep,
                   now: NowDep, community: Optional[str] = Query(None, max_length=32)) -> Dict[str, Any]:
    kb = services.knowledge()
    known = {c.id for c in kb.communities}
    # a bound household's 小区, else the signed link's, else the conversation's, else the one the page names (the
    # notices are public), else the default
    community_id, building = (linked if linked in known else community if community in known
                              else kb.communities[0].id), None
    identity = session.scalar(select(ChatIdentity).where(ChatIdentity.channel == "web",
                                                         ChatIdentity.sender_id == resident)) if resident else None
    if identity is not None and identity.household_id and identity.verified_at:
        community_id, building = identity.household.community_id, identity.household.building
    elif identity is not None:
        conversation = session.scalar(select(Conversation).where(Conversation.identity_id == identity.id)
                                      .order_by(Conversation.id.desc()))
        if conversation is not None and conversation.community_id in known and linked not in known:
            community_id = conversation.community_id
    rows = [notices.notice_json(n, kb, now) for n in notices.live(session, community_id, building, now)]
    return {"community_id": community_id, "building": building, "notices": rows}


# --- incidents ------------------------------------------------------------------------------------------------------
class ResolveBody(BaseModel):
    resolution: StrictStr = Field(..., max_length=5000, description="what was done: sent to every linked resident")


@router.get("/api/agent/incidents", tags=["agent"], summary="Incidents: open ones and the latest resolved")
def list_incidents(staff: ConsoleStaff, session: SessionDep,
                   status: str = Query("open", regex="^(open|resolved|all)$")) -> Dict[str, Any]:
    query = select(Incident).order_by(Incident.id.desc()).limit(200)
    if community_scope(staff) is not None:  # an agent of one 小区 sees its incidents only (bot/api/scope.py)
        query = query.where(Incident.community_id == community_scope(staff))
    if status != "all":
        query = query.where(Incident.status == status)
    return {"incidents": [incidents.incident_json(session, i) for i in session.scalars(query)]}


@router.get("/api/agent/incidents/{incident_id}", tags=["agent"], summary="Incidents: one, with its reporters")
def get_incident(incident_id: RowId, staff: ConsoleStaff, session: SessionDep) -> Dict[str, Any]:
    scope.check_incident(session, staff, incident_id)  # another 小区's: 404
    return incidents.incident_json(session, incidents.get(session, incident_id), with_reporters=True)


@router.post("/api/agent/incidents/{incident_id}/resolve", tags=["agent"],
             summary="Incidents: resolve with a resolution text, sent to every linked conversation")
async def resolve_incident(incident_id: RowId, body: ResolveBody, staff: ConsoleStaff, services: ServicesDep,
                           now: NowDep) -> Dict[str, Any]:
    async with live.change(services) as session:  # every reporter's message goes out once it has committed
        scope.check_incident(session, staff, incident_id)
        told = incidents.resolve(session, incident_id, body.resolution, now)
    with services.db.session() as session:
        return {"incident": incidents.incident_json(session, incidents.get(session, incident_id)), "told": len(told)}


RowRef = conint(strict=True, ge=1, le=2**31 - 1)  # a row id in a body (≥ 2^63 would overflow the database)


class MergeBody(BaseModel):
    into: RowRef = Field(..., description="the open incident (same 小区, same kind) that takes this one's reports")


class SplitBody(BaseModel):
    conversation_ids: List[RowRef] = Field(..., min_items=1, max_items=1000,
                                               description="the reporters (their conversations) that move to a new incident")


@router.post("/api/agent/incidents/{incident_id}/merge", tags=["agent"],
             summary="Incidents: merge into another open incident of the same 小区 and kind (one resolution tells all)")
async def merge_incident(incident_id: RowId, body: MergeBody, staff: ConsoleStaff, services: ServicesDep,
                         now: NowDep) -> Dict[str, Any]:
    async with live.change(services) as session:  # the merged queue item's resident is told once it has committed
        scope.check_incident(session, staff, incident_id)
        scope.check_incident(session, staff, body.into)
        target = incidents.merge(session, incident_id, body.into, now)
        target_id = target.id
    with services.db.session() as session:
        return {"incident": incidents.incident_json(session, incidents.get(session, target_id), with_reporters=True)}


@router.post("/api/agent/incidents/{incident_id}/split", tags=["agent"],
             summary="Incidents: move some reporters to a new incident of the same 小区 and kind")
def split_incident(incident_id: RowId, body: SplitBody, staff: ConsoleStaff, session: SessionDep,
                   now: NowDep) -> Dict[str, Any]:
    scope.check_incident(session, staff, incident_id)
    new = incidents.split(session, incident_id, list(body.conversation_ids), now)
    return {"incident": incidents.incident_json(session, incidents.get(session, incident_id), with_reporters=True),
            "new": incidents.incident_json(session, new, with_reporters=True)}

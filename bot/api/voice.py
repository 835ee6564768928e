"""Residents' voice for admins (bot/voice/): suggestions and polls.

- ``GET /api/admin/suggestions`` (``?status=``, ``?community=``): newest first and grouped by similar words;
  ``POST /api/admin/suggestions/{id}``: a status (pending 待处理 / adopted 已采纳 / declined 暂不采纳 / replied 已回复)
  and a reply, which reaches the resident's conversation after the commit (bot/realtime/live.py ``change``: the
  widget live, WeChat as a push).
- ``/api/admin/polls``: list with counts, create (question, 2–6 options, 小区, buildings, open/close times in the
  小区's local time, per household or per resident), one poll's counts (the page polls it for the live chart),
  close now, and its results as CSV.
Bad input is a typed Chinese 422 with an English ``code``; nothing is stored then.

Not filtered by 小区 (bot/api/scope.py): every route here is an admin's, and an admin serves the whole company
(``community_scope`` is None for admins), so a member limited to one 小区 reads no suggestion or poll result at all
(tests/integration/test_suggestions_scope.py). Opening these to agents would mean filtering by ``community_scope``
like the queue.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool, StrictStr, conint

from bot.api.agent import RowId
from bot.api.deps import CurrentAdmin, NowDep, ServicesDep, SessionDep
from bot.realtime import live
from bot.voice import polls, suggestions

router = APIRouter(tags=["admin"])
Building = conint(strict=True, ge=1, le=999)


class SuggestionAnswer(BaseModel):
    status: Optional[StrictStr] = Field(None, max_length=16, description="pending | adopted | declined | replied")
    reply: StrictStr = Field("", max_length=2000, description="sent to the resident's conversation")


class PollBody(BaseModel):
    community_id: Optional[StrictStr] = Field(None, max_length=32)
    question: Optional[StrictStr] = Field(None, max_length=1000)
    options: Optional[List[StrictStr]] = Field(None, max_items=20)
    buildings: Optional[List[Building]] = Field(None, max_items=200)  # type: ignore[valid-type]
    opens_at: Optional[StrictStr] = Field(None, max_length=40, description="小区 local time, e.g. 2026-12-06 09:00")
    closes_at: Optional[StrictStr] = Field(None, max_length=40)
    per: Optional[StrictStr] = Field(None, max_length=16, description="household (default) | resident")
    show_results: StrictBool = False


@router.get("/api/admin/suggestions", summary="Suggestions: newest first, and grouped by similar words")
def list_suggestions(admin: CurrentAdmin, services: ServicesDep, session: SessionDep,
                     status: Optional[str] = Query(None, max_length=16),
                     community: Optional[str] = Query(None, max_length=32)) -> Dict[str, Any]:
    return suggestions.listing(session, services.knowledge(), status or None, community or None)


@router.post("/api/admin/suggestions/{suggestion_id}", summary="Suggestions: set the status and reply to the resident")
async def answer_suggestion(suggestion_id: RowId, body: SuggestionAnswer, admin: CurrentAdmin, services: ServicesDep,
                            now: NowDep) -> Dict[str, Any]:
    async with live.change(services) as session:
        suggestion = suggestions.answer(session, suggestion_id, admin, body.status, body.reply, now)
        result = suggestions.suggestion_json(suggestion, services.knowledge(),
                                             suggestions.channel_of(session, suggestion))
    return result


@router.get("/api/admin/polls", summary="Polls: every poll with its counts (newest first)")
def list_polls(admin: CurrentAdmin, services: ServicesDep, session: SessionDep, now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge()
    return {"polls": polls.listing(session, kb, now), "per": polls.PER,
            # the new poll form's picker (a poll names its 小区 itself): a retired 小区 takes no new poll
            "communities": [{"id": c.id, "name": c.name} for c in kb.communities if not c.retired]}


@router.post("/api/admin/polls", summary="Polls: create one")
def create_poll(body: PollBody, admin: CurrentAdmin, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge()
    with services.db.session() as session:  # committed before the answer goes out
        poll = polls.create(session, kb, body.dict(), admin, now)
        return polls.poll_json(session, poll, kb, now)


@router.get("/api/admin/polls/{poll_id}", summary="Polls: one, with its counts per option")
def get_poll(poll_id: RowId, admin: CurrentAdmin, services: ServicesDep, session: SessionDep,
             now: NowDep) -> Dict[str, Any]:
    return polls.poll_json(session, polls.get(session, poll_id), services.knowledge(), now)


@router.post("/api/admin/polls/{poll_id}/close", summary="Polls: close now")
def close_poll(poll_id: RowId, admin: CurrentAdmin, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    with services.db.session() as session:
        poll = polls.close(session, poll_id, now)
        return polls.poll_json(session, poll, services.knowledge(), now)


@router.get("/api/admin/polls/{poll_id}/results.csv", summary="Polls: the counts as CSV")
def poll_csv(poll_id: RowId, admin: CurrentAdmin, session: SessionDep) -> Response:
    poll = polls.get(session, poll_id)
    return Response("\ufeff" + polls.results_csv(session, poll), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="wuye-poll-{poll.id}.csv"'})

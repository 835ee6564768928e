"""Teams (技能组) and the supervisor's view, for admins: /api/admin/teams (list, create, replace, delete) and
/api/admin/agents (each agent's state and load). The rules live in bot/handoffs/teams.py."""
from __future__ import annotations

from typing import Any, Dict, List

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictStr, conint

from bot.api.agent import RowId
from bot.api.deps import CurrentAdmin, DbDep, NowDep, SessionDep
from bot.core.errors import InvalidName, WuyeError, check_text
from bot.handoffs import teams

router = APIRouter(tags=["admin"])


class TeamBody(BaseModel):
    name: StrictStr = Field(..., max_length=32, description="团队名称，例如 投诉专员")
    kinds: List[StrictStr] = Field(default_factory=list, max_items=3,
                                   description="complaint 投诉与纠纷 / billing 赔偿与收费争议 / repair 工单催办与维修")
    communities: List[StrictStr] = Field(default_factory=list, max_items=50, description="只服务这些小区（空：全部）")
    member_ids: List[conint(strict=True, ge=1, le=2**31 - 1)] = Field(  # type: ignore[valid-type]  # row ids
        default_factory=list, max_items=200, description="成员（客服或管理员）的 id")


def _name(body: TeamBody) -> str:
    try:
        return check_text(body.name, 32)
    except WuyeError:  # blank, control characters: one clear refusal for a name
        raise InvalidName("团队名称必须是 1–32 个可见字符") from None


def _listing(session) -> Dict[str, Any]:
    return {"teams": teams.list_teams(session), "kinds": [{"id": k, "label": v} for k, v in teams.TEAM_KINDS.items()]}


@router.get("/api/admin/teams", summary="Teams (技能组) with their kinds, 小区 and members")
def list_teams(staff: CurrentAdmin, session: SessionDep) -> Dict[str, Any]:
    return _listing(session)


# writes commit before the answer goes out (a request's own session commits after it): the page reloads at once


@router.post("/api/admin/teams", summary="Create a team")
def create_team(body: TeamBody, staff: CurrentAdmin, db: DbDep) -> Dict[str, Any]:
    name = _name(body)
    with db.session() as session:
        team_id = teams.save_team(session, None, name, body.kinds, body.communities, body.member_ids).id
    with db.session() as session:
        return {"id": team_id, **_listing(session)}


@router.put("/api/admin/teams/{team_id}", summary="Replace a team (name, kinds, 小区, members)")
def replace_team(team_id: RowId, body: TeamBody, staff: CurrentAdmin, db: DbDep) -> Dict[str, Any]:
    name = _name(body)
    with db.session() as session:
        teams.save_team(session, team_id, name, body.kinds, body.communities, body.member_ids)
    with db.session() as session:
        return {"id": team_id, **_listing(session)}


@router.delete("/api/admin/teams/{team_id}", summary="Delete a team (its waiting handoffs join the general queue)")
def delete_team(team_id: RowId, staff: CurrentAdmin, db: DbDep) -> Dict[str, Any]:
    with db.session() as session:
        teams.delete_team(session, team_id)
    return {"ok": True}


@router.get("/api/admin/agents", summary="The supervisor's view: each agent's state, open conversations, handled "
                                         "today, average handling time and angry conversations now")
def agents_load(staff: CurrentAdmin, session: SessionDep, now: NowDep) -> Dict[str, Any]:
    return {"agents": teams.supervisor(session, now)}

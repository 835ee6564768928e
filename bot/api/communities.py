"""The admin's 小区 onboarding: list, add and edit the 小区 of data/communities.yml (bot/kb/community_editing.py:
validated with the whole knowledge base, under the file's lock, 409 on a stale version), live at once and kept in
step with the communities table; retire one (kept with its history) or bring it back; and its work-order time
limits in data/sla.yml (bot/work_orders/sla_editing.py, the same discipline)."""
from __future__ import annotations

import re
from typing import Annotated, Any, Dict, List, Optional

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, StrictStr, validator

from bot.api.deps import CurrentAdmin, ServicesDep
from bot.core.errors import check_field
from bot.kb import community_editing
from bot.kb.community import sync_communities
from bot.kb.knowledge import file_version
from bot.services import Services
from bot.work_orders import sla, sla_editing

router = APIRouter(prefix="/api/admin", tags=["admin"])


class CommunityEdit(BaseModel):
    values: Dict[StrictStr, StrictStr] = Field(..., description="community_name, office_phone, agent_hours …: every "
                                                                "value an answer template uses is required")
    version: Optional[str] = Field(None, regex=r"^[0-9a-f]{64}$",
                                   description="the file version the edit is based on (from the GET); "
                                               "409 community_edit_conflict when the file has changed since")

    @validator("values")
    def clean_values(cls, values: Dict[str, str]) -> Dict[str, str]:  # a lone surrogate would break the file
        if len(values) > 100:
            raise ValueError("too many")
        return {check_field(k, 40, "values"): check_field(v, 500, "values") if v.strip() else v  # blank: named below
                for k, v in values.items()}


class CommunityCreate(CommunityEdit):
    id: StrictStr = Field(..., max_length=32, description="lowercase letters and digits, unique (the signed link's)")

    @validator("id")
    def check_id(cls, value: str) -> str:  # refused as 小区 ID, not with the FAQ's 条目 ID label of the field
        if not re.fullmatch(community_editing.ID_PATTERN, value):
            raise community_editing.CommunityRejected("小区 ID 只能是小写字母开头的小写字母和数字（2-32 位）", "id")
        return value


def listing(services: Services) -> Dict[str, Any]:
    kb = services.knowledge.current
    text = services.settings.communities_file.read_text(encoding="utf-8")
    return {"communities": [{"id": c.id, "name": c.name, "values": c.values, "retired": c.retired}
                            for c in kb.communities],
            "version": file_version(text), "required": community_editing.required_values(kb),
            "labels": community_editing.LABELS}


def _save(services: Services, community_id: str, body: CommunityEdit, create: bool) -> Dict[str, Any]:
    holder = services.knowledge
    new = community_editing.save_community(services.settings, holder.current, community_id, dict(body.values),
                                           body.version, create)
    return _live(services, new, community_id)


def _live(services: Services, new, community_id: str) -> Dict[str, Any]:
    services.knowledge.current = new  # answers are live at once
    with services.db.session() as session:  # households, notices and teams refer to the communities table
        sync_communities(session, new.communities)
    return {**listing(services), "community": community_id}


@router.get("/communities", summary="The 小区 with their values, the file's version and the values answers require")
def list_communities(services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return listing(services)


@router.post("/communities", status_code=201, summary="Add a 小区 (validated like `wuye faq check`; live at once)")
def create_community(body: CommunityCreate, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return _save(services, body.id, body, create=True)


@router.put("/communities/{community_id}", summary="Change a 小区's values (the whole set; 409 on a stale version)")
def put_community(community_id: str, body: CommunityEdit, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return _save(services, community_id, body, create=False)


class VersionOnly(BaseModel):
    version: Optional[str] = Field(None, regex=r"^[0-9a-f]{64}$", description="the 小区 file's version from the GET; "
                                                                          "409 community_edit_conflict when changed since")


@router.post("/communities/{community_id}/retire", summary="Retire a 小区: no new residents' sessions or staff in it; "
                                                            "nothing deleted, its history and answers stay")
def retire_community(community_id: Annotated[str, Path(max_length=32)], body: VersionOnly, services: ServicesDep,
                     staff: CurrentAdmin) -> Dict[str, Any]:
    new = community_editing.set_retired(services.settings, community_id, True, body.version)
    return _live(services, new, community_id)


@router.post("/communities/{community_id}/restore", summary="Bring a retired 小区 back into service")
def restore_community(community_id: Annotated[str, Path(max_length=32)], body: VersionOnly, services: ServicesDep,
                      staff: CurrentAdmin) -> Dict[str, Any]:
    new = community_editing.set_retired(services.settings, community_id, False, body.version)
    return _live(services, new, community_id)


class SlaRow(BaseModel):
    category: StrictStr = Field(..., max_length=16, description="水电 | 门窗 | 电梯 | 公共设施 | 其他")
    urgency: StrictStr = Field(..., max_length=16, description="normal | urgent")
    response: StrictStr = Field(..., max_length=16, description="dispatched within: 30m, 2h, 1d, 1h30m")
    completion: StrictStr = Field(..., max_length=16, description="repaired within, not shorter than response")


class SlaEdit(BaseModel):
    rows: List[SlaRow] = Field(..., max_items=len(sla.CATEGORY_NAMES) * len(sla.URGENCIES),
                               description="the 小区's limits; a row equal to the default, or left out, follows it")
    version: Optional[str] = Field(None, regex=r"^[0-9a-f]{64}$",
                                   description="data/sla.yml's version from the GET; 409 sla_edit_conflict when changed")


def _sla_file(services: Services):
    return services.settings.data_dir / "sla.yml"  # the file the app's timers read (bot/timers.py)


def _known(services: Services, community_id: str) -> None:
    if community_id not in {c.id for c in services.knowledge.current.communities}:
        raise community_editing.CommunityNotFound()


@router.get("/communities/{community_id}/sla", summary="A 小区's work-order time limits (data/sla.yml): each category "
                                                        "and urgency, in force and default, and the file's version")
def get_community_sla(community_id: Annotated[str, Path(max_length=32)], services: ServicesDep,
                      staff: CurrentAdmin) -> Dict[str, Any]:
    _known(services, community_id)
    return sla_editing.community_rows(_sla_file(services), community_id)


@router.put("/communities/{community_id}/sla", summary="Set a 小区's work-order time limits (validated like "
                                                        "`wuye faq check`; new orders use them at once)")
def put_community_sla(community_id: Annotated[str, Path(max_length=32)], body: SlaEdit, services: ServicesDep,
                      staff: CurrentAdmin) -> Dict[str, Any]:
    _known(services, community_id)
    ids = [c.id for c in services.knowledge.current.communities]
    sla_editing.save_community_sla(_sla_file(services), ids, community_id, [r.dict() for r in body.rows], body.version)
    return sla_editing.community_rows(_sla_file(services), community_id)

"""The admin's 小区 onboarding: list, add and edit the 小区 of data/communities.yml (bot/kb/community_editing.py:
validated with the whole knowledge base, under the file's lock, 409 on a stale version), live at once and kept in
step with the communities table."""
from __future__ import annotations

import re
from typing import Any, Dict, Optional

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictStr, validator

from bot.api.deps import CurrentAdmin, ServicesDep
from bot.core.errors import check_field
from bot.kb import community_editing
from bot.kb.community import sync_communities
from bot.kb.knowledge import file_version
from bot.services import Services

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
    return {"communities": [{"id": c.id, "name": c.name, "values": c.values} for c in kb.communities],
            "version": file_version(text), "required": community_editing.required_values(kb),
            "labels": community_editing.LABELS}


def _save(services: Services, community_id: str, body: CommunityEdit, create: bool) -> Dict[str, Any]:
    holder = services.knowledge
    new = community_editing.save_community(services.settings, holder.current, community_id, dict(body.values),
                                           body.version, create)
    holder.current = new  # answers are live at once
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

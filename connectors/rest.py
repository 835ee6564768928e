"""The plain REST channel: `POST /api/chat` of the spec, for other integrations.

Every call carries ``Authorization: Bearer <key>`` (keys are created and revoked by an admin: /admin, API 密钥, or
``wuye apikey create <name>``). The integration's senders live in its key's own namespace: ``sender_id`` "42"
of key 3 is the identity ``k3:42``, so two keys (or a widget resident) can never speak as each other's residents."""
from __future__ import annotations

import json
from typing import List, Optional

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictStr

from bot.access.auth import WIDGET_PREFIX, key_sender, require_scope
from bot.api.deps import CurrentApiKey, ServicesDep
from bot.core.errors import InvalidSender, UnknownChannel, UnknownCommunity, check_identifier
from bot.realtime import live
from bot.storage.models import Community

router = APIRouter(prefix="/api", tags=["chat"])
MAX_SENDER_CHARS = 100  # k<key id>: is put in front, the stored identity holds 128


class ChatRequest(BaseModel):
    sender_id: StrictStr = Field(..., description="the resident's stable id in this integration (≤ 100 characters)",
                                 example="resident-42")
    text: StrictStr = Field(..., example="物业几点上班")
    channel: StrictStr = Field("web", description="web | rest | cli")
    community: Optional[StrictStr] = Field(None, max_length=32, nullable=True,
                                           description="community id for residents not bound yet")


class ButtonOut(BaseModel):
    title: str
    payload: str


class ReplyOut(BaseModel):
    text: str
    buttons: List[ButtonOut]


class HandoffOut(BaseModel):
    status: str
    priority: str
    queue_position: int
    ticket: Optional[str] = Field(None, nullable=True)
    callback_at: Optional[str] = Field(None, nullable=True,
                                       description="callback tickets: when someone will call at the latest")


class ChatResponse(BaseModel):
    conversation_id: int
    replies: List[ReplyOut]
    handoff: Optional[HandoffOut] = Field(None, nullable=True)


@router.post("/chat", response_model=ChatResponse, summary="Send one resident message, get the assistant's replies")
async def chat(body: ChatRequest, services: ServicesDep, api_key: CurrentApiKey) -> Response:
    require_scope(api_key, "chat")  # an ERP's import-only key (403 api_key_scope_missing)
    if body.channel not in ("web", "rest", "cli"):
        raise UnknownChannel()
    sender_id = body.sender_id
    if sender_id.startswith(WIDGET_PREFIX):
        raise InvalidSender()  # widget identities are signed cookies; refused outright to avoid any confusion
    try:
        check_identifier(sender_id, max_len=MAX_SENDER_CHARS)
    except InvalidSender as exc:
        raise InvalidSender(f"sender_id 必须是 1–{MAX_SENDER_CHARS} 个可见字符") from exc
    if body.community is not None:
        try:
            check_identifier(body.community, max_len=32)
        except InvalidSender as exc:
            raise UnknownCommunity() from exc
        with services.db.session() as session:
            if session.get(Community, body.community) is None:
                raise UnknownCommunity()
    # through the event stream like every channel: a handoff made here reaches the agents' console live
    result = await live.run_turn(services, body.channel, key_sender(api_key.id, sender_id), body.text, [],
                                 community_id=body.community)
    # built by the engine in the documented shape (response_model is for /docs): no second validation and copy
    return Response(json.dumps(result, ensure_ascii=False, separators=(",", ":")), media_type="application/json")

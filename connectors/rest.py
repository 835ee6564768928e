"""The plain REST channel: `POST /api/chat` of the spec, for other integrations."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from fastapi import APIRouter
from pydantic import BaseModel, Field

from bot import live
from bot.api.deps import ServicesDep
from bot.auth import WIDGET_PREFIX
from bot.errors import InvalidSender, UnknownChannel

router = APIRouter(prefix="/api", tags=["chat"])


class ChatRequest(BaseModel):
    sender_id: str = Field(..., description="the resident's stable id on this channel", example="resident-42")
    text: str = Field(..., example="物业几点上班")
    channel: str = Field("web", description="web | wechat | rest | …")
    community: Optional[str] = Field(None, description="community id for residents not bound yet")


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
    ticket: Optional[str]
    callback_at: Optional[str] = Field(None, description="callback tickets: when someone will call at the latest")


class ChatResponse(BaseModel):
    conversation_id: int
    replies: List[ReplyOut]
    handoff: Optional[HandoffOut]


@router.post("/chat", response_model=ChatResponse, summary="Send one resident message, get the assistant's replies")
async def chat(body: ChatRequest, services: ServicesDep) -> Dict[str, Any]:
    if body.channel not in ("web", "rest", "cli"):
        raise UnknownChannel()
    if body.sender_id.startswith(WIDGET_PREFIX) or not body.sender_id.strip():
        # widget identities are signed cookies: the REST channel can never speak as (or read) one of them
        raise InvalidSender()
    # through the event stream like every channel: a handoff made here reaches the agents' console live
    return await live.run_turn(services, body.channel, body.sender_id, body.text, [], community_id=body.community)

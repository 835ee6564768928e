"""The plain REST channel: `POST /api/chat` of the spec, for other integrations.

Every call carries ``Authorization: Bearer <key>`` (keys are created and revoked by an admin: /admin, API 密钥, or
``wuye apikey create <name>``). The integration's senders live in its key's own namespace: ``sender_id`` "42"
of key 3 is the identity ``k3:42``, so two keys (or a widget resident) can never speak as each other's residents."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from fastapi import APIRouter, Query
from fastapi.routing import APIRoute
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictStr
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from bot.access.auth import WIDGET_PREFIX, cached_api_key, key_sender, require_scope
from bot.api.deps import CurrentApiKey, ServicesDep
from bot.core.errors import InvalidSender, UnknownChannel, UnknownCommunity, check_identifier
from bot.realtime import live
from bot.services import Services
from bot.storage.models import ApiKey, Community, Message

router = APIRouter(prefix="/api", tags=["chat"])
MAX_SENDER_CHARS = 100  # k<key id>: is put in front, the stored identity holds 128
MAX_MESSAGES = 200  # one read of GET /api/chat/messages; the integration asks again after the last id it got


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


class ChatMessageOut(BaseModel):
    id: int
    sender: str = Field(..., description="resident | bot | agent | system")
    text: str
    buttons: List[ButtonOut]
    at: str


class ChatMessagesResponse(BaseModel):
    conversation_id: Optional[int] = Field(None, nullable=True)
    status: str = Field(..., description="bot | pending | agent")
    messages: List[ChatMessageOut]


async def chat(body: ChatRequest, services: ServicesDep, api_key: CurrentApiKey) -> Response:
    return Response(await answer(services, api_key, body.sender_id, body.text, body.channel, body.community),
                    media_type="application/json")


async def answer(services: Services, api_key: ApiKey, sender_id: str, text: str, channel: str,
                 community: Optional[str]) -> bytes:
    """The turn of a valid request, as the JSON bytes of the response (both ways in, see :class:`ChatRoute`)."""
    require_scope(api_key, "chat")  # an ERP's import-only key (403 api_key_scope_missing)
    if channel not in ("web", "rest", "cli"):
        raise UnknownChannel()
    if sender_id.startswith(WIDGET_PREFIX):
        raise InvalidSender()  # widget identities are signed cookies; refused outright to avoid any confusion
    try:
        check_identifier(sender_id, max_len=MAX_SENDER_CHARS)
    except InvalidSender as exc:
        raise InvalidSender(f"sender_id 必须是 1–{MAX_SENDER_CHARS} 个可见字符") from exc
    if community is not None:
        try:
            check_identifier(community, max_len=32)
        except InvalidSender as exc:
            raise UnknownCommunity() from exc
        if not await run_in_threadpool(_community_exists, services, community):  # a database read: off the loop
            raise UnknownCommunity()
    # through the event stream like every channel: a handoff made here reaches the agents' console live
    result = await live.run_turn(services, channel, key_sender(api_key.id, sender_id), text, [],
                                 community_id=community)
    # built by the engine in the documented shape (response_model is for /docs): no second validation and copy
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def chat_messages(api_key: CurrentApiKey, services: ServicesDep,
             sender_id: str = Query(..., min_length=1, max_length=MAX_SENDER_CHARS),
             channel: str = Query("web", regex="^(web|rest|cli)$"),
             message_id: int = Query(0, ge=0, le=2147483647,
                                     description="only messages after this id (the last one the integration has)"),
             ) -> Dict[str, Any]:
    """What the resident's conversation holds after ``message_id``, their own messages included and the agents'
    private notes left out. A reply to ``POST /api/chat`` is only the answer to that message: an agent's reply, an
    incident's resolution or a work order's progress are stored for the resident and read here."""
    require_scope(api_key, "chat")
    try:
        check_identifier(sender_id, max_len=MAX_SENDER_CHARS)
    except InvalidSender as exc:
        raise InvalidSender(f"sender_id 必须是 1–{MAX_SENDER_CHARS} 个可见字符") from exc
    with services.db.session() as session:
        conversation = live.conversation_of(session, channel, key_sender(api_key.id, sender_id))
        if conversation is None:
            return {"conversation_id": None, "status": "bot", "messages": []}
        rows = session.scalars(select(Message).where(Message.conversation_id == conversation.id,
                                                     Message.id > message_id, Message.sender != "note")
                               .order_by(Message.id).limit(MAX_MESSAGES))
        shown = [live.message_json(m) for m in rows]
        status = conversation.status
    return {"conversation_id": conversation.id, "status": status,
            "messages": [{k: m[k] for k in ("id", "sender", "text", "buttons", "at")} for m in shown]}


def _community_exists(services: Services, community: str) -> bool:
    with services.db.session() as session:
        return session.get(Community, community) is not None


def plain_request(headers: List[Tuple[bytes, bytes]], body: bytes) -> Optional[Tuple[ApiKey, Dict[str, Any]]]:
    """The key and fields of a request that FastAPI would accept as it is: a JSON object body declared
    ``application/json`` whose fields have ChatRequest's types, and a bearer key verified in the last few seconds
    (bot.access.auth.cached_api_key). Anything else (None) goes the ordinary way, where it is validated, looked up
    or refused with the usual answer."""
    content_type = authorization = None
    for name, value in headers:  # the first of each, as Starlette's Headers.get
        if name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"authorization" and authorization is None:
            authorization = value
    if content_type != b"application/json" or authorization is None:
        return None
    scheme, _, presented = authorization.decode("latin-1").partition(" ")  # as HTTPBearer reads it
    if scheme.lower() != "bearer" or not presented:
        return None
    api_key = cached_api_key(presented)
    if api_key is None:
        return None
    try:
        fields = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict):
        return None
    community = fields.get("community")
    # exactly str (StrictStr); channel defaults to "web"; community None or ≤ 32 characters; other keys ignored
    if (type(fields.get("sender_id")) is not str or type(fields.get("text")) is not str
            or type(fields.get("channel", "web")) is not str
            or not (community is None or (type(community) is str and len(community) <= 32))):
        return None
    return api_key, fields


class ChatRoute(APIRoute):
    """``POST /api/chat`` with a shorter way in for the common request. A request :func:`plain_request` accepts
    goes straight to :func:`answer`, without FastAPI's dependency solving, body model and Request objects (about a
    third of the event loop's work per turn, docs/figures/2026-12-07-request-path.md); every other request (no or
    an unverified key, a body to validate or refuse) goes the ordinary way, the body handed on as it was read. The
    route, its OpenAPI entry and every answer are the same either way; errors raised by :func:`answer` reach the
    app's exception handlers as the ordinary route's do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ordinary = self.app
        self.app = self.shortcut

    async def shortcut(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: the ordinary way deals with it
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        plain = plain_request(scope["headers"], body) if messages[-1]["type"] == "http.request" else None
        if plain is None:
            await self.ordinary(scope, _replay(messages, receive), send)
            return
        api_key, fields = plain
        content = await answer(scope["app"].state.services, api_key, fields["sender_id"], fields["text"],
                               fields.get("channel", "web"), fields.get("community"))
        await Response(content, media_type="application/json")(scope, receive, send)


def _replay(messages: List[Dict[str, Any]], receive: Any) -> Any:
    """``receive`` that hands out the messages already read, then the server's own."""
    pending = list(messages)

    async def replayed() -> Dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replayed


router.add_api_route("/chat", chat, methods=["POST"], response_model=ChatResponse, route_class_override=ChatRoute,
                     summary="Send one resident message, get the assistant's replies")
router.add_api_route("/chat/messages", chat_messages, methods=["GET"], response_model=ChatMessagesResponse,
                     summary="A resident's messages after a given id: agents' replies and news sent later")

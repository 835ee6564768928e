"""The resident web widget channel: the page, its signed identity cookie, history, WebSocket, REST fallback,
photo upload, and the one-script-tag embed."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Dict, List, Literal, Optional, Union

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field, StrictStr, ValidationError
from sqlalchemy.exc import IntegrityError

from bot.access import limits
from bot.access.auth import (RESIDENT_COOKIE, RESIDENT_MAX_AGE, WIDGET_SUBPROTOCOL, new_resident_id,
                             read_community_link, sign_resident)
from bot.api.deps import (ClientIp, OptionalIdentity, OptionalResident, ResidentCommunity, ServicesDep, SettingsDep,
                          client_ip)
from bot.api.uploads import MAX_PHOTOS, UPLOAD_HEADERS, UPLOAD_NAME, UPLOAD_TYPES, checked_photos, receive_photo
from bot.conversation.engine import InputError
from bot.core.errors import InvalidFrame, NoWidgetSession, TooManyIdentities, UploadNotFound, WuyeError
from bot.core.settings import STATIC_DIR
from bot.handoffs import handoff as handoffs
from bot.realtime import live
from bot.storage import retention
from bot.storage.models import ChatIdentity, Conversation

router = APIRouter(tags=["web widget"])
CHANNEL = "web"


class WidgetMessage(BaseModel):
    """The REST fallback's body (and, with ``type``, the WebSocket's message frame): text and photo references only."""

    text: StrictStr = Field("", max_length=5000)
    photos: List[StrictStr] = Field(default_factory=list, max_items=MAX_PHOTOS)
    # the page's own id for the message (its offline queue): a resend with the same id is stored once
    client_id: Optional[StrictStr] = Field(None, min_length=1, max_length=64, regex=r"^[A-Za-z0-9_.:-]+$")


class MessageFrame(WidgetMessage):
    type: Literal["message"]


class PingFrame(BaseModel):
    type: Literal["ping"]


FRAMES = {"ping": PingFrame, "message": MessageFrame}


def parse_frame(raw: Dict[str, Any]) -> Union[PingFrame, MessageFrame]:
    """A WebSocket frame as one of the frames the widget sends; anything else is ``InvalidFrame``."""
    if raw.get("text") is None:
        raise InvalidFrame("消息格式不正确：只接受 JSON 文本帧")
    try:
        data = json.loads(raw["text"])
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise InvalidFrame("消息格式不正确：不是有效的 JSON") from exc
    model = FRAMES.get(data.get("type")) if isinstance(data, dict) and isinstance(data.get("type"), str) else None
    if model is None:
        raise InvalidFrame("消息格式不正确：type 必须是 message 或 ping")
    try:
        return model.parse_obj(data)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        raise InvalidFrame("消息格式不正确：" + "、".join(fields) + " 无效") from exc


def _frame_client_id(raw: Dict[str, Any]) -> Optional[str]:
    """The client id of a refused frame, when it has a readable one (so the page knows which message failed)."""
    try:
        value = json.loads(raw.get("text") or "").get("client_id")
    except (ValueError, RecursionError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) <= 64 else None


def _error_frame(exc: WuyeError, client_id: Optional[str]) -> Dict[str, Any]:
    """A typed error frame; it names the client id of the message it refuses when the page gave one."""
    frame = {"type": "error", "code": exc.code, "detail": exc.message}
    return {**frame, "client_id": client_id} if client_id else frame


def current_resident(sender: OptionalResident) -> str:
    """The widget's resident id; without a valid signed cookie the page has to start a new session."""
    if sender is None:
        raise NoWidgetSession()
    return sender


Resident = Annotated[str, Depends(current_resident)]


def conversation_of(session, sender_id: str) -> Optional[Conversation]:
    return live.conversation_of(session, CHANNEL, sender_id)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def widget_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.html", media_type="text/html")


@router.get("/embed.js", include_in_schema=False)
def embed_script() -> FileResponse:
    return FileResponse(STATIC_DIR / "embed.js", media_type="application/javascript")


@router.post("/api/widget/session", summary="Start (or resume) the widget's signed resident identity",
             responses={429: {"description": "too many new identities from this address"}})
def session_start(response: Response, settings: SettingsDep, identity: OptionalIdentity, services: ServicesDep,
                  ip: ClientIp, c: Annotated[Optional[str], Query(max_length=200, description=(
                      "the signed 小区 link the page was opened with (`wuye community-link ID`)"))] = None) -> Dict[str, Any]:
    resident, community = identity if identity else (None, None)
    if resident is None and ip:  # a new identity is a fresh sender for every per-sender limit: counted per address
        _take_identity(services, ip)
    link = "none"
    if c:  # a link names the 小区 (the latest one opened wins for a resident not bound yet)
        linked = read_community_link(settings.secret_key, c)
        known = {x.id: x for x in services.knowledge.current.communities}
        # a retired 小区's link starts nobody in it (its residents of before keep their conversations)
        link = "invalid" if linked not in known else "retired" if known[linked].retired else "valid"
        community = linked if link == "valid" else community
    sender = resident or new_resident_id()
    token = sign_resident(settings.secret_key, sender, community)
    response.set_cookie(RESIDENT_COOKIE, token, max_age=RESIDENT_MAX_AGE, httponly=True, samesite="lax",
                        secure=settings.secure_cookies)
    # the same identity for a page that cannot use the cookie (embedded on another site): it sends it back itself
    return {"ok": True, "token": token, "community": community, "community_link": link}


def _identity(session, sender: str) -> Optional[ChatIdentity]:
    return session.query(ChatIdentity).filter_by(channel=CHANNEL, sender_id=sender).one_or_none()


def _privacy(services, session, sender: str) -> Dict[str, Any]:
    """The privacy notice's state and what it tells the resident: the retention periods are the settings' own, so
    the notice never promises other periods than bot/storage/retention.py applies."""
    identity = _identity(session, sender)
    days = {p["kind"]: p["days"] for p in retention.periods(services.settings)}
    return {"accepted": bool(identity and identity.privacy_accepted_at), "messages_days": days["messages"],
            "phones_days": days["phones"], "photos_days": days["photos"]}


def _history(services, sender: str) -> Dict[str, Any]:
    with services.db.session() as session:
        privacy = _privacy(services, session, sender)
        conversation = conversation_of(session, sender)
        if conversation is None:
            return {"conversation_id": None, "status": "bot", "agent": None, "handoff": None, "messages": [],
                    "privacy": privacy}
        data = live.conversation_json(session, conversation.id)
        waiting = handoffs.waiting_state(session, conversation.id)
    messages = [m for m in data["messages"] if m["sender"] != "note"]  # private notes never reach residents
    return {"conversation_id": data["id"], "status": data["status"], "agent": data["assignee"], "handoff": waiting,
            "messages": messages, "privacy": privacy}


@router.get("/api/widget/history")
def history(sender: Resident, services: ServicesDep) -> Dict[str, Any]:
    return _history(services, sender)


@router.post("/api/widget/privacy", summary="The resident accepts the widget's privacy notice (kept on their identity)")
def accept_privacy(sender: Resident, services: ServicesDep) -> Dict[str, Any]:
    # The widget sends nothing until this has answered: the identity row is made here when the resident has none
    # yet, and the first acceptance's time is kept (a second call from another tab changes nothing).
    now = services.clock()
    with services.db.session() as session:
        identity = _identity(session, sender)
        if identity is None:
            try:
                with session.begin_nested():  # the first message from another tab may create it at the same time
                    identity = ChatIdentity(channel=CHANNEL, sender_id=sender, created_at=now)
                    session.add(identity)
            except IntegrityError:
                identity = _identity(session, sender)
        if identity.privacy_accepted_at is None:
            identity.privacy_accepted_at = now
        accepted = identity.privacy_accepted_at
    return {"ok": True, "accepted_at": accepted.isoformat()}


@router.post("/api/widget/messages", summary="REST fallback when WebSockets are blocked")
async def post_message(body: WidgetMessage, sender: Resident, services: ServicesDep, ip: ClientIp,
                       community: ResidentCommunity) -> Dict[str, Any]:
    photos = checked_photos(services.settings, body.photos, sender)
    result = await live.run_turn(services, CHANNEL, sender, body.text, photos, client_id=body.client_id, client_ip=ip,
                                 community_id=community)
    return {**result, "client_id": body.client_id} if body.client_id else result


@router.post("/api/widget/upload", summary="Upload a repair photo (JPEG/PNG/WebP/GIF; stored re-encoded as PNG or JPEG)")
async def upload(sender: Resident, services: ServicesDep, ip: ClientIp, file: UploadFile = File(...)) -> Dict[str, str]:
    return {"url": await receive_photo(services, sender, ip, file)}


def _take_identity(services, ip: str) -> None:
    bucket, limit, now = f"identity:ip:{ip}", services.engine.limits.identities_per_ip, services.clock()
    with services.db.session() as session:
        if not limits.take(session, bucket, limit, now):
            raise TooManyIdentities(seconds=limits.seconds_until_free(session, bucket, limit, now))


@router.get("/uploads/{name}", include_in_schema=False)
def uploaded(name: str, settings: SettingsDep) -> FileResponse:
    if not UPLOAD_NAME.fullmatch(name):
        raise UploadNotFound()
    path = settings.upload_dir / name
    if not path.is_file():
        raise UploadNotFound()
    return FileResponse(path, media_type=UPLOAD_TYPES[name.rsplit(".", 1)[1]], headers=UPLOAD_HEADERS)


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, services: ServicesDep, sender: OptionalResident,
                      community: ResidentCommunity) -> None:
    if sender is None:
        await websocket.close(code=4401)
        return
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=WIDGET_SUBPROTOCOL if WIDGET_SUBPROTOCOL in offered else None)
    subscription: Dict[str, Any] = {}

    async def forward(queue: asyncio.Queue) -> None:
        while True:
            event = await queue.get()
            if event.get("sender") != "note":
                await websocket.send_json(event)

    def watch(conversation_id: Optional[int]) -> None:
        if conversation_id is None or subscription.get("id") == conversation_id:
            return
        if subscription:
            subscription["task"].cancel()
            services.hub.unsubscribe(f"conv:{subscription['id']}", subscription["queue"])
        queue = services.hub.subscribe(f"conv:{conversation_id}")
        subscription.update(id=conversation_id, queue=queue, task=asyncio.create_task(forward(queue)))

    # A socket opened before the resident's first message has no conversation to follow yet: the resident's own
    # topic says when one starts (a message sent over REST, or through another instance), and the socket then
    # follows it and sends the history so far.
    own_topic = live.resident_topic(CHANNEL, sender)
    own_queue = services.hub.subscribe(own_topic)
    await services.hub.ready()  # live before the history is read (with Redis: once Redis confirmed it)

    async def follow() -> None:
        while True:
            event = await own_queue.get()
            if event.get("type") == "conversation" and subscription.get("id") != event["conversation_id"]:
                watch(event["conversation_id"])
                await websocket.send_json({"type": "history", **_history(services, sender)})

    follower = asyncio.create_task(follow())
    try:
        state = _history(services, sender)
        watch(state["conversation_id"])
        await websocket.send_json({"type": "history", **state})
        while True:
            raw = await websocket.receive()
            if raw["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(raw.get("code", 1000))
            try:  # a bad frame gets a typed error frame and the socket stays open
                frame = parse_frame(raw)
                if isinstance(frame, PingFrame):
                    await websocket.send_json({"type": "pong"})
                    continue
                client_id = frame.client_id
                text, photos = frame.text, checked_photos(services.settings, frame.photos, sender)
            except WuyeError as exc:
                await websocket.send_json(_error_frame(exc, _frame_client_id(raw)))
                continue
            await websocket.send_json({"type": "typing", "on": True})
            try:  # watch() subscribes before the turn is published, so a first message reaches this socket too
                result = await live.run_turn(services, CHANNEL, sender, text, photos, before_publish=watch,
                                             client_id=client_id, client_ip=client_ip(websocket, services.settings),
                                             community_id=community)
                if client_id:  # the page's queue drops the message and sends its next one
                    await websocket.send_json({"type": "ack", "client_id": client_id,
                                               "duplicate": bool(result.get("duplicate"))})
            except InputError as exc:
                await websocket.send_json(_error_frame(exc, client_id))
            await websocket.send_json({"type": "typing", "on": False})
    except (WebSocketDisconnect, RuntimeError, ValueError):
        pass
    finally:
        follower.cancel()
        services.hub.unsubscribe(own_topic, own_queue)
        if subscription:
            subscription["task"].cancel()
            services.hub.unsubscribe(f"conv:{subscription['id']}", subscription["queue"])

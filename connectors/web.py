"""The resident web widget channel: the page, its signed identity cookie, history, WebSocket, REST fallback,
photo upload, and the one-script-tag embed."""
from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Dict, List, Optional

from fastapi import APIRouter, Depends, File, Response, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from actions import handoff as handoffs
from bot import live
from bot.api.deps import OptionalResident, ServicesDep, SettingsDep
from bot.auth import RESIDENT_COOKIE, RESIDENT_MAX_AGE, new_resident_id, sign_resident
from bot.engine import InputError
from bot.errors import NoWidgetSession, PhotoTooLarge, UnsupportedImage, UploadNotFound
from bot.settings import STATIC_DIR
from bot.storage.models import Conversation

router = APIRouter(tags=["web widget"])
CHANNEL = "web"
IMAGE_TYPES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png", b"RIFF": ".webp", b"GIF8": ".gif"}


class WidgetMessage(BaseModel):
    text: str = Field("", max_length=5000)
    photos: List[str] = Field(default_factory=list, max_items=6)


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


@router.post("/api/widget/session", summary="Start (or resume) the widget's signed resident identity")
def session_start(response: Response, settings: SettingsDep, resident: OptionalResident) -> Dict[str, Any]:
    sender = resident or new_resident_id()
    response.set_cookie(RESIDENT_COOKIE, sign_resident(settings.secret_key, sender), max_age=RESIDENT_MAX_AGE,
                        httponly=True, samesite="lax", secure=settings.secure_cookies)
    return {"ok": True}


def _history(services, sender: str) -> Dict[str, Any]:
    with services.db.session() as session:
        conversation = conversation_of(session, sender)
        if conversation is None:
            return {"conversation_id": None, "status": "bot", "agent": None, "handoff": None, "messages": []}
        data = live.conversation_json(session, conversation.id)
        waiting = handoffs.waiting_state(session, conversation.id)
    messages = [m for m in data["messages"] if m["sender"] != "note"]  # private notes never reach residents
    return {"conversation_id": data["id"], "status": data["status"], "agent": data["assignee"], "handoff": waiting,
            "messages": messages}


@router.get("/api/widget/history")
def history(sender: Resident, services: ServicesDep) -> Dict[str, Any]:
    return _history(services, sender)


@router.post("/api/widget/messages", summary="REST fallback when WebSockets are blocked")
async def post_message(body: WidgetMessage, sender: Resident, services: ServicesDep) -> Dict[str, Any]:
    photos = [p for p in body.photos if p.startswith("/uploads/")]
    return await live.run_turn(services, CHANNEL, sender, body.text, photos)


@router.post("/api/widget/upload", summary="Upload a repair photo (JPEG/PNG/WebP/GIF)",
             dependencies=[Depends(current_resident)])
async def upload(settings: SettingsDep, file: UploadFile = File(...)) -> Dict[str, str]:
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PhotoTooLarge(max_mb=f"{round(settings.max_upload_bytes / 1024 / 1024, 1):g}")
    suffix = next((ext for magic, ext in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if suffix is None or (suffix == ".webp" and data[8:12] != b"WEBP"):
        raise UnsupportedImage()
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex + suffix
    (settings.upload_dir / name).write_bytes(data)
    return {"url": f"/uploads/{name}"}


@router.get("/uploads/{name}", include_in_schema=False)
def uploaded(name: str, settings: SettingsDep) -> FileResponse:
    if "/" in name or ".." in name:
        raise UploadNotFound()
    path = settings.upload_dir / name
    if not path.is_file():
        raise UploadNotFound()
    return FileResponse(path)


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, services: ServicesDep, sender: OptionalResident) -> None:
    if sender is None:
        await websocket.close(code=4401)
        return
    await websocket.accept()
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

    try:
        state = _history(services, sender)
        watch(state["conversation_id"])
        await websocket.send_json({"type": "history", **state})
        while True:
            data = await websocket.receive_json()
            if data.get("type") == "ping":
                await websocket.send_json({"type": "pong"})
                continue
            if data.get("type") != "message":
                continue
            text = str(data.get("text") or "")
            photos = [p for p in (data.get("photos") or []) if isinstance(p, str) and p.startswith("/uploads/")][:6]
            await websocket.send_json({"type": "typing", "on": True})
            try:  # watch() subscribes before the turn is published, so a first message reaches this socket too
                await live.run_turn(services, CHANNEL, sender, text, photos, before_publish=watch)
            except InputError as exc:
                await websocket.send_json({"type": "error", "detail": exc.message, "code": exc.code})
            await websocket.send_json({"type": "typing", "on": False})
    except (WebSocketDisconnect, RuntimeError, ValueError):
        pass
    finally:
        if subscription:
            subscription["task"].cancel()
            services.hub.unsubscribe(f"conv:{subscription['id']}", subscription["queue"])

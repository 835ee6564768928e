"""The WeChat Official Account (公众号) channel.

GET URL verification; POST XML messages (text, image, voice with its Recognition text, subscribe /
unsubscribe and menu CLICK events); the signature checked on every request; plain and safe (AES) mode;
a passive reply inside WeChat's 5-second limit; anything later (slow turns, agent replies) pushed through the
customer-service message API, whose base URL is configurable.

Hardening: with safe mode configured, plain (unencrypted) pushes are refused; a timestamp more than
TIMESTAMP_WINDOW seconds from the server's clock is refused, and so is a (timestamp, nonce) already used — kept in
``seen_messages`` (channel "wechat-nonce"), so a replay is refused after a restart and by every instance (the
unique constraint decides). A duplicate MsgId (or event) is answered "success" without being processed, also
remembered in ``seen_messages`` (channel "wechat") with a small in-memory front. Every value written into reply
XML is escaped (:func:`connectors.wechat_crypto.cdata`), so an openid such as ``o]]><x>`` stays a value.
"""
from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import logging
import re
import time
from typing import Annotated, Any, Dict, List, Optional

import httpx
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.api.deps import ServicesDep
from bot.conversation.engine import InputError
from bot.core.errors import (BadSignature, MalformedXml, PlainMessageRefused, ReplayedNonce, SafeModeNotConfigured,
                             StaleTimestamp)
from bot.realtime import live
from bot.storage.models import Conversation, Message, SeenMessage
from bot.turn.context import PHOTO_ONLY
from connectors.wechat_crypto import WeChatCrypto, WeChatCryptoError, cdata, check_signature

logger = logging.getLogger(__name__)
router = APIRouter(tags=["wechat"])
CHANNEL = "wechat"
NONCE_CHANNEL = "wechat-nonce"  # seen_messages.channel of used (timestamp, nonce) pairs
TIMESTAMP_WINDOW = 300  # seconds either side of the server's clock
NONCE_KEEP = dt.timedelta(hours=1)  # > 2 × the window: an older pair is refused by its timestamp anyway
MESSAGE_KEEP = dt.timedelta(days=2)  # WeChat retries a message within seconds
PRUNE_EVERY = 600.0  # seconds
MAX_KEY = 160  # seen_messages.key
MAX_BODY = 64 * 1024
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # an OpenID as WeChat issues them (28 characters in practice)
WECHAT_PICTURE = re.compile(r"https?://mmbiz\.q(pic|logo)\.cn/[A-Za-z0-9_\-./?=&%]{1,900}")  # PicUrl: WeChat's image host
PASSIVE_DEADLINE = 4.0  # seconds: WeChat waits 5 s for the passive reply
WELCOME = "欢迎关注！我是物业在线客服，可以帮您查询物业费、报修、办理停车和解答常见问题，直接发消息给我就好。"


def parse_xml(body: bytes) -> Dict[str, str]:
    if len(body) > MAX_BODY:
        raise ValueError("body too large")
    try:
        root = ElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ElementTree.ParseError) as exc:
        raise ValueError(f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise ValueError("root element must be <xml>")
    return {child.tag: (child.text or "") for child in root}


def text_reply(to_user: str, from_user: str, content: str, now: Optional[int] = None) -> str:
    """The passive text reply; every value escaped (the user names are echoed from the request)."""
    return (f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(now or time.time())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
            f"<Content>{cdata(content)}</Content></xml>")


def message_key(message: Dict[str, str]) -> str:
    """What identifies a push for de-duplication: its MsgId, or for events sender + CreateTime + event."""
    key = message.get("MsgId") or f"{message.get('FromUserName')}:{message.get('CreateTime')}:{message.get('Event')}"
    return key if len(key) <= MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def render_replies(replies: List[Dict[str, Any]]) -> str:
    parts = []
    for reply in replies:
        text = reply["text"]
        if reply.get("buttons"):
            text += "\n" + "\n".join(f"· {b['title']}" for b in reply["buttons"] if not b["payload"].startswith("/handoff"))
        parts.append(text)
    return "\n\n".join(parts)


class WeChatChannel:
    """Replay and duplicate checks, the turn with its deadline, and the customer-service API client."""

    def __init__(self, services) -> None:
        self.services = services
        settings = services.settings
        self.token = settings.wechat_token
        self.crypto = (WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
                       if settings.wechat_aes_key else None)
        self.client = httpx.AsyncClient(base_url=settings.wechat_api_base, timeout=10.0)
        self._seen: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self._access_token: Optional[str] = None
        self._token_expires = 0.0
        self._background: set = set()
        self._pruned = 0.0

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.client.aclose()

    def _record(self, channel: str, key: str) -> bool:
        """Store (channel, key) in seen_messages; False when it is already there (from any instance, any time)."""
        with self.services.db.session() as session:
            try:
                with session.begin_nested():
                    session.add(SeenMessage(channel=channel, key=key))
            except IntegrityError:
                return False
            if time.monotonic() - self._pruned > PRUNE_EVERY:
                self._pruned = time.monotonic()
                now = dt.datetime.utcnow()
                for name, keep in ((NONCE_CHANNEL, NONCE_KEEP), (CHANNEL, MESSAGE_KEEP)):
                    session.execute(delete(SeenMessage).where(SeenMessage.channel == name,
                                                              SeenMessage.created_at < now - keep))
        return True

    async def use_nonce(self, timestamp: str, nonce: str) -> None:
        """Raises ReplayedNonce when this (timestamp, nonce) was used before."""
        if not await asyncio.to_thread(self._record, NONCE_CHANNEL, f"{timestamp}:{nonce}"):
            raise ReplayedNonce()

    async def first_time(self, key: str) -> bool:
        """True the first time a message key is seen (memory first, then the database, which all instances share)."""
        if key in self._seen:
            return False
        fresh = await asyncio.to_thread(self._record, CHANNEL, key)
        self._seen[key] = None
        while len(self._seen) > 10000:
            self._seen.popitem(last=False)
        return fresh

    async def access_token(self) -> str:
        if self._access_token and time.time() < self._token_expires - 60:
            return self._access_token
        settings = self.services.settings
        r = await self.client.get("/cgi-bin/token", params={"grant_type": "client_credential",
                                                            "appid": settings.wechat_app_id,
                                                            "secret": settings.wechat_app_secret})
        data = r.json()
        if "access_token" not in data:
            raise RuntimeError(f"WeChat token error: {data}")
        self._access_token, self._token_expires = data["access_token"], time.time() + int(data.get("expires_in", 7200))
        return self._access_token

    async def send_text(self, openid: str, content: str) -> None:
        token = await self.access_token()
        r = await self.client.post("/cgi-bin/message/custom/send", params={"access_token": token},
                                   json={"touser": openid, "msgtype": "text", "text": {"content": content}})
        data = r.json()
        if data.get("errcode", 0) != 0:
            raise RuntimeError(f"WeChat send error: {data}")

    async def push_new_messages(self, conversation_id: int, after_id: int) -> None:
        """Push agent/bot messages newer than ``after_id`` of a WeChat conversation to the resident."""
        with self.services.db.session() as session:
            conversation = session.get(Conversation, conversation_id)
            openid = conversation.identity.sender_id
            texts = [m.text for m in session.scalars(select(Message).where(
                Message.conversation_id == conversation_id, Message.id > after_id,
                Message.sender.in_(("agent", "bot", "system"))).order_by(Message.id))]
        for text in texts:
            try:
                await self.send_text(openid, text)
            except Exception:  # noqa: BLE001 - the message is stored; the agent console shows it anyway
                logger.exception("could not push a message to WeChat user %s", openid)

    async def handle(self, message: Dict[str, str]) -> str:
        """The passive reply text for one incoming message ('' for none)."""
        openid = message.get("FromUserName", "")
        kind = message.get("MsgType", "")
        if kind == "event":
            event = message.get("Event", "").lower()
            if event == "subscribe":
                return WELCOME
            if event == "click":
                key = message.get("EventKey", "")
                text = "/handoff" if key.upper() == "HUMAN" else (f"/faq {key[4:]}" if key.upper().startswith("FAQ_") else key)
            else:
                return ""
        elif kind == "text":
            text = message.get("Content", "")
        elif kind == "voice":
            text = message.get("Recognition", "")
            if not text.strip():
                return "抱歉，没有听清您的语音，请再说一遍或直接输入文字。"
        elif kind == "image":
            picture = message.get("PicUrl", "")
            if not WECHAT_PICTURE.fullmatch(picture):  # shown on the desk as <img src>: WeChat's own image host only
                return "抱歉，这张图片无法读取，请重新发送。"
            return await self._with_deadline(openid, PHOTO_ONLY, [picture])
        else:
            return "目前只支持文字、语音和图片消息。"
        return await self._with_deadline(openid, text, [])

    async def _with_deadline(self, openid: str, text: str, photos: List[str]) -> str:
        task = asyncio.create_task(live.run_turn(self.services, CHANNEL, openid, text, photos))
        try:
            result = await asyncio.wait_for(asyncio.shield(task), PASSIVE_DEADLINE)
        except asyncio.TimeoutError:
            self._background.add(task)
            task.add_done_callback(lambda t: self._late(openid, t))
            return ""
        except InputError as exc:
            return f"抱歉，{exc.message}"
        return render_replies(result["replies"]) if result else ""

    def _late(self, openid: str, task: asyncio.Task) -> None:
        self._background.discard(task)
        if task.cancelled() or task.exception() is not None:
            return
        content = render_replies(task.result()["replies"])
        if content:
            pending = asyncio.get_running_loop().create_task(self.send_text(openid, content))
            self._background.add(pending)
            pending.add_done_callback(self._background.discard)


def get_channel(services: ServicesDep) -> WeChatChannel:
    return services.wechat


ChannelDep = Annotated[WeChatChannel, Depends(get_channel)]


def _check_plain(token: str, params) -> None:
    if not token or not check_signature(params.get("signature", ""), token, params.get("timestamp", ""),
                                        params.get("nonce", "")):
        raise BadSignature()
    nonce = params.get("nonce", "")
    if not nonce or len(nonce) > 128:
        raise BadSignature()


def _check_timestamp(params, now: Optional[float] = None) -> None:
    """Refuse a timestamp more than TIMESTAMP_WINDOW seconds from the server's wall clock (UTC epoch seconds)."""
    timestamp = params.get("timestamp", "")
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise StaleTimestamp()
    if abs(int(timestamp) - (time.time() if now is None else now)) > TIMESTAMP_WINDOW:
        raise StaleTimestamp()


@router.get("/wechat", summary="WeChat URL verification (echoes echostr when the signature is right)")
async def verify(request: Request, channel: ChannelDep) -> Response:
    _check_plain(channel.token, request.query_params)
    _check_timestamp(request.query_params)
    return Response(request.query_params.get("echostr", ""), media_type="text/plain")


@router.post("/wechat", summary="WeChat message push (plain or AES safe mode)")
async def receive(request: Request, channel: ChannelDep) -> Response:
    params = request.query_params
    _check_plain(channel.token, params)
    _check_timestamp(params)
    safe = params.get("encrypt_type") == "aes"
    if safe and channel.crypto is None:
        raise SafeModeNotConfigured()
    if not safe and channel.crypto is not None:  # safe mode configured: only encrypted pushes are genuine
        raise PlainMessageRefused()
    body = await request.body()
    try:
        outer = parse_xml(body)
        if safe:
            inner = channel.crypto.verify_and_decrypt(params.get("msg_signature", ""), params.get("timestamp", ""),
                                                      params.get("nonce", ""), outer.get("Encrypt", ""))
            message = parse_xml(inner.encode())
        else:
            message = outer
    except WeChatCryptoError as exc:  # what exactly failed goes to the log, never to the sender
        logger.warning("refused a WeChat push: %s", exc)
        raise BadSignature() from exc
    except ValueError as exc:
        logger.warning("refused a WeChat push: %s", exc)
        raise MalformedXml() from exc
    if not OPENID.fullmatch(message.get("FromUserName", "")):  # signed, but names nobody: no identity "" to speak as
        raise MalformedXml()
    await channel.use_nonce(params["timestamp"], params["nonce"])  # only once the whole push checked out
    if not await channel.first_time(message_key(message)):
        return Response("success", media_type="text/plain")
    content = await channel.handle(message)
    if not content:
        return Response("success", media_type="text/plain")
    reply = text_reply(message.get("FromUserName", ""), message.get("ToUserName", ""), content)
    if safe:
        reply = channel.crypto.encrypt_reply(reply, params.get("timestamp", str(int(time.time()))),
                                             params.get("nonce", "0"))
    return Response(reply, media_type="application/xml")

"""What every HTTP request must be before any route reads it: a body no larger than its route takes — a declared
Content-Length past the limit is refused before anything is read, a body without one (chunked) is counted while it
is read (a 100 MB JSON body or a 300 MB upload is cut off at the limit, never buffered or spooled whole) — and
a query string of readable characters (NUL or other control characters in ``?q=`` would reach the database, where
PostgreSQL refuses them with an error: 422 in Chinese here instead).

A pure ASGI middleware: it sees the body as the server hands it over, before Starlette or FastAPI buffer it.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, Tuple
from urllib.parse import unquote_to_bytes

from bot.core.errors import INVALID_CHARS

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024  # a JSON request: the largest is an admin's FAQ entry, far below this
UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and boundaries around an upload's bytes

TOO_LARGE = {"detail": "请求太大了", "code": "too_large"}
BAD_QUERY = {"detail": "请求参数里有无法识别的字符（控制字符或损坏的文字），请删掉后重试", "code": "invalid_characters"}


class _BodyTooLarge(Exception):
    pass


def query_is_readable(raw: bytes) -> bool:
    """The query string, percent-decoded, is UTF-8 without the characters text fields refuse (bot/core/errors.py: C0 but
    tab and line breaks, DEL, C1); '+' stays as it is (harmless)."""
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not INVALID_CHARS.search(decoded)


class EdgeChecks:
    def __init__(self, app: Any, max_body: int = DEFAULT_MAX_BODY,
                 upload_paths: Dict[str, Tuple[int, Dict[str, str]]] | None = None) -> None:
        self.app = app
        self.max_body = max_body
        # path → its own body limit and refusal (uploads: the photo limit + overhead, "图片太大了…")
        self.upload_paths = upload_paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string")
        if query and not query_is_readable(query):
            await _answer(send, 422, BAD_QUERY)
            return
        limit, refusal = self.upload_paths.get(scope["path"], (self.max_body, TOO_LARGE))
        declared, chunked = _framing(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, refusal)
            return
        if declared is not None and not chunked:
            # the server hands over no more than the Content-Length it read (HTTP/1.1 framing): nothing to count
            await self.app(scope, receive, send)
            return
        received, started, refused = 0, False, False

        async def counted_receive() -> dict:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if refused:
                return  # whatever the route made of the cut-off body, the answer is 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if refused and not started:
            await _answer(send, 413, refusal)


def _framing(scope: Scope) -> Tuple[int | None, bool]:
    """The declared Content-Length (None: none, or unreadable) and whether a Transfer-Encoding was sent."""
    length: int | None = None
    seen = chunked = False
    for key, value in scope.get("headers") or ():
        if key == b"content-length" and not seen:
            seen = True
            try:
                length = int(value)
            except ValueError:
                pass
        elif key == b"transfer-encoding":
            chunked = True
    return (length if length is not None and length >= 0 else None), chunked


async def _answer(send: Send, status: int, body: Dict[str, str]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})

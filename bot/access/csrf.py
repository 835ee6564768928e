"""Cross-site request forgery and framing: what a page of another origin may make a signed-in browser do.

Cookies are sent by the browser whatever page asks, and a page on another *port* of the same host is the same
site, so ``SameSite`` does not stop it. Every state-changing request (any method but GET/HEAD/OPTIONS) and every
WebSocket handshake that carries one of our cookies must therefore come from one of our origins: its ``Origin``
header (or, where a browser sends none, ``Referer``) must name this server's own host and port, or an origin
listed in ``WUYE_ALLOWED_ORIGINS``. A request with neither header is not from a browser page (curl, an
integration, a test client) and passes: browsers always send ``Origin`` on cross-origin POSTs and WebSocket
handshakes. Requests without our cookies (the REST channel's bearer keys, WeChat's signed pushes) are not
affected: a forged request without the victim's cookie has no power.

Staff pages must not be framed by anyone (``frame-ancestors 'none'``, X-Frame-Options DENY); the widget page is
framed on purpose by the embed and is left alone.

A pure ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: the latter does not see WebSockets.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, FrozenSet, Iterable, Optional
from urllib.parse import urlsplit

from bot.access.auth import RESIDENT_COOKIE, STAFF_COOKIE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAFF_PAGES = frozenset({"/agent", "/admin", "/desk"})
FRAME_HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'")]
REFUSAL = {"detail": "请求来源不被允许：请从本系统自己的页面操作", "code": "cross_origin_refused"}
_COOKIE_NAMES = (STAFF_COOKIE.encode(), RESIDENT_COOKIE.encode())

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


def _netloc(origin: str) -> Optional[str]:
    """``host:port`` of an origin or URL (default ports made explicit), lower-case; None if it is no URL."""
    try:
        parts = urlsplit(origin.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in ("http", "https", "ws", "wss"):
        return None
    if port is None:
        port = 443 if parts.scheme in ("https", "wss") else 80
    return f"{host.lower()}:{port}"


def _own_netloc(scope: Scope) -> Optional[str]:
    """The host and port the browser addressed (the Host header, as nginx passes it on)."""
    host = _header(scope, b"host")
    if not host:
        return None
    secure = scope.get("scheme") in ("https", "wss") or _header(scope, b"x-forwarded-proto") == "https"
    return _netloc(("https://" if secure else "http://") + host)


def _same_place(netloc: str, own: Optional[str]) -> bool:
    """Same host and port. The scheme is not compared, so 80 and 443 count as one: behind a TLS-terminating proxy
    the server may see http for an https page. Another port of the same host is another origin."""
    if own is None:
        return False
    (host, port), (own_host, own_port) = netloc.rsplit(":", 1), own.rsplit(":", 1)
    default = ("80", "443")
    return host == own_host and (port == own_port or (port in default and own_port in default))


class OriginCheck:
    def __init__(self, app: Any, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed: FrozenSet[str] = frozenset(n for n in (_netloc(o) for o in allowed_origins if o.strip()) if n)

    def origin_allowed(self, scope: Scope) -> bool:
        claimed = _header(scope, b"origin")
        if claimed is None or claimed == "null":
            referer = _header(scope, b"referer")
            if claimed is None and referer is None:
                return True  # not a browser page
            claimed = referer or "null"
        netloc = _netloc(claimed)
        if netloc is None:
            return False
        if netloc in self.allowed:
            return True
        return _same_place(netloc, _own_netloc(scope))

    @staticmethod
    def has_our_cookie(scope: Scope) -> bool:
        cookie = (_header(scope, b"cookie") or "").encode("latin-1")
        return any(name + b"=" in cookie for name in _COOKIE_NAMES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if (scope["method"] not in SAFE_METHODS and self.has_our_cookie(scope)
                    and not self.origin_allowed(scope)):
                await _refuse_http(send)
                return
            if scope["path"] in STAFF_PAGES:
                send = _with_frame_headers(send)
        elif kind == "websocket" and self.has_our_cookie(scope) and not self.origin_allowed(scope):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4403})  # before accept: the handshake gets a 403
            return
        await self.app(scope, receive, send)


async def _refuse_http(send: Send) -> None:
    body = json.dumps(REFUSAL, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _with_frame_headers(send: Send) -> Send:
    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": list(message.get("headers") or ()) + FRAME_HEADERS}
        await send(message)

    return wrapped

"""The bad-input corpus: every endpoint and frame type, each case with what it must answer.

People-facing APIs must refuse with a 4xx whose body has a Chinese ``detail`` and a ``code``; WeChat with 403 for
anything unsigned or stale and 400 for malformed XML; the widget WebSocket with an ``error`` frame (code + Chinese
detail) after which the same socket still answers a ping. Nothing bad may be stored (checked in the database at
the end)."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import httpx
import websockets

from tests.reliability.harness import (CJK, HTTP_TIMEOUT, WECHAT_AES_KEY, WECHAT_APP_ID, WECHAT_TOKEN, Ledger, Server,
                                       client, cookie_header, db_query, judge, raw_http, raw_json, resident, short,
                                       staff)

G = "bad input"

# strings every text field must refuse (value, expected code) — None: any clear 4xx
BAD_TEXTS: List[Tuple[str, Optional[str]]] = [
    ("\ud800", "invalid_characters"), ("坏\udfff字", "invalid_characters"), ("\udc00\ud800", "invalid_characters"),
    ("你好\x00", "invalid_characters"), ("\x00", "invalid_characters"), ("a\x07b", "invalid_characters"),
    ("\x1b[31m红色\x1b[0m", "invalid_characters"), ("删除\x7f", "invalid_characters"), ("\x85下一行", "invalid_characters"),
    ("", "empty_message"), ("   ", "empty_message"), ("\n\t ", "empty_message"), ("\u3000\u3000", "empty_message"),
    ("字" * 1001, "message_too_long"), ("x" * 200_000, None),
]
WRONG_TYPES: List[Any] = [5, 5.5, True, None, [], ["a"], {}, {"text": "a"}, 2**64]
WRONG_BODIES: List[Tuple[str, bytes, str]] = [  # (label, body, content-type)
    ("empty body", b"", "application/json"), ("null", b"null", "application/json"), ("[]", b"[]", "application/json"),
    ("string", b'"x"', "application/json"), ("number", b"42", "application/json"),
    ("truncated JSON", b'{"text": "a', "application/json"), ("not JSON", b"text=hello", "application/json"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', "application/json"),
    ("text/plain", b'{"text": "hi"}', "text/plain"), ("form", b"text=hi", "application/x-www-form-urlencoded"),
    ("xml", b"<text>hi</text>", "application/xml"), ("no content type", b'{"text": "hi"}', ""),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json"),
]


def post_raw(c: httpx.Client, path: str, body: bytes, ctype: str = "application/json", **kw: Any):
    headers = {"content-type": ctype} if ctype else {}
    headers.update(kw.pop("headers", {}))
    return lambda: c.post(path, content=body, headers=headers, **kw)


def text_field_cases(ledger: Ledger, endpoint: str, c_factory, body_for, extra_ok_statuses=()) -> None:
    """Bad strings, wrong types, bad bodies for one JSON endpoint whose ``text`` field is the message."""
    for value, code in BAD_TEXTS:
        c = c_factory()
        judge(ledger, G, f"POST {endpoint}", f"text={short(value)}",
              post_raw(c, endpoint, raw_json(body_for(value))), code=code)
    for value in WRONG_TYPES:
        c = c_factory()
        judge(ledger, G, f"POST {endpoint}", f"text of type {type(value).__name__}: {short(value)}",
              post_raw(c, endpoint, raw_json(body_for(value))), statuses=(422,))
    for label, body, ctype in WRONG_BODIES:
        c = c_factory()
        judge(ledger, G, f"POST {endpoint}", f"body: {label}", post_raw(c, endpoint, body, ctype),
              statuses=(400, 413, 415, 422), expect="no5xx" if label == "no content type" else "4xx")


def run_http(ledger: Ledger, server: Server, api_key: str) -> None:
    base = server.url
    # --- /api/parse (public) ---
    anon = client(base)
    text_field_cases(ledger, "/api/parse", lambda: anon, lambda v: {"text": v})
    judge(ledger, G, "POST /api/parse", "missing text", post_raw(anon, "/api/parse", b"{}"), statuses=(422,))

    # --- /api/chat (API key) ---
    auth = {"authorization": f"Bearer {api_key}"}
    keyed = client(base, headers=auth)
    text_field_cases(ledger, "/api/chat", lambda: keyed,
                     lambda v: {"sender_id": f"bad-{uuid.uuid4().hex[:8]}", "text": v})
    for field, values in {
        "sender_id": ["", "   ", "\ud800", "a\x00b", "x" * 101, "x" * 100_000, 5, None, ["a"], {"id": 1}, 2**63, -1],
        "channel": ["wechat", "", "\ud800", "WEB", "x" * 10_000, 5, None, ["web"]],
        "community": ["", "nowhere", "\x00", "\ud800", "x" * 33, "../../etc/passwd", "jinxiu' OR '1'='1", 5, ["jinxiu"]],
    }.items():
        for value in values:
            body = {"sender_id": f"bad-{uuid.uuid4().hex[:8]}", "text": "物业几点上班", "channel": "web", field: value}
            judge(ledger, G, "POST /api/chat", f"{field}={short(value)}",
                  post_raw(keyed, "/api/chat", raw_json(body)), statuses=(422,))
    for missing in ("sender_id", "text"):
        body = {"sender_id": "m1", "text": "你好"}
        body.pop(missing)
        judge(ledger, G, "POST /api/chat", f"missing {missing}", post_raw(keyed, "/api/chat", raw_json(body)),
              statuses=(422,))

    # --- widget REST fallback, session, history ---
    text_field_cases(ledger, "/api/widget/messages", lambda: resident(base), lambda v: {"text": v})
    for photos in (5, "abc", [None], [5], [{"a": 1}], ["x"] * 7, "/uploads/x.png", [""], ["\ud800"]):
        c = resident(base)
        judge(ledger, G, "POST /api/widget/messages", f"photos={short(photos)}",
              post_raw(c, "/api/widget/messages", raw_json({"text": "报修", "photos": photos})), statuses=(422,))
    for cookie in ("\x00", "a\x01b", "\xff\xfe"):
        judge(ledger, G, "GET /api/widget/history", f"cookie wuye_resident={short(cookie)} (raw HTTP)",
              lambda cookie=cookie: raw_http(server.port, b"GET", b"/api/widget/history",
                                             [(b"cookie", b"wuye_resident=" + cookie.encode("latin-1"))]),
              statuses=(400, 401), clear=False)  # refused by the HTTP server itself (400) or by the app (401)
    for cookie in ("", "x", "a" * 10_000, "wuye_resident", "é"):
        c = client(base)
        judge(ledger, G, "GET /api/widget/history", f"cookie wuye_resident={short(cookie)}",
              lambda c=c, cookie=cookie: c.get("/api/widget/history",
                                                headers={"cookie": f"wuye_resident={cookie}".encode("utf-8", "replace")}),
              statuses=(401,), code="no_widget_session")
    c = client(base)
    judge(ledger, G, "POST /api/widget/messages", "no session cookie",
          post_raw(c, "/api/widget/messages", raw_json({"text": "你好"})), statuses=(401,), code="no_widget_session")
    judge(ledger, G, "POST /api/widget/session", "garbage cookie (a new session is expected)",
          lambda: client(base).post("/api/widget/session", headers={"cookie": "wuye_resident=garbage"}), expect="2xx")

    # --- uploads ---
    c = resident(base)
    for label, files, statuses, code in [
        ("no file part", None, (422,), None),
        ("empty file", {"file": ("a.png", b"", "image/png")}, (415,), "unsupported_image"),
        ("text as png", {"file": ("a.png", b"hello world", "image/png")}, (415,), "unsupported_image"),
        ("html as jpg", {"file": ("a.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg")}, (415,), "unsupported_image"),
        ("svg with script", {"file": ("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                                       "image/svg+xml")}, (415,), "unsupported_image"),
        ("pdf", {"file": ("a.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "application/pdf")},
         (415,), "unsupported_image"),
        ("truncated PNG header", {"file": ("a.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png")}, (415,), "unsupported_image"),
        ("6 MB of zeros", {"file": ("big.png", b"\x00" * (6 * 1024 * 1024), "image/png")}, (413,), "photo_too_large"),
        ("PNG header claiming 100000x100000", {"file": ("bomb.png", png_header(100_000, 100_000), "image/png")},
         (413, 415), None),
        ("GIF header claiming 65535x65535", {"file": ("bomb.gif", b"GIF89a\xff\xff\xff\xff\x00\x00\x00;", "image/gif")},
         (413, 415), None),
        ("file name with traversal", {"file": ("../../../etc/passwd", b"root:x:0:0", "text/plain")}, (415,), "unsupported_image"),
    ]:
        send = (lambda: c.post("/api/widget/upload")) if files is None else (lambda files=files: c.post("/api/widget/upload", files=files))
        judge(ledger, G, "POST /api/widget/upload", label, send, statuses=statuses, code=code)
        if files is not None:
            c = resident(base)  # a fresh quota for each
    judge(ledger, G, "POST /api/widget/upload", "no session cookie",
          lambda: client(base).post("/api/widget/upload", files={"file": ("a.png", tiny_png(), "image/png")}),
          statuses=(401,), code="no_widget_session")
    for name in ("..%2f..%2fetc%2fpasswd", "..%2F..%2Fbot%2Fsettings.py", "%2e%2e%2f%2e%2e%2fREADME.md",
                 "x.png", "0" * 32 + ".png", "0" * 32 + ".svg", "....//....//etc/passwd", "%00.png", "a" * 5000 + ".png"):
        judge(ledger, G, "GET /uploads/{name}", name,
              lambda name=name: client(base).get("/uploads/" + name), statuses=(404,), clear=False)

    # --- staff login ---
    for body in ({"username": 5, "password": "x"}, {"username": "admin"}, {}, {"username": "x" * 100_000, "password": "x"},
                 {"username": "\ud800", "password": "x"}, {"username": "admin\x00", "password": "admin123"},
                 {"username": ["admin"], "password": "admin123"}, {"username": "admin", "password": None},
                 {"username": "admin' --", "password": "x"}, {"username": "admin", "password": "x" * 300}):
        judge(ledger, G, "POST /api/auth/login", short(body), post_raw(client(base), "/api/auth/login", raw_json(body)),
              statuses=(401, 422))
    for label, body, ctype in WRONG_BODIES[:9]:
        judge(ledger, G, "POST /api/auth/login", f"body: {label}", post_raw(client(base), "/api/auth/login", body, ctype),
              statuses=(400, 413, 415, 422))

    # --- agent API ---
    agent = staff(base, "agent", "agent123")
    for path in ("/api/agent/conversations/{}", "/api/agent/handoffs/{}/claim", "/api/agent/conversations/{}/resolve",
                 "/api/agent/conversations/{}/release", "/api/agent/conversations/{}/messages"):
        for row in (2**63, 2**64 + 1, -1, 0, "abc", "1e3", "1.5", "%00"):
            method = agent.get if path.endswith("{}") else agent.post
            kwargs = {"json": {"text": "好"}} if path.endswith("messages") else {}
            judge(ledger, G, ("GET " if path.endswith("{}") else "POST ") + path, f"id={row}",
                  lambda method=method, path=path, row=row, kwargs=kwargs: method(path.format(row), **kwargs),
                  statuses=(404, 422))
    conversation = claimed_conversation(base, agent)
    path = f"/api/agent/conversations/{conversation}/messages"
    for text, code in [("   ", "empty_message"), ("\u3000\u3000", "empty_message"), ("\t\n", "empty_message"),
                       ("\u200b\u200b", None), ("你好\x00", "invalid_characters"), ("坏\ud800字", "invalid_characters"),
                       ("\x1b[2J", "invalid_characters"), ("回" * 2001, None), ("", None)]:
        judge(ledger, G, f"POST {path}", f"agent reply {short(text)}", post_raw(agent, path, raw_json({"text": text})),
              statuses=(413, 422), code=code)
    for body in ({}, {"text": 5}, {"text": None}, {"text": ["好"]}, {"private": "yes", "text": "好"}, [1], "x"):
        judge(ledger, G, f"POST {path}", f"body {short(body)}", post_raw(agent, path, raw_json(body)), statuses=(422,))
    before = db_query(server.site.database_url, "SELECT count(*) FROM messages WHERE conversation_id = :c", c=conversation)

    # --- admin API ---
    admin = staff(base, "admin", "admin123")
    for path in ("/api/admin/failures/{}/add-to-faq",):
        for row in (2**63, 2**64, -1, 0, "abc"):
            judge(ledger, G, f"POST {path}", f"id={row}",
                  lambda path=path, row=row: admin.post(path.format(row), json={"faq_id": "office_hours"}),
                  statuses=(404, 422))
    for row in (2**63, -1, 0, "abc", 2**31):
        judge(ledger, G, "POST /api/admin/api-keys/{id}/revoke", f"id={row}",
              lambda row=row: admin.post(f"/api/admin/api-keys/{row}/revoke"), statuses=(404, 422))
    for name in ("", "   ", "\ud800", "a\x00", "x" * 65, 5, None, ["k"]):
        judge(ledger, G, "POST /api/admin/api-keys", f"name={short(name)}",
              post_raw(admin, "/api/admin/api-keys", raw_json({"name": name})), statuses=(422,))
    for faq_id in ("..%2F..%2Fetc%2Fpasswd", "x" * 5000, "%00", "nope"):
        judge(ledger, G, "GET /api/admin/faq/{id}", faq_id, lambda faq_id=faq_id: admin.get(f"/api/admin/faq/{faq_id}"),
              statuses=(404, 422), clear="%2F" not in faq_id)
    judge(ledger, G, "GET /api/admin/faq?q=", "q=\\ud800 and NUL",
          lambda: admin.get("/api/admin/faq", params={"q": "\x00"}), expect="no5xx")
    faq_edits(ledger, admin, keyed, base)

    after = db_query(server.site.database_url, "SELECT count(*) FROM messages WHERE conversation_id = :c", c=conversation)
    ledger.record(G, f"POST {path}", "all refused agent replies above", "nothing stored",
                  after == before, f"messages in the conversation: {before[0][0]} before, {after[0][0]} after")


def faq_edits(ledger: Ledger, admin: httpx.Client, keyed: httpx.Client, base: str) -> None:
    """Format specs and other hostile FAQ answers: refused (422 faq_invalid), or, if saved, harmless to render."""
    r = admin.get("/api/admin/faq/office_hours")
    if r.status_code != 200:
        ledger.record(G, "GET /api/admin/faq/office_hours", "-", "200 (the entry the edits start from)", False,
                      f"{r.status_code} {r.text[:200]}")
        return
    original = r.json()

    def put(answer: Any = None, **changes: Any):
        try:
            current = admin.get("/api/admin/faq/office_hours").json()
        except (httpx.HTTPError, ValueError):  # a previous edit broke the entry: recorded by its own case
            current = original
        body = {"title": original["title"], "questions": original["questions"], "answer": original["answer"],
                "version": current.get("version")}
        if answer is not None:
            body["answer"] = answer
        body.update(changes)
        return admin.put("/api/admin/faq/office_hours", content=raw_json(body), headers={"content-type": "application/json"})

    strict = ["{office_hours:d}", "{office_hours:x<5000000}", "{office_hours:>999999999}", "{office_hours:,}",
              "{office_hours.__class__}", "{office_hours.__class__.__mro__}", "{office_hours[0]}", "{0}", "{}",
              "{no_such_value}", "{office_hours", "office_hours}", "{office_hours!r:^99999999}",
              "{office_hours:{office_hours}}", "\ud800", "答\x00案", "", "答" * 5001]
    for answer in strict:
        judge(ledger, G, "PUT /api/admin/faq/{id}", f"answer={short(answer)}", lambda answer=answer: put(answer),
              statuses=(409, 422))
    for changes in ({"title": ""}, {"title": "\ud800"}, {"title": 5}, {"questions": []}, {"questions": ["\ud800"]},
                    {"questions": [None]}, {"questions": "物业几点上班"}, {"version": "x"}, {"version": "0" * 64},
                    {"answer": ["a"]}):
        judge(ledger, G, "PUT /api/admin/faq/{id}", short(changes), lambda changes=changes: put(**changes),
              statuses=(409, 422))
    for answer in ("{office_hours!r}", "{{office_hours}}", "{office_hours:<10}", "办公时间：{office_hours}（测试）"):
        judge(ledger, G, "PUT /api/admin/faq/{id}", f"answer={short(answer)} (refused, or saved and safe)",
              lambda answer=answer: put(answer), expect="no5xx")
        rendered_ok(ledger, keyed, answer)
    restore = put(original["answer"])
    ledger.record(G, "PUT /api/admin/faq/{id}", "the original answer back", "2xx", restore.status_code == 200,
                  f"{restore.status_code} {restore.text[:200]}")
    rendered_ok(ledger, keyed, "original answer")


def rendered_ok(ledger: Ledger, keyed: httpx.Client, label: str) -> None:
    """After an FAQ edit the answer is asked for: never a 5xx, never an enormous reply."""
    def ask():
        return keyed.post("/api/chat", json={"sender_id": f"faq-{uuid.uuid4().hex[:8]}", "text": "物业几点上班"})

    r = judge(ledger, G, "POST /api/chat (after an FAQ edit)", f"ask office hours after answer={short(label)}", ask,
              expect="2xx")
    if r is not None and r.status_code == 200 and len(r.text) > 20_000:
        ledger.record(G, "POST /api/chat (after an FAQ edit)", short(label), "a reply of normal size", False,
                      f"reply of {len(r.text)} characters")


def png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def tiny_png(color=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, format="PNG")
    return out.getvalue()


def claimed_conversation(base: str, agent: httpx.Client) -> int:
    res = resident(base)
    marker = f"我要找人工 {uuid.uuid4().hex[:6]}"
    res.post("/api/widget/messages", json={"text": marker}).raise_for_status()
    queue = agent.get("/api/agent/queue").json()["queue"]
    item = next(q for q in queue if marker in json.dumps(q, ensure_ascii=False) or q.get("summary") == marker)
    r = agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim")
    r.raise_for_status()
    return r.json()["conversation_id"]


# --- WeChat ----------------------------------------------------------------------------------------------------

def wechat_crypto():
    from connectors.wechat_crypto import WeChatCrypto

    return WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID)


def wechat_params(encrypt: Optional[str] = None, timestamp: Optional[int] = None, nonce: Optional[str] = None,
                  token: str = WECHAT_TOKEN) -> Dict[str, str]:
    from connectors.wechat_crypto import signature

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:16]
    params = {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    if encrypt is not None:
        params.update(encrypt_type="aes", msg_signature=signature(token, ts, nonce, encrypt))
    return params


def wechat_text(openid: str, content: str, msg_id: Optional[str] = None, kind: str = "text") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_rel]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or uuid.uuid4().int % 10**18}</MsgId></xml>")


def wechat_safe_post(c: httpx.Client, inner: bytes, crypto=None, **param_overrides: Any) -> httpx.Response:
    """An encrypted, correctly signed push whose decrypted body is ``inner`` (bytes as given)."""
    crypto = crypto or wechat_crypto()
    import base64
    import os as _os
    import struct

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    data = _os.urandom(16) + struct.pack(">I", len(inner)) + inner + WECHAT_APP_ID.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(crypto.key), modes.CBC(crypto.key[:16])).encryptor()
    encrypted = base64.b64encode(enc.update(data) + enc.finalize()).decode()
    params = wechat_params(encrypted)
    params.update(param_overrides)
    outer = f"<xml><ToUserName><![CDATA[gh_rel]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return c.post("/wechat", params=params, content=outer.encode(), headers={"content-type": "text/xml"})


def run_wechat(ledger: Ledger, server: Server) -> None:
    c = client(server.url)
    g = "wechat hostile"
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
              '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><Content>&lol3;</Content></xml>')
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           '<xml><ToUserName>a</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType>'
           '<Content>&xxe;</Content></xml>')
    malformed = [("billion laughs", laughs.encode()), ("XXE file:///etc/passwd", xxe.encode()),
                 ("not XML", b"hello"), ("root is not <xml>", b"<root><Content>a</Content></root>"),
                 ("unclosed tag", b"<xml><Content>a</xml>"), ("NUL char reference", b"<xml><Content>&#0;</Content></xml>"),
                 ("lone surrogate bytes", "<xml><Content>\ud800</Content></xml>".encode("utf-8", "surrogatepass")),
                 ("control char reference", b"<xml><Content>&#7;</Content></xml>"),
                 ("70 KB body", b"<xml><Content>" + b"a" * 70_000 + b"</Content></xml>"),
                 ("empty body", b""), ("invalid UTF-8", b"<xml><Content>\xff\xfe</Content></xml>")]
    for label, inner in malformed:
        judge(ledger, g, "POST /wechat (safe mode, signed)", f"decrypted body: {label}",
              lambda inner=inner: wechat_safe_post(c, inner), statuses=(400,), code="malformed_xml")
    # values the channel must carry or answer without a 5xx
    for label, inner in [
        ("Content 5000 characters", wechat_text("o_rel_long", "物" * 5000)),
        ("unknown MsgType", wechat_text("o_rel_t", "你好", kind="shortvideo")),
        ("MsgId 2^70", wechat_text("o_rel_id", "你好", msg_id=str(2**70))),
        ("MsgId negative", wechat_text("o_rel_id2", "你好", msg_id="-1")),
        ("image with a file:// PicUrl", "<xml><ToUserName>gh</ToUserName><FromUserName>o_rel_img</FromUserName>"
                                        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
                                        "<PicUrl>file:///etc/passwd</PicUrl><MsgId>77001</MsgId></xml>"),
        ("CLICK event with a traversal key", "<xml><ToUserName>gh</ToUserName><FromUserName>o_rel_c</FromUserName>"
                                             f"<CreateTime>{int(time.time())}</CreateTime><MsgType>event</MsgType>"
                                             "<Event>CLICK</Event><EventKey>FAQ_../../etc</EventKey></xml>"),
        ("voice without Recognition", "<xml><ToUserName>gh</ToUserName><FromUserName>o_rel_v</FromUserName>"
                                      f"<CreateTime>{int(time.time())}</CreateTime><MsgType>voice</MsgType>"
                                      "<MsgId>77002</MsgId></xml>"),
        ("Content NUL via CDATA-less escape", wechat_text("o_rel_nul", "a&amp;#0;b")),
    ]:
        judge(ledger, g, "POST /wechat (safe mode, signed)", label,
              lambda inner=inner: wechat_safe_post(c, inner.encode("utf-8")), expect="2xx")
    # a signed push whose FromUserName is no OpenID never runs a turn (no identity "" or 5000 characters to speak as)
    for label, inner in [
        ("openid breaking CDATA (escaped in the push)", wechat_text("o_rel", "你好").replace(
            "<FromUserName><![CDATA[o_rel]]></FromUserName>", "<FromUserName>o]]&gt;&lt;x&gt;</FromUserName>")),
        ("empty openid", wechat_text("", "你好")),
        ("openid 5000 characters", wechat_text("o" * 5000, "你好")),
        ("no fields at all", "<xml></xml>"),
    ]:
        judge(ledger, g, "POST /wechat (safe mode, signed)", label,
              lambda inner=inner: wechat_safe_post(c, inner.encode("utf-8")), statuses=(400,), code="malformed_xml")
    crypto = wechat_crypto()
    body = wechat_text("o_rel_sig", "你好").encode()
    for label, params in [
        ("no signature", {}), ("wrong signature", {**wechat_params(), "signature": "0" * 40}),
        ("signature of another token", wechat_params(token="other")),
        ("timestamp not a number", {**wechat_params(), "timestamp": "abc"}),
        ("nonce 10000 characters", wechat_params(nonce="n" * 10_000)),
    ]:
        judge(ledger, g, "POST /wechat", label, lambda params=params: c.post("/wechat", params=params, content=body),
              statuses=(403,))
    for label, override in [("wrong msg_signature", {"msg_signature": "0" * 40}), ("Encrypt of another app id", None)]:
        if override is None:
            from connectors.wechat_crypto import WeChatCrypto

            other = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, "wxotherapp")
            enc = other.encrypt(body.decode())
            params = wechat_params(enc)
            send = (lambda enc=enc, params=params: c.post(
                "/wechat", params=params, content=f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()))
        else:
            send = lambda override=override: wechat_safe_post(c, body, crypto, **override)  # noqa: E731
        judge(ledger, g, "POST /wechat (safe mode)", label, send, statuses=(403,), code="bad_signature")
    for label, enc in [("Encrypt not base64", "!!!"), ("Encrypt of 5 bytes", "aGVsbG8="), ("Encrypt empty", "")]:
        params = wechat_params(enc)
        judge(ledger, g, "POST /wechat (safe mode)", label,
              lambda params=params, enc=enc: c.post("/wechat", params=params,
                                                    content=f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()),
              statuses=(400, 403))
    for label, params in [("GET without signature", {"echostr": "x"}),
                          ("GET with a wrong signature", {**wechat_params(), "signature": "f" * 40, "echostr": "x"})]:
        judge(ledger, g, "GET /wechat", label, lambda params=params: c.get("/wechat", params=params), statuses=(403,))


# --- WebSocket frames -------------------------------------------------------------------------------------------

WIDGET_FRAMES: List[Tuple[str, Any]] = [
    ("[1]", "[1]"), ("42", "42"), ("null", "null"), ('"x"', '"x"'), ("x (not JSON)", "x"), ("empty text frame", ""),
    ("binary frame", b"\x00\x01\x02"), ("binary JSON ping", b'{"type":"ping"}'),
    ('{"type":"message","photos":5}', '{"type":"message","photos":5}'),
    ('{"type":"message","text":["a"]}', '{"type":"message","text":["a"]}'),
    ("{}", "{}"), ('{"type":"nope"}', '{"type":"nope"}'), ('{"type":null}', '{"type":null}'),
    ('{"type":["message"]}', '{"type":["message"]}'), ('{"type":"message","text":5}', '{"type":"message","text":5}'),
    ('{"type":"message","text":null}', '{"type":"message","text":null}'),
    ("text lone surrogate", '{"type":"message","text":"\\ud800"}'),
    ("text NUL", '{"type":"message","text":"a\\u0000b"}'), ("text ESC", '{"type":"message","text":"\\u001b[31m"}'),
    ("text empty", '{"type":"message","text":""}'), ("text spaces", '{"type":"message","text":"   "}'),
    ("text 1001 characters", json.dumps({"type": "message", "text": "字" * 1001})),
    ("text 200000 characters", json.dumps({"type": "message", "text": "x" * 200_000})),
    ("photos traversal", json.dumps({"type": "message", "text": "报修", "photos": ["../../etc/passwd"]})),
    ("photos /uploads/../", json.dumps({"type": "message", "text": "报修", "photos": ["/uploads/../../bot/settings.py"]})),
    ("photos absent upload", json.dumps({"type": "message", "text": "报修", "photos": ["/uploads/" + "0" * 32 + ".png"]})),
    ("photos http URL", json.dumps({"type": "message", "text": "报修", "photos": ["http://evil.example/x.png"]})),
    ("photos file URL", json.dumps({"type": "message", "text": "报修", "photos": ["file:///etc/passwd"]})),
    ("photos 7 items", json.dumps({"type": "message", "text": "报修", "photos": ["/uploads/x.png"] * 7})),
    ("photos [null]", '{"type":"message","text":"a","photos":[null]}'),
    ("photos [{}]", '{"type":"message","text":"a","photos":[{}]}'),
    ("deeply nested 100000", "[" * 100_000 + "]" * 100_000),
    ("deeply nested object", '{"type":"message","text":' + "[" * 50_000 + "]" * 50_000 + "}"),
    ("number 1e400", '{"type":"message","text":"a","photos":1e400}'),
    ("NaN", '{"type":NaN}'), ("duplicate keys", '{"type":"ping","type":"message"}'),
]


async def ws_recv_until(ws, accept, timeout: float = 10.0):
    """Frames until one satisfies ``accept`` (returns it); TimeoutError when none does in time."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError()
        raw = await asyncio.wait_for(ws.recv(), left)
        try:
            frame = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if accept(frame):
            return frame


def is_error_frame(frame: Dict[str, Any]) -> bool:
    return frame.get("type") == "error"


def clear_error_frame(frame: Dict[str, Any]) -> bool:
    return (isinstance(frame.get("code"), str) and isinstance(frame.get("detail"), str)
            and bool(CJK.search(frame["detail"])))


async def widget_socket(server_ws: str, cookie: str):
    ws = await websockets.connect(server_ws + "/ws/chat", extra_headers={"Cookie": cookie}, open_timeout=HTTP_TIMEOUT,
                                  max_size=None, ping_interval=None)
    await ws_recv_until(ws, lambda f: f.get("type") == "history")
    return ws


async def run_ws_async(ledger: Ledger, server: Server) -> None:
    g = "websocket frames"
    cookie = cookie_header(resident(server.url))
    ws = await widget_socket(server.ws_url, cookie)
    for label, frame in WIDGET_FRAMES:
        expect = "an error frame (code + Chinese detail), then the same socket answers a ping"
        try:
            await ws.send(frame)
            got = await ws_recv_until(ws, lambda f: f.get("type") in ("error", "message", "pong"), 15)
            if got.get("type") != "error":
                ledger.record(g, "WS /ws/chat", label, expect, False, f"answered {short(json.dumps(got, ensure_ascii=False), 200)}")
            else:
                await ws.send('{"type":"ping"}')
                await ws_recv_until(ws, lambda f: f.get("type") == "pong", 10)
                ledger.record(g, "WS /ws/chat", label, expect, clear_error_frame(got), json.dumps(got, ensure_ascii=False)[:200],
                              clear_4xx=clear_error_frame(got))
        except asyncio.TimeoutError:
            ledger.record(g, "WS /ws/chat", label, expect, False, "no answer within 15 s", "hang")
        except websockets.ConnectionClosed as exc:
            category = "5xx" if exc.code == 1011 or exc.code in (1006, None) else "mismatch"
            ledger.record(g, "WS /ws/chat", label, expect, False, f"socket closed {exc.code} {exc.reason}", category)
            ws = await widget_socket(server.ws_url, cookie)
    await ws.close()

    # a burst of 2000 frames, sent without waiting: 1000 pings and 1000 invalid frames interleaved
    ws = await widget_socket(server.ws_url, cookie_header(resident(server.url)))
    bad = ["[1]", "42", "null", '"x"', '{"type":"message","photos":5}', '{"type":"message","text":["a"]}', "x", "{}"]
    started = time.monotonic()
    pongs = errors = 0
    try:
        for i in range(2000):
            await ws.send('{"type":"ping"}' if i % 2 == 0 else bad[i % len(bad)])
        while pongs + errors < 2000:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            pongs += frame.get("type") == "pong"
            errors += frame.get("type") == "error"
        await ws.send('{"type":"ping"}')
        await ws_recv_until(ws, lambda f: f.get("type") == "pong", 10)
        ledger.record(g, "WS /ws/chat", "burst of 2000 frames (1000 pings + 1000 invalid)",
                      "1000 pongs + 1000 error frames, socket still usable", True,
                      f"{pongs} pongs, {errors} errors in {time.monotonic() - started:.1f} s", clear_4xx=True)
    except asyncio.TimeoutError:
        ledger.record(g, "WS /ws/chat", "burst of 2000 frames", "1000 pongs + 1000 error frames", False,
                      f"stalled after {pongs} pongs, {errors} errors", "hang")
    except websockets.ConnectionClosed as exc:
        ledger.record(g, "WS /ws/chat", "burst of 2000 frames", "1000 pongs + 1000 error frames", False,
                      f"socket closed {exc.code} after {pongs} pongs, {errors} errors", "5xx" if exc.code in (1011, 1006) else "mismatch")
    finally:
        await ws.close()

    # the agent console socket: bad frames never take the server down (an error frame or a clean close)
    agent = staff(server.url, "agent", "agent123")
    agent_cookie = cookie_header(agent, "wuye_staff")
    for label, frame in [("[1]", "[1]"), ("42", "42"), ("null", "null"), ('"x"', '"x"'), ("x", "x"), ("binary", b"\x00\x01"),
                         ("watch id 2^63", json.dumps({"type": "watch", "conversation_id": 2**63})),
                         ("watch id -1", json.dumps({"type": "watch", "conversation_id": -1})),
                         ("watch id string", json.dumps({"type": "watch", "conversation_id": "1"})),
                         ("deeply nested", "[" * 100_000 + "]" * 100_000)]:
        expect = "an error frame, or a clean close (1000/1003/1007/1008/4xxx); never 1011; then a new socket works"
        try:
            ws = await websockets.connect(server.ws_url + "/ws/agent", extra_headers={"Cookie": agent_cookie},
                                          open_timeout=HTTP_TIMEOUT, max_size=None, ping_interval=None)
            await ws_recv_until(ws, lambda f: f.get("type") == "queue")
            await ws.send(frame)
            await ws.send('{"type":"ping"}')
            got = await ws_recv_until(ws, lambda f: f.get("type") in ("error", "pong"), 10)
            ledger.record(g, "WS /ws/agent", label, expect, True, f"answered {got.get('type')}",
                          clear_4xx=got.get("type") == "error")
            await ws.close()
        except websockets.ConnectionClosed as exc:
            ok = exc.code in (1000, 1003, 1007, 1008) or (exc.code or 0) >= 4000
            ledger.record(g, "WS /ws/agent", label, expect, ok, f"socket closed {exc.code} {exc.reason}",
                          "5xx" if exc.code in (1011, 1006, None) else "mismatch", clear_4xx=ok)
        except asyncio.TimeoutError:
            ledger.record(g, "WS /ws/agent", label, expect, False, "no answer within 10 s", "hang")
    try:
        r = httpx.get(server.url + "/api/health", timeout=HTTP_TIMEOUT)
        ledger.record(g, "GET /api/health", "after every bad frame", "200", r.status_code == 200, str(r.status_code))
    except httpx.HTTPError as exc:
        ledger.record(g, "GET /api/health", "after every bad frame", "200", False, repr(exc), "5xx")


def run_ws(ledger: Ledger, server: Server) -> None:
    asyncio.run(run_ws_async(ledger, server))


def nothing_bad_stored(ledger: Ledger, server: Server) -> None:
    """No stored message carries NUL, a control character or a lone surrogate, nor is longer than the limit."""
    rows = db_query(server.site.database_url, "SELECT id, sender, text FROM messages")
    bad = [(i, s, t) for i, s, t in rows if t and (len(t) > 5000 or any(
        (ord(ch) < 32 and ch not in "\t\n\r") or 0x7f <= ord(ch) <= 0x9f or 0xD800 <= ord(ch) <= 0xDFFF for ch in t))]
    ledger.record(G, "database: messages", f"{len(rows)} stored messages checked",
                  "no NUL/control characters/lone surrogates, none over 5000 characters", not bad,
                  "; ".join(f"#{i} {s}: {short(t, 60)}" for i, s, t in bad[:10]) or "clean")

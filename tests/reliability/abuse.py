"""Impersonation and abuse attempts: each one must be refused (or capped), never accepted."""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Any, List

import httpx
from itsdangerous import URLSafeTimedSerializer

from tests.reliability.corpus import png_header, tiny_png, wechat_params, wechat_safe_post, wechat_text
from tests.reliability.harness import SECRET, Ledger, Server, client, db_query, judge, raw_http, resident, staff

G = "impersonation/abuse"


@contextmanager
def section(ledger: Ledger, name: str):
    """One group of attempts; if it breaks (a 500 where JSON was expected…) it is recorded and the next one runs."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001
        ledger.record(G, name, "the section itself", "runs to the end", False,
                      f"aborted: {type(exc).__name__}: {str(exc)[:300]}", "5xx")


class _Aged(URLSafeTimedSerializer):
    age = 0

    def make_signer(self, *a: Any, **kw: Any):
        signer = super().make_signer(*a, **kw)
        age = self.age
        signer.get_timestamp = lambda: int(time.time()) - age
        return signer


def signed(secret: str, salt: str, payload: dict, age: int = 0) -> str:
    s = _Aged(secret, salt=salt)
    s.age = age
    return s.dumps(payload)


def run(ledger: Ledger, server: Server, keys: dict) -> None:
    base = server.url
    with section(ledger, 'a real resident whose identity the attempts below try to take'):
        # -- a real resident whose identity the attempts below try to take --
        victim = resident(base)
        victim.post("/api/widget/messages", json={"text": "我家水管漏水 victim-secret-7731"}).raise_for_status()
        victim_sender = db_query(server.site.database_url,
                                 "SELECT i.sender_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                                 "JOIN chat_identities i ON i.id = c.identity_id WHERE m.text LIKE '%victim-secret-7731%'")[0][0]

        def leaked(r: httpx.Response) -> bool:
            return "victim-secret-7731" in r.text

        forged = {
            "cookie signed with another secret": signed("not-the-secret", "resident", {"sender": victim_sender}),
            "cookie with the staff salt": signed(SECRET, "staff-session", {"sender": victim_sender}),
            "cookie expired (366 days old)": signed(SECRET, "resident", {"sender": victim_sender}, age=366 * 24 * 3600),
            "cookie payload edited (signature kept)": victim.cookies.get("wuye_resident").replace(
                victim.cookies.get("wuye_resident").split(".")[0], "eyJzZW5kZXIiOiJ3X2V2aWwifQ"),
            "cookie: the sender id in clear": victim_sender,
            "cookie signed for a non-widget sender": signed(SECRET, "resident", {"sender": "k1:alice"}),
        }
        for label, value in forged.items():
            c = client(base, cookies={"wuye_resident": value})
            r = judge(ledger, G, "GET /api/widget/history", label, lambda c=c: c.get("/api/widget/history"),
                      statuses=(401,), code="no_widget_session", abuse=True)
            if r is not None and leaked(r):
                ledger.record(G, "GET /api/widget/history", label, "never the victim's messages", False,
                              "the victim's message was returned", "cross-household read", abuse=True)
            judge(ledger, G, "POST /api/widget/messages", label,
                  lambda c=c: c.post("/api/widget/messages", json={"text": "以业主身份发消息"}),
                  statuses=(401,), code="no_widget_session", abuse=True)
            judge(ledger, G, "POST /api/widget/upload", label,
                  lambda c=c: c.post("/api/widget/upload", files={"file": ("a.png", tiny_png(), "image/png")}),
                  statuses=(401,), code="no_widget_session", abuse=True)
        ws_refusals(ledger, server, forged)

    with section(ledger, 'staff cookies'):
        # -- staff cookies --
        agent = staff(base, "agent", "agent123")
        copy = agent.cookies.get("wuye_staff")
        sid_forgeries = {
            "staff cookie signed with another secret": signed("nope", "staff-session", {"sid": "x" * 43}),
            "staff cookie with a random session id": signed(SECRET, "staff-session", {"sid": uuid.uuid4().hex}),
            "staff cookie 13 hours old": signed(SECRET, "staff-session", {"sid": "x"}, age=13 * 3600),
            "resident cookie as staff cookie": victim.cookies.get("wuye_resident"),
        }
        logout_victim = staff(base, "agent", "agent123")
        stolen = logout_victim.cookies.get("wuye_staff")
        logout_victim.post("/api/auth/logout")
        sid_forgeries["staff cookie copied before logout"] = stolen
        for label, value in sid_forgeries.items():
            c = client(base, cookies={"wuye_staff": value})
            for method, path in (("GET", "/api/agent/queue"), ("GET", "/api/admin/faq"), ("GET", "/api/auth/me"),
                                 ("POST", "/api/admin/api-keys")):
                judge(ledger, G, f"{method} {path}", label,
                      lambda c=c, method=method, path=path: c.request(method, path, json={"name": "stolen"}),
                      statuses=(401,), code="not_signed_in", abuse=True)
        agent_only = client(base, cookies={"wuye_staff": copy})
        for method, path in (("GET", "/api/admin/faq"), ("POST", "/api/admin/api-keys"), ("GET", "/api/admin/figures"),
                             ("PUT", "/api/admin/faq/office_hours")):
            judge(ledger, G, f"{method} {path}", "an agent (not admin) calling the admin API",
                  lambda method=method, path=path: agent_only.request(method, path, json={"name": "x", "title": "x",
                                                                                           "questions": ["x"], "answer": "x"}),
                  statuses=(403,), code="admins_only", abuse=True)
        # guessed against tech2 (the admin and agent sign in again below): 5 wrong passwords lock the username,
        # then the right one waits too
        for i in range(6):
            judge(ledger, G, "POST /api/auth/login", f"password guess #{i + 1} for tech2",
                  lambda i=i: client(base).post("/api/auth/login", json={"username": "tech2", "password": f"guess{i}"}),
                  statuses=(401, 429), abuse=True)
        judge(ledger, G, "POST /api/auth/login", "the right password after 6 guesses for tech2",
              lambda: client(base).post("/api/auth/login", json={"username": "tech2", "password": "tech123"}),
              statuses=(429,), code="login_locked", abuse=True)

    with section(ledger, "/api/chat: keys and other residents' sender ids"):
        # -- /api/chat: keys and other residents' sender ids --
        k1, k2, revoked = keys["k1"], keys["k2"], keys["revoked"]
        a = client(base, headers={"authorization": f"Bearer {k1}"})
        first = a.post("/api/chat", json={"sender_id": "alice", "text": "厨房漏水了 alice-secret-5521"})
        alice_conversation = first.json().get("conversation_id") if first.status_code == 200 else None
        for label, header in [("empty Bearer", b"Bearer "), ("key with a NUL appended", f"Bearer {k1}\x00".encode()),
                              ("key with a tab inside", f"Bearer {k1[:10]}\t{k1[10:]}".encode())]:
            body = b'{"sender_id": "alice", "text": "\xe6\x88\x91\xe5\xae\xb6\xe7\x89\xa9\xe4\xb8\x9a\xe8\xb4\xb9"}'
            judge(ledger, G, "POST /api/chat", f"sender alice of key 1 with {label} (raw HTTP)",
                  lambda header=header, body=body: raw_http(server.port, b"POST", b"/api/chat",
                                                            [(b"authorization", header), (b"content-type", b"application/json")],
                                                            body), statuses=(400, 401), abuse=True, clear=False)
        for label, headers in [("no Authorization", {}),
                               ("made-up key", {"authorization": "Bearer wuye_" + "A" * 43}),
                               ("revoked key", {"authorization": f"Bearer {revoked}"}),
                               ("key as Basic auth", {"authorization": f"Basic {k1}"}),
                               ("key without the scheme", {"authorization": k1}),
                               ("key in the query string", {}),
                               ("key 10000 characters", {"authorization": "Bearer wuye_" + "x" * 10_000})]:
            params = {"key": k1, "api_key": k1} if label == "key in the query string" else None
            r = judge(ledger, G, "POST /api/chat", f"sender alice of key 1 with {label}",
                      lambda headers=headers, params=params: client(base).post(
                          "/api/chat", headers=headers, params=params,
                          json={"sender_id": "alice", "text": "我家物业费多少"}), statuses=(401,), abuse=True)
        b = client(base, headers={"authorization": f"Bearer {k2}"})
        for label, sender in [("key 2 with key 1's sender id", "alice"), ("key 2 with the namespaced id k1:alice", "k1:alice"),
                              ("key 2 with the id k<id>:alice", f"k{keys['k1_id']}:alice")]:
            r = b.post("/api/chat", json={"sender_id": sender, "text": "我刚才说了什么"})
            same = r.status_code == 200 and alice_conversation is not None and r.json().get("conversation_id") == alice_conversation
            leak = "alice-secret-5521" in r.text
            ledger.record(G, "POST /api/chat", label, "another conversation (or a 4xx); never alice's messages",
                          r.status_code < 500 and not same and not leak, f"{r.status_code} conversation "
                          f"{r.json().get('conversation_id') if r.status_code == 200 else '-'} (alice: {alice_conversation})",
                          "cross-household read" if (same or leak) else ("5xx" if r.status_code >= 500 else "mismatch"),
                          abuse=True, clear_4xx=400 <= r.status_code < 500)
        judge(ledger, G, "POST /api/chat", "a widget resident's sender id (w_…) with a valid key",
              lambda: a.post("/api/chat", json={"sender_id": victim_sender, "text": "我刚才说了什么"}),
              statuses=(422,), code="invalid_sender", abuse=True)

    with section(ledger, "another household's data without binding"):
        # -- another household's data without binding --
        household = db_query(server.site.database_url,
                             "SELECT h.id, h.building, h.unit, h.room, h.owner_name, h.phone FROM households h "
                             "WHERE h.community_id = 'jinxiu' ORDER BY h.id LIMIT 1 OFFSET 20")[0]
        hid, building, unit, room, owner, phone = household
        amounts = {f"{r[0] / 100:.2f}" for r in db_query(server.site.database_url,
                                                          "SELECT amount_cents FROM bills WHERE household_id = :h", h=hid)}
        orders = db_query(server.site.database_url,
                          "SELECT number, description, contact_phone FROM work_orders ORDER BY id LIMIT 3")
        address = f"{building}栋{unit}单元{room}"
        probes = [f"查一下{address}的物业费", f"{address}欠费多少", f"{address}的业主是谁", f"{address}的电话是多少",
                  f"我是{address}的业主，查账单", f"{address}的车位月卡什么时候到期"]
        probes += [f"查询工单 {number}" for number, _, _ in orders]
        secrets = {owner, phone, phone[-4:] + "X"} | {a for a in amounts if a not in ("0.00",)}
        for number, description, contact in orders:
            secrets |= {description, contact}
        secrets.discard("")
        for text in probes:
            sender = f"snoop-{uuid.uuid4().hex[:6]}"
            r = a.post("/api/chat", json={"sender_id": sender, "text": text})
            replies = " ".join(x["text"] for x in r.json().get("replies", [])) if r.status_code == 200 else r.text
            found = sorted(s for s in secrets if s and len(s) >= 4 and s in replies)
            ledger.record(G, "POST /api/chat", f"unbound resident: {text}",
                          "no owner name, phone, bill amount or other household's work order in the reply",
                          r.status_code < 500 and not found, f"{r.status_code}: {replies[:160]}" + (f" LEAKED {found}" if found else ""),
                          "cross-household read" if found else "5xx", abuse=True)

    with section(ledger, '20 identities asking a verification code for one room'):
        # -- 20 identities asking a verification code for one room --
        log_before = server.log()
        tail = phone[-4:]
        for i in range(20):
            sender = f"coder-{i}-{uuid.uuid4().hex[:4]}"
            a.post("/api/chat", json={"sender_id": sender, "text": "我要查物业费"})
            r = a.post("/api/chat", json={"sender_id": sender, "text": address})
            ledger.record(G, "POST /api/chat", f"identity #{i + 1} of 20 asks a code for {address}", "no 5xx",
                          r.status_code < 500, f"{r.status_code} {r.text[:120]}", "5xx", abuse=False)
        time.sleep(1)
        sms = [line for line in server.log()[len(log_before):].splitlines() if "验证码" in line and tail in line]
        cap = 3
        ledger.record(G, "SMS log", f"20 identities asked a code for {address}",
                      f"at most {cap} codes sent to the owner's phone (codes_per_room)", len(sms) <= cap,
                      f"{len(sms)} verification SMS sent", "impersonation accepted", abuse=True, clear_4xx=len(sms) <= cap)

    with section(ledger, 'a code-guessing identity'):
        # -- a code-guessing identity --
        guesser = f"guess-{uuid.uuid4().hex[:6]}"
        a.post("/api/chat", json={"sender_id": guesser, "text": "我要查物业费"})
        a.post("/api/chat", json={"sender_id": guesser, "text": address})
        bound = False
        for i in range(8):
            r = a.post("/api/chat", json={"sender_id": guesser, "text": f"{100000 + i * 7919:06d}"})
            bound |= "验证成功" in r.text
        ledger.record(G, "POST /api/chat", "8 guessed verification codes", "never bound; locked out after 5", not bound,
                      "bound!" if bound else "not bound", "impersonation accepted", abuse=True, clear_4xx=not bound)

    with section(ledger, 'pager flood'):
        # -- pager flood --
        log_before = server.log()
        pager = f"pager-{uuid.uuid4().hex[:6]}"
        texts = ["电梯困人了，快来！", "3栋电梯困人了", "地下车库着火了！", "闻到很浓的煤气味", "水管爆了水漫到电箱了",
                 "有人晕倒在大堂了", "电梯困人了！！！", "楼道里冒烟了", "电梯困人了快来人", "小孩被反锁在家里哭"]
        for i, text in enumerate(texts):
            r = a.post("/api/chat", json={"sender_id": pager, "text": f"{text} {pager}"})
            ledger.record(G, "POST /api/chat", f"pager flood #{i + 1}: {text}", "no 5xx (the handoff is urgent every time)",
                          r.status_code < 500, f"{r.status_code}", "5xx")
        time.sleep(1)
        pages = [line for line in server.log()[len(log_before):].splitlines() if "【紧急】" in line and pager in line]
        ledger.record(G, "pager SMS log", f"10 emergencies from one resident ({pager})",
                      "at most 3 pages an hour for one resident (pages_per_sender)", len(pages) <= 3,
                      f"{len(pages)} pages sent", "impersonation accepted", abuse=True, clear_4xx=len(pages) <= 3)

    with section(ledger, 'message flood: 40 messages in a row from one resident'):
        # -- message flood: 40 messages in a row from one resident --
        flood = resident(base)
        accepted = refused = 0
        for i in range(40):
            r = flood.post("/api/widget/messages", json={"text": f"物业几点上班 flood-{i}"})
            if r.status_code == 200:
                accepted += 1
            elif r.status_code == 429:
                refused += 1
            else:
                ledger.record(G, "POST /api/widget/messages", f"flood message #{i + 1}", "200 or 429", r.status_code < 500,
                              f"{r.status_code} {r.text[:120]}", "5xx" if r.status_code >= 500 else "mismatch")
        last = r
        stored = flood.get("/api/widget/history").json()["messages"]
        stored_floods = sum(1 for m in stored if m["sender"] == "resident" and "flood-" in m["text"])
        ledger.record(G, "POST /api/widget/messages", "40 messages in a row from one resident",
                      "at most 30 a minute taken, the rest 429 with a Chinese detail, refused ones not stored",
                      accepted <= 30 and refused >= 10 and stored_floods == accepted and (refused == 0 or _clear(last)),
                      f"{accepted} accepted, {refused} refused (429), {stored_floods} stored", "impersonation accepted",
                      abuse=True, clear_4xx=refused > 0)
        ledger.messages(sent=40, accepted=accepted, stored=min(stored_floods, accepted),
                        lost=max(0, accepted - stored_floods))

    with section(ledger, 'upload flood and polyglots'):
        # -- upload flood and polyglots --
        up = resident(base)
        codes: List[int] = []
        for i in range(25):
            r = up.post("/api/widget/upload", files={"file": (f"p{i}.png", tiny_png((i * 9 % 255, 10, 10)), "image/png")})
            codes.append(r.status_code)
        ledger.record(G, "POST /api/widget/upload", "25 uploads in a row from one resident",
                      "at most 20 an hour stored, the rest 429 too_many_uploads", codes.count(200) <= 20 and 429 in codes
                      and not any(c >= 500 for c in codes), f"statuses {sorted(set(codes))}: {codes.count(200)} × 200, "
                      f"{codes.count(429)} × 429", "5xx" if any(c >= 500 for c in codes) else "impersonation accepted",
                      abuse=True, clear_4xx=429 in codes)
        polyglots = {
            "PNG + appended <script>": tiny_png() + b"<script>alert(document.cookie)</script>",
            "PNG + appended zip": tiny_png() + b"PK\x03\x04" + b"\x00" * 26 + b"evil.html<script>1</script>",
            "JPEG with a PHP comment": jpeg_with_comment(b"<?php system($_GET['c']); ?>"),
            "GIF header + HTML body": b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00;*/<script>alert(1)</script>",
            "HTML with a PNG name": b"<html><body><script>alert(1)</script></body></html>",
            "PNG claiming 50000x50000": png_header(50_000, 50_000),
        }
        for label, data in polyglots.items():
            c = resident(base)
            r = c.post("/api/widget/upload", files={"file": ("photo.png", data, "image/png")})
            if r.status_code == 200:
                served = c.get(r.json()["url"])
                clean = (b"<script" not in served.content and b"<?php" not in served.content and b"PK\x03\x04" not in served.content
                         and served.headers.get("x-content-type-options") == "nosniff"
                         and served.headers.get("content-type", "").startswith("image/"))
                ledger.record(G, "POST /api/widget/upload", label,
                              "415, or stored re-encoded: no payload left, served as image/* with nosniff", clean,
                              f"200 → served {served.headers.get('content-type')} {len(served.content)} bytes, payload "
                              f"{'gone' if clean else 'STILL THERE or headers missing'}", "impersonation accepted", abuse=True,
                              clear_4xx=False)
            else:
                judge(ledger, G, "POST /api/widget/upload", label, lambda r=r: r, statuses=(413, 415), abuse=True)

    with section(ledger, "photo references that are not this resident's uploads"):
        # -- photo references that are not this resident's uploads --
        good = resident(base)
        url = good.post("/api/widget/upload", files={"file": ("ok.png", tiny_png(), "image/png")}).json().get("url", "")
        for ref in ("../../etc/passwd", "/uploads/../../etc/passwd", "/uploads/%2e%2e/%2e%2e/etc/passwd",
                    "/uploads/..\\..\\bot\\settings.py", "/uploads/" + "0" * 32 + ".png", "http://evil.example/a.png",
                    "file:///etc/passwd", "/etc/passwd", url + "/../../../etc/passwd", url + "?x=1", url.upper(),
                    "//evil.example/" + url, "/uploads/" + url.rsplit("/", 1)[-1][:-4] + ".svg"):
            judge(ledger, G, "POST /api/widget/messages", f"photo reference {ref}",
                  lambda ref=ref: resident(base).post("/api/widget/messages", json={"text": "门口灯坏了", "photos": [ref]}),
                  statuses=(422,), code="invalid_photo", abuse=True)

    with section(ledger, 'WeChat: plain in safe mode, replays, old and future timestamps'):
        # -- WeChat: plain in safe mode, replays, old and future timestamps --
        wx = client(base)
        plain = wechat_text("o_rel_plain", "我是业主，查物业费").encode()
        judge(ledger, G, "POST /wechat", "plain (unencrypted) push while safe mode is configured",
              lambda: wx.post("/wechat", params=wechat_params(), content=plain), statuses=(403,),
              code="plain_message_refused", abuse=True)
        from tests.reliability.corpus import wechat_crypto

        crypto = wechat_crypto()
        enc = crypto.encrypt(wechat_text("o_rel_replay", "你好 replay"))
        params = wechat_params(enc)
        outer = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
        judge(ledger, G, "POST /wechat", "a genuine encrypted push (control)",
              lambda: wx.post("/wechat", params=params, content=outer), expect="2xx")
        judge(ledger, G, "POST /wechat", "the same push replayed (same timestamp and nonce)",
              lambda: wx.post("/wechat", params=params, content=outer), statuses=(403,), code="replayed_nonce", abuse=True)
        for label, delta in (("timestamp 1 hour old", -3600), ("timestamp 6 minutes old", -360),
                             ("timestamp 1 hour ahead", 3600), ("timestamp of 1970", None)):
            ts = 1 if delta is None else int(time.time()) + delta
            enc = crypto.encrypt(wechat_text("o_rel_old", "你好 old"))
            p = wechat_params(enc, timestamp=ts)
            judge(ledger, G, "POST /wechat", label,
                  lambda p=p, enc=enc: wx.post("/wechat", params=p, content=f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()),
                  statuses=(403,), code="stale_timestamp", abuse=True)
            judge(ledger, G, "GET /wechat", f"URL verification, {label}",
                  lambda ts=ts: wx.get("/wechat", params={**wechat_params(timestamp=ts), "echostr": "x"}),
                  statuses=(403,), abuse=True)

    with section(ledger, 'staff acting on conversations they do not own'):
        # -- staff acting on conversations they do not own --
        admin = staff(base, "admin", "admin123")
        owner_conversation = _claimed(base, agent)
        if owner_conversation:
            for action, kw in (("messages", {"json": {"text": "我不是负责人"}}), ("resolve", {}), ("release", {})):
                judge(ledger, G, f"POST /api/agent/conversations/{{id}}/{action}", "admin acting on the agent's conversation",
                      lambda action=action, kw=kw: admin.post(f"/api/agent/conversations/{owner_conversation}/{action}", **kw),
                      statuses=(403,), code="not_owner", abuse=True)
            judge(ledger, G, "POST /api/agent/handoffs/{id}/claim", "claiming an already claimed handoff",
                  lambda: admin.post(f"/api/agent/handoffs/{_handoff_of(server, owner_conversation)}/claim"),
                  statuses=(409,), abuse=True)


def _clear(r: httpx.Response) -> bool:
    from tests.reliability.harness import is_clear

    return is_clear(r)


def _claimed(base: str, agent: httpx.Client):
    from tests.reliability.corpus import claimed_conversation

    try:
        return claimed_conversation(base, agent)
    except Exception:  # noqa: BLE001
        return None


def _handoff_of(server: Server, conversation_id: int) -> int:
    return db_query(server.site.database_url, "SELECT max(id) FROM handoffs WHERE conversation_id = :c",
                    c=conversation_id)[0][0] or 1


def jpeg_with_comment(comment: bytes) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(out, format="JPEG")
    data = out.getvalue()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + segment + data[2:]


def ws_refusals(ledger: Ledger, server: Server, forged: dict) -> None:
    import asyncio

    import websockets

    async def attempt(value: str) -> str:
        try:
            ws = await websockets.connect(server.ws_url + "/ws/chat", extra_headers={"Cookie": f"wuye_resident={value}"},
                                          open_timeout=15, ping_interval=None)
        except websockets.InvalidStatusCode as exc:
            return f"refused {exc.status_code}"
        try:
            frame = await asyncio.wait_for(ws.recv(), 10)
            return f"ACCEPTED: {frame[:100]}"
        except websockets.ConnectionClosed as exc:
            return f"closed {exc.code}"
        finally:
            await ws.close()

    for label, value in forged.items():
        try:
            outcome = asyncio.run(attempt(value))
        except Exception as exc:  # noqa: BLE001
            outcome = f"error {exc!r}"
        ok = outcome.startswith("refused 403") or outcome.startswith("closed 4401")
        ledger.record(G, "WS /ws/chat", label, "refused (403 handshake or close 4401)", ok, outcome,
                      "impersonation accepted" if outcome.startswith("ACCEPTED") else "mismatch", abuse=True, clear_4xx=ok)

"""Faults: kill -9 mid-flow, Redis stop/start, killed database connections, two instances behind nginx with a soak
and a kill-restart of one instance in the middle."""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import threading
import time
import uuid
from typing import Any, Dict, List, Optional

import httpx
import websockets

from tests.reliability.corpus import ws_recv_until
from tests.reliability.harness import (HTTP_TIMEOUT, Ledger, Nginx, PrivateRedis, Server, Site, client, cookie_header,
                                       db_query, resident, staff, terminate_pg_backends)

MARK = re.compile(r"\[#([A-Za-z0-9]+)-(\d+)\]")
QUESTIONS = ["物业几点上班", "停车费怎么收", "快递放在哪里", "垃圾几点可以扔", "物业费怎么交", "小区有健身房吗", "门禁卡丢了怎么办"]


# --- kill -9 in the middle of a repair flow ----------------------------------------------------------------------

def kill9_flow(ledger: Ledger, site: Site, label: str) -> None:
    g = f"kill -9 mid-flow ({label})"
    server = Server(site, f"kill9-{label}").start()
    res = resident(server.url)
    tag = uuid.uuid4().hex[:6]
    before = [f"厨房水管漏水了 {tag}", "3栋2单元501"]
    after = ["一般", "13800138000", "明天上午"]
    sent: List[str] = []
    accepted: List[str] = []

    def say(text: str) -> Optional[httpx.Response]:
        sent.append(text)
        try:
            r = res.post("/api/widget/messages", json={"text": text})
        except httpx.HTTPError as exc:
            ledger.record(g, "POST /api/widget/messages", text, "200", False, repr(exc),
                          "hang" if isinstance(exc, httpx.TimeoutException) else "5xx")
            return None
        if r.status_code == 200:
            accepted.append(text)
        else:
            ledger.record(g, "POST /api/widget/messages", text, "200", False, f"{r.status_code} {r.text[:160]}",
                          "5xx" if r.status_code >= 500 else "mismatch")
        return r

    for text in before:
        say(text)
    r = res.get("/api/widget/history").json()
    asked_urgency = any("紧急" in m["text"] for m in r["messages"] if m["sender"] == "bot")
    server.kill9()
    started = time.time()
    server.start()
    ledger.phases[g] = f"killed after 2 of 5 flow messages; back in {time.time() - started:.1f} s"
    replies = [say(text) for text in after]
    final = " ".join(x["text"] for x in (replies[-1].json()["replies"] if replies[-1] is not None and
                                         replies[-1].status_code == 200 else []))
    number = re.search(r"WO\d{8,}", final)
    ledger.record(g, "POST /api/widget/messages", "the flow finished after kill -9 and restart",
                  "the flow goes on where it was (urgency asked before the kill) and creates the work order",
                  asked_urgency and number is not None, f"urgency asked before kill: {asked_urgency}; last reply: {final[:160]}")
    if number:
        rows = db_query(site.database_url, "SELECT count(*) FROM work_orders WHERE number = :n", n=number.group(0))
        ledger.record(g, "database: work_orders", number.group(0), "the work order is stored once", rows[0][0] == 1,
                      f"{rows[0][0]} rows")
    history = [m["text"] for m in res.get("/api/widget/history").json()["messages"] if m["sender"] == "resident"]
    stored = sum(1 for t in accepted if t in history)
    ledger.messages(sent=len(sent), accepted=len(accepted), stored=stored, lost=len(accepted) - stored)
    ledger.record(g, "GET /api/widget/history", "every message of the flow", "all stored, in order",
                  stored == len(accepted) and history[-len(sent):] == sent, f"{stored}/{len(accepted)} stored: {history[-6:]}",
                  "lost" if stored < len(accepted) else "mismatch")

    # kill -9 while a turn is being processed: the answer either came back (then it is stored) or the client resends
    res2 = resident(server.url)
    text = f"物业几点上班 inflight-{tag}"
    result: Dict[str, Any] = {}

    def send() -> None:
        try:
            result["r"] = res2.post("/api/widget/messages", json={"text": text})
        except httpx.HTTPError as exc:
            result["e"] = exc

    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.03)
    server.kill9()
    t.join(HTTP_TIMEOUT + 5)
    server.start()
    got = result.get("r")
    answered = got is not None and got.status_code == 200
    if not answered:
        res2.post("/api/widget/messages", json={"text": text})  # the widget resends what got no answer
    history = [m["text"] for m in res2.get("/api/widget/history").json()["messages"] if m["sender"] == "resident"]
    copies = history.count(text)
    ledger.messages(sent=1, accepted=1, stored=min(copies, 1), lost=0 if copies else 1, duplicated=max(0, copies - 1))
    ledger.record(g, "POST /api/widget/messages", "kill -9 30 ms into a turn, then resend if unanswered",
                  "stored exactly once", copies == 1,
                  f"first attempt: {'answered' if answered else 'no answer (' + type(result.get('e')).__name__ + ')'}; "
                  f"stored {copies}×", "lost" if copies == 0 else "mismatch")
    server.stop()


# --- the cluster: two instances, one PostgreSQL, one (private) Redis, nginx ---------------------------------------

class Cluster:
    def __init__(self, work, ledger: Ledger) -> None:
        self.redis = PrivateRedis()
        self.redis.start()
        try:
            self._up(work)
        except BaseException:
            self.redis.stop()
            raise
        self.ledger = ledger

    def _up(self, work) -> None:
        self.site = Site(work, "cluster", "postgresql", self.redis.url)
        self.site.env_extra["WUYE_LIMIT_MESSAGES_PER_SENDER"] = os.environ.get("WUYE_REL_SOAK_LIMIT", "120/60")
        self.site.prepare()
        self.a = Server(self.site, "instance-a")
        self.b = Server(self.site, "instance-b")
        self.a.start(wait=False)
        self.b.start(wait=False)
        self.a.wait_healthy()
        self.b.wait_healthy()
        self.nginx = Nginx(work, [self.a, self.b])
        self.nginx.start()

    def close(self) -> None:
        for part in (self.nginx, self.a, self.b, self.redis):
            try:
                part.stop()
            except Exception:  # noqa: BLE001
                pass
        self.site.close()


async def _socket(url: str, cookie: str):
    ws = await websockets.connect(url + "/ws/chat", extra_headers={"Cookie": cookie}, open_timeout=HTTP_TIMEOUT,
                                  ping_interval=None, max_size=None)
    await ws_recv_until(ws, lambda f: f.get("type") == "history")
    return ws


async def _live_case(ledger: Ledger, g: str, label: str, ws_url: str, post_base: str, res: httpx.Client,
                     timeout: float = 10) -> bool:
    ws = await _socket(ws_url, cookie_header(res))
    text = f"物业几点上班 [#live{uuid.uuid4().hex[:6]}-1]"
    try:
        r = await asyncio.to_thread(lambda: httpx.post(post_base + "/api/widget/messages", json={"text": text},
                                                       cookies=res.cookies, timeout=HTTP_TIMEOUT))
        accepted = r.status_code == 200
        try:
            await ws_recv_until(ws, lambda f: f.get("type") == "message" and f.get("text") == text, timeout)
            seen = True
        except asyncio.TimeoutError:
            seen = False
        ledger.messages(sent=1, accepted=int(accepted))
        ledger.record(g, "WS /ws/chat", label, f"the message appears live on the other instance within {timeout:.0f} s",
                      accepted and seen, f"POST {r.status_code}; {'seen' if seen else 'NOT seen'} on the socket")
        return accepted
    finally:
        await ws.close()


def cross_instance(ledger: Ledger, cl: Cluster) -> None:
    g = "two instances"

    async def run() -> None:
        res = resident(cl.nginx.url)
        # the conversation exists first: a socket opened before a resident's first message follows no conversation
        # until that socket itself sends one (see the notes)
        res.post("/api/widget/messages", json={"text": "你好"}).raise_for_status()
        await _live_case(ledger, g, "POST on A, WebSocket on B", cl.b.ws_url, cl.a.url, res)
        await _live_case(ledger, g, "POST on B, WebSocket on A", cl.a.ws_url, cl.b.url, res)
        await _live_case(ledger, g, "POST through nginx, WebSocket on A", cl.a.ws_url, cl.nginx.url, res)
        # an agent on B answers a resident whose socket is on A
        agent = staff(cl.b.url, "agent", "agent123")
        agent_ws = await websockets.connect(cl.b.ws_url + "/ws/agent", extra_headers={"Cookie": cookie_header(agent, "wuye_staff")},
                                            open_timeout=HTTP_TIMEOUT, ping_interval=None)
        await ws_recv_until(agent_ws, lambda f: f.get("type") == "queue")
        other = resident(cl.a.url)
        other.post("/api/widget/messages", json={"text": "你好"}).raise_for_status()
        ws = await _socket(cl.a.ws_url, cookie_header(other))
        marker = f"我要找人工 {uuid.uuid4().hex[:6]}"
        other.post("/api/widget/messages", json={"text": marker}).raise_for_status()
        try:
            await ws_recv_until(agent_ws, lambda f: marker in json.dumps(f, ensure_ascii=False)
                                or f.get("type") in ("event", "queue") and f.get("kind", "handoff_opened") == "handoff_opened", 10)
            seen_queue = True
        except asyncio.TimeoutError:
            seen_queue = False
        ledger.record(g, "WS /ws/agent", "a handoff opened on A", "reaches the agent's socket on B", seen_queue,
                      "seen" if seen_queue else "not seen within 10 s")
        queue = agent.get("/api/agent/queue").json()["queue"]
        item = next((q for q in queue if marker in json.dumps(q, ensure_ascii=False)), None)
        if item is None:
            ledger.record(g, "GET /api/agent/queue", marker, "the handoff in the queue", False, "not in the queue")
        else:
            conversation = agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").json()["conversation_id"]
            reply = f"您好，我来处理 [#agent{uuid.uuid4().hex[:4]}-1]"
            r = agent.post(f"/api/agent/conversations/{conversation}/messages", json={"text": reply})
            try:
                await ws_recv_until(ws, lambda f: f.get("type") == "message" and f.get("text") == reply, 10)
                seen = True
            except asyncio.TimeoutError:
                seen = False
            ledger.record(g, "WS /ws/chat", "an agent's reply sent on B", "appears live on the resident's socket on A",
                          r.status_code == 200 and seen, f"reply {r.status_code}; {'seen' if seen else 'NOT seen'}")
        await ws.close()
        await agent_ws.close()

    asyncio.run(run())


def redis_outage(ledger: Ledger, cl: Cluster) -> None:
    g = "Redis stop/start"

    async def run() -> None:
        res = resident(cl.nginx.url)
        res.post("/api/widget/messages", json={"text": "你好"}).raise_for_status()
        ws = await _socket(cl.b.ws_url, cookie_header(res))
        cl.redis.stop()
        await asyncio.sleep(1)
        texts = [f"物业几点上班 [#redis{uuid.uuid4().hex[:4]}-{i}]" for i in range(3)]
        accepted = 0
        for text in texts:
            r = await asyncio.to_thread(lambda t=text: httpx.post(cl.a.url + "/api/widget/messages", json={"text": t},
                                                                 cookies=res.cookies, timeout=HTTP_TIMEOUT))
            accepted += r.status_code == 200
            ledger.record(g, "POST /api/widget/messages (A)", "while Redis is down", "200: stored and answered",
                          r.status_code == 200, f"{r.status_code} {r.text[:120]}", "5xx" if r.status_code >= 500 else "mismatch")
        ready = httpx.get(cl.a.url + "/api/ready", timeout=HTTP_TIMEOUT)
        ledger.record(g, "GET /api/ready (A)", "while Redis is down", "503 with checks.redis = down",
                      ready.status_code == 503, f"{ready.status_code} {ready.text[:160]}")
        cl.redis.start()
        seen = set()
        try:
            while len(seen) < len(texts):
                frame = await ws_recv_until(ws, lambda f: f.get("type") == "message" and f.get("text") in texts, 30)
                seen.add(frame["text"])
        except asyncio.TimeoutError:
            pass
        ledger.record(g, "WS /ws/chat (B)", "messages published on A during the outage",
                      "delivered to B's socket once Redis is back (within 30 s)", len(seen) == len(texts),
                      f"{len(seen)}/{len(texts)} delivered")
        history = [m["text"] for m in res.get("/api/widget/history").json()["messages"]]
        stored = sum(1 for t in texts if t in history)
        ledger.messages(sent=len(texts), accepted=accepted, stored=min(stored, accepted), lost=max(0, accepted - stored))
        if stored < accepted:
            ledger.record(g, "GET /api/widget/history", "messages sent during the Redis outage", "all stored", False,
                          f"{stored}/{accepted} stored", "lost")
        for server in (cl.a, cl.b):
            deadline = time.time() + 30
            while time.time() < deadline and httpx.get(server.url + "/api/ready", timeout=HTTP_TIMEOUT).status_code != 200:
                await asyncio.sleep(0.5)
            r = httpx.get(server.url + "/api/ready", timeout=HTTP_TIMEOUT)
            ledger.record(g, f"GET /api/ready ({server.name})", "after Redis is back", "200 within 30 s",
                          r.status_code == 200, f"{r.status_code}")
        await ws.close()

    asyncio.run(run())


def database_kills(ledger: Ledger, cl: Cluster) -> None:
    g = "database connection kills"
    stop = threading.Event()
    kills = [0]

    def killer() -> None:
        while not stop.is_set():
            try:
                kills[0] += terminate_pg_backends(cl.site.pg_name)
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.2)

    residents = [resident(cl.nginx.url) for _ in range(4)]
    thread = threading.Thread(target=killer)
    thread.start()
    sent: Dict[int, List[str]] = {i: [] for i in range(4)}
    accepted: Dict[int, List[str]] = {i: [] for i in range(4)}
    statuses: Dict[int, int] = {}

    def talk(i: int) -> None:
        for n in range(10):
            text = f"{QUESTIONS[n % len(QUESTIONS)]} [#pg{i}x-{n}]"
            sent[i].append(text)
            try:
                r = residents[i].post("/api/widget/messages", json={"text": text})
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    accepted[i].append(text)
                elif r.status_code >= 500:
                    ledger.record(g, "POST /api/widget/messages", text, "200 (the turn retried on a fresh connection)",
                                  False, f"{r.status_code} {r.text[:160]}", "5xx")
            except httpx.HTTPError as exc:
                ledger.record(g, "POST /api/widget/messages", text, "200", False, repr(exc),
                              "hang" if isinstance(exc, httpx.TimeoutException) else "5xx")
            time.sleep(0.1)

    workers = [threading.Thread(target=talk, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    thread.join()
    time.sleep(1)
    lost = 0
    stored_total = 0
    for i, res in enumerate(residents):
        history = [m["text"] for m in res.get("/api/widget/history").json()["messages"] if m["sender"] == "resident"]
        stored = [t for t in accepted[i] if t in history]
        stored_total += len(stored)
        lost += len(accepted[i]) - len(stored)
        for t in accepted[i]:
            if t not in history:
                ledger.record(g, "GET /api/widget/history", t, "stored", False, "accepted (200) but not stored", "lost")
    total_sent = sum(map(len, sent.values()))
    total_accepted = sum(map(len, accepted.values()))
    ledger.messages(sent=total_sent, accepted=total_accepted, stored=stored_total, lost=lost)
    ledger.record(g, "POST /api/widget/messages", f"40 messages while backends are terminated every 0.2 s ({kills[0]} killed)",
                  "every message accepted and stored", total_accepted == total_sent and lost == 0,
                  f"statuses {statuses}; {total_accepted}/{total_sent} accepted, {stored_total} stored")
    ledger.phases[g] = f"{kills[0]} PostgreSQL backends terminated during 40 messages; statuses {statuses}"


# --- the soak ------------------------------------------------------------------------------------------------

class Soak:
    def __init__(self, ledger: Ledger, cl: Cluster, seconds: float, http_residents: int, ws_residents: int) -> None:
        self.ledger, self.cl, self.seconds = ledger, cl, seconds
        self.http_n, self.ws_n = http_residents, ws_residents
        self.kill_window = [float("inf"), float("inf")]
        self.sent: Dict[str, List[str]] = {}
        self.accepted: Dict[str, List[str]] = {}
        self.interrupted = 0
        self.refused429 = 0
        self.frames_cross: List[str] = []
        self.errors: List[str] = []
        self.reconnects = 0
        self.cookies: Dict[str, httpx.Cookies] = {}

    def in_kill_window(self) -> bool:
        return self.kill_window[0] <= time.time() <= self.kill_window[1]

    def record_error(self, rid: str, text: str, category: str, outcome: str) -> None:
        self.ledger.record("soak", "POST /api/widget/messages" if rid.startswith("h") else "WS /ws/chat", text,
                           "accepted", False, outcome, category)

    async def http_resident(self, rid: str, end: float) -> None:
        c = httpx.AsyncClient(base_url=self.cl.nginx.url, timeout=HTTP_TIMEOUT)
        await c.post("/api/widget/session")
        self.cookies[rid] = c.cookies
        n = 0
        while time.time() < end:
            text = f"{random.choice(QUESTIONS)} [#{rid}-{n}]"
            n += 1
            self.sent[rid].append(text)
            for attempt in range(6):
                try:
                    r = await c.post("/api/widget/messages", json={"text": text})
                except httpx.TimeoutException:
                    if self.in_kill_window():
                        self.interrupted += 1
                        await asyncio.sleep(1.5)
                        continue
                    self.record_error(rid, text, "hang", f"timeout after {HTTP_TIMEOUT:.0f} s")
                    break
                except httpx.TransportError as exc:
                    if self.in_kill_window():
                        self.interrupted += 1
                        await asyncio.sleep(1.5)
                        continue
                    self.record_error(rid, text, "5xx", f"connection dropped {exc!r}")
                    break
                if r.status_code == 200:
                    self.accepted[rid].append(text)
                    if MARK.findall(r.text) and any(m[0] != rid for m in MARK.findall(r.text)):
                        self.frames_cross.append(f"{rid} got {MARK.findall(r.text)}")
                    break
                if r.status_code in (502, 503, 504) and self.in_kill_window():
                    self.interrupted += 1
                    await asyncio.sleep(1.5)
                    continue
                if r.status_code == 429:
                    self.refused429 += 1
                    break
                self.record_error(rid, text, "5xx" if r.status_code >= 500 else "mismatch", f"{r.status_code} {r.text[:160]}")
                break
            await asyncio.sleep(random.uniform(1.5, 3.0))
        await c.aclose()

    async def ws_resident(self, rid: str, end: float) -> None:
        c = httpx.AsyncClient(base_url=self.cl.nginx.url, timeout=HTTP_TIMEOUT)
        await c.post("/api/widget/session")
        self.cookies[rid] = c.cookies
        cookie = f"wuye_resident={c.cookies.get('wuye_resident')}"
        pending: Dict[str, float] = {}
        acked: set = set()
        n = 0
        ws = None

        async def connect():
            delay = 0.5
            while time.time() < end + 30:
                try:
                    sock = await websockets.connect(self.cl.nginx.ws_url + "/ws/chat", extra_headers={"Cookie": cookie},
                                                    open_timeout=10, ping_interval=None, max_size=None)
                    first = json.loads(await asyncio.wait_for(sock.recv(), 10))
                    if first.get("type") == "history":
                        for m in first.get("messages", []):
                            self.check_cross(rid, m.get("text", ""))
                            if m.get("sender") == "resident" and m.get("text") in pending:
                                pending.pop(m["text"])
                                acked.add(m["text"])
                    return sock
                except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 4)
            return None

        async def reader(sock):
            async for raw in sock:
                frame = json.loads(raw)
                text = frame.get("text") or ""
                self.check_cross(rid, text)
                if frame.get("type") == "message" and frame.get("sender") == "resident" and text in pending:
                    pending.pop(text)
                    acked.add(text)
                elif frame.get("type") == "error":
                    self.errors.append(f"{rid}: {frame}")

        ws = await connect()
        read_task = asyncio.create_task(reader(ws)) if ws else None
        next_send = time.time()
        while time.time() < end or (pending and time.time() < end + 30):
            if read_task is not None and read_task.done():
                self.reconnects += 1
                exc = read_task.exception() if not read_task.cancelled() else None
                if not self.in_kill_window():
                    if exc is not None and not isinstance(exc, websockets.ConnectionClosed):
                        self.record_error(rid, "socket", "5xx", repr(exc))
                ws = await connect()
                read_task = asyncio.create_task(reader(ws)) if ws else None
                for text, at in list(pending.items()):  # resend what got no acknowledgement (not in the history)
                    if ws is not None:
                        try:
                            await ws.send(json.dumps({"type": "message", "text": text}))
                            pending[text] = time.time()
                        except websockets.WebSocketException:
                            pass
                continue
            if time.time() < end and time.time() >= next_send and ws is not None:
                text = f"{random.choice(QUESTIONS)} [#{rid}-{n}]"
                n += 1
                self.sent[rid].append(text)
                pending[text] = time.time()
                try:
                    await ws.send(json.dumps({"type": "message", "text": text}))
                except websockets.WebSocketException:
                    pass
                next_send = time.time() + random.uniform(1.5, 3.0)
            for text, at in list(pending.items()):
                if time.time() - at > HTTP_TIMEOUT and not self.in_kill_window():
                    self.record_error(rid, text, "hang", f"no acknowledgement within {HTTP_TIMEOUT:.0f} s")
                    pending.pop(text)
            await asyncio.sleep(0.1)
        self.accepted[rid].extend(t for t in self.sent[rid] if t in acked)
        for text in pending:
            self.record_error(rid, text, "hang", "never acknowledged, even after reconnecting")
        if read_task is not None:
            read_task.cancel()
        if ws is not None:
            await ws.close()
        await c.aclose()

    def check_cross(self, rid: str, text: str) -> None:
        for owner, _ in MARK.findall(text or ""):
            if owner != rid and not owner.startswith(("live", "agent", "redis", "pg")):
                self.frames_cross.append(f"{rid} saw {owner}'s message: {text[:80]}")

    async def killer(self, start: float) -> None:
        await asyncio.sleep(self.seconds / 2)
        self.kill_window[0] = time.time()
        self.cl.a.kill9()
        self.ledger.notes.append(f"soak: instance A killed with SIGKILL at t={time.time() - start:.0f} s")
        took = await asyncio.to_thread(lambda: (self.cl.a.start(wait=False), self.cl.a.wait_healthy())[1])
        self.kill_window[1] = time.time() + 5
        self.ledger.phases["soak kill-restart"] = (f"instance A killed -9 at t={self.kill_window[0] - start:.0f} s, "
                                                   f"healthy again {took:.1f} s later")

    async def run(self) -> None:
        start = time.time()
        end = start + self.seconds
        ids = [f"h{i}r" for i in range(self.http_n)] + [f"w{i}r" for i in range(self.ws_n)]
        for rid in ids:
            self.sent[rid], self.accepted[rid] = [], []
        tasks = [self.http_resident(rid, end) if rid.startswith("h") else self.ws_resident(rid, end) for rid in ids]
        await asyncio.gather(self.killer(start), *tasks)

    def verify(self) -> None:
        g = "soak"
        lost = stored_total = duplicated = 0
        for rid, texts in self.sent.items():
            r = httpx.get(self.cl.nginx.url + "/api/widget/history", cookies=self.cookies[rid], timeout=HTTP_TIMEOUT)
            messages = [m for m in r.json()["messages"]] if r.status_code == 200 else []
            resident_texts = [m["text"] for m in messages if m["sender"] == "resident"]
            for m in messages:
                self.check_cross(rid, m["text"])
            for t in self.accepted[rid]:
                copies = resident_texts.count(t)
                if copies == 0:
                    lost += 1
                    self.ledger.record(g, "GET /api/widget/history", f"{rid}: {t}", "stored", False,
                                       "accepted but not stored", "lost")
                else:
                    stored_total += 1
                    duplicated += copies - 1
        sent = sum(map(len, self.sent.values()))
        accepted = sum(map(len, self.accepted.values()))
        self.ledger.messages(sent=sent, accepted=accepted, stored=stored_total, lost=lost, duplicated=duplicated)
        self.ledger.cross_reads += len(self.frames_cross)
        for line in self.frames_cross[:20]:
            self.ledger.record(g, "history / WS frames", line, "only the resident's own messages", False, line,
                               "cross-household read")
        self.ledger.record(g, "nginx → A/B", f"{self.seconds:.0f} s, {self.http_n} HTTP + {self.ws_n} WebSocket residents, "
                           "kill -9 of A in the middle", "every accepted message stored, none read by another resident",
                           lost == 0 and not self.frames_cross,
                           f"sent {sent}, accepted {accepted}, stored {stored_total}, lost {lost}, duplicated {duplicated}, "
                           f"429 {self.refused429}, interrupted by the kill and retried {self.interrupted}, "
                           f"WebSocket reconnects {self.reconnects}, error frames {len(self.errors)}",
                           "lost" if lost else "cross-household read")
        self.ledger.phases["soak"] = (f"{self.seconds:.0f} s; sent {sent}, accepted {accepted}, stored {stored_total}, "
                                      f"lost {lost}, duplicated {duplicated}; {self.interrupted} requests interrupted by "
                                      f"the kill (retried by the client, not counted as 5xx); {self.reconnects} socket reconnects")
        for e in self.errors[:5]:
            self.ledger.notes.append(f"soak error frame: {e[:200]}")


def soak(ledger: Ledger, cl: Cluster, seconds: float) -> None:
    s = Soak(ledger, cl, seconds, http_residents=6, ws_residents=4)
    asyncio.run(s.run())
    s.verify()

"""`wuye bench chat`: whole turns of /api/chat under a closed loop of concurrent residents, per kind of turn.

Each resident (one keep-alive connection, :class:`RawHttpClient`) plays conversations drawn in turn from a mix:
a FAQ question (tests/heldout: heldout.yml's faq items and styles.yml), a repair flow to its work order (我要报修 →
description → location → the urgency button's payload), a fee look-up (the first one binds the resident to a
demo household: room → the SMS code → 验证成功; later ones are bound), a request for a person, an emergency, an
outage report, a complaint and a multi-part message. Every conversation but the fee look-up is a fresh sender, so
handoffs and flows do not pile up on one resident; the fee look-up keeps one bound sender per resident.

The SMS code is read from the server's log (the development sender logs it, bot/core/notify.py), so binding only
happens against a server this command started; with ``--url`` the fee look-up goes as far as asking the room.
The server's per-sender, per-address and paging limits are raised: one address speaks for every resident here.
The served processes' CPU (user + system, read from /proc before and after the load) is printed per turn.
``--sql``: afterwards, the app in this process (FastAPI's TestClient) on the same database plays each kind of
conversation a few times, one turn at a time, counting the statements its engine executes (SQLAlchemy's
``before_cursor_execute``) per turn, and the turn's CPU: the engine's thread and the whole process (see ``_play``);
the server's timers run meanwhile and are counted too (noise, small). Nothing is asserted: it prints figures.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import re
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import sqlalchemy as sa
import yaml

from bot.access import auth
from bot.kb.community import load_communities
from bot.main import create_app
from bot.nlu.parser import NluParser
from bot.core.localtime import utcnow
from bot.core.notify import mask_phone
from bot.core.settings import PROJECT_ROOT, Settings
from bot.nlu.training import current_model, train
from bot.storage.db import open_database
from bot.storage.models import Bill, Household
from bot.tools.bench import _percentile
from bot.tools.bench_serve import RawHttpClient, Server, _env, _parse_probe, wait_for_workers
from bot.tools.demo import load_demo_data
from bot.tools.devserver import free_port

KINDS = ("faq", "repair", "binding", "fee", "person", "emergency", "outage", "complaint", "multi")
# a conversation kind's weight in the mix (FAQ questions are most of a real day's messages)
MIX = ("faq", "faq", "faq", "repair", "fee", "person", "emergency", "outage", "complaint", "multi", "faq", "repair")
OUTAGES = ("9栋停水了", "我家停电了，整栋楼都没电", "3号楼怎么停水了", "5栋停电了什么时候来电", "2栋没有热水了，是不是停气了")
# each location with a phone: without one the flow asks for it (a fifth turn)
REPAIRS = (("厨房水龙头漏水", "3栋2单元501，13800138000，明天上午"), ("卫生间马桶堵了", "5栋1单元302，13700137000，今天下午"),
           ("客厅灯不亮了", "2栋2单元701，电话13600136000，周六上午"), ("阳台下水道反水", "7栋1单元602，13912345678，晚上7点后"))
FEE_QUESTION = "查一下我家物业费"
LIMITS_RAISED = {f"WUYE_LIMIT_{name}": "1000000/60" for name in (
    "MESSAGES_PER_SENDER", "CODES_PER_IP", "CODES_OVERALL", "CODES_PER_ROOM", "CODES_PER_IDENTITY", "CODE_COOLDOWN",
    "PAGES_PER_INCIDENT", "PAGES_PER_SENDER", "PAGES_PER_IP", "PAGES_PER_COMMUNITY")}


def _strip(text: str) -> str:
    """A held-out line without its entity markup ("[周日](time)") and emotion tag (" @anxious")."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"\s+@\w+$", "", text).strip()


def texts() -> Dict[str, List[str]]:
    folder = PROJECT_ROOT / "tests" / "heldout"
    heldout = yaml.safe_load((folder / "heldout.yml").read_text(encoding="utf-8"))["heldout"]
    styles = yaml.safe_load((folder / "styles.yml").read_text(encoding="utf-8"))["styles"]
    faq = [_strip(str(t)) for label, items in heldout.items() if label.startswith("faq/") for t in items]
    faq += [item["text"] for items in styles.values() for item in items
            if isinstance(item["label"], str) and item["label"].startswith("faq/")]
    return {"faq": faq, "person": [_strip(str(t)) for t in heldout["human_agent"]],
            "emergency": [_strip(str(t)) for t in heldout["emergency"]],
            "complaint": [_strip(str(t)) for t in heldout["complaint"]],
            "multi": [item["text"] for item in styles["multi"]], "outage": list(OUTAGES)}


@dataclass
class Resident:
    community: Optional[str] = None  # the demo household to bind (None: the fee look-up stops at the room question)
    label: str = ""
    tail: str = ""
    bound: bool = False


@dataclass
class Tally:
    latencies: Dict[str, List[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unexpected: Dict[str, int] = field(default_factory=lambda: defaultdict(int))  # a flow that did not end as it should


class SmsLog:
    """The codes the started server logged, by masked phone (尾号1234), newest last."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path

    def code_for(self, tail: str) -> Optional[str]:
        if not self.path:
            return None
        found = re.findall(re.escape(tail) + r"[^\n]*?验证码是\s*(\d{6})", Path(self.path).read_text("utf-8", "replace"))
        return found[-1] if found else None


class Start:
    """With ``--warmup``: the residents' clock starts once every one of them has had one turn answered that is not
    counted (an FAQ question from a sender of its own), so the counted turns do not include a freshly started
    server's first requests (the first 16 took 0.7–1.9 s, every kind alike: docs/figures/2026-12-07-turn-cpu-d.md)
    nor the connections being made."""

    def __init__(self, residents: int, seconds: float) -> None:
        self.waiting, self.seconds = residents, seconds
        self.released = asyncio.Event()
        self.started = self.stop = 0.0

    async def wait(self) -> float:
        self.waiting -= 1
        if self.waiting == 0:
            self.started = time.perf_counter()
            self.stop = self.started + self.seconds
            self.released.set()
        await self.released.wait()
        return self.stop


WARMUP = "物业几点上班"


async def resident_loop(url: str, key: str, run: str, r: int, resident: Resident, stop: float, tally: Tally,
                        pools: Dict[str, List[str]], sms: SmsLog, start: Optional[Start] = None) -> None:
    http = RawHttpClient(url, {"Authorization": f"Bearer {key}"})
    if start is not None:
        try:
            await asyncio.wait_for(http.post("/api/chat", {"sender_id": f"chat-{run}-{r}-warmup", "text": WARMUP}), 30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            await http.close()
        stop = await start.wait()

    async def say(kind: str, sender: str, text: str, community: Optional[str] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"sender_id": sender, "text": text}
        if community:
            body["community"] = community
        started = time.perf_counter()
        try:
            status, data = await asyncio.wait_for(http.post("/api/chat", body), 30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            status, data = 0, b""
            await http.close()
        if status != 200:
            tally.errors[kind] += 1
            return {}
        tally.latencies[kind].append(time.perf_counter() - started)
        return json.loads(data)

    def said(answer: Dict[str, Any]) -> str:
        return "\n".join(reply.get("text", "") for reply in answer.get("replies", []))

    i = 0
    try:
        while time.perf_counter() < stop:
            kind = MIX[(r * 5 + i) % len(MIX)]
            sender = f"chat-{run}-{r}-{i}"
            n = r * 7 + i
            if kind == "repair":
                what, where = REPAIRS[n % len(REPAIRS)]
                await say(kind, sender, "我要报修")
                await say(kind, sender, what)
                answer = await say(kind, sender, where)
                buttons = [b for reply in answer.get("replies", []) for b in reply.get("buttons") or []]
                pick = next((b for b in buttons if "一般" in b.get("title", "")), buttons[0] if buttons else None)
                done = await say(kind, sender, pick["payload"] if pick else "一般")
                if "已为您创建维修工单" not in said(done):
                    tally.unexpected[kind] += 1
            elif kind == "fee":
                fee_sender = f"chat-{run}-{r}-fee"
                if resident.community and not resident.bound:
                    await say("binding", fee_sender, FEE_QUESTION, resident.community)
                    sent = said(await say("binding", fee_sender, resident.label, resident.community))
                    code = None
                    for _ in range(50 if "验证码已发送" in sent else 0):  # the log line may reach the file late
                        code = sms.code_for(resident.tail)
                        if code:
                            break
                        await asyncio.sleep(0.02)
                    ok = "验证成功" in said(await say("binding", fee_sender, code)) if code else False
                    resident.bound = ok
                    if not ok:
                        tally.unexpected["binding"] += 1
                        resident.community = None  # not again: the rest of its fee look-ups stop at the room question
                answer = said(await say(kind, fee_sender if resident.bound else sender, "我家还欠多少物业费"))
                if resident.bound and resident.label not in answer:
                    tally.unexpected[kind] += 1
            else:
                pool = pools[kind]
                await say(kind, sender, pool[n % len(pool)])
            i += 1
    finally:
        await http.close()


def demo_residents(database_url: str, count: int) -> List[Resident]:
    """Residents of demo households with unpaid bills, each with a phone ending its own way (codes are found by it)."""
    db = open_database(database_url)
    try:
        with db.session() as session:
            rows = session.execute(sa.select(Household).where(Household.id.in_(
                sa.select(Bill.household_id).where(Bill.paid.is_(False)))).order_by(Household.id)).scalars().all()
            residents, tails = [], set()
            for h in rows:
                tail = mask_phone(h.phone)
                if tail not in tails:
                    tails.add(tail)
                    residents.append(Resident(h.community_id, h.label, tail))
    finally:
        db.engine.dispose()
    return (residents + [Resident() for _ in range(count)])[:count]


async def _drive(url: str, key: str, residents: List[Resident], seconds: float, pools: Dict[str, List[str]],
                 sms: SmsLog, warmup: bool = False) -> Tuple[Tally, float]:
    tally, run = Tally(), uuid.uuid4().hex[:6]
    start = Start(len(residents), seconds) if warmup else None
    started = time.perf_counter()
    await asyncio.gather(*(resident_loop(url, key, run, r, res, started + seconds, tally, pools, sms, start)
                           for r, res in enumerate(residents)))
    return tally, time.perf_counter() - (start.started if start else started)


def report(tally: Tally, elapsed: float, title: str) -> str:
    total = sum(len(v) for v in tally.latencies.values())
    lines = [title, "", f"overall: {total} turns in {elapsed:.1f} s = {total / elapsed:.1f} msg/s, "
                         f"{sum(tally.errors.values())} errors", "",
             "| kind | turns | p50 ms | p99 ms | errors | flows not ended as expected |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind in KINDS:
        ms = [v * 1000 for v in tally.latencies.get(kind, [])]
        p50 = f"{_percentile(ms, 0.5):.0f}" if ms else "-"
        p99 = f"{_percentile(ms, 0.99):.0f}" if ms else "-"
        lines.append(f"| {kind} | {len(ms)} | {p50} | {p99} | {tally.errors.get(kind, 0)} | "
                     f"{tally.unexpected.get(kind, 0)} |")
    return "\n".join(lines)


def bench_chat(settings: Settings, url: str = "", key: str = "", database: str = "", workers: int = 1,
               residents: int = 16, seconds: float = 20.0, redis_url: str = "", sql: bool = False,
               warmup: bool = False, out: Callable[[str], None] = print) -> str:
    pools = texts()
    if url:  # someone else's server: no log to read codes from, so no binding
        if not key:
            raise SystemExit("--url needs --key: a chat API key of that server (wuye apikey create NAME)")
        tally, elapsed = asyncio.run(_drive(url.rstrip("/"), key, [Resident() for _ in range(residents)], seconds,
                                            pools, SmsLog(None), warmup))
        text = report(tally, elapsed, f"# wuye bench chat: {url}, {residents} residents, {seconds:g} s"
                                      f"{', after a warm-up turn each' if warmup else ''}")
        out(text)
        return text
    with tempfile.TemporaryDirectory() as tmp:
        database = database or f"sqlite:///{tmp}/chat.db"
        db = open_database(database)  # migrated here first, so workers do not race to create the schema
        with db.session() as session:
            load_demo_data(session, load_communities(settings.communities_file))  # nothing if it has data already
        with db.session() as session:
            _, key = auth.create_api_key(session, "bench chat", None, utcnow())
        db.engine.dispose()
        people = demo_residents(database, residents)
        model = current_model(settings) or train(settings).model_path
        port = free_port()
        extra = {"WUYE_REDIS_URL": redis_url} if redis_url else {}
        env = _env(WUYE_DATABASE_URL=database, WUYE_MODELS_DIR=str(settings.models_dir), **LIMITS_RAISED, **extra)
        cmd = [str(Path(sys.executable).parent / "wuye"), "serve", "--port", str(port), "--workers", str(workers)]
        with Server("chat", cmd, env, _parse_probe("/api/parse"), port) as server:
            if workers > 1:
                wait_for_workers(port, workers)
            cpu_before = group_cpu_seconds(server.process.pid)
            loop_before = group_cpu_seconds(server.process.pid, main_threads=True)
            tally, elapsed = asyncio.run(_drive(server.url, key, people, seconds, pools, SmsLog(server.log.name),
                                                warmup))
            server_cpu = group_cpu_seconds(server.process.pid) - cpu_before
            loop_cpu = group_cpu_seconds(server.process.pid, main_threads=True) - loop_before
        kind = database.split(":", 1)[0].split("+", 1)[0]
        text = report(tally, elapsed, f"# wuye bench chat: {kind}, {workers} worker(s){' + Redis' if redis_url else ''}"
                                      f", {residents} residents, {seconds:g} s"
                                      f"{' after a warm-up turn each' if warmup else ''}, {os.cpu_count()} cores, model "
                                      f"{model.name}")
        turns = sum(len(v) for v in tally.latencies.values())
        if turns and server_cpu:
            text += (f"\n\nserver CPU: {server_cpu:.1f} s = {server_cpu * 1000 / turns:.2f} ms per turn "
                     "(user + system of the wuye serve processes; PostgreSQL's and Redis's own not included); "
                     f"of which the event loops' threads {loop_cpu * 1000 / turns:.2f} ms (HTTP, middlewares, "
                     f"FastAPI, the endpoints, announcing, the timers) and the other threads "
                     f"{(server_cpu - loop_cpu) * 1000 / turns:.2f} ms (the turns: NLU, engine, database)")
        if sql:
            text += "\n\nSQL statements per turn (in process, one turn at a time, same database):\n\n"
            text += sql_per_kind(settings, database)
        out(text)
        return text


def group_cpu_seconds(pgid: int, main_threads: bool = False) -> float:
    """User + system CPU seconds of the running processes of a process group so far (Linux /proc; 0 elsewhere).
    ``main_threads``: only each process's main thread, which in a uvicorn worker is the event loop's (the turns run
    on other threads, bot/services.py turn_executor)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields after the name: state, ppid, pgrp, …, utime (12), stime (13)
                continue
            if main_threads:  # the thread whose id is the process's
                fields = (stat.parent / "task" / stat.parent.name / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def _conversation(kind: str, n: int, pools: Dict[str, List[str]], resident: Resident) -> List[str]:
    """The texts of one conversation of a kind (binding and the urgency button's payload are handled by the caller)."""
    if kind == "repair":
        what, where = REPAIRS[n % len(REPAIRS)]
        return ["我要报修", what, where, "/slot urgency normal"]
    if kind == "binding":
        return [FEE_QUESTION, resident.label]
    if kind == "fee":
        return ["我家还欠多少物业费"]
    return [pools[kind][n % len(pools[kind])]]


def sql_per_kind(settings: Settings, database: str, rounds: int = 3) -> str:
    """Statements per turn of each kind, in process (see the module's docstring)."""
    from fastapi.testclient import TestClient

    model = current_model(settings) or train(settings).model_path
    app = create_app(dataclasses.replace(settings, database_url=database,
                                         secret_key=settings.secret_key or "bench"), parser=NluParser.load(model))
    pools, counts, cpu = texts(), defaultdict(list), defaultdict(list)
    current = {"n": 0, "engine": 0.0}
    # the last demo household of its own phone tail: the load's residents took the first ones
    resident = [r for r in demo_residents(database, 10_000) if r.community][-1]

    def count(*_: Any) -> None:
        current["n"] += 1

    saved = {name: os.environ.get(name) for name in LIMITS_RAISED}
    os.environ.update(LIMITS_RAISED)  # as the started server's: the limits are read from the environment
    try:
        with TestClient(app) as client:
            _play(app, client, rounds, pools, resident, counts, current, count, cpu)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    lines = ["| kind | turns counted | SQL statements per turn, mean | min | max | engine CPU ms per turn, median | "
             "process CPU ms per turn, median |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for kind in KINDS:
        values = counts.get(kind) or [0]
        engine = sorted(e for e, _ in cpu.get(kind, [])) or [0.0]
        process = sorted(p for _, p in cpu.get(kind, [])) or [0.0]
        lines.append(f"| {kind} | {len(counts.get(kind, []))} | {sum(values) / len(values):.1f} | {min(values)} | "
                     f"{max(values)} | {_median(engine):.2f} | {_median(process):.2f} |")
    return "\n".join(lines)


def _median(values: List[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _play(app: Any, client: Any, rounds: int, pools: Dict[str, List[str]], resident: Resident,
          counts: Dict[str, List[int]], current: Dict[str, Any], count: Callable[..., None],
          cpu: Dict[str, List[Tuple[float, float]]]) -> None:
    """Each kind's conversation ``rounds`` times, one turn at a time; a turn's statements go to its kind, and so do
    its CPU milliseconds: the engine's (``time.thread_time`` of the turn thread in ``ConversationEngine.handle``:
    parse, database, routing) and the whole process's (``time.process_time`` around the request: HTTP, the
    announcement, this in-process client and the app's timers too)."""
    services = app.state.services
    handle = services.engine.handle

    def timed_handle(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return handle(*args, **kwargs)
        finally:
            current["engine"] += time.thread_time() - started

    services.engine.handle = timed_handle  # (live.run_turn looks it up for each turn)
    with services.db.session() as session:
        _, key = auth.create_api_key(session, "bench chat sql", None, utcnow())
    headers = {"Authorization": f"Bearer {key}"}
    sa.event.listen(services.db.engine, "before_cursor_execute", count)
    run = uuid.uuid4().hex[:6]
    for n in range(rounds):
        for kind in KINDS:
            sender = f"sql-{run}-{kind}-{n}" if kind not in ("binding", "fee") else f"sql-{run}-fee"
            turns = _conversation(kind, n, pools, resident)
            if kind == "binding":
                if n or not resident.community:  # one binding per sender; later rounds are bound
                    continue
                turns.append("")  # the code, read below from the SMS just sent
            for text in turns:
                if kind == "binding" and not text:
                    text = re.search(r"验证码是\s*(\d{6})", services.engine.sms.sent[-1][1]).group(1)
                current["n"], current["engine"] = 0, 0.0
                body = {"sender_id": sender, "text": text, "community": resident.community}
                started = time.process_time()
                client.post("/api/chat", json=body, headers=headers).raise_for_status()
                cpu[kind].append((current["engine"] * 1000, (time.process_time() - started) * 1000))
                counts[kind].append(current["n"])
    sa.event.remove(services.db.engine, "before_cursor_execute", count)
    del services.engine.handle

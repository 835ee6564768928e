"""`wuye bench serve`: stock Rasa's server and ours on the same model archive, under the same bounded load, in one
run; then `/api/chat` (parse + routing + storage) on SQLite and on PostgreSQL.

Each server is a subprocess on a free port: start time is process start → first successful parse; RSS is read
from /proc (the process and its children, i.e. every worker). Load: N concurrent HTTP clients (one
connection each, :class:`RawHttpClient`) sending the styles held-out messages in turn for ``seconds``; latency per request, throughput
= successful requests / seconds. Nothing here is asserted: it prints figures.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import httpx
import yaml

from bot.access import auth
from bot.core.localtime import utcnow
from bot.core.settings import PROJECT_ROOT, Settings
from bot.nlu.training import train
from bot.storage.db import open_database
from bot.storage.models import ChatIdentity, Conversation, Message
from bot.tools.devserver import free_port

CLIENTS = (1, 8, 32)


def _vm_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _children(pid: int) -> List[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def largest_child_rss_mb(pid: int) -> float:
    """The resident memory of the largest direct child (a worker of ``wuye serve --workers``), in MB."""
    sizes = []
    for child in _children(pid) if Path(f"/proc/{pid}").exists() else []:
        try:
            sizes.append(_vm_rss_mb(child))
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
    return max(sizes, default=0.0)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += _vm_rss_mb(current)
            todo += _children(current)
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
    return total


def texts() -> List[str]:
    styles = yaml.safe_load((PROJECT_ROOT / "tests" / "heldout" / "styles.yml").read_text(encoding="utf-8"))["styles"]
    return [item["text"] for items in styles.values() for item in items]


class Server:
    def __init__(self, name: str, cmd: List[str], env: Dict[str, str], probe: Callable[[str], httpx.Response],
                 port: int) -> None:
        self.name, self.cmd, self.env, self.probe, self.port = name, cmd, env, probe, port
        self.url = f"http://127.0.0.1:{port}"
        safe = "".join(ch if ch.isalnum() else "-" for ch in name)
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{safe}-", suffix=".log", delete=False)
        self.process: Optional[subprocess.Popen] = None
        self.start_seconds = 0.0

    def __enter__(self) -> "Server":
        started = time.perf_counter()
        self.process = subprocess.Popen(self.cmd, env=self.env, cwd=PROJECT_ROOT, stdout=self.log, stderr=self.log,
                                        start_new_session=True)
        deadline = started + 300
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log.name}")
            try:
                if self.probe(self.url).status_code == 200:
                    self.start_seconds = time.perf_counter() - started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within 300 s; see {self.log.name}")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def tcp_sockets(port: int, state: str) -> List[str]:
    """The inodes of the sockets on this local TCP port in a state of /proc/net/tcp ("0A" listening, "01"
    established; Linux only, none elsewhere)."""
    inodes = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.append(fields[9])
    return inodes


def listening_sockets(port: int) -> int:
    """How many sockets listen on this TCP port: one per worker with bot/tools/serving.py."""
    return len(tcp_sockets(port, "0A"))


def wait_for_workers(port: int, workers: int, seconds: float = 60) -> None:
    """Each worker listens once its model is loaded; until then the first one would get every connection."""
    deadline = time.perf_counter() + seconds
    while listening_sockets(port) < workers and sys.platform.startswith("linux"):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {listening_sockets(port)} of {workers} workers listen on port {port}")
        time.sleep(0.1)


class RawHttpClient:
    """A minimal HTTP/1.1 keep-alive client for the load (one connection, one request at a time).

    httpx costs ~0.4 ms of CPU per request; on a 2-core machine that shares its cores with the servers under test,
    the load generator would cap both servers' figures. This one writes the request bytes and reads a
    Content-Length response (both servers send one), ~30 µs a request. A connection the server closes is opened
    again; any other shape counts as an error."""

    def __init__(self, url: str, headers: Optional[Dict[str, str]] = None) -> None:
        host_port = url.split("://", 1)[1].rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: {host_port}\r\nContent-Type: application/json\r\n{extra}"
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None

    async def post(self, path: str, body: Dict[str, Any]) -> Tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._writer.write(f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(payload)}\r\n\r\n"
                           .encode("latin-1") + payload)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = None
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length is None:
                raise ConnectionError("response without Content-Length")
            data = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            await self.close()
            raise
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        self._reader = self._writer = None


async def drive(url: str, path: str, bodies: Callable[[int, int], Dict[str, Any]], clients: int, seconds: float,
                headers: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    latencies: List[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal errors
        http = RawHttpClient(url, headers)
        i = 0
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(http.post(path, bodies(c, i)), 30)
                    ok = status == 200
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                    await http.close()
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                i += 1
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] * 1000 if ordered else float("nan")

    return {"ok": len(latencies), "errors": errors, "rps": len(latencies) / elapsed, "p50": pct(0.5), "p99": pct(0.99),
            "mean": statistics.mean(ordered) * 1000 if ordered else float("nan")}


def _env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.update({"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"})
    env.update(extra)
    return env


def _parse_probe(path: str) -> Callable[[str], httpx.Response]:
    return lambda url: httpx.post(url + path, json={"text": "物业几点上班"}, timeout=5)


def bench_serve(settings: Settings, seconds: float = 8.0, postgres_url: str = "", workers: int = 2) -> str:

    model = train(settings).model_path
    messages = texts()
    bin_dir = Path(sys.executable).parent
    lines = [f"# wuye bench serve ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, model {model.name}, "
             f"{seconds:g} s per point)", ""]
    results: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        parse_body = lambda c, i: {"text": messages[(c * 37 + i) % len(messages)]}  # noqa: E731
        servers = [
            ("stock rasa run /model/parse", "/model/parse",
             [str(bin_dir / "rasa"), "run", "--enable-api", "-m", str(model), "-p", "{port}", "--quiet"], {}),
            ("wuye serve /api/parse", "/api/parse", [str(bin_dir / "wuye"), "serve", "--port", "{port}"],
             {"WUYE_DATABASE_URL": f"sqlite:///{tmp}/parse.db", "WUYE_MODELS_DIR": str(settings.models_dir)}),
            # the same with a worker per core (bot/tools/serving.py); stock `rasa run` serves from one process (Rasa
            # refuses several Sanic workers with its default in-memory lock store)
            ("wuye serve --workers 2 /api/parse", "/api/parse",
             [str(bin_dir / "wuye"), "serve", "--port", "{port}", "--workers", "2"],
             {"WUYE_DATABASE_URL": f"sqlite:///{tmp}/parse2.db", "WUYE_MODELS_DIR": str(settings.models_dir)}),
        ]
        for name, path, cmd, extra in servers:
            port = free_port()
            with Server(name, [c.replace("{port}", str(port)) for c in cmd], _env(**extra), _parse_probe(path), port) as s:
                if "--workers" in cmd:
                    wait_for_workers(port, 2)
                rss = rss_mb(s.process.pid)
                points = {n: asyncio.run(drive(s.url, path, parse_body, n, seconds)) for n in CLIENTS}
                results[name] = {"start": s.start_seconds, "rss": rss, "points": points, "rss_after": rss_mb(s.process.pid),
                                 "worker_rss": largest_child_rss_mb(s.process.pid)}
        stock, ours, two = (results[server[0]] for server in servers)
        lines += ["| | stock `rasa run` `/model/parse` | `wuye serve` `/api/parse` | ratio | `wuye serve --workers 2` "
                  "| ratio |", "| --- | --- | --- | --- | --- | --- |"]

        def point(p: Dict[str, Any]) -> str:
            return f"{p['rps']:.0f} req/s, p50 {p['p50']:.1f} ms, p99 {p['p99']:.1f} ms, {p['errors']} errors"

        for n in CLIENTS:
            a, b, c = stock["points"][n], ours["points"][n], two["points"][n]
            lines.append(f"| {n} client{'s' if n > 1 else ''} | {point(a)} | {point(b)} | "
                         f"**{b['rps'] / max(a['rps'], 1e-9):.1f}×** | {point(c)} | "
                         f"**{c['rps'] / max(a['rps'], 1e-9):.1f}×** |")
        lines.append(f"| process start → first parse | {stock['start']:.1f} s | {ours['start']:.1f} s | "
                     f"{stock['start'] / max(ours['start'], 1e-9):.1f}× faster | | |")
        lines.append(f"| RSS after start / after load | {stock['rss']:.0f} / {stock['rss_after']:.0f} MB | "
                     f"{ours['rss']:.0f} / {ours['rss_after']:.0f} MB | | {two['rss_after']:.0f} MB in all, "
                     f"{two['worker_rss']:.0f} MB the largest worker | |")
        lines += ["", f"`/api/chat` (parse + routing + storage), 16 clients, each speaking for {RESIDENTS_PER_CLIENT} "
                      f"residents in turn ({16 * RESIDENTS_PER_CLIENT} residents):", "",
                  "| database | workers | msg/s | p50 | p99 | errors | accepted | stored |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        # each row on a database of its own, empty at the start (a row run after another one met that one's 128
        # residents already waiting in the agents' queue: a different, heavier mix of turns)
        chat_runs: List[Tuple[str, str, int, Dict[str, str]]] = [("SQLite", f"sqlite:///{tmp}/chat.db", 1, {})]
        if postgres_url:
            redis = os.environ.get("WUYE_REDIS_URL", "redis://127.0.0.1:6379/0")
            chat_runs.append(("PostgreSQL", "postgresql", 1, {}))
            if workers > 1:  # several processes share live events through Redis
                chat_runs.append(("PostgreSQL + Redis", "postgresql", workers, {"WUYE_REDIS_URL": redis}))
        for label, url, n_workers, extra in chat_runs:
            scratch = _create_database(postgres_url) if url == "postgresql" else None
            try:
                lines.append(_chat_row(settings, label, scratch or url, n_workers, extra, seconds, messages))
            finally:
                if scratch:
                    _drop_database(postgres_url, scratch)
    lines += ["", "Reading: stock Rasa runs the same trained archive (our components inside Rasa's Agent and graph "
              "runner, TensorFlow imported); `wuye serve` runs it through bot/nlu/fast.py. What flatters us: the "
              "messages are short held-out questions; both servers are measured on the same 2-core machine with the "
              "load generator running beside them; the `--workers 2` column uses the second core, which stock "
              "`rasa run` does not (one Sanic worker with its default in-memory lock store)."]
    report = "\n".join(lines)
    (settings.root / "reports").mkdir(exist_ok=True)
    (settings.root / "reports" / "bench-serve.md").write_text(report + "\n", encoding="utf-8")
    return report


# A client (a connection of the load generator) speaks for several residents in turn: 150–200 messages a second come
# from many residents, not from 16 who each send 10 a second (that made every turn count ~500 rate events of its
# sender and walk an ever longer conversation).
RESIDENTS_PER_CLIENT = 8


def _chat_row(settings: Settings, label: str, url: str, workers: int, extra: Dict[str, str], seconds: float,
              messages: List[str]) -> str:
    import sqlalchemy as sa


    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = _env(WUYE_DATABASE_URL=url, WUYE_MODELS_DIR=str(settings.models_dir), **extra,
               WUYE_LIMIT_MESSAGES_PER_SENDER="100000/60")
    db = open_database(url)  # migrated here first, so the workers do not race to create the schema
    with db.session() as session:
        _, key = auth.create_api_key(session, "bench", None, utcnow())
    run = uuid.uuid4().hex[:6]
    body = lambda c, i: {"sender_id": f"bench-{run}-{c}-{i % RESIDENTS_PER_CLIENT}",  # noqa: E731
                         "text": messages[(c * 11 + i) % len(messages)]}
    cmd = [str(bin_dir / "wuye"), "serve", "--port", str(port), "--workers", str(workers)]
    headers = {"Authorization": f"Bearer {key}"}
    with Server(f"chat-{label}", cmd, env, _parse_probe("/api/parse"), port):
        if workers > 1:
            wait_for_workers(port, workers)
        # 1 s of the same load first, not counted: every worker's connections opened, code paths warm
        warm = asyncio.run(drive(f"http://127.0.0.1:{port}", "/api/chat", body, 16, 1.0, headers=headers))
        point = asyncio.run(drive(f"http://127.0.0.1:{port}", "/api/chat", lambda c, i: body(c, i + 10_000), 16,
                                  seconds, headers=headers))
    # every accepted message is counted in the database below, the warm-up's too (and its errors reported)
    point["ok"] += warm["ok"]
    point["errors"] += warm["errors"]
    with db.session() as session:
        stored = session.scalar(sa.select(sa.func.count()).select_from(Message)
                                .join(Conversation, Conversation.id == Message.conversation_id)
                                .join(ChatIdentity, ChatIdentity.id == Conversation.identity_id)
                                .where(Message.sender == "resident", ChatIdentity.sender_id.like(f"%bench-{run}-%")))
    db.engine.dispose()
    return (f"| {label} | {workers} | {point['rps']:.0f} | {point['p50']:.1f} ms | {point['p99']:.1f} ms | "
            f"{point['errors']} | {point['ok']} | {stored} |")


def _create_database(admin_url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"wuye_bench_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(admin_url: str, url: str) -> None:
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()

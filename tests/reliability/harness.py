"""The reliability suite's machinery: the case ledger and its table, and the processes it drives (`wuye serve`,
a private redis-server, a private PostgreSQL database, nginx), all on free ports under one temporary directory.

Nothing here imports the product except ``connectors.wechat_crypto`` (to sign and encrypt WeChat pushes the way
Tencent does) and the demo data loader through ``wuye demo-data``."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx

from bot.tools.devserver import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WUYE = str(BIN / "wuye")
HTTP_TIMEOUT = float(os.environ.get("WUYE_REL_HTTP_TIMEOUT", "30"))  # longer than this = a hang
POSTGRES_ADMIN_URL = os.environ.get("WUYE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
SECRET = "reliability-secret-" + uuid.uuid4().hex
WECHAT_TOKEN = "reltoken"
WECHAT_APP_ID = "wxrel0000000000001"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
CJK = re.compile(r"[\u4e00-\u9fff]")

FATAL = ("5xx", "hang", "lost", "cross-household read", "impersonation accepted")


# --- the ledger -------------------------------------------------------------------------------------------------

@dataclass
class Case:
    group: str
    endpoint: str
    input: str
    expect: str
    outcome: str = ""
    ok: bool = False
    category: str = ""  # "" when ok; one of FATAL, or "mismatch" (answered, but not as expected)
    abuse: bool = False
    clear_4xx: bool = False


@dataclass
class Ledger:
    cases: List[Case] = field(default_factory=list)
    sent: int = 0
    accepted: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    cross_reads: int = 0
    notes: List[str] = field(default_factory=list)
    phases: Dict[str, str] = field(default_factory=dict)

    def add(self, case: Case) -> Case:
        self.cases.append(case)
        if not case.ok:
            print(f"  FAIL [{case.category}] {case.group} {case.endpoint} {case.input[:80]!r}: {case.outcome[:160]}",
                  flush=True)
        return case

    def record(self, group: str, endpoint: str, input: str, expect: str, ok: bool, outcome: str,
               category: str = "mismatch", abuse: bool = False, clear_4xx: bool = False) -> Case:
        return self.add(Case(group, endpoint, input, expect, outcome, ok, "" if ok else category, abuse, clear_4xx))

    def messages(self, sent: int = 0, accepted: int = 0, stored: int = 0, lost: int = 0, duplicated: int = 0) -> None:
        self.sent += sent
        self.accepted += accepted
        self.stored += stored
        self.lost += lost
        self.duplicated += duplicated

    # -- the table --
    def counts(self) -> Dict[str, Any]:
        abuse = [c for c in self.cases if c.abuse]
        return {
            "cases tried": len(self.cases),
            "cases as expected": sum(c.ok for c in self.cases),
            "clear 4xx (Chinese detail + code, or the channel's refusal)": sum(c.clear_4xx for c in self.cases),
            "5xx (incl. dropped connections, WebSocket 1011)": sum(c.category == "5xx" for c in self.cases),
            "hangs (timeouts)": sum(c.category == "hang" for c in self.cases),
            "answered, but not as expected": sum(c.category == "mismatch" for c in self.cases),
            "messages sent": self.sent,
            "messages accepted": self.accepted,
            "messages stored": self.stored,
            "messages lost (accepted, not stored)": self.lost,
            "messages stored twice (client retries)": self.duplicated,
            "cross-household reads": self.cross_reads + sum(c.category == "cross-household read" for c in self.cases),
            "impersonation/abuse attempts": len(abuse),
            "impersonation/abuse attempts refused": sum(c.ok for c in abuse),
            "impersonation/abuse attempts accepted": sum(c.category == "impersonation accepted" for c in abuse),
        }

    def failed(self) -> bool:
        c = self.counts()
        return bool(c["5xx (incl. dropped connections, WebSocket 1011)"] or c["hangs (timeouts)"]
                    or c["messages lost (accepted, not stored)"] or c["cross-household reads"]
                    or c["impersonation/abuse attempts accepted"] or self.lost)

    def markdown(self, started: float) -> str:
        lines = ["# Reliability run", "",
                 f"{dt.datetime.now():%Y-%m-%d %H:%M}, {time.time() - started:.0f} s, commit "
                 f"{git_head()}; `make reliability` (tests/reliability/run.py).", "",
                 "| measure | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in self.counts().items()]
        lines += ["", f"**Result: {'FAILED' if self.failed() else 'passed'}** (fails on any 5xx, hang, lost message, "
                      "cross-household read or accepted impersonation).", ""]
        groups: Dict[str, List[Case]] = {}
        for case in self.cases:
            groups.setdefault(case.group, []).append(case)
        lines += ["## Cases by group", "", "| group | tried | as expected | clear 4xx | 5xx | hangs | mismatch | abuse accepted |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, cs in groups.items():
            lines.append(f"| {name} | {len(cs)} | {sum(c.ok for c in cs)} | {sum(c.clear_4xx for c in cs)} | "
                         f"{sum(c.category == '5xx' for c in cs)} | {sum(c.category == 'hang' for c in cs)} | "
                         f"{sum(c.category == 'mismatch' for c in cs)} | "
                         f"{sum(c.category == 'impersonation accepted' for c in cs)} |")
        if self.phases:
            lines += ["", "## Phases", "", "| phase | outcome |", "| --- | --- |"]
            lines += [f"| {k} | {v} |" for k, v in self.phases.items()]
        bad = [c for c in self.cases if not c.ok]
        for title, cats in (("Failing cases (fatal)", FATAL), ("Answered, but not as expected", ("mismatch",))):
            chosen = [c for c in bad if c.category in cats]
            lines += ["", f"## {title} ({len(chosen)})", ""]
            if chosen:
                lines += ["| category | group | endpoint | input | expected | outcome |", "| --- | --- | --- | --- | --- | --- |"]
                lines += [f"| {c.category} | {c.group} | {md(c.endpoint)} | {md(c.input[:120])} | {md(c.expect)} | "
                          f"{md(c.outcome[:240])} |" for c in chosen]
            else:
                lines.append("none")
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() + (" + uncommitted changes" if subprocess.run(
                                  ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=10).stdout.strip() else "")
    except Exception:  # noqa: BLE001
        return "?"


def short(value: Any, n: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii") if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF
                                                                 for ch in text) else text
    return text if len(text) <= n else f"{text[:n]}… ({len(text)} chars)"


# --- judging one HTTP answer ------------------------------------------------------------------------------------

def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def is_clear(response: httpx.Response, code: Optional[str] = None) -> bool:
    """A people-facing refusal: JSON with a Chinese ``detail`` and a ``code`` (the given one, when given)."""
    body = body_of(response)
    return (isinstance(body, dict) and isinstance(body.get("detail"), str) and bool(CJK.search(body["detail"]))
            and isinstance(body.get("code"), str) and (code is None or body["code"] == code))


def outcome_of(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"


def judge(ledger: Ledger, group: str, endpoint: str, input: Any, send, expect: str = "4xx",
          statuses: Optional[tuple] = None, code: Optional[str] = None, abuse: bool = False,
          clear: bool = True) -> Optional[httpx.Response]:
    """Run ``send()`` (one HTTP call) and record the case. ``expect``: "4xx" (a refusal: the given statuses/code,
    with a Chinese detail and a code when ``clear``), "2xx", or "no5xx" (any answer below 500)."""
    want = {"4xx": f"{'/'.join(map(str, statuses)) if statuses else '4xx'}"
                   + (f" code={code}" if code else "") + (" with Chinese detail+code" if clear else ""),
            "2xx": "2xx", "no5xx": "any answer < 500 (4xx: Chinese detail+code)"}[expect]
    label = short(input)
    try:
        response = send()
    except httpx.TimeoutException as exc:
        ledger.record(group, endpoint, label, want, False, f"timeout after {HTTP_TIMEOUT:.0f} s ({type(exc).__name__})",
                      "hang", abuse)
        return None
    except httpx.TransportError as exc:
        ledger.record(group, endpoint, label, want, False, f"connection dropped: {type(exc).__name__} {exc}", "5xx", abuse)
        return None
    s = response.status_code
    if s >= 500:
        ledger.record(group, endpoint, label, want, False, outcome_of(response), "5xx", abuse)
    elif expect == "2xx":
        ledger.record(group, endpoint, label, want, 200 <= s < 300, outcome_of(response), "mismatch", abuse)
    elif expect == "no5xx":
        clear_4xx = 400 <= s < 500 and is_clear(response)
        ok = s < 400 or clear_4xx
        ledger.record(group, endpoint, label, want, ok, outcome_of(response), "mismatch", abuse, clear_4xx)
    else:
        if 400 <= s < 500:
            clear_4xx = is_clear(response) if clear else True
            body = body_of(response)
            matches = (is_clear(response, code) if clear
                       else code is None or (isinstance(body, dict) and body.get("code") == code))
            ok = (statuses is None or s in statuses) and matches
            ledger.record(group, endpoint, label, want, ok, outcome_of(response), "mismatch", abuse, clear_4xx)
        else:
            ledger.record(group, endpoint, label, want, False, outcome_of(response),
                          "impersonation accepted" if abuse else "mismatch", abuse)
    return response


# --- processes --------------------------------------------------------------------------------------------------

def wait_port(port: int, seconds: float = 10) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Site:
    """One deployment's shared pieces: a copy of data/, a models directory (hard links to models/), uploads,
    a database (SQLite file or a private PostgreSQL database), an optional Redis URL."""

    def __init__(self, work: Path, name: str, database: str = "sqlite", redis_url: str = "") -> None:
        self.dir = work / name
        self.dir.mkdir(parents=True)
        shutil.copytree(ROOT / "data", self.dir / "data", ignore=shutil.ignore_patterns("generated"))
        models = self.dir / "models"
        models.mkdir()
        for source in (ROOT / "models").glob("*"):
            if source.is_file():
                try:
                    os.link(source, models / source.name)
                except OSError:
                    shutil.copy2(source, models / source.name)
        self.pg_name: Optional[str] = None
        if database == "postgresql":
            self.pg_name = create_pg_database()
            self.database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            self.database_url = f"sqlite:///{self.dir / 'wuye.db'}"
        self.redis_url = redis_url
        self.env_extra: Dict[str, str] = {}

    def env(self, port: int) -> Dict[str, str]:
        env = dict(os.environ)
        env.update({"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
                    "WUYE_DATA_DIR": str(self.dir / "data"), "WUYE_MODELS_DIR": str(self.dir / "models"),
                    "WUYE_UPLOAD_DIR": str(self.dir / "uploads"), "WUYE_DATABASE_URL": self.database_url,
                    "WUYE_SECRET_KEY": SECRET, "WUYE_HOST": "127.0.0.1", "WUYE_PORT": str(port),
                    "WUYE_REDIS_URL": self.redis_url, "WUYE_WECHAT_TOKEN": WECHAT_TOKEN,
                    "WUYE_WECHAT_APP_ID": WECHAT_APP_ID, "WUYE_WECHAT_AES_KEY": WECHAT_AES_KEY,
                    "WUYE_WECHAT_APP_SECRET": "relsecret",
                    "WUYE_WECHAT_API_BASE": f"http://127.0.0.1:{free_port()}"})  # nothing listens: pushes fail fast
        env.update(self.env_extra)
        return env

    def prepare(self) -> None:
        """Schema, demo data (staff agent/agent123, admin/admin123) and the model, before any server starts."""
        env = self.env(0)
        for args in (["train"], ["demo-data"]):
            done = subprocess.run([WUYE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"wuye {' '.join(args)} failed: {done.stderr[-2000:]}")

    def close(self) -> None:
        if self.pg_name:
            drop_pg_database(self.pg_name)


class Server:
    """`wuye serve` as a child process (its own process group, so kill -9 takes it alone)."""

    def __init__(self, site: Site, name: str, port: Optional[int] = None) -> None:
        self.site, self.name = site, name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = site.dir / f"{name}.log"
        self.process: Optional[subprocess.Popen] = None

    def start(self, wait: bool = True) -> "Server":
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {dt.datetime.now().isoformat()} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen([WUYE, "serve"], env=self.site.env(self.port), cwd=ROOT, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, seconds: float = 180) -> float:
        started = time.time()
        while time.time() - started < seconds:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return time.time() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not become healthy; see {self.log_path}")

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class PrivateRedis:
    """A redis-server of our own on a free port: stopped and started by the suite (the shared :6379 is never touched)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _pg_admin():
    import sqlalchemy as sa

    return sa, sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_pg_database() -> str:
    sa, admin = _pg_admin()
    name = f"wuye_rel_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name


def terminate_pg_backends(name: str) -> int:
    sa, admin = _pg_admin()
    with admin.connect() as conn:
        killed = conn.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name}).scalar()
    admin.dispose()
    return int(killed or 0)


def drop_pg_database(name: str) -> None:
    sa, admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def db_query(database_url: str, sql: str, **params: Any) -> List[Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


NGINX = os.environ.get("WUYE_REL_NGINX", shutil.which("nginx") or "/usr/sbin/nginx")


class Nginx:
    """nginx in the foreground (daemon off) with a generated config: an upstream of the given servers, sticky by the
    resident cookie, and the proxy locations of deploy/nginx/wuye-proxy.conf (the same file production includes)."""

    def __init__(self, work: Path, servers: List[Server]) -> None:
        self.dir = work / "nginx"
        for sub in ("tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        upstreams = "\n".join(f"        server 127.0.0.1:{s.port} max_fails=1 fail_timeout=3s;" for s in servers)
        user = "user root;\n" if os.geteuid() == 0 else ""
        d = self.dir
        (d / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream wuye {{
        hash $cookie_wuye_resident consistent;   # sticky: one resident, one instance (WebSocket and REST alike)
{upstreams}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        include {ROOT / 'deploy' / 'nginx' / 'wuye-proxy.conf'};
    }}
}}
""")
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        test = subprocess.run([NGINX, "-t", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                               "-e", str(self.dir / "logs" / "error.log")], capture_output=True, text=True)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t: {test.stderr}")
        self.process = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                                         "-e", str(self.dir / "logs" / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=open(self.dir / "logs" / "stderr.log", "ab"),
                                        start_new_session=True)
        wait_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# --- clients ----------------------------------------------------------------------------------------------------

def client(base: str, **kw: Any) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=HTTP_TIMEOUT, **kw)


def resident(base: str) -> httpx.Client:
    c = client(base)
    c.post("/api/widget/session").raise_for_status()
    return c


def staff(base: str, username: str, password: str) -> httpx.Client:
    c = client(base)
    c.post("/api/auth/login", json={"username": username, "password": password}).raise_for_status()
    return c


def raw_http(port: int, method: bytes, path: bytes, headers: List[tuple], body: bytes = b"") -> httpx.Response:
    """One HTTP/1.1 request written byte for byte (header values httpx refuses to send: NUL, trailing space…)."""
    head = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close",
            b"Content-Length: " + str(len(body)).encode()] + [k + b": " + v for k, v in headers]
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout as exc:
            raise httpx.ReadTimeout("raw request timed out") from exc
    if not data:
        raise httpx.RemoteProtocolError("connection closed without a response")
    head_raw, _, rest = data.partition(b"\r\n\r\n")
    lines = head_raw.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdrs = [tuple(x.decode("latin-1").split(": ", 1)) for x in lines[1:] if b": " in x]
    return httpx.Response(status, headers=hdrs, content=rest)


def raw_json(value: Any) -> bytes:
    """JSON as ASCII, so lone surrogates and NUL travel as \\ud800 / \\u0000 escapes."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def cookie_header(c: httpx.Client, name: str = "wuye_resident") -> str:
    return f"{name}={c.cookies.get(name)}"

"""`wuye bench scaleout`: several single-worker `wuye serve` instances behind one nginx, on one PostgreSQL and one
Redis, driven with `wuye bench chat`'s mix through nginx.

:class:`Cluster` starts the pieces, each on a free port: N instances (``wuye serve``, one worker each, its own
process group), a private ``redis-server`` (unless a Redis URL is given; then a namespace of its own), and nginx in
the foreground from a config rendered into a temporary prefix out of the shipped files — deploy/nginx/wuye-upstream.conf
with one ``server`` line per instance, and deploy/nginx/wuye-proxy.conf included as it is — so what is measured and
tested (tests/integration/test_scaleout.py) is what is deployed.

The figures: msg/s and p50/p99 of the whole mix through nginx, and the CPU seconds each part spent during the load,
per turn: the instances (their process groups), nginx, the PostgreSQL backends of the run's database
(``pg_stat_activity``; the server's background writers are shared with everyone and not counted), Redis, and the
load generator (this process). Beside each figure, what the rest of the machine did meanwhile (the CPU of every other
process, from /proc/stat, and the load average): on a shared 2-core machine a throughput figure means nothing
without it.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import httpx
import sqlalchemy as sa

from bot.access import auth
from bot.core.localtime import utcnow
from bot.core.settings import PROJECT_ROOT, Settings
from bot.kb.community import load_communities
from bot.nlu.training import current_model, train
from bot.storage.db import open_database
from bot.tools.bench import _percentile
from bot.tools.bench_chat import LIMITS_RAISED, Resident, SmsLog, _drive, demo_residents, group_cpu_seconds, texts
from bot.tools.bench_serve import Server, _create_database, _drop_database, _env
from bot.tools.demo import load_demo_data
from bot.tools.devserver import free_port

DEPLOY = PROJECT_ROOT / "deploy" / "nginx"
UPSTREAM_CONF = DEPLOY / "wuye-upstream.conf"
PROXY_CONF = DEPLOY / "wuye-proxy.conf"
NGINX = os.environ.get("WUYE_NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
POSTGRES_ADMIN_URL = os.environ.get("WUYE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TICK = os.sysconf("SC_CLK_TCK")


# --- nginx ---------------------------------------------------------------------------------------------------------

def render_upstream(ports: Sequence[int], host: str = "127.0.0.1") -> str:
    """deploy/nginx/wuye-upstream.conf with its ``server`` lines replaced by one per port (the rest as shipped)."""
    out: List[str] = []
    inside = placed = False
    for line in UPSTREAM_CONF.read_text(encoding="utf-8").splitlines():
        if re.match(r"\s*upstream\s+wuye\s*\{", line):
            inside = True
        elif inside and re.match(r"\s*\}", line):
            inside = False
        if inside and re.match(r"\s*server\s", line):
            if not placed:
                out += [f"    server {host}:{port} max_fails=1 fail_timeout=3s;" for port in ports]
                placed = True
            continue
        out.append(line)
    if not placed:
        raise ValueError(f"{UPSTREAM_CONF}: no `server` line inside `upstream wuye {{ }}`")
    return "\n".join(out) + "\n"


class _Server:
    """A server process of our own on ``self.port``: started on enter (``_start``), up once the port answers;
    terminated on exit."""

    port: int
    process: Optional[subprocess.Popen] = None

    def _start(self) -> subprocess.Popen:
        raise NotImplementedError

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.process = self._start()
        _wait_port(self.port, self.process)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Nginx(_Server):
    """nginx in the foreground (``daemon off``) from a config rendered into ``prefix``: the shipped upstream with
    these ports, one ``server`` listening on ``listen`` that includes the shipped proxy locations.

    ``show_upstream``: every answer carries ``X-Wuye-Upstream: <instance address>`` (tests use it to know which
    instance served what; not in the shipped config: it would tell the world the internal addresses). The access
    log names the instance of every request (:meth:`served`)."""

    def __init__(self, prefix: Path, ports: Sequence[int], listen: str = "127.0.0.1", show_upstream: bool = False,
                 workers: int = 1) -> None:
        self.dir = Path(prefix)
        for sub in ("tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{listen}:{self.port}"
        self.ws_url = f"ws://{listen}:{self.port}"
        (self.dir / "wuye-upstream.conf").write_text(render_upstream(ports), encoding="utf-8")
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""  # root's workers would otherwise drop to nobody
        show = "        add_header X-Wuye-Upstream $upstream_addr always;\n" if show_upstream else ""
        (d / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format wuye '$remote_addr "$request" $status $upstream_addr $request_time';
    access_log {d}/logs/access.log wuye buffer=64k flush=1s;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/wuye-upstream.conf;
    server {{
        listen {listen}:{self.port};
        server_name localhost;
{show}        include {PROXY_CONF};
    }}
}}
""", encoding="utf-8")

    def _args(self) -> List[str]:
        return [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "logs" / "error.log")]

    def _start(self) -> subprocess.Popen:
        test = subprocess.run(self._args() + ["-t"], capture_output=True, text=True)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t: {test.stderr}")
        return subprocess.Popen(self._args(), stdout=subprocess.DEVNULL,
                                stderr=open(self.dir / "logs" / "stderr.log", "ab"), start_new_session=True)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: the access log's buffer is written
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def errors(self) -> str:
        """nginx's error log so far (an instance refused, timed out or marked down)."""
        path = self.dir / "logs" / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def served(self) -> Counter:
        """Requests per instance address so far, from the access log (buffered: up to a second late while running)."""
        path = self.dir / "logs" / "access.log"
        counts: Counter = Counter()
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                m = re.search(r'" \d{3} (\S+) ', line)
                if m and m.group(1) != "-":
                    counts[m.group(1).split(",")[-1].strip()] += 1
        return counts


def _wait_port(port: int, process: subprocess.Popen, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class PrivateRedis(_Server):
    """A redis-server of our own on a free port (no persistence): its CPU is ours alone, and nobody's keys collide."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)


class PgBouncer(_Server):
    """A pgbouncer of our own on a free port in transaction pooling, in front of the run's database (Debian's
    pgbouncer package): ``url`` is what the instances connect to. ``pool`` server connections at most, however many
    the instances' SQLAlchemy pools open to it. It refuses to run as root, so as root it runs as ``postgres``."""

    def __init__(self, work: Path, database_url: str, pool: int = 20) -> None:
        target = sa.engine.make_url(database_url)
        self.dir = Path(work) / "pgbouncer"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = target.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        user = target.username or "postgres"
        (self.dir / "users.txt").write_text(f'"{user}" "{target.password or ""}"\n')
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
{target.database} = host={target.host or '127.0.0.1'} port={target.port or 5432} dbname={target.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
pool_mode = transaction
default_pool_size = {pool}
max_client_conn = 4000
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
""")
        self.as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        if self.as_user:  # its log and pid file are written as postgres
            entry = pwd.getpwnam("postgres")
            for path in (self.dir.parent, self.dir, *self.dir.iterdir()):
                os.chmod(path, 0o755)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen([PGBOUNCER, *self.as_user, str(self.dir / "pgbouncer.ini")],
                                stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr.log", "ab"),
                                start_new_session=True)


# --- the cluster ---------------------------------------------------------------------------------------------------

@dataclass
class Cluster:
    """N ``wuye serve`` instances (one worker each) on one database and one Redis, nginx in front. A context manager:
    everything it started is stopped on exit (the database is the caller's)."""

    settings: Settings
    database_url: str
    instances: int = 2
    redis_url: str = ""  # empty: a private redis-server (Debian's redis-server package)
    env: Dict[str, str] = field(default_factory=dict)  # more environment for every instance
    show_upstream: bool = False
    work: Optional[Path] = None  # where nginx's prefix, uploads and logs go (default a temporary directory)
    pgbouncer: int = 0  # > 0: the instances reach PostgreSQL through a PgBouncer of this many server connections
    servers: List[Server] = field(default_factory=list, init=False)
    nginx: Optional[Nginx] = field(default=None, init=False)
    redis: Optional[PrivateRedis] = field(default=None, init=False)
    bouncer: Optional[PgBouncer] = field(default=None, init=False)

    def __enter__(self) -> "Cluster":
        self._stack = contextlib.ExitStack()
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        work = self.work or Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="wuye-scaleout-")))
        if not self.redis_url:
            self.redis = self._stack.enter_context(PrivateRedis())
        redis_url = self.redis_url or self.redis.url
        db = open_database(self.database_url)  # migrated here first, so the instances do not race to create it
        db.engine.dispose()
        serve_url = self.database_url
        if self.pgbouncer:
            self.bouncer = self._stack.enter_context(PgBouncer(work, self.database_url, self.pgbouncer))
            serve_url = self.bouncer.url
            self.env = {**self.env, "WUYE_DB_PREPARE": "0"}  # a prepared statement belongs to one server connection
        wuye = str(Path(sys.executable).parent / "wuye")
        ports = [free_port() for _ in range(self.instances)]
        env = _env(WUYE_DATABASE_URL=serve_url, WUYE_MODELS_DIR=str(self.settings.models_dir),
                   WUYE_DATA_DIR=str(self.settings.data_dir), WUYE_REDIS_URL=redis_url,
                   # its own channels even on a shared Redis; one secret for all, or each would refuse the others' cookies
                   WUYE_REDIS_NAMESPACE=f"scaleout-{uuid.uuid4().hex[:8]}",
                   WUYE_SECRET_KEY=self.settings.secret_key or f"scaleout-{uuid.uuid4().hex}",
                   WUYE_UPLOAD_DIR=str(work / "uploads"), WUYE_HOST="127.0.0.1", **self.env)
        # ready, not just alive: the database answers and the Redis subscription is live (an event published before
        # an instance subscribed would never reach its sockets)
        probe = lambda url: httpx.get(url + "/api/ready", timeout=2)  # noqa: E731
        self.servers = [Server(f"instance-{i + 1}", [wuye, "serve", "--port", str(port), "--workers", "1"], env, probe,
                               port) for i, port in enumerate(ports)]
        for server in self.servers:
            self._stack.callback(_remove, server.log.name)
            self._stack.push(server.__exit__)
        with ThreadPoolExecutor(len(self.servers)) as pool:  # the models load side by side
            list(pool.map(lambda s: s.__enter__(), self.servers))
        self.nginx = self._stack.enter_context(Nginx(work / "nginx", ports, show_upstream=self.show_upstream))

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def url(self) -> str:
        return self.nginx.url

    def log_paths(self) -> List[str]:
        return [s.log.name for s in self.servers]


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class SmsLogs(SmsLog):
    """The codes any instance logged (a resident's turns are spread over the instances): the newest one for the
    phone's tail not handed out before."""

    def __init__(self, paths: List[str]) -> None:
        super().__init__(None)
        self.paths = paths
        self.given: set = set()

    def code_for(self, tail: str) -> Optional[str]:
        for path in self.paths:
            found = re.findall(re.escape(tail) + r"[^\n]*?验证码是\s*(\d{6})",
                               Path(path).read_text("utf-8", "replace"))
            fresh = [code for code in found if code not in self.given]
            if fresh:
                self.given.add(fresh[-1])
                return fresh[-1]
        return None


# --- CPU accounting ------------------------------------------------------------------------------------------------

def _pid_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def _machine_ticks() -> tuple:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat: idle and iowait are not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def postgres_backends(database_url: str) -> List[int]:
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    engine = sa.create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return [int(p) for p in conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :n"),
                                                 {"n": name}).scalars()]
    finally:
        engine.dispose()


@dataclass
class CpuSample:
    wall: float
    instances: float
    nginx: float
    redis: float
    pgbouncer: float
    postgres: Dict[int, int]
    loadgen: float
    machine: tuple
    load1: float


def sample(cluster: Cluster) -> CpuSample:
    pg = {pid: _pid_ticks(pid) for pid in postgres_backends(cluster.database_url)} \
        if cluster.database_url.startswith("postgresql") else {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSample(time.perf_counter(), sum(group_cpu_seconds(s.process.pid) for s in cluster.servers),
                     group_cpu_seconds(cluster.nginx.process.pid),
                     _pid_ticks(cluster.redis.process.pid) / TICK if cluster.redis else 0.0,
                     _pid_ticks(cluster.bouncer.process.pid) / TICK if cluster.bouncer else 0.0, pg,
                     usage.ru_utime + usage.ru_stime, _machine_ticks(), os.getloadavg()[0])


@dataclass
class Point:
    instances: int
    residents: int
    turns: int
    errors: int
    unexpected: int
    elapsed: float
    p50: float
    p99: float
    cpu: Dict[str, float]  # seconds during the load, per part
    machine_busy: float  # cores busy on average, all processes
    others: float  # cores busy with processes that are not this run's
    load1: tuple
    served: Dict[str, int]

    @property
    def rate(self) -> float:
        return self.turns / self.elapsed if self.elapsed else 0.0

    def per_turn(self, part: str) -> float:
        return self.cpu[part] * 1000 / self.turns if self.turns else 0.0


def measure(cluster: Cluster, key: str, residents: int, seconds: float, sms: SmsLog,
            people: Optional[list] = None) -> Point:
    people = people if people is not None else demo_residents(cluster.database_url, residents)
    before_served = cluster.nginx.served()
    before = sample(cluster)
    tally, elapsed = asyncio.run(_drive(cluster.url, key, people, seconds, texts(), sms))
    after = sample(cluster)
    time.sleep(1.2)  # the access log's buffer is flushed every second
    served = cluster.nginx.served() - before_served
    postgres = sum(ticks - before.postgres.get(pid, 0) for pid, ticks in after.postgres.items()) / TICK
    cpu = {"instances": after.instances - before.instances, "nginx": after.nginx - before.nginx,
           "postgres": postgres, "redis": after.redis - before.redis, "pgbouncer": after.pgbouncer - before.pgbouncer,
           "loadgen": after.loadgen - before.loadgen}
    busy = (after.machine[0] - before.machine[0]) / TICK
    wall = after.wall - before.wall
    ours = sum(cpu.values())
    ms = sorted(v * 1000 for values in tally.latencies.values() for v in values)
    return Point(len(cluster.servers), residents, len(ms), sum(tally.errors.values()), sum(tally.unexpected.values()),
                 elapsed, _percentile(ms, 0.5) if ms else 0.0, _percentile(ms, 0.99) if ms else 0.0, cpu,
                 busy / wall, max(0.0, busy - ours) / wall, (before.load1, after.load1), dict(served))


def chat_key(database_url: str) -> str:
    db = open_database(database_url)
    try:
        with db.session() as session:
            _, key = auth.create_api_key(session, "bench scaleout", None, utcnow())
    finally:
        db.engine.dispose()
    return key


def prepare_database(settings: Settings, database_url: str) -> None:
    db = open_database(database_url)
    try:
        with db.session() as session:
            load_demo_data(session, load_communities(settings.communities_file))  # nothing if it has data already
    finally:
        db.engine.dispose()


HEADER = ("| instances | residents | msg/s | p50 ms | p99 ms | errors | CPU ms/turn: instances | nginx | PostgreSQL | "
          "Redis | PgBouncer | load generator | total | turns per instance | other processes (cores) | load avg 1 min |")


def row(p: Point) -> str:
    parts = ("instances", "nginx", "postgres", "redis", "pgbouncer", "loadgen")
    total = sum(p.per_turn(part) for part in parts)
    spread = "/".join(str(n) for _, n in sorted(p.served.items())) or "-"
    return (f"| {p.instances} | {p.residents} | {p.rate:.1f} | {p.p50:.0f} | {p.p99:.0f} | {p.errors} | "
            + " | ".join(f"{p.per_turn(part):.2f}" for part in parts)
            + f" | {total:.2f} | {spread} | {p.others:.2f} | {p.load1[0]:.2f}→{p.load1[1]:.2f} |")


def bench_scaleout(settings: Settings, instances: Sequence[int] = (1, 2, 4), residents: Sequence[int] = (16, 32),
                   seconds: float = 20.0, database: str = "", redis_url: str = "", pgbouncer: int = 0,
                   out: Callable[[str], None] = print) -> str:
    """Each instance count in turn: the cluster started, each resident count driven through nginx, then stopped.
    One database for the whole run (a scratch PostgreSQL one unless ``database``), the demo data loaded once."""
    current_model(settings) or train(settings)
    own = not database
    database = database or _create_database(POSTGRES_ADMIN_URL)
    lines = [f"# wuye bench scaleout: {database.split(':', 1)[0].split('+', 1)[0]}"
             f"{' + Redis ' + redis_url if redis_url else ' + a private Redis'}, nginx {nginx_version()}"
             f"{', PgBouncer (transaction pooling, %d server connections)' % pgbouncer if pgbouncer else ''}, "
             f"{seconds:g} s per point, {os.cpu_count()} cores", "", HEADER, "| " + " | ".join(["---"] * 16) + " |"]
    out("\n".join(lines))
    idle_lines: List[str] = []
    try:
        prepare_database(settings, database)
        key = chat_key(database)
        for n in instances:
            with Cluster(settings, database, n, redis_url, env=dict(LIMITS_RAISED), pgbouncer=pgbouncer) as cluster:
                sms = SmsLogs(cluster.log_paths())
                measure(cluster, key, 4, 2.0, sms, people=[Resident() for _ in range(4)])  # warm: connections opened, code paths run once
                idle_lines.append(idle(cluster))
                for count in residents:
                    line = row(measure(cluster, key, count, seconds, sms))
                    lines.append(line)
                    out(line)
    finally:
        if own:
            _drop_database(POSTGRES_ADMIN_URL, database)
    notes = ("\nCPU ms/turn: CPU seconds of each part during the load ÷ turns answered (instances: every `wuye serve`"
             " process; PostgreSQL: the backends of this database; load generator: this process). Other processes:"
             " cores busy with everything else on the machine meanwhile (/proc/stat), i.e. the load we competed with.")
    lines.append(notes)
    out(notes)
    lines += ["", "Idle (no load, 5 s, after the warm-up): CPU ms per second of each part, per instance count:", ""]
    lines += idle_lines
    out("\n".join(lines[-len(idle_lines) - 2:]))
    return "\n".join(lines)


def idle(cluster: Cluster, seconds: float = 5.0) -> str:
    """What the cluster costs doing nothing: timers, the hub's heartbeats, pool pings (a fixed cost per instance)."""
    before = sample(cluster)
    time.sleep(seconds)
    after = sample(cluster)
    wall = after.wall - before.wall
    postgres = sum(t - before.postgres.get(p, 0) for p, t in after.postgres.items()) / TICK
    n = len(cluster.servers)
    return (f"- {n} instance(s): {(after.instances - before.instances) * 1000 / wall / n:.1f} ms/s per instance, "
            f"nginx {(after.nginx - before.nginx) * 1000 / wall:.1f}, PostgreSQL {postgres * 1000 / wall:.1f}, "
            f"Redis {(after.redis - before.redis) * 1000 / wall:.1f}; other processes {_others(before, after):.2f} cores")


def _others(before: CpuSample, after: CpuSample) -> float:
    wall = after.wall - before.wall
    ours = (after.instances - before.instances) + (after.nginx - before.nginx) + (after.redis - before.redis) + \
        (after.pgbouncer - before.pgbouncer) + (after.loadgen - before.loadgen) + \
        sum(t - before.postgres.get(p, 0) for p, t in after.postgres.items()) / TICK
    return max(0.0, (after.machine[0] - before.machine[0]) / TICK - ours) / wall


def nginx_version() -> str:
    try:
        done = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
        return done.stderr.strip().split("/")[-1]
    except OSError:
        return "missing"

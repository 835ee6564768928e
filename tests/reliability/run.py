"""The reliability suite: bad-input corpus, impersonation and abuse, kill -9 mid-flow, Redis stop/start, killed
database connections, two instances behind nginx with a soak and a kill-restart. Prints the table and writes it to
reports/reliability.md; exits 1 on any 5xx, hang, lost message, cross-household read or accepted impersonation.

    .venv/bin/python -m tests.reliability.run [--soak SECONDS] [--only corpus,abuse,kill9,cluster]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from tests.reliability import abuse, corpus, faults  # noqa: E402
from tests.reliability.harness import ROOT, Ledger, Server, Site, staff  # noqa: E402

PHASES = ("corpus", "abuse", "kill9", "cluster")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--soak", type=float, default=float(os.environ.get("WUYE_REL_SOAK_SECONDS", "90")))
    p.add_argument("--only", default=",".join(PHASES), help="comma-separated phases: " + ", ".join(PHASES))
    p.add_argument("--report", default=str(ROOT / "reports" / "reliability.md"))
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    only = set(args.only.split(","))
    started = time.time()
    ledger = Ledger()
    work = Path(tempfile.mkdtemp(prefix="wuye-reliability-"))
    print(f"work directory: {work}", flush=True)

    def phase(name: str, fn) -> None:
        if name.split(":")[0] not in only:
            return
        t = time.time()
        print(f"==> {name}", flush=True)
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the phase broke: recorded, the run goes on and prints the table
            traceback.print_exc()
            ledger.record("suite", name, "the phase itself", "runs to the end", False,
                          f"aborted: {type(exc).__name__}: {str(exc)[:300]}", "5xx")
        print(f"    {name}: {time.time() - t:.0f} s", flush=True)

    state = {}

    def start_single(name: str) -> None:
        """A fresh instance on its own PostgreSQL database (the corpus may break its knowledge base: that is a
        finding, and the abuse phase must not inherit it)."""
        site = Site(work, name, "postgresql")
        state.setdefault("sites", []).append(site)
        site.prepare()
        server = Server(site, name).start()
        state.setdefault("servers", []).append(server)
        admin = staff(server.url, "admin", "admin123")
        keys = {}
        for key in ("k1", "k2", "revoked"):
            r = admin.post("/api/admin/api-keys", json={"name": f"reliability-{key}"})
            r.raise_for_status()
            keys[key], keys[f"{key}_id"] = r.json()["key"], r.json()["id"]
        admin.post(f"/api/admin/api-keys/{keys['revoked_id']}/revoke").raise_for_status()
        state[name] = (server, keys)

    def errors_in_log(server: Server) -> None:
        errors = [line for line in server.log().splitlines() if '"level": "error"' in line]
        ledger.notes.append(f"{server.name}: {len(errors)} error lines in its log ({server.log_path})")

    cluster: dict = {}
    try:
        if "corpus" in only:
            phase("corpus:start", lambda: start_single("corpus"))
            if "corpus" in state:
                server, keys = state["corpus"]
                phase("corpus:http", lambda: corpus.run_http(ledger, server, keys["k1"]))
                phase("corpus:wechat", lambda: corpus.run_wechat(ledger, server))
                phase("corpus:websocket", lambda: corpus.run_ws(ledger, server))
                phase("corpus:stored", lambda: corpus.nothing_bad_stored(ledger, server))
                errors_in_log(server)
                server.stop()
        if "abuse" in only:
            phase("abuse:start", lambda: start_single("abuse"))
            if "abuse" in state:
                server, keys = state["abuse"]
                phase("abuse", lambda: abuse.run(ledger, server, keys))
                phase("abuse:stored", lambda: corpus.nothing_bad_stored(ledger, server))
                errors_in_log(server)
                server.stop()
        phase("kill9:sqlite", lambda: faults.kill9_flow(ledger, _prepared(Site(work, "k9-sqlite", "sqlite")), "SQLite"))
        phase("kill9:postgresql", lambda: faults.kill9_flow(ledger, _prepared(Site(work, "k9-pg", "postgresql"), state),
                                                            "PostgreSQL"))
        if "cluster" in only:

            def up() -> None:
                cluster["c"] = faults.Cluster(work, ledger)
                ledger.phases["cluster"] = (f"A :{cluster['c'].a.port}, B :{cluster['c'].b.port}, nginx :{cluster['c'].nginx.port}, "
                                            f"PostgreSQL {cluster['c'].site.pg_name}, private Redis :{cluster['c'].redis.port}")
            phase("cluster:start", up)
            if "c" in cluster:
                phase("cluster:cross-instance", lambda: faults.cross_instance(ledger, cluster["c"]))
                phase("cluster:redis", lambda: faults.redis_outage(ledger, cluster["c"]))
                phase("cluster:database-kills", lambda: faults.database_kills(ledger, cluster["c"]))
                phase("cluster:soak", lambda: faults.soak(ledger, cluster["c"], args.soak))
    finally:
        if "c" in cluster:
            cluster["c"].close()
        for server in state.get("servers", []):
            server.stop()
        for site in state.get("sites", []):
            try:
                site.close()
            except Exception:  # noqa: BLE001
                pass
    report = ledger.markdown(started)
    print()
    print(report)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(report, encoding="utf-8")
    print(f"wrote {args.report}; logs under {work}")
    return 1 if ledger.failed() else 0


def _prepared(site: Site, state=None) -> Site:
    if state is not None:
        state.setdefault("sites", []).append(site)
    site.prepare()
    return site


if __name__ == "__main__":
    sys.exit(main())

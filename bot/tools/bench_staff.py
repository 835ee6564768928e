"""`wuye bench staff --database URL`: the staff pages' APIs timed on a (large) database, in process.

The app runs in this process (FastAPI's TestClient, signed in as the demo admin) on the given database, so a
database filled by `wuye demo-data --scale …` can be measured before and after a change. Each endpoint is called
once to warm up, then ``runs`` times (fewer when they take longer than ``budget`` seconds in all); p50/p95 are of
those calls. A CSV export is read as a stream (chunks dropped, as a browser saving a file would) while a thread
samples the process's RSS every 5 ms: the peak above the RSS before the endpoint's first call is what it costs a
worker (run one endpoint per process with ``--only`` for a clean figure: memory freed by an earlier endpoint is
reused without showing).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from bot.core.settings import Settings
from bot.main import create_app
from bot.nlu.parser import NluParser
from bot.nlu.training import current_model, train
from bot.tools.bench import _percentile


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class PeakRss:
    """The largest RSS seen while the block runs (sampled every 5 ms)."""

    def __init__(self) -> None:
        self.before = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.005)

    def __enter__(self) -> "PeakRss":
        self.before = self.peak = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def endpoints(today: dt.date) -> List[Tuple[str, str]]:
    year = f"start={(today - dt.timedelta(days=364)).isoformat()}&end={today.isoformat()}"
    return [
        ("desk list (default)", "/api/staff/work-orders"),
        ("failures", "/api/admin/failures"),
        ("figures (default: all time + 14 days)", "/api/admin/figures"),
        ("figures 30 days", "/api/admin/figures?days=30"),
        ("figures one year", f"/api/admin/figures?{year}"),
        ("work-order figures", "/api/admin/work-order-figures"),
        ("export conversations.csv one year", f"/api/admin/export/conversations.csv?{year}"),
        ("export handoffs.csv one year", f"/api/admin/export/handoffs.csv?{year}"),
    ]


def bench_staff(settings: Settings, database_url: str, runs: int = 10, budget: float = 60.0,
                today: Optional[dt.date] = None, only: str = "", username: str = "admin", password: str = "admin123",
                out: Callable[[str], None] = print) -> str:
    from fastapi.testclient import TestClient

    today = today or dt.date.today()
    model = current_model(settings) or train(settings).model_path
    parser = NluParser.load(model)
    configured = dataclasses.replace(settings, database_url=database_url,
                                     upload_dir=Path(settings.upload_dir), secret_key=settings.secret_key or "bench")
    app = create_app(configured, parser=parser)
    rows = [f"| endpoint | calls | p50 ms | p95 ms | bytes | peak RSS above before (MB) |", "| --- | --- | --- | --- | --- | --- |"]
    for line in rows:
        out(line)
    with TestClient(app) as client:
        client.post("/api/auth/login", json={"username": username, "password": password}).raise_for_status()
        for name, path in endpoints(today):
            if only and not any(part and part in name for part in only.split(",")):
                continue
            times: List[float] = []
            size, peak = 0, 0.0
            spent = 0.0
            base = _rss_mb()  # before the first call: memory the warm-up call keeps (or frees late) counts too
            for i in range(runs + 1):
                started = time.perf_counter()
                with PeakRss() as rss, client.stream("GET", path) as response:
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: {response.status_code} {response.read()[:300]!r}")
                    size = sum(len(chunk) for chunk in response.iter_bytes())
                elapsed = time.perf_counter() - started
                spent += elapsed
                peak = max(peak, rss.peak - base)
                if i:  # the first call warms caches (and the database's): not timed
                    times.append(elapsed * 1000)
                if spent > budget and times:
                    break
            p50, p95 = statistics.median(times), _percentile(times, 0.95)
            line = f"| {name} | {len(times)} | {p50:.0f} | {p95:.0f} | {size} | {peak:.0f} |"
            out(line)
            rows.append(line)
    return "\n".join(rows)

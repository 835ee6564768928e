"""`wuye bench nlu`: parse latency p50/p99, throughput, model load time and peak memory, as a table."""
from __future__ import annotations

import resource
import statistics
import time
from typing import List

from bot.core.settings import Settings
from bot.nlu.parser import NluParser
from bot.nlu.training import train
from bot.tools.evaluation import load_heldout


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[k]


def bench_nlu(settings: Settings, n: int = 1000) -> str:

    texts = [item.text for item in load_heldout(settings.heldout_file)]
    model = train(settings).model_path
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    parser = NluParser.load(model)
    load_seconds = time.perf_counter() - started
    latencies: List[float] = []
    run_started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        parser.parse(texts[i % len(texts)])
        latencies.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - run_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("messages parsed", f"{n}"),
        ("model", model.name),
        ("model load time", f"{load_seconds:.2f} s"),
        ("latency p50", f"{_percentile(latencies, 0.50):.1f} ms"),
        ("latency p99", f"{_percentile(latencies, 0.99):.1f} ms"),
        ("latency mean", f"{statistics.mean(latencies):.1f} ms"),
        ("throughput (1 thread)", f"{n / total:.1f} msg/s"),
        ("peak memory (RSS)", f"{peak_mb:.0f} MB (before loading: {rss_before / 1024:.0f} MB)"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'metric'.ljust(width)} | value |", f"| {'-' * width} | --- |"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines)

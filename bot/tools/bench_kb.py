"""`wuye bench kb --entries 300`: a large property group's knowledge base — training time, parse latency and memory
per worker with the shipped entries plus synthetic ones (a scratch copy of data/; data/faq is never touched).

Synthetic entries are made from pairs of jieba dictionary nouns ("{noun}{noun}" topics) with question and answer
templates, each with 3–12 questions: they measure scale (labels, vocabulary, the entry model), not understanding.
The serving part (load, entry model, parses) runs in a spawned process of its own: its peak memory is a worker's."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import random
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import List

import jieba

from bot.core import yamlio
from bot.core.settings import Settings
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.parser import NluParser
from bot.nlu.training import train
from bot.tools.bench import _percentile

QUESTIONS = ("{t}怎么办理", "{t}在哪里办", "{t}要收费吗", "{t}需要带什么材料", "{t}多久能办好", "请问{t}找谁",
             "{t}可以线上办吗", "{t}有什么规定", "想问一下{t}", "{t}周末能办吗", "{t}的电话是多少", "{t}要提前预约吗")
ANSWER = ("{t}请到物业服务中心办理，工作日 9:00–17:00，联系电话 {{office_phone}}。需携带业主身份证，"
          "一般 3 个工作日内办好；费用以公示为准。")


def synthetic_entries(n: int, seed: int = 1) -> List[dict]:
    rng = random.Random(seed)
    jieba.initialize()  # its dictionary (FREQ) is read lazily
    nouns = sorted(w for w, f in jieba.dt.FREQ.items() if len(w) == 2 and f > 2000
                   and all("\u4e00" <= c <= "\u9fff" for c in w))
    topics, entries = set(), []
    while len(entries) < n:
        t = rng.choice(nouns) + rng.choice(nouns)
        if t in topics:
            continue
        topics.add(t)
        k = rng.randint(3, 12)
        entries.append({"id": f"synthetic_{len(entries):03d}", "title": f"{t}办理",
                        "questions": [q.format(t=t) for q in rng.sample(QUESTIONS, k)],
                        "answer": yamlio.Literal(ANSWER.format(t=t))})
    return entries


def _serve(model_path: str, faq_dir: str, communities_file: str, firsts: List[str], ids: List[str],
           messages: int) -> dict:
    """A serving worker's part, in a process of its own (so its peak memory is its own, not the training's)."""
    kb = load_knowledge_base(Path(faq_dir), Path(communities_file))
    started = time.perf_counter()
    parser = NluParser.load(Path(model_path), knowledge=lambda: kb)  # the warm-up trains the entry model
    load_seconds = time.perf_counter() - started
    texts = firsts + ["物业费多少钱一平", "门禁卡丢了怎么办", "暖气什么时候来", "快递放哪里", "厨房漏水了"]
    latencies = []
    for i in range(messages):
        t0 = time.perf_counter()
        parser.parse(texts[i % len(texts)])
        latencies.append((time.perf_counter() - t0) * 1000)
    right = sum(parser.parse(text).faq_id == faq_id for text, faq_id in list(zip(firsts, ids))[:100])
    return {"load_seconds": load_seconds, "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
            "mean": statistics.mean(latencies), "right": right,
            "peak_mb": _peak_rss_mb(), "rss_mb": _rss_mb("VmRSS")}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    """This process's own peak. Not getrusage's ru_maxrss: Linux carries it across fork and exec, so a worker spawned
    by the process that has just trained reported the trainer's peak (~1.5 GB here) as its own."""
    peak = _rss_mb("VmHWM")
    return peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_own_process(function, *args):
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def bench_kb(settings: Settings, entries: int = 300, messages: int = 2000) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="wuye-bench-kb-"))
    try:
        shutil.copytree(settings.data_dir, tmp / "data")
        scratch = Settings(data_dir=tmp / "data", models_dir=tmp / "models", rasa_config=settings.rasa_config)
        shipped = len(load_knowledge_base(scratch.faq_dir, scratch.communities_file).entries)
        extra = synthetic_entries(max(0, entries - shipped))
        (scratch.faq_dir / "synthetic.yml").write_text(yamlio.dump({"faq": extra}), encoding="utf-8")
        kb = load_knowledge_base(scratch.faq_dir, scratch.communities_file)
        started = time.perf_counter()
        result = train(scratch)
        train_seconds = time.perf_counter() - started
        serving = _in_own_process(_serve, str(result.model_path), str(scratch.faq_dir), str(scratch.communities_file),
                                  [e["questions"][0] for e in extra], [e["id"] for e in extra], messages)
        rows = [("entries (shipped + synthetic)", f"{len(kb.active)} ({shipped} + {len(extra)})"),
                ("questions", f"{sum(len(e.questions) for e in kb.active.values())}"),
                ("full training (`wuye train`)", f"{train_seconds:.1f} s"),
                ("model load + entry model (a fresh worker)", f"{serving['load_seconds']:.2f} s"),
                ("parse p50", f"{serving['p50']:.2f} ms"),
                ("parse p99", f"{serving['p99']:.2f} ms"),
                ("parse mean", f"{serving['mean']:.2f} ms"),
                ("memory of a serving worker, peak / after the parses (RSS, its own process)",
                 f"{serving['peak_mb']:.0f} / {serving['rss_mb']:.0f} MB"),
                ("synthetic entries' own first question read right", f"{serving['right']}/100")]
        width = max(len(k) for k, _ in rows)
        return "\n".join([f"| {'metric'.ljust(width)} | value |", f"| {'-' * width} | --- |"] +
                         [f"| {k.ljust(width)} | {v} |" for k, v in rows])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

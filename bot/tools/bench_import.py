"""`wuye bench import`: generate an ERP's households and bills files, import them into a fresh database (a temporary
SQLite file, and a scratch PostgreSQL database created and dropped), and print the seconds of each step. The target
(issue 26): 10,000 households and 120,000 bill rows in at most 30 s on each database."""
from __future__ import annotations

import csv
import io
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import List, Optional, Tuple

import sqlalchemy as sa

from bot.core.settings import Settings
from bot.households.imports import run_import
from bot.kb.community import load_communities, sync_communities
from bot.storage.db import open_database


def generate(settings: Settings, households: int, bills: int, seed: int = 26) -> Tuple[bytes, bytes, bytes]:
    """households.csv (UTF-8 with BOM, as Excel saves "CSV UTF-8"), bills.csv in GBK (as Chinese Excel saves plain
    CSV), and next month's bills: the same rows with a tenth of them paid since."""
    rng = random.Random(seed)
    names = [c.name for c in load_communities(settings.communities_file)]
    rooms = []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["小区", "楼栋", "单元", "房号", "业主姓名", "手机号", "建筑面积"])
    for i in range(households):
        community = names[i % len(names)]
        n = i // len(names)
        building, unit, room = n // 200 + 1, n % 200 // 100 + 1, (n % 100) // 4 * 100 + 101 + n % 4
        rooms.append((community, building, unit, room))
        writer.writerow([community, building, unit, room, "王" + "伟芳娜敏静丽强磊"[i % 8] + "华",
                         f"13{rng.randrange(10**8, 10**9)}", rng.choice((78.5, 89.0, 96.3, 125.0))])
    households_csv = ("\ufeff" + out.getvalue()).encode("utf-8")
    months = max(1, -(-bills // max(households, 1)))
    periods = [f"{2026 + m // 12:04d}-{m % 12 + 1:02d}" for m in range(months)]
    rows: List[List[object]] = []
    for index in range(bills):
        community, building, unit, room = rooms[index % len(rooms)]
        period = periods[index // len(rooms) % len(periods)]
        due = rng.choice((235.5, 267.0, 288.9, 375.0))
        rows.append([community, building, unit, room, period, due, due if rng.random() < 0.8 else 0])
    header = ["小区", "楼栋", "单元", "房号", "账期", "应收", "实收"]

    def encode(table: List[List[object]]) -> bytes:
        buffer = io.StringIO()
        w = csv.writer(buffer)
        w.writerow(header)
        w.writerows(table)
        return buffer.getvalue().encode("gbk")

    next_month = [row[:6] + [row[5]] if row[6] == 0 and rng.random() < 0.5 else row for row in rows]
    return households_csv, encode(rows), encode(next_month)


def _timed(db, settings: Settings, kind: str, data: bytes, filename: str) -> Tuple[float, float, str]:
    # wall seconds, and this process's CPU seconds: on a shared machine the first depends on everyone else's load
    started, cpu = time.perf_counter(), time.process_time()
    with db.session() as session:
        result = run_import(session, kind, data, filename)
    return (time.perf_counter() - started, time.process_time() - cpu,
            f"+{result.created} ~{result.updated} ={result.unchanged}")


def _run_on(url: str, settings: Settings, files: Tuple[bytes, bytes, bytes]) -> List[Tuple[str, float, float, str]]:
    db = open_database(url)
    try:
        with db.session() as session:
            sync_communities(session, load_communities(settings.communities_file))
        steps = []
        for label, kind, data, name in (("households", "households", files[0], "households.csv"),
                                        ("bills", "bills", files[1], "bills.csv"),
                                        ("bills again (unchanged)", "bills", files[1], "bills.csv"),
                                        ("next month's bills", "bills", files[2], "bills.csv")):
            steps.append((label, *_timed(db, settings, kind, data, name)))
        return steps
    finally:
        db.engine.dispose()


def bench_import(settings: Settings, households: int = 10_000, bills: int = 120_000,
                 postgres_url: Optional[str] = None) -> str:
    files = generate(settings, households, bills)
    sizes = f"households.csv {len(files[0]) / 1e6:.1f} MB, bills.csv {len(files[1]) / 1e6:.1f} MB (GBK)"
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        results.append(("SQLite", _run_on(f"sqlite:///{Path(scratch) / 'bench.db'}", settings, files)))
    if postgres_url:
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        name = f"wuye_bench_import_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            results.append(("PostgreSQL", _run_on(postgres_url.rsplit("/", 1)[0] + f"/{name}", settings, files)))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    lines = [f"import of {households} households and {bills} bill rows into a fresh database ({sizes})", "",
             "| database | step | seconds | CPU seconds of wuye | created / updated / unchanged |",
             "| --- | --- | ---: | ---: | --- |"]
    for database, steps in results:
        for label, seconds, cpu, counts in steps:
            lines.append(f"| {database} | {label} | {seconds:.1f} | {cpu:.1f} | {counts} |")
        first, first_cpu = sum(step[1] for step in steps[:2]), sum(step[2] for step in steps[:2])
        lines.append(f"| {database} | **households + bills** | **{first:.1f}** | {first_cpu:.1f} | target ≤ 30 s |")
    return "\n".join(lines)

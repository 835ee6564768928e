"""`wuye bench chat` (bot/tools/bench_chat.py): a short run against a `wuye serve` subprocess on SQLite plays every
kind of conversation, binds its residents through the logged SMS code and completes its repair flows; ``sql``
then counts statements per turn of every kind in process."""
from __future__ import annotations

import re

import pytest

from bot.tools.bench_chat import KINDS, bench_chat

# `make test-deploy` (a started server driven by the benchmark): kept out of `make test`'s 15 minutes, run by CI
pytestmark = pytest.mark.deploy


def test_two_residents_for_two_seconds_play_every_kind_of_turn(settings, trained_model):
    text = bench_chat(settings, residents=2, seconds=2.0, sql=True, out=lambda _: None)
    load, _, sql = text.partition("SQL statements per turn")
    rows = {m.group(1): [int(m.group(2)), int(m.group(3)), int(m.group(4))]
            for m in re.finditer(r"^\| (\w+) \| (\d+) \| [\d-]+ \| [\d-]+ \| (\d+) \| (\d+) \|$", load, re.M)}
    assert set(rows) == set(KINDS), text
    for kind, (turns, errors, unexpected) in rows.items():
        assert turns > 0 and errors == 0, (kind, text)
    assert rows["binding"][2] == 0 and rows["repair"][2] == 0, text  # both residents bound, every work order made
    assert re.search(r"= \d+\.\d msg/s, 0 errors", text), text
    cpu = re.search(r"server CPU: [\d.]+ s = ([\d.]+) ms per turn .*event loops' threads ([\d.]+) ms .*"
                    r"other threads (-?[\d.]+) ms", text)
    assert cpu, text
    total, loop, other = (float(v) for v in cpu.groups())
    assert loop > 0 and other > 0 and abs(loop + other - total) <= 0.02, text  # the split adds up
    statements = {m.group(1): (int(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(5)))
                  for m in re.finditer(r"^\| (\w+) \| (\d+) \| (\d+\.\d) \| \d+ \| \d+ \| ([\d.]+) \| ([\d.]+) \|$",
                                       sql, re.M)}
    assert set(statements) == set(KINDS), sql
    # every kind: statements counted, and CPU of the engine's turn within the whole request's
    assert all(n > 0 and mean > 0 and 0 < engine <= process for n, mean, engine, process in statements.values()), sql


def test_warmup_counts_from_each_residents_second_request(settings, trained_model):
    text = bench_chat(settings, residents=2, seconds=1.5, warmup=True, out=lambda _: None)
    assert "after a warm-up turn each" in text, text
    counted = re.search(r"overall: (\d+) turns in ([\d.]+) s = [\d.]+ msg/s, 0 errors", text)
    assert counted and int(counted.group(1)) > 0, text
    assert float(counted.group(2)) < 3.0, text  # the clock started after the warm-up, not before

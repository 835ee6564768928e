"""Choose the urgency model's weights and the router's thresholds by holding out whole authors (issue 25).

The groups of near-misses under data/nlu/urgency/ were written independently (one author a file). Each is scored by a
model trained on the training phrasings and the *other* groups, so no figure here comes from a model that saw the
author it is scored on. A message pages as the router's rules 1–2 decide (``rule_emergencies``, ``model_emergency``:
a keyword rule with P(urgent) ≥ KEYWORD_FLOOR, the emergency intent at EMERGENCY_INTENT_THRESHOLD with P(urgent) ≥
KEYWORD_FLOOR, or P(urgent) ≥ URGENT_ALONE unless it is an outage report), with the held-out P(urgent) in its
reading; urgent recall and false pages are printed for a grid of the two thresholds, per held-out author and pooled.

The development sets (tests/dev/*.yml, never trained on) are routed as first messages (``first_message_route``, as
`/api/parse` routes them) with a model trained on every group: the 80 emergencies of mixed_emergencies.yml must all
page and its past events and the routine questions of conversation_styles.yml must not (the tests' constraints);
the false pages of the other messages (long messages, follow-ups, uncovered topics) are counted. The frozen held-out sets (tests/heldout/) are not read here: they are
reported once, by scripts/route_baseline.py and `wuye eval`.

    .venv/bin/python scripts/urgency_cv.py
    WEIGHTS=5,10,20 CS=10,30 EXCLUDE=t3 .venv/bin/python scripts/urgency_cv.py

``WEIGHTS``/``CS``: the near-misses' weights and C to compare (``FLOORS``/``ALONES``: the thresholds' grid); ``EXCLUDE``: groups never trained on (still scored,
by a model trained on all the others: the figures before an author was added). ``SHOW=floor,alone`` lists the CV's
errors at those thresholds.
"""
from __future__ import annotations

import dataclasses
import itertools
import os

import yaml

from bot.core.settings import PROJECT_ROOT
from bot.routing import router
from urgency_data import groups, kb, norm, parse, train as train_without  # scripts/urgency_data.py

EXCLUDE = set(filter(None, os.environ.get("EXCLUDE", "").split(",")))
WEIGHTS = [float(w) for w in os.environ.get("WEIGHTS", "5").split(",")]
CS = [float(c) for c in os.environ.get("CS", "30").split(",")]
FLOORS = [float(f) for f in os.environ.get("FLOORS", "0.05,0.1,0.15,0.2,0.3").split(",")]
ALONES = [float(a) for a in os.environ.get("ALONES", "0.5,0.6,0.7,0.8,0.85,0.9,0.95,1.01").split(",")]


def dev_messages():
    """(text, urgent, hard): the development sets' emergencies must page and their routine questions and past events
    (conversation_styles.yml, mixed_emergencies.yml: what the tests require) must not — hard; the other messages'
    pages are counted."""
    rows = []
    for name in ("mixed_emergencies", "conversation_styles", "long_messages"):
        for r in yaml.safe_load((PROJECT_ROOT / "tests" / "dev" / f"{name}.yml").read_text(encoding="utf-8"))["messages"]:
            rows.append((r["text"], bool(r.get("emergency")), name != "long_messages"))
    for name in ("followups", "followups_switches", "followups_team"):
        for c in yaml.safe_load((PROJECT_ROOT / "tests" / "dev" / f"{name}.yml").read_text(encoding="utf-8"))["conversations"]:
            rows += [(t["text"], False, False) for t in c["turns"] if not t["text"].startswith("/")]
    rows += [(i["text"], False, False) for i in
             yaml.safe_load((PROJECT_ROOT / "tests" / "dev" / "uncovered.yml").read_text(encoding="utf-8"))["items"]]
    return rows


DEV = dev_messages()


_memo = {}


def with_urgency(model, text):
    key = (id(model), text)
    if key not in _memo:
        _memo[key] = dataclasses.replace(parse(text), urgency=model.probability(norm(text)))
    return _memo[key]


def rules_page(reading, floor, alone):
    router.KEYWORD_FLOOR, router.URGENT_ALONE = floor, alone
    return bool(router.rule_emergencies(reading)) or router.model_emergency(reading) > 0


def routed_urgent(model, text, floor, alone):
    router.KEYWORD_FLOOR, router.URGENT_ALONE = floor, alone
    route = router.first_message_route(with_urgency(model, text), lambda t: with_urgency(model, t),
                                       router.request_segments(text), kb.support)
    return route.priority == "urgent"


def figures(rows):
    """rows: (urgent, paged) → recall, false-page share, missed, false pages."""
    pos = sum(1 for u, _ in rows if u)
    tp = sum(1 for u, p in rows if u and p)
    fp = sum(1 for u, p in rows if not u and p)
    return tp / pos if pos else 1.0, fp / max(1, len(rows) - pos), pos - tp, fp


def train(weight, C, without):
    return train_without(weight, C, set(without) | EXCLUDE)


keep = (router.KEYWORD_FLOOR, router.URGENT_ALONE)
summary = []
for weight, C in itertools.product(WEIGHTS, CS):
    _memo.clear()
    alive = []
    readings = {}  # author → [(urgent, reading with the held-out P(urgent))]
    for held, items in groups.items():
        model = train(weight, C, {held})
        alive.append(model)  # the memo is keyed by the model's id
        readings[held] = [(u, with_urgency(model, t)) for t, u in items]
    full = train(weight, C, set())
    print(f"\n== near-miss weight {weight:g}, C {C:g}" + (f", never trained on {sorted(EXCLUDE)}" if EXCLUDE else ""))
    print("floor alone | " + " | ".join(f"{g}: recall false-pages (missed, false)" for g in readings)
          + " | pooled | dev: emergencies missed, routine or past paged, other false pages of "
          + str(sum(1 for _, u, hard in DEV if not u and not hard)))
    for floor, alone in itertools.product(FLOORS, ALONES):
        cells = {g: figures([(u, rules_page(r, floor, alone)) for u, r in rows]) for g, rows in readings.items()}
        pooled = figures([(u, rules_page(r, floor, alone)) for rows in readings.values() for u, r in rows])
        dev_paged = [(u, hard, routed_urgent(full, t, floor, alone)) for t, u, hard in DEV]
        dev = (sum(1 for u, _, p in dev_paged if u and not p), sum(1 for u, hard, p in dev_paged if hard and not u and p),
               sum(1 for u, hard, p in dev_paged if not hard and not u and p))
        summary.append((dev[0] + dev[1], pooled[2], pooled[3], weight, C, floor, alone, cells, pooled, dev))
        print(f"{floor:.2f} {alone:.2f} | " + " | ".join(f"{r:.3f} {f:.3f} ({m}, {n})" for r, f, m, n in cells.values())
              + f" | {pooled[0]:.3f} {pooled[1]:.3f} ({pooled[2]}, {pooled[3]}) | dev {dev[0]}, {dev[1]}, {dev[2]}",
              flush=True)
    if os.environ.get("SHOW"):
        floor, alone = (float(x) for x in os.environ["SHOW"].split(","))
        for g, rows in readings.items():
            for u, r in rows:
                if rules_page(r, floor, alone) != u:
                    print(g, "MISSED" if u else "FALSE ", f"{r.urgency:.2f} {r.probability('emergency'):.2f}", r.text)
router.KEYWORD_FLOOR, router.URGENT_ALONE = keep
# the choice: the development sets' constraints met, then the fewest CV emergencies missed, then the fewest false pages
summary.sort(key=lambda s: s[:3])
print("\nbest (development constraints broken, CV missed, CV false pages):")
for s in summary[:8]:
    print(f"  weight {s[3]:g} C {s[4]:g} floor {s[5]:.2f} alone {s[6]:.2f}: pooled {s[8][0]:.3f} / {s[8][1]:.3f} "
          f"({s[8][2]} missed, {s[8][3]} false); dev missed {s[9][0]}, routine or past paged {s[9][1]}, "
          f"other false pages {s[9][2]}; "
          + ", ".join(f"{g} {c[0]:.3f}/{c[1]:.3f}" for g, c in s[7].items()))

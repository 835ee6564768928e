"""Choose the urgency model's thresholds by holding out whole authors (issue 25).

The groups of near-misses under data/nlu/urgency/ were written independently (t1.yml, n1.yml: one author each).
Each is scored by a model trained on the training phrasings and the *other* groups, so no figure here comes from a model that saw the author it is scored on. The
router pages when a keyword rule fires and P(urgent) ≥ KEYWORD_FLOOR, or when P(urgent) ≥ URGENT_ALONE; this prints
urgent recall and false pages for a grid of the two, per held-out author and pooled. The frozen held-out set
(tests/heldout/urgency_near_miss.yml) is not read here: it is reported once, by scripts/route_baseline.py.

    .venv/bin/python scripts/urgency_cv.py
"""
from __future__ import annotations

import itertools
import os

from rasa.shared.data import get_data_files, is_nlu_file
from rasa.shared.nlu.training_data.loading import load_data

from bot.core.settings import get_settings
from bot.nlu.normalize import get_normalizer
from bot.nlu.parser import NluParser
from bot.nlu.training import current_model
from bot.nlu.urgency import UrgencyModel, examples_from_intents, load_urgency_directory
from bot.routing.router import EMERGENCY_INTENT_THRESHOLD, emergency_matches, told_as_past

settings = get_settings()
normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
norm = lambda t: normalizer.normalize(t).text or t  # noqa: E731
files = sorted(get_data_files([str(settings.nlu_dir)], is_nlu_file))
data = load_data(files[0]).merge(*[load_data(f) for f in files[1:]])
for m in data.intent_examples:
    m.set("text", norm(m.get("text")))
phrasings = examples_from_intents(data)
# the emergency intent's probability, from the trained classifier (it never saw the near-misses)
intent_parser = NluParser.load(current_model(settings))
groups = load_urgency_directory(settings.nlu_dir / "urgency")
WEIGHT = float(os.environ.get("WEIGHT", 10.0))  # experiments: the near-misses' weight and C
C = float(os.environ.get("C", 30.0))
scored = {}
for held, items in groups.items():
    train = [(norm(t), u, WEIGHT) for g, its in groups.items() if g != held for t, u in its]
    train += [(t, u, 1.0) for t, u in phrasings]
    model = UrgencyModel.train(*zip(*train), C=C)
    scored[held] = [(u, model.probability(norm(t)), bool(emergency_matches(t, norm(t))) and not told_as_past(t),
                     intent_parser.raw_parse(t)) for t, u in items]


def intent_p(raw):
    return next((r["confidence"] for r in raw.get("intent_ranking", []) if r["name"] == "emergency"), 0.0)


def paged(p, kw, pi, floor, alone, with_intent):
    """The router's rule: a keyword with P(urgent) ≥ floor, P(urgent) ≥ alone, or (``with_intent``) the emergency
    intent at EMERGENCY_INTENT_THRESHOLD with P(urgent) ≥ floor."""
    return (kw and p >= floor) or p >= alone or (with_intent and pi >= EMERGENCY_INTENT_THRESHOLD and p >= floor)


def figures(rows, floor, alone, with_intent):
    tp = sum(1 for u, p, kw, raw in rows if u and paged(p, kw, intent_p(raw), floor, alone, with_intent))
    fp = sum(1 for u, p, kw, raw in rows if not u and paged(p, kw, intent_p(raw), floor, alone, with_intent))
    pos = sum(1 for u, *_ in rows if u)
    return tp / pos, fp / (len(rows) - pos), pos - tp, fp


print("intent floor alone | " + " | ".join(f"{g}: recall false-pages (missed, false)" for g in scored) + " | pooled")
best = []
for with_intent, floor, alone in itertools.product([False, True], [0.1, 0.2, 0.3, 0.4], [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]):
    cells = [figures(rows, floor, alone, with_intent) for rows in scored.values()]
    pooled = figures([r for rows in scored.values() for r in rows], floor, alone, with_intent)
    best.append((pooled[2] * 5 + pooled[3], with_intent, floor, alone, pooled))
    print(f"{with_intent:d} {floor:.1f} {alone:.2f} | " + " | ".join(f"{r:.3f} {f:.3f} ({m}, {n})" for r, f, m, n in cells)
          + f" | {pooled[0]:.3f} {pooled[1]:.3f} ({pooled[2]}, {pooled[3]})")
best.sort(key=lambda b: b[0])
print("best by 5 × missed + false pages (pooled):", best[0][1:4], best[0][4])
if os.environ.get("SHOW"):  # the errors at FLOOR/ALONE/INTENT
    floor, alone = float(os.environ.get("FLOOR", 0.3)), float(os.environ.get("ALONE", 0.5))
    with_intent = bool(os.environ.get("INTENT"))
    for g in groups:
        for (t, u), (_, p, kw, raw) in zip(groups[g], scored[g]):
            if paged(p, kw, intent_p(raw), floor, alone, with_intent) != u:
                print(g, "MISSED" if u else "FALSE ", f"{p:.2f} {intent_p(raw):.2f}", "kw" if kw else "  ", t)

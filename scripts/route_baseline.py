"""How the router routes the sets written for issues 25, 27 and 28 (uncovered topics, urgency near-misses,
suggestions), each message as the first of a new conversation (what /api/parse answers). Aggregates only: no message
of a held-out set is printed (--show lists the development set's answered uncovered questions).

    .venv/bin/python scripts/route_baseline.py

A stop-gap until `wuye eval` reports these sets itself (the issues' own measurement)."""
import collections
import sys
from pathlib import Path

import yaml

from bot.core.settings import get_settings
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.parser import NluParser
from bot.nlu.training import current_model
from bot.routing.router import first_message_route, request_segments

settings = get_settings()
kb0 = load_knowledge_base(settings.faq_dir, settings.communities_file)
parser = NluParser.load(current_model(settings), knowledge=lambda: kb0)
kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
def route(text):
    reading = parser.parse(text)
    return reading, first_message_route(reading, parser.parse, request_segments(text), kb.support)
show = "--show" in sys.argv
UNCOVERED_SETS = ["tests/dev/uncovered.yml"] + ([] if "--dev" in sys.argv else ["tests/heldout/uncovered.yml"])
for path in UNCOVERED_SETS:
    items = yaml.safe_load(open(path))["items"]
    c = collections.Counter(); conf = []
    for it in items:
        reading, r = route(it["text"])
        kind = "answered from an FAQ entry" if r.decision == "answer" else r.decision
        c[kind] += 1
        if r.decision == "answer": conf.append(reading.faq_confidence)
        if show and "dev" in path and r.decision == "answer": print("  ", it["text"], "->", reading.faq_id, round(reading.faq_confidence, 2))
    n = len(items)
    print(path, n, {k: f"{v} ({v/n:.1%})" for k, v in c.most_common()}, "median FAQ confidence of those answered: %.2f" % (sorted(conf)[len(conf)//2] if conf else 0))
# the near-misses under data/nlu/urgency/ are the urgency model's training data (their figures are a fit, not a
# measurement: scripts/urgency_cv.py holds each author out); tests/heldout/urgency_near_miss.yml is the measurement
for path in sorted(str(p) for p in Path("data/nlu/urgency").glob("*.yml")) + ["tests/heldout/urgency_near_miss.yml"]:
    items = yaml.safe_load(open(path))["items"]
    tp = fn = fp = tn = 0
    for it in items:
        _, r = route(it["text"])
        urgent = r.priority == "urgent"
        if it["urgent"]: tp += urgent; fn += not urgent
        else: fp += urgent; tn += not urgent
    print(path, f"urgent recall {tp}/{tp+fn} = {tp/(tp+fn):.3f}; false pages {fp}/{fp+tn} = {fp/(fp+tn):.3f}")
items = yaml.safe_load(open("tests/heldout/suggestions.yml"))["items"]
tp = fn = fp = tn = read = 0
for it in items:
    reading, r = route(it["text"])
    recorded = r.action == "suggestion"
    if it["label"] == "suggestion":
        tp += recorded; fn += not recorded; read += reading.intent == "suggestion"
    else:
        fp += recorded; tn += not recorded
print(f"tests/heldout/suggestions.yml suggestion intent recall {read}/{tp+fn} = {read/(tp+fn):.3f}; recorded as "
      f"suggestions {tp}/{tp+fn} = {tp/(tp+fn):.3f}; other messages recorded as suggestions {fp}/{fp+tn} = {fp/(fp+tn):.3f}")
# the frozen sets `wuye eval` scores: emergencies routed urgent, and the other messages routed urgent (false pages)
from bot.tools import evaluation  # noqa: E402

for path, items in [(settings.heldout_file, [(i.text, i.intent == "emergency")
                                             for i in evaluation.load_heldout(settings.heldout_file)])] + \
        [(p, [(i.text, i.handoff == "urgent") for i in evaluation.load_styles(p)])
         for p in (settings.styles_heldout_file, settings.styles_b_heldout_file)]:
    tp = fn = fp = tn = 0
    for text, urgent_expected in items:
        _, r = route(text)
        urgent = r.priority == "urgent"
        if urgent_expected: tp += urgent; fn += not urgent
        else: fp += urgent; tn += not urgent
    print(Path(path).relative_to(settings.root), f"emergencies paged {tp}/{tp+fn}; other messages paged {fp}/{fp+tn}")

"""The triage band on the frozen held-out sets (issue 25): three figures per set, aggregates only — no message of a
held-out set is printed. Run once, after everything was chosen (scripts/urgency_bands.py chose the band on the CV and
the development sets).

Each message is routed as the first of a new conversation (``first_message_route``, as /api/parse routes it):
- paged at once: urgent, and the on-duty phone paged in the same turn (action ``emergency``);
- asked first: urgent for the resident (the number, the queue), the page waiting on 是 or the timeout
  (``urgent_check``, alone or as the urgent part of several requests);
- not urgent.
Urgent recall = (paged at once + asked) / emergencies: every asked message pages when nobody answers, so none is
dropped. False pages = non-emergencies paged at once; non-emergencies asked are shown apart (they page only on 是 or
no answer).

    .venv/bin/python scripts/urgency_triage_heldout.py

The two near-miss sets are also in `wuye eval` (open_set.md); this script adds the other held-out sets' emergencies.
"""
from __future__ import annotations

import yaml

from bot.core.settings import PROJECT_ROOT, get_settings
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.parser import NluParser
from bot.nlu.training import current_model
from bot.tools.evaluation import load_heldout, load_styles, urgency_band

settings = get_settings()
parser = NluParser.load(current_model(settings))
kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
HELDOUT = PROJECT_ROOT / "tests" / "heldout"


# the near-miss sets (N2; N3, written 2026-12-07 from the spec only and scored first on the band as the session
# before left it), then the other held-out sets' emergencies
SETS = {
    **{f"{path.name} ({data['author']})": [(i["text"], bool(i["urgent"])) for i in data["items"]]
       for path, data in ((p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in settings.urgency_heldout_files)},
    "heldout.yml": [(i.text, i.intent == "emergency") for i in load_heldout(HELDOUT / "heldout.yml")],
    "styles.yml (A)": [(i.text, i.handoff == "urgent") for i in load_styles(HELDOUT / "styles.yml")],
    "styles_b.yml (B)": [(i.text, i.handoff == "urgent") for i in load_styles(HELDOUT / "styles_b.yml")],
}
print("| set | emergencies: paged at once / asked first / not urgent | urgent recall | others: paged at once "
      "(false pages) / asked first / not urgent |")
print("| --- | --- | --- | --- |")
for name, rows in SETS.items():
    u = {"once": 0, "asked": 0, "no": 0}
    n = {"once": 0, "asked": 0, "no": 0}
    for text, urgent in rows:
        (u if urgent else n)[urgency_band(parser, kb.support, text)] += 1
    pos, neg = sum(u.values()), sum(n.values())
    print(f"| {name} | {u['once']} / {u['asked']} / {u['no']} of {pos} | {(u['once'] + u['asked']) / max(1, pos):.3f} "
          f"({u['once'] + u['asked']}/{pos}) | {n['once']} ({n['once'] / max(1, neg):.1%}) / {n['asked']} "
          f"({n['asked'] / max(1, neg):.1%}) / {n['no']} of {neg} |", flush=True)

"""Cross-validation of the open-set decision (issue 27): each author of the "none of these" data
(data/nlu/uncovered/<author>.yml) held out in turn, and the router's UNCOVERED_MIN swept.

    .venv/bin/python scripts/uncovered_cv.py [--only u3]

For each fold a scratch copy of data/ without the held-out author's file is trained (`wuye train`'s own training);
then, each message as the first of a new conversation (what /api/parse answers):
- the held-out author's questions and the development set U1 (tests/dev/uncovered.yml): answered from an unrelated
  entry (the error the issue counts), the honest reply, a clarification;
- the 200 covered questions of tests/dev/conversation_styles.yml: answered right (the cost of rejecting).
``--only u3`` trains on one author alone and reads the others (how the data stood before more authors were added).
The held-out set tests/heldout/uncovered.yml is never read here."""
from __future__ import annotations

import argparse
import collections
import shutil
import tempfile
from pathlib import Path

import yaml

from bot.core.settings import Settings, get_settings
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.parser import NluParser
from bot.nlu.training import train
from bot.routing import router

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.45, 0.55)


def rasa_examples(path: Path) -> list:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [line[2:].strip() for block in data["nlu"] for line in block["examples"].splitlines()
            if line.startswith("- ")]


def evaluate(model: Path, data_dir: Path, sets: dict, covered: list) -> dict:
    settings = Settings(data_dir=data_dir, models_dir=data_dir.parent / "models")
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    parser = NluParser.load(model, knowledge=lambda: kb)
    readings = {}
    out = {}
    for threshold in THRESHOLDS:
        router.UNCOVERED_MIN = threshold
        row = {}
        for name, texts in sets.items():
            c = collections.Counter()
            for text in texts:
                reading = readings.setdefault(text, parser.parse(text))
                route = router.first_message_route(reading, parser.parse, router.request_segments(text), kb.support)
                c[route.decision] += 1
            row[name] = (c["answer"] / len(texts), c["reject"] / len(texts), c["clarify"] / len(texts))
        right = 0
        for text, faqs in covered:
            reading = readings.setdefault(text, parser.parse(text))
            route = router.first_message_route(reading, parser.parse, router.request_segments(text), kb.support)
            right += route.decision == "answer" and reading.faq_id in faqs
        row["covered right"] = right / len(covered)
        out[threshold] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="train on this author alone, read the others")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting of the flat classifier (bot/config.yml) for this run, e.g. uncovered_weight=3")
    args = ap.parse_args()
    settings = get_settings()
    config = yaml.safe_load(settings.rasa_config.read_text(encoding="utf-8"))
    for pair in args.set:
        key, value = pair.split("=", 1)
        [flat] = [c for c in config["pipeline"] if c["name"].endswith("FlatIntentFaqClassifier")]
        flat[key] = yaml.safe_load(value)
    files = sorted((settings.nlu_dir / "uncovered").glob("*.yml"))
    authors = {f.stem: rasa_examples(f) for f in files}
    u1 = [i["text"] for i in yaml.safe_load(open("tests/dev/uncovered.yml"))["items"]]
    covered = [(m["text"], m["faq"]) for m in yaml.safe_load(open("tests/dev/conversation_styles.yml"))["messages"]]
    folds = [[a] for a in authors if a != args.only] if args.only else [[a] for a in authors]
    if args.only:
        folds = [[a for a in authors if a != args.only]]
    for held in folds:
        tmp = Path(tempfile.mkdtemp(prefix="wuye-uncovered-cv-"))
        try:
            shutil.copytree(settings.data_dir, tmp / "data")
            (tmp / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            for a in held:
                (tmp / "data" / "nlu" / "uncovered" / f"{a}.yml").unlink()
            scratch = Settings(data_dir=tmp / "data", models_dir=tmp / "models", rasa_config=tmp / "config.yml")
            model = train(scratch).model_path
            sets = {f"held-out {a}": authors[a] for a in held}
            sets["dev U1"] = u1
            result = evaluate(model, tmp / "data", sets, covered)
            print(f"## trained without {', '.join(held)}" + (f" ({', '.join(args.set)})" if args.set else ""))
            for threshold, row in result.items():
                cells = "; ".join(f"{k}: answered {v[0]:.3f} honest {v[1]:.3f} clarify {v[2]:.3f}"
                                  if isinstance(v, tuple) else f"{k} {v:.3f}" for k, v in row.items())
                print(f"UNCOVERED_MIN {threshold}: {cells}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

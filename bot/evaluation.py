"""`wuye eval`: the held-out set (intent, FAQ, entities, emotion, emergency recall) and SMP2017."""
from __future__ import annotations

import csv
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from bot.router import decide

ENTITY_MARKUP = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<type>[a-z_]+)(?::(?P<value>[^)]+))?\)")


@dataclass
class HeldoutItem:
    text: str
    intent: str
    faq: Optional[str]
    emotion: str
    entities: List[Tuple[str, int, int, Optional[str]]] = field(default_factory=list)


def parse_item(label: str, raw: str) -> HeldoutItem:
    emotion = "neutral"
    m = re.search(r"\s@(neutral|anxious|angry)\s*$", raw)
    if m:
        emotion, raw = m.group(1), raw[: m.start()]
    text, entities, pos = "", [], 0
    for em in ENTITY_MARKUP.finditer(raw):
        text += raw[pos:em.start()]
        start = len(text)
        text += em["text"]
        entities.append((em["type"], start, len(text), em["value"]))
        pos = em.end()
    text += raw[pos:]
    intent, _, faq = label.partition("/")
    return HeldoutItem(text=text.strip(), intent=intent, faq=faq or None, emotion=emotion, entities=entities)


def load_heldout(path: Path) -> List[HeldoutItem]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["heldout"]
    return [parse_item(label, str(raw)) for label, items in data.items() for raw in items]


def _prf(tp: int, fp: int, fn: int) -> Tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def classification_report(gold: List[str], pred: List[str]) -> Dict[str, Any]:
    labels = sorted(set(gold))
    per = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred))
        fp = sum(g != label and p == label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        prec, rec, f1 = _prf(tp, fp, fn)
        per[label] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    accuracy = sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0
    macro_f1 = sum(v["f1"] for v in per.values()) / len(per) if per else 0.0
    confused = Counter((g, p) for g, p in zip(gold, pred) if g != p).most_common(10)
    return {"accuracy": accuracy, "macro_f1": macro_f1, "per_label": per,
            "confused": [{"gold": g, "predicted": p, "count": n} for (g, p), n in confused]}


def evaluate_heldout(parser: Any, items: List[HeldoutItem]) -> Dict[str, Any]:
    gold_intents, pred_intents, rows = [], [], []
    faq_total = faq_hits = faq_selector_hits = 0
    emergency_total = emergency_routed = emergency_nlu = 0
    ent_tp = ent_fp = ent_fn = 0
    emo_gold, emo_pred = [], []
    for item in items:
        reading = parser.parse(item.text)
        route = decide(reading)
        gold_intents.append(item.intent)
        pred_intents.append(reading.intent)
        if item.faq:
            faq_total += 1
            faq_hits += reading.intent == "faq" and reading.faq_id == item.faq
            faq_selector_hits += bool(reading.faq_ranking) and reading.faq_ranking[0]["id"] == item.faq
        if item.intent == "emergency":
            emergency_total += 1
            emergency_nlu += reading.intent == "emergency"
            emergency_routed += route.decision == "handoff" and route.priority == "urgent"
        predicted = {(e["entity"], e["start"], e["end"]): e["value"] for e in reading.entities}
        gold = {(t, s, e): v for t, s, e, v in item.entities}
        for key, value in gold.items():
            if key in predicted and (value is None or predicted[key] == value):
                ent_tp += 1
            else:
                ent_fn += 1
        ent_fp += sum(1 for key in predicted if key not in gold)
        emo_gold.append(item.emotion)
        emo_pred.append(reading.emotion.get("label", "neutral"))
        rows.append({"text": item.text, "gold": item.intent + (f"/{item.faq}" if item.faq else ""),
                     "predicted": reading.intent + (f"/{reading.faq_id}" if reading.faq_id else ""),
                     "confidence": reading.confidence, "route": route.as_api()})
    intent = classification_report(gold_intents, pred_intents)
    ep, er, ef = _prf(ent_tp, ent_fp, ent_fn)
    return {
        "messages": len(items),
        "intent_accuracy": intent["accuracy"],
        "intent_macro_f1": intent["macro_f1"],
        "per_intent": intent["per_label"],
        "confused_pairs": intent["confused"],
        "faq_top1_accuracy": faq_hits / faq_total if faq_total else 0.0,
        "faq_selector_top1_accuracy": faq_selector_hits / faq_total if faq_total else 0.0,
        "faq_messages": faq_total,
        "emergency_recall_routed": emergency_routed / emergency_total if emergency_total else 0.0,
        "emergency_recall_nlu": emergency_nlu / emergency_total if emergency_total else 0.0,
        "entity_precision": ep, "entity_recall": er, "entity_f1": ef,
        "emotion_accuracy": classification_report(emo_gold, emo_pred)["accuracy"],
        "errors": [r for r in rows if r["gold"] != r["predicted"]],
    }


def heldout_markdown(r: Dict[str, Any]) -> str:
    lines = [
        "# wuye held-out evaluation", "",
        f"Messages: {r['messages']} (FAQ: {r['faq_messages']})", "",
        "| metric | value |", "| --- | --- |",
        f"| intent accuracy | {r['intent_accuracy']:.4f} |",
        f"| intent macro-F1 | {r['intent_macro_f1']:.4f} |",
        f"| FAQ top-1 accuracy (intent and id right) | {r['faq_top1_accuracy']:.4f} |",
        f"| FAQ selector top-1 (id only) | {r['faq_selector_top1_accuracy']:.4f} |",
        f"| emergency recall (routed urgent) | {r['emergency_recall_routed']:.4f} |",
        f"| emergency recall (NLU intent alone) | {r['emergency_recall_nlu']:.4f} |",
        f"| entity precision / recall | {r['entity_precision']:.4f} / {r['entity_recall']:.4f} |",
        f"| emotion accuracy | {r['emotion_accuracy']:.4f} |",
        "", "| intent | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |",
    ]
    for name, v in sorted(r["per_intent"].items()):
        lines.append(f"| {name} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    lines += ["", "Most confused (gold → predicted):", ""]
    lines += [f"- {c['gold']} → {c['predicted']}: {c['count']}" for c in r["confused_pairs"]] or ["- none"]
    lines += ["", "Errors:", ""] + [f"- `{e['text']}`: {e['gold']} → {e['predicted']}" for e in r["errors"]]
    return "\n".join(lines) + "\n"


def write_reports(report: Dict[str, Any], markdown: str, out_dir: Path, stem: str) -> Tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


# --- SMP2017-ECDT task 1 ---------------------------------------------------------------------------

def read_tsv(path: Path) -> List[Tuple[str, str]]:
    with path.open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        return [(row[0], row[1]) for row in reader if len(row) >= 2 and row[0].strip()]


def rasa_nlu_yaml(examples: List[Tuple[str, str]]) -> str:
    by_label: Dict[str, List[str]] = {}
    for text, label in examples:
        by_label.setdefault(label, []).append(text.replace("\n", " "))
    nlu = [{"intent": label, "examples": "".join(f"- {json.dumps(t, ensure_ascii=False)}\n" for t in texts)}
           for label, texts in sorted(by_label.items())]
    return yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, sort_keys=False)


def evaluate_smp2017(settings: Any, dataset: Path, out_dir: Path) -> Dict[str, Any]:
    """Train the project's pipeline config on SMP2017 train+dev and score the test split."""
    from bot.nlu.parser import NluParser
    from bot.nlu.training import resolved_config, train_rasa_nlu

    train_rows = read_tsv(dataset / "train.tsv") + read_tsv(dataset / "dev.tsv")
    test_rows = read_tsv(dataset / "test.tsv")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        (data_dir / "smp2017.yml").write_text(rasa_nlu_yaml(train_rows), encoding="utf-8")
        config = resolved_config(settings)  # the same pipeline, unchanged
        started = time.perf_counter()
        model = train_rasa_nlu(config, [data_dir], Path(tmp) / "models", "smp2017")
        train_seconds = time.perf_counter() - started
        parser = NluParser.load(Path(model))
        gold = [label for _, label in test_rows]
        pred = [parser.parse(text).intent for text, _ in test_rows]
    report = classification_report(gold, pred)
    result = {
        "dataset": str(dataset), "train_examples": len(train_rows), "test_examples": len(test_rows),
        "train_seconds": round(train_seconds, 1), "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
        "confused": report["confused"],
        "reference": {"logistic_regression_accuracy": 0.9025, "logistic_regression_macro_f1": 0.9017,
                      "best_ensemble_f1": 0.9355},
    }
    md = "\n".join([
        "# SMP2017-ECDT task 1 (test split)", "",
        "| system | accuracy | macro-F1 |", "| --- | --- | --- |",
        f"| wuye pipeline (train+dev, {result['train_seconds']} s training) | {result['accuracy']:.4f} | {result['macro_f1']:.4f} |",
        "| plain logistic regression (published baseline) | 0.9025 | 0.9017 |",
        "| best ensemble (Costello et al. 2018) | – | 0.9355 (F1) |", "",
    ])
    write_reports(result, md, out_dir, "smp2017")
    result["markdown"] = md
    return result

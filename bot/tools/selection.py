"""`wuye cv`: choose the intent/FAQ design and the answer thresholds by cross-validation over whole groups.

Training phrasings come in groups: the original team's data (``base``: data/faq questions, transactions.yml,
smalltalk.yml) and one file per writing style under ``data/nlu/styles/``, written by three different authors
(``data/nlu/styles/authors.yml``). A fold holds out one whole group, trains on the rest and reads the held-out
group, so every figure is on phrasings of a style (or an author) the model never saw. Nothing here reads the
held-out sets under tests/heldout: they are for reporting only.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AbstractSet, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from bot.core import yamlio
from bot.core.settings import Settings
from bot.kb.knowledge import FaqEntry, load_knowledge_base
from bot.nlu import matching
from bot.nlu.entities import without_places
from bot.nlu.flat_classifier import FlatModel, kb_examples, read, without_covered
from bot.nlu.lexicon import load_lexicon
from bot.nlu.normalize import get_normalizer
from bot.nlu.parser import NluParser
from bot.nlu.tokenizer import dictionary_files
from bot.nlu.training import train_rasa_nlu
from bot.routing.router import CLARIFY_THRESHOLD, FAQ_THRESHOLD, emergency_matches

FAQ = "faq/"
RASA_FOLD = "C"  # story, elderly, indirect and colloquial phrasings: the anchor's held-out author


@dataclass
class Example:
    text: str
    label: str
    style: str
    author: str


def load_examples(settings: Settings) -> List[Example]:
    """Every training phrasing with its style and author (data/faq questions count as ``base``)."""
    from rasa.shared.nlu.training_data.loading import load_data


    authors_file = settings.nlu_dir / "styles" / "authors.yml"
    authors: Dict[str, str] = {}
    if authors_file.is_file():
        for author, styles in (yaml.safe_load(authors_file.read_text(encoding="utf-8"))["authors"] or {}).items():
            for style in styles:
                authors[style] = str(author)
    examples: List[Example] = []
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    for entry in kb.entries.values():
        examples += [Example(q, FAQ + entry.id, "base", "base") for q in entry.questions]
    generated = settings.generated_faq_nlu.resolve()
    for path in sorted(settings.nlu_dir.rglob("*.yml")):
        if path.resolve() == generated or "nlu" not in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}):
            continue
        style = path.stem if path.parent.name == "styles" else "base"
        for m in load_data(str(path)).intent_examples:
            label = m.get("intent_response_key") or m.get("intent")
            examples.append(Example(m.get("text"), label, style, authors.get(style, "base")))
    return examples


def faq_titles(settings: Settings) -> List[Tuple[str, str]]:

    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    return [(e.title, FAQ + e.id) for e in kb.entries.values()]


# --- designs ------------------------------------------------------------------------------------------------
Design = Callable[[List[Example], List[Tuple[str, str]]], Callable[[str], Dict[str, float]]]


@dataclass
class ProductTraining:
    """What the classifier's training adds to a fold's phrasings, as `wuye train` does (FlatIntentFaqClassifier):
    the entries' titles and answer sentences at their weights (``extra``, normalised), and the "none of these"
    examples less those an entry answers, at the configured weight (``cold_fold_examples`` with no cold entry)."""

    extra: List[Tuple[str, str]]
    entries: List[FaqEntry]
    config: Dict[str, Any]


def flat_design(C: float = 200.0, titles: bool = True, focus_weight: float = 0.5,
                class_weight: Optional[str] = None, features: str = "v3",
                lexicon: Optional[Dict[str, List[str]]] = None, product: Optional[ProductTraining] = None) -> Design:
    """``product``: train each fold as the product trains (titles, answers, "none of these" as configured); without
    it, the fold's phrasings and the titles only (the designs compared before the answers and the uncovered class)."""

    def fit(train: List[Example], kb_titles: List[Tuple[str, str]]):
        if product is not None:
            texts, labels, weights = cold_fold_examples(train, product.extra, set(), 0, product.entries,
                                                        product.config)
        else:
            texts = [e.text for e in train] + ([t for t, _ in kb_titles] if titles else [])
            labels = [e.label for e in train] + ([l for _, l in kb_titles] if titles else [])
            weights = None
        texts = [without_places(t) for t in texts]  # as the classifier reads them (FlatIntentFaqClassifier)
        model = FlatModel.train(texts, labels, weights, C=C, class_weight=class_weight, features=features,
                                lexicon=lexicon)

        def predict(text: str) -> Dict[str, float]:
            return dict(zip(model.labels, read(model, without_places(text), focus_weight).tolist()))
        return predict
    return fit


def two_stage_design(C: float = 20.0) -> Design:
    """An intent model (FAQ ids merged into ``faq``) followed by a FAQ-id model trained on FAQ phrasings only."""

    def fit(train: List[Example], kb_titles: List[Tuple[str, str]]):
        intent_model = FlatModel.train([e.text for e in train], ["faq" if e.label.startswith(FAQ) else e.label
                                                                 for e in train], C=C)
        faq = [e for e in train if e.label.startswith(FAQ)]
        faq_model = FlatModel.train([e.text for e in faq] + [t for t, _ in kb_titles],
                                    [e.label for e in faq] + [l for _, l in kb_titles], C=C)

        def predict(text: str) -> Dict[str, float]:
            p = dict(zip(intent_model.labels, intent_model.predict_proba(text).tolist()))
            pf = p.pop("faq", 0.0)
            p.update({l: pf * q for l, q in zip(faq_model.labels, faq_model.predict_proba(text).tolist())})
            return p
        return predict
    return fit


def ensemble_design(C: float = 20.0) -> Design:
    """Flat model for the intent; the FAQ id from the mean of the flat and the FAQ-only models."""
    flat, two = flat_design(C), two_stage_design(C)

    def fit(train: List[Example], kb_titles: List[Tuple[str, str]]):
        a, b = flat(train, kb_titles), two(train, kb_titles)

        def predict(text: str) -> Dict[str, float]:
            pa, pb = a(text), b(text)
            fa = sum(v for k, v in pa.items() if k.startswith(FAQ))
            fb = sum(v for k, v in pb.items() if k.startswith(FAQ)) or 1.0
            out = {k: v for k, v in pa.items() if not k.startswith(FAQ)}
            for k in pa:
                if k.startswith(FAQ):
                    out[k] = fa * 0.5 * (pa[k] / (fa or 1.0) + pb.get(k, 0.0) / fb)
            return out
        return predict
    return fit


def rasa_design(selector_epochs: int = 60) -> Design:
    """The anchor: stock Rasa components on the same (normalised) phrasings — jieba with the domain dictionary,
    count vectors (words, char_wb 1–4), Rasa's LogisticRegressionClassifier for the intent and a
    ResponseSelector for the FAQ id."""
    import tempfile


    def fit(train: List[Example], kb_titles: List[Tuple[str, str]]):
        settings = Settings()
        by_label: Dict[str, List[str]] = defaultdict(list)
        for e in train:
            by_label[e.label].append(e.text)
        for t, l in kb_titles:
            by_label[l].append(t)
        nlu = [{"intent": l, "examples": "".join(f"- {json.dumps(t, ensure_ascii=False)}\n" for t in texts)}
               for l, texts in sorted(by_label.items())]
        responses = {f"utter_{l}": [{"text": l}] for l in by_label if l.startswith(FAQ)}
        config = {"recipe": "default.v1", "language": "zh", "policies": [], "pipeline": [
            {"name": "JiebaTokenizer", "dictionary_path": str(settings.dictionary_dir)},
            {"name": "CountVectorsFeaturizer"},
            {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
            {"name": "LogisticRegressionClassifier"},
            {"name": "ResponseSelector", "retrieval_intent": "faq", "epochs": selector_epochs, "random_seed": 42}]}
        tmp = Path(tempfile.mkdtemp(prefix="wuye-cv-"))
        (tmp / "data").mkdir()
        (tmp / "data" / "nlu.yml").write_text(yamlio.dump({"version": "3.1", "nlu": nlu, "responses": responses}),
                                             encoding="utf-8")
        model = train_rasa_nlu(config, [tmp / "data"], tmp / "models", "cv")
        parser = NluParser.load(Path(model))

        def predict(text: str) -> Dict[str, float]:
            raw = parser.raw_parse(text)
            out = {r["name"]: float(r["confidence"]) for r in raw.get("intent_ranking", []) if r["name"] != "faq"}
            pf = next((float(r["confidence"]) for r in raw.get("intent_ranking", []) if r["name"] == "faq"), 0.0)
            for r in ((raw.get("response_selector") or {}).get("faq") or {}).get("ranking", []):
                out[r["intent_response_key"]] = pf * float(r["confidence"])
            return out
        return predict
    return fit


# --- scoring -------------------------------------------------------------------------------------------------
@dataclass
class Prediction:
    example: Example
    intent: str
    intent_conf: float
    faq: Optional[str]
    faq_conf: float
    emergency_p: float = 0.0


def to_prediction(example: Example, probs: Dict[str, float]) -> Prediction:
    intents: Dict[str, float] = defaultdict(float)
    for k, v in probs.items():
        intents["faq" if k.startswith(FAQ) else k] += v
    intent = max(intents, key=intents.get)
    faqs = {k: v for k, v in probs.items() if k.startswith(FAQ)}
    faq = max(faqs, key=faqs.get) if faqs else None
    return Prediction(example, intent, intents[intent], faq[len(FAQ):] if faq else None, faqs.get(faq, 0.0),
                      intents.get("emergency", 0.0))


def outcome(p: Prediction, clarify_threshold: float, faq_threshold: float) -> str:
    """For a FAQ question: right / wrong (answered another FAQ) / clarify / other (flow, handoff, reject…)."""
    if p.intent_conf < clarify_threshold or (p.intent == "faq" and p.faq_conf < faq_threshold):
        return "clarify"
    if p.intent != "faq":
        return "other"
    return "right" if FAQ + p.faq == p.example.label else "wrong"


def summarise(preds: Sequence[Prediction], clarify_threshold: float, faq_threshold: float) -> Dict[str, float]:
    n = len(preds)
    gold = [("faq" if p.example.label.startswith(FAQ) else p.example.label) for p in preds]
    intent_acc = sum(g == p.intent for g, p in zip(gold, preds)) / n if n else 0.0
    faq_preds = [p for p in preds if p.example.label.startswith(FAQ)]
    outcomes = Counter(outcome(p, clarify_threshold, faq_threshold) for p in faq_preds)
    m = len(faq_preds) or 1
    return {"messages": n, "intent_accuracy": intent_acc,
            "faq_top1": sum(p.intent == "faq" and FAQ + (p.faq or "") == p.example.label for p in faq_preds) / m,
            "answered_right": outcomes["right"] / m, "clarify": outcomes["clarify"] / m,
            "wrong_answer": outcomes["wrong"] / m, "other": outcomes["other"] / m}


def cross_validate(examples: List[Example], kb_titles, design: Design, by: str = "author",
                   only: Optional[Sequence[str]] = None) -> List[Prediction]:
    groups = [g for g in sorted({getattr(e, by) for e in examples}) if not only or g in only]
    preds: List[Prediction] = []
    for g in groups:
        train = [e for e in examples if getattr(e, by) != g]
        test = [e for e in examples if getattr(e, by) == g]
        predict = design(train, kb_titles)
        preds += [to_prediction(e, predict(e.text)) for e in test]
    return preds


def normalised(examples: List[Example], settings: Settings) -> List[Example]:

    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
    return [Example(normalizer.normalize(e.text).text or e.text, e.label, e.style, e.author) for e in examples]


def choose_thresholds(preds: Sequence[Prediction], max_clarify: float = 0.10, max_wrong: float = 0.08
                      ) -> Tuple[Tuple[float, float], Dict[str, float]]:
    """The (intent, FAQ) confidence thresholds below which the router clarifies.

    Among the pairs that keep clarify ≤ max_clarify and wrong answers ≤ max_wrong on routine FAQ questions, and
    clarify ≤ max_clarify on the other messages, the one with the most messages read right and acted on minus
    twice those read wrong and acted on, over all messages (a wrong answer or a wrong flow costs a resident more
    than a "did you mean" does).
    """
    best = None
    gold = ["faq" if p.example.label.startswith(FAQ) else p.example.label for p in preds]
    for tc in np.arange(0.0, 0.61, 0.025):
        for tf in np.arange(0.0, 0.61, 0.01):
            s = summarise(preds, float(tc), float(tf))
            acted = [(p, g) for p, g in zip(preds, gold)
                     if not (p.intent_conf < tc or (p.intent == "faq" and p.faq_conf < tf))]
            others = [p for p, g in zip(preds, gold) if g != "faq"]
            s["other_clarify"] = sum(p.intent_conf < tc for p in others) / (len(others) or 1)
            right = sum(p.intent == g and (g != "faq" or FAQ + (p.faq or "") == p.example.label) for p, g in acted)
            s["acted_right"], s["acted_wrong"] = right / len(preds), (len(acted) - right) / len(preds)
            ok = s["clarify"] <= max_clarify and s["wrong_answer"] <= max_wrong and s["other_clarify"] <= max_clarify
            score = (ok, s["acted_right"] - 2 * s["acted_wrong"])
            if best is None or score > best[0]:
                best = (score, (round(float(tc), 3), round(float(tf), 3)), s)
    return best[1], best[2]


def choose_emergency_threshold(preds: Sequence[Prediction], max_false: float = 0.01) -> Tuple[float, Dict[str, float]]:
    """The lowest emergency probability that routes urgent while at most max_false of the other messages
    (those no emergency keyword rule catches) would be sent to an urgent handoff."""

    emergencies = [p for p in preds if p.example.label == "emergency"]
    others = [p for p in preds if p.example.label != "emergency" and not emergency_matches(p.example.text)]
    for t in np.arange(0.05, 0.91, 0.01):
        false = sum(p.emergency_p >= t for p in others) / (len(others) or 1)
        if false <= max_false:
            caught = [p.emergency_p >= t or bool(emergency_matches(p.example.text)) for p in emergencies]
            return round(float(t), 2), {"false_urgent": false, "urgent_recall": sum(caught) / (len(caught) or 1),
                                        "emergencies": len(caught)}
    return 0.9, {}


def _classifier_config(settings: Settings) -> Dict[str, Any]:
    """The flat classifier's entry in bot/config.yml's pipeline."""
    config = yaml.safe_load(settings.rasa_config.read_text(encoding="utf-8"))
    return next(c for c in config["pipeline"] if c["name"].endswith("FlatIntentFaqClassifier"))


def configured_class_weight(settings: Settings) -> Optional[str]:
    return _classifier_config(settings).get("class_weight")


def product_training(settings: Settings) -> ProductTraining:
    c = _classifier_config(settings)
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
    extra = [(normalizer.normalize(t).text or t, label) for t, label, _ in kb_examples(
        list(kb.active.values()), float(c.get("title_weight", 1.0)), float(c.get("answer_weight", 0)))]
    return ProductTraining(extra, list(kb.active.values()), c)


def configured_design(settings: Settings) -> Tuple[str, Design, float, float]:
    """The design bot/config.yml trains (its C, focus weight, class weighting and features), each fold trained as
    the product trains (``ProductTraining``)."""
    c = _classifier_config(settings)
    C, focus = float(c.get("C", 20.0)), float(c.get("focus_weight", 0.5))
    weight, features = c.get("class_weight"), str(c.get("features") or "v3")
    name = f"configured: flat, C={C:g}, focus {focus:g}" + (f", class_weight {weight}" if weight else "") + \
        f", features {features}"

    lexicon = load_lexicon(settings.lexicon_dir) if features == "v4" else None  # as training reads lexicon_path
    return name, flat_design(C, focus_weight=focus, class_weight=weight, features=features, lexicon=lexicon,
                             product=product_training(settings)), C, focus


def run(settings: Settings, out: Optional[Path] = None, quick: bool = False, with_rasa: bool = False
        ) -> Dict[str, object]:
    import jieba

    for path in dictionary_files(str(settings.dictionary_dir)):
        jieba.load_userdict(path)
    raw = load_examples(settings)
    norm = normalised(raw, settings)
    titles = faq_titles(settings)
    chosen_name, chosen, C, focus = configured_design(settings)
    designs = {chosen_name: (norm, chosen)}
    if not quick:
        cw, product = configured_class_weight(settings), product_training(settings)
        for c in (10.0, 50.0, 200.0, 500.0):
            if c != C:
                designs[f"flat, C={c:g}, focus {focus:g}"] = \
                    (norm, flat_design(c, focus_weight=focus, class_weight=cw, product=product))
        for f in (0.0, 0.3, 0.5):
            if f != focus:
                designs[f"flat, C={C:g}, focus {f:g} (question clause read too)"] = \
                    (norm, flat_design(C, focus_weight=f, class_weight=cw, product=product))
        if cw:
            designs[f"flat, C={C:g}, focus {focus:g}, no class weighting"] = \
                (norm, flat_design(C, focus_weight=focus, product=product))
        if _classifier_config(settings).get("features") == "v4":
            designs["configured without the lexicon (v3 features)"] = \
                (norm, flat_design(C, focus_weight=focus, class_weight=cw, features="v3", product=product))
        designs["configured with the v2 features (no dictionary tags and frequencies)"] = \
            (norm, flat_design(C, focus_weight=focus, class_weight=cw, features="v2", product=product))
        # the two ablations below train on the phrasings and titles only (the product's extra texts are normalised,
        # and "without titles" would contradict them)
        designs["configured without normalisation"] = (raw, flat_design(C, focus_weight=focus, class_weight=cw))
        designs["configured without FAQ titles"] = (norm, flat_design(C, titles=False, focus_weight=focus,
                                                                       class_weight=cw))
        designs[f"two-stage: intent model + FAQ-id model (C={C:g})"] = (norm, two_stage_design(C))
        designs[f"ensemble: flat intent, mean of flat and FAQ-id model (C={C:g})"] = (norm, ensemble_design(C))

    report: Dict[str, object] = {"examples": len(raw), "groups": dict(Counter(e.style for e in raw)),
                                 "authors": dict(Counter(e.author for e in raw)), "designs": {},
                                 "router_thresholds_in_use": {"clarify": CLARIFY_THRESHOLD, "faq": FAQ_THRESHOLD}}
    chosen_preds: List[Prediction] = []
    for name, (data, design) in designs.items():
        started = time.perf_counter()
        preds = cross_validate(data, titles, design, by="author")
        chosen_preds = chosen_preds or preds
        thresholds, at = choose_thresholds(preds)
        report["designs"][name] = {"at_router_thresholds": summarise(preds, CLARIFY_THRESHOLD, FAQ_THRESHOLD),
                                   "chosen_thresholds": thresholds, "at_chosen_thresholds": at,
                                   "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name}: intent {at['intent_accuracy']:.3f}, FAQ top-1 {at['faq_top1']:.3f}, at {thresholds}: right "
              f"{at['answered_right']:.3f} clarify {at['clarify']:.3f} wrong {at['wrong_answer']:.3f}", flush=True)
    if with_rasa:
        # The stock anchor trains a ResponseSelector (~10 min per fold here): one fold, the configured design beside
        # it on the same fold, at the configured design's chosen thresholds.
        tc, tf = report["designs"][chosen_name]["chosen_thresholds"]
        anchor = {}
        for name, design in ((chosen_name, chosen), ("stock Rasa: LogisticRegressionClassifier + ResponseSelector "
                                                     "(60 epochs)", rasa_design(60))):
            preds = cross_validate(norm, titles, design, by="author", only=[RASA_FOLD])
            anchor[name] = summarise(preds, tc, tf)
            print(f"fold {RASA_FOLD}, {name}: {json.dumps(anchor[name])}", flush=True)
        report["anchor_fold"] = {"held_out_author": RASA_FOLD, "designs": anchor}
    report["chosen_thresholds"] = report["designs"][chosen_name]["chosen_thresholds"]
    report["emergency_threshold"] = choose_emergency_threshold(chosen_preds)
    # per style (leave-one-style-out) for the configured design, at the router's thresholds
    preds = cross_validate(norm, titles, chosen, by="style")
    report["per_style"] = {style: summarise([p for p in preds if p.example.style == style], CLARIFY_THRESHOLD,
                                            FAQ_THRESHOLD) for style in sorted({e.style for e in raw})}
    report["by_style_overall"] = summarise(preds, CLARIFY_THRESHOLD, FAQ_THRESHOLD)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report


def markdown(report: Dict[str, object]) -> str:
    cols = ("intent_accuracy", "faq_top1", "answered_right", "clarify", "wrong_answer", "other")
    lines = [f"Training phrasings: {report['examples']} (by author: {report['authors']})", "",
             "Leave-one-author-out (clarify thresholds chosen on these predictions, see choose_thresholds):", "",
             "| design | intent acc | FAQ top-1 | answered right | clarify | wrong | other | thresholds (intent, FAQ) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, d in report["designs"].items():
        at = d["at_chosen_thresholds"]
        lines.append(f"| {name} | " + " | ".join(f"{at[c]:.3f}" for c in cols) + f" | {d['chosen_thresholds']} |")
    lines += ["", f"Router thresholds in use: {report['router_thresholds_in_use']}; chosen for the configured design: "
              f"{report['chosen_thresholds']}; emergency probability threshold: {report['emergency_threshold']}"]
    lines += ["", "Leave-one-style-out, configured design at the router's thresholds, per style:", "",
              "| style | n | intent acc | FAQ top-1 | answered right | clarify | wrong | other |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for style, s in report["per_style"].items():
        lines.append(f"| {style} | {s['messages']} | " + " | ".join(f"{s[c]:.3f}" for c in cols) + " |")
    s = report["by_style_overall"]
    lines.append(f"| **all** | {s['messages']} | " + " | ".join(f"{s[c]:.3f}" for c in cols) + " |")
    if report.get("anchor_fold"):
        lines += ["", f"Stock Rasa anchor, same run, author {report['anchor_fold']['held_out_author']} held out "
                  "(at the configured design's thresholds):", "",
                  "| design | intent acc | FAQ top-1 | answered right | clarify | wrong | other |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, a in report["anchor_fold"]["designs"].items():
            lines.append(f"| {name} | " + " | ".join(f"{a[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


# --- the cold-entry protocol (issue 27) ----------------------------------------------------------------------
def cold_fold_examples(norm: Sequence[Example], extra: Sequence[Tuple[str, str]], cold: AbstractSet[str], keep: int,
                       entries: Sequence[FaqEntry], config: Dict[str, Any]) -> Tuple[List[str], List[str], List[float]]:
    """A cold-entry fold's training data, as the classifier's training would see it had the ``cold`` labels' entries
    just been written with their first ``keep`` questions: those questions as their only phrasings, every other
    phrasing, the entries' titles and answer sentences (``extra``), and the "none of these" examples less those an
    entry answers — judged against the fold's entries (a cold one by its ``keep`` questions), as training judges
    them (bot/nlu/flat_classifier.py ``without_covered``). Returns texts, labels and weights."""
    kept: Counter = Counter()
    examples: List[Tuple[str, str, float]] = []
    for e in norm:
        if e.label in cold:
            if e.author == "base" and kept[e.label] < keep:
                kept[e.label] += 1
                examples.append((e.text, e.label, 1.0))
        else:
            examples.append((e.text, e.label, 1.0))
    examples += [(t, label, 1.0) for t, label in extra]
    none, factor = config.get("uncovered_intent", "uncovered"), float(config.get("uncovered_weight") or 1.0)
    fold_entries = [replace(e, questions=e.questions[:keep]) if FAQ + e.id in cold else e for e in entries]
    examples = without_covered(examples, fold_entries, none, float(config.get("uncovered_covered_similarity", 0.5)))
    return ([t for t, _, _ in examples], [label for _, label, _ in examples],
            [factor if label == none else w for _, label, w in examples])


def cold_entry(settings: Settings, keep: int = 3, groups: int = 11, seed: int = 7) -> Dict[str, object]:
    """For each entry in turn, as an admin's new entry: only its first ``keep`` questions (plus its title and answer)
    in training, every other entry at full strength; read on its phrasings by the other authors (not ``base``).
    Entries are taken ``len/groups`` at a time (each fold trains once for a few cold entries). Each phrasing is read
    as serving reads it: the configured classifier, then the entry model and the young-entry rule
    (bot/nlu/matching.py), at the router's thresholds. Returns per-entry and overall right / clarify / wrong / other."""
    import random

    import jieba

    for path in dictionary_files(str(settings.dictionary_dir)):
        jieba.load_userdict(path)
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
    norm = normalised(load_examples(settings), settings)
    c = _classifier_config(settings)
    lexicon = load_lexicon(settings.lexicon_dir) if str(c.get("features")) == "v4" else None
    entry_model = matching.train_entry_model(kb, lambda t: normalizer.normalize(t).text or t)
    extra = [(normalizer.normalize(t).text or t, label) for t, label, _ in kb_examples(
        list(kb.active.values()), float(c.get("title_weight", 1.0)), float(c.get("answer_weight", 0)))]
    ids = sorted(kb.active)
    random.Random(seed).shuffle(ids)
    per_entry: Dict[str, Counter] = defaultdict(Counter)
    # by the author of the phrasing read: adding an author adds phrasings to read, so the overall figure moves with
    # who wrote them as well as with what the model learnt
    per_author: Dict[str, Counter] = defaultdict(Counter)
    # the price of reading young entries generously: questions on topics no entry covers (the development set U1)
    # answered from an entry by each fold's reading (issue 27 wants both figures seen together)
    uncovered = normalised([Example(str(i["text"]), "uncovered", "U1", "U1") for i in yaml.safe_load(
        settings.uncovered_dev_file.read_text(encoding="utf-8"))["items"]], settings)
    uncovered_answered = 0
    for g in range(groups):
        cold = {FAQ + i for i in ids[g::groups]}
        texts, labels, weights = cold_fold_examples(norm, extra, cold, keep, list(kb.active.values()), c)
        model = FlatModel.train([without_places(t) for t in texts], labels, weights,
                                C=float(c.get("C", 200)), class_weight=c.get("class_weight"),
                                features=str(c.get("features") or "v3"), lexicon=lexicon, parallel=True)
        for e in [e for e in norm if e.label in cold and e.author != "base"] + uncovered:
            probs = dict(zip(model.labels, read(model, without_places(e.text), 0.0).tolist()))
            p = to_prediction(e, probs)
            ranking = sorted(((k[len(FAQ):], v) for k, v in probs.items() if k.startswith(FAQ)), key=lambda r: -r[1])
            choice = matching.choose(p.intent, p.intent_conf, ranking, set(kb.active),
                                     entry_model.probabilities(e.text), model.label_counts or {})
            top = choice.faq_ranking[0] if choice.faq_ranking else (None, 0.0)
            served = Prediction(e, choice.intent, choice.confidence, top[0], top[1])
            result = outcome(served, CLARIFY_THRESHOLD, FAQ_THRESHOLD)
            if e.author == "U1":
                uncovered_answered += result == "wrong"  # an FAQ answer at the thresholds (no entry is right)
            else:
                per_entry[e.label[len(FAQ):]][result] += 1
                per_author[e.author][result] += 1
        print(f"cold-entry fold {g + 1}/{groups}: {sorted(i[len(FAQ):] for i in cold)}", flush=True)
    total: Counter = sum(per_entry.values(), Counter())
    n = sum(total.values()) or 1

    def shares(c: Counter) -> Dict[str, float]:
        m = sum(c.values()) or 1
        return {k: round(c[k] / m, 3) for k in ("right", "clarify", "wrong", "other")} | {"n": sum(c.values())}
    return {"keep_questions": keep, "overall": shares(total), "phrasings": n,
            "uncovered_answered": round(uncovered_answered / ((len(uncovered) * groups) or 1), 3),
            "uncovered_questions": len(uncovered),
            "per_entry": {k: shares(v) for k, v in sorted(per_entry.items())},
            "per_author": {k: shares(v) for k, v in sorted(per_author.items())}}

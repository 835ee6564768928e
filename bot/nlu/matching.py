"""Which entry answers a message when the knowledge base holds entries the classifier barely knows.

The classifier (bot/nlu/flat_classifier.py) learns each entry from its phrasings: an entry an admin has just written
with three questions competes with entries that have ninety, and one saved after the last training is not among
its labels at all. Measured by the cold-entry protocol (`wuye cv --cold`: one entry at a time keeps three
questions, read on the other authors' phrasings of it), the classifier alone answers such an entry right 28 % of
the time.

So beside it, every knowledge base version gets a small *entry model*: the same linear model over character and word
n-grams, trained on exactly the same amount of text per entry (its first ``ENTRY_QUESTIONS`` questions, title and
answer sentences), with balanced class weights, its probabilities averaged (``SIMILARITY_SHARE``) with a softmax
of the text's character similarity to each entry's same words (bot/nlu/retrieval.py ``CharCentroids``). It reads
residents' phrasings worse than the classifier does for the entries the classifier knows well (0.80 against 0.95
top-1; the linear model alone 0.73), but it is fair to a young entry, and it trains in well under a second, so a
saved entry is answerable at once without waiting for the full retrain.

The decision (:func:`choose`): the classifier's reading stands, except when a *young* entry (fewer than
``YOUNG_PHRASINGS`` phrasings in the classifier, or not one of its labels) reads well enough: for one the classifier
knows, its entry-model probability plus ``CLASSIFIER_WEIGHT`` times the classifier's reaches ``YOUNG_KNOWN_MIN``; for
one saved since the training, its entry-model probability reaches ``YOUNG_MIN``. The best such entry is then the FAQ
read, over another FAQ, a clarification, or an uncovered / out-of-scope reading; over a flow only when the flow is
read with less than ``FLOW_KEEP`` and the entry model's own probability reaches ``YOUNG_OVER_FLOW_MIN``; never over
a complaint, a request for a person or an emergency. Retired entries are never read. The thresholds were chosen by
the cold-entry protocol (docs/figures/2026-12-06-kb.md, docs/figures/2026-12-07-cold-entry.md,
docs/figures/2026-12-07-cold-entry-b.md).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import AbstractSet, Any, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from bot.kb.knowledge import KnowledgeBase, answer_sentences
from bot.nlu.flat_classifier import FEW_PHRASINGS, FlatModel
from bot.nlu.retrieval import CharCentroids

FAQ_PREFIX = "faq/"
ENTRY_QUESTIONS = 3  # per entry in the entry model: the same for every entry, so none outweighs another
YOUNG_PHRASINGS = FEW_PHRASINGS  # an entry the classifier learnt from fewer phrasings than this is young
# The entry model's probability: (1 - SIMILARITY_SHARE) × the linear model's + SIMILARITY_SHARE × a softmax of the
# character similarities at SIMILARITY_TEMPERATURE.
SIMILARITY_SHARE = 0.5
SIMILARITY_TEMPERATURE = 0.05
# An entry saved since the classifier's training answers at this entry-model probability (over all active entries).
# Re-chosen with the similarity on all the cold-entry protocol's folds read as if their cold entries were saved since
# the training, so that the development set's uncovered questions are answered no more often (10.7 %): right
# 0.601 -> 0.624, wrong 0.064 -> 0.066 (0.10 before, without the similarity; docs/figures/2026-12-07-cold-entry.md)
YOUNG_MIN = 0.21
# A young entry the classifier knows: the entry model's probability plus CLASSIFIER_WEIGHT times the classifier's
# (tiny in absolute terms, a young label among mature ones, but it ranks the young entries well) must reach
# YOUNG_KNOWN_MIN. Chosen with the similarity by the cold-entry protocol's cached folds on each half of its entry
# groups (the same point on both), under the constraint that the development set's uncovered questions are answered
# no more often and its cold phrasings answered wrong no more often; read on the other half: answered right
# 0.680 -> 0.718 and 0.752 -> 0.764, wrong 0.072 -> 0.065 and 0.048 -> 0.043 (docs/figures/2026-12-07-cold-entry.md;
# before, 32 and 0.14 without the similarity, docs/figures/2026-12-06-kb.md)
CLASSIFIER_WEIGHT = 64.0
YOUNG_KNOWN_MIN = 0.30
YOUNG_OVER = ("faq", "uncovered", "out_of_scope")  # readings a young entry may take over (not people, danger)
# A flow's reading (bot/routing/router.py FLOW_INTENTS) a young entry may take over when the flow is read with less
# than FLOW_KEEP and the entry model gives the young entry at least YOUNG_OVER_FLOW_MIN (on top of its rule above).
# A young entry near a flow loses its own residents' questions to it otherwise: 40 % of visitor_vehicle's cold
# phrasings went to the parking flow (访客车要登记吗). Chosen on all the cold-entry protocol's folds under the
# constraints that the development set's uncovered questions are answered no more often, cold phrasings answered
# wrong no more often, and no flow loses more than 5 % of its own phrasings (read by classifiers that never saw
# their author) in any fold: right 0.744 -> 0.755, lowest entry 0.42 -> 0.60; the flows lose 0.26 % of their
# phrasings, at worst the parking flow 4.3 % when parking_monthly_card is young (帮我续月卡). Chosen on each half of
# the entry groups and read on the other: 0.721 -> 0.739 and 0.763 -> 0.766 (docs/figures/2026-12-07-cold-entry-b.md)
YOUNG_OVER_FLOWS = ("fee_lookup", "repair_request", "repair_status", "parking")
YOUNG_OVER_FLOW_MIN = 0.35
FLOW_KEEP = 0.8


@dataclass
class EntryModel:
    """The entry model of one knowledge base version (None until it has at least two active entries)."""

    model: Optional[object]  # bot.nlu.flat_classifier.FlatModel
    entry_ids: List[str]
    centroids: Optional[CharCentroids] = None  # built from the same texts (``entry_texts``), in the model's label order

    def probabilities(self, text: str) -> Dict[str, float]:
        reading = self.reading(text)
        return dict(zip(reading.ids, reading.p.tolist()))

    def reading(self, text: str) -> "EntryReading":
        """The probabilities as an array in the model's entry order (what ``choose`` reads; no dict of every entry)."""
        if self.model is None:
            return EntryReading(self.entry_ids[:1], np.ones(min(len(self.entry_ids), 1)))
        p = self.model.predict_proba(text)  # type: ignore[attr-defined]
        if self.centroids is not None:
            s = self.centroids.similarity(text) * (1.0 / SIMILARITY_TEMPERATURE)
            s -= s.max()
            np.exp(s, out=s)
            s *= SIMILARITY_SHARE / s.sum()
            p = (1.0 - SIMILARITY_SHARE) * p + s
        return EntryReading(self.model.labels, p)  # type: ignore[attr-defined]


class EntryReading(NamedTuple):
    """The entry model's probabilities: entry ids and their probabilities in the same order."""

    ids: Sequence[str]
    p: np.ndarray

    @classmethod
    def of(cls, probs: Dict[str, float]) -> "EntryReading":
        return cls(list(probs), np.fromiter(probs.values(), dtype=np.float64, count=len(probs)))


def entry_texts(kb: KnowledgeBase, normalize=None) -> Tuple[List[str], List[str]]:
    """The entry model's training texts and entry ids: per active entry, its first ENTRY_QUESTIONS questions, its
    title and its answer's sentences (normalised like messages when ``normalize`` is given)."""
    texts, labels = [], []
    for entry in sorted(kb.active.values(), key=lambda e: e.id):
        for text in entry.questions[:ENTRY_QUESTIONS] + [entry.title] + answer_sentences(entry.answer):
            texts.append(normalize(text) if normalize else text)
            labels.append(entry.id)
    return texts, labels


def train_entry_model(kb: KnowledgeBase, normalize=None, parallel: bool = False) -> EntryModel:
    """``parallel``: fit the entries on every CPU (`wuye train`, which stores it with the model); a serving worker
    fits on one thread (FlatModel.train)."""
    texts, labels = entry_texts(kb, normalize)
    ids = sorted(set(labels))
    if len(ids) < 2:
        return EntryModel(None, ids)
    flat = FlatModel.train(texts, labels, C=10.0, class_weight="balanced", features="v2", parallel=parallel)
    model = EntryModel(flat, ids, CharCentroids(texts, labels, flat.labels))
    _release_freed_memory()
    return model


def _release_freed_memory() -> None:
    """Give the training's freed memory back to the system. A serving worker trains an entry model per knowledge base
    version; glibc keeps the freed heap of such a training mapped, ~40 MB of a 300-entry base's worker for good
    (`wuye bench kb`). Elsewhere than glibc there is nothing to do."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        trim = None
    if trim is not None:
        trim(0)


_LOCK = threading.Lock()
_RECENT: List[Tuple[object, str, EntryModel]] = []  # (normaliser's owner, content key, model), newest last
_RECENT_SIZE = 4


def _content(kb: KnowledgeBase) -> tuple:
    """What the entry model is trained from (see ``entry_texts``)."""
    return tuple((e.id, tuple(e.questions[:ENTRY_QUESTIONS]), e.title, e.answer)
                 for e in sorted(kb.active.values(), key=lambda e: e.id))


def content_key(kb: KnowledgeBase) -> str:
    """A digest of what the entry model is trained from (``_content``): the key a stored entry model is found by."""
    return hashlib.sha256(json.dumps(_content(kb), ensure_ascii=False).encode("utf-8")).hexdigest()


def entry_model_of(kb: KnowledgeBase, normalize=None, owner: Any = None) -> EntryModel:
    """The entry model of a knowledge base version, trained once per content: a saved version and the copy the file
    watcher reloads a second later share one (each version object keeps it too). ``owner``: whose normaliser the
    texts are read with (default the normaliser's own object), so readers sharing one share the models."""
    model = getattr(kb, "_entry_model", None)
    if model is None:
        with _LOCK:
            model = getattr(kb, "_entry_model", None)
            if model is None:
                owner = owner if owner is not None else getattr(normalize, "__self__", normalize)
                key = content_key(kb)
                model = next((m for o, c, m in _RECENT if o is owner and c == key), None)
                if model is None:
                    model = train_entry_model(kb, normalize)
                    _remember(owner, key, model)
                elif model.centroids is None and model.model is not None:  # stored with the model: texts not kept
                    texts, labels = entry_texts(kb, normalize)
                    model.centroids = CharCentroids(texts, labels, model.model.labels)  # type: ignore[attr-defined]
                kb._entry_model = model  # type: ignore[attr-defined]  # lives and dies with its version
    return model


def active_ids(kb: KnowledgeBase) -> FrozenSet[str]:
    """The ids of a knowledge base version's active entries, worked out once per version (as its entry model is):
    every reading asks, and building the set anew cost ~27 µs a parse with 300 entries."""
    ids = getattr(kb, "_active_ids", None)
    if ids is None:
        ids = frozenset(kb.active)
        kb._active_ids = ids  # type: ignore[attr-defined]  # lives and dies with its version
    return ids


def _remember(owner: Any, key: str, model: EntryModel) -> None:
    _RECENT.append((owner, key, model))
    del _RECENT[:-_RECENT_SIZE]


# The entry model of the knowledge base a model was trained with, stored beside the model archive
# (``nlu-<fingerprint>.entry/``): a serving worker reads it instead of training it. Training it costs a 300-entry
# base's worker scikit-learn (~40 MB) and the training's peak, which is most of the worker's memory above the model
# (`wuye bench kb`); only a knowledge base edited since the training makes the worker train one.
def stored_path(model_path: Path) -> Path:
    return Path(model_path).with_name(Path(model_path).name.replace(".tar.gz", "") + ".entry")


def store_entry_model(kb: KnowledgeBase, normalize, model_path: Path, parallel: bool = True) -> None:
    """Train the knowledge base's entry model and store it beside the model archive (written whole, then renamed)."""
    model = train_entry_model(kb, normalize, parallel=parallel)
    target = stored_path(model_path)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        if model.model is not None:
            model.model.save(tmp)  # type: ignore[attr-defined]
        (tmp / "entry.json").write_text(json.dumps({"key": content_key(kb), "entry_ids": model.entry_ids}),
                                        encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_stored_entry_model(model_path: Path, owner: Any) -> bool:
    """Make the entry model stored beside a model archive known to ``owner``'s readers; False when there is none
    (a model trained before they were stored, or trained elsewhere)."""
    target = stored_path(model_path)
    meta_file = target / "entry.json"
    if not meta_file.is_file():
        return False
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    flat = FlatModel.load(target) if (target / "flat.json").is_file() else None
    with _LOCK:
        _remember(owner, meta["key"], EntryModel(flat, list(meta["entry_ids"])))
    return True


@dataclass
class Choice:
    """What the reading becomes: the intent and its confidence, the FAQ ranking (id, probability) and whether a
    young entry took it over."""

    intent: str
    confidence: float
    faq_ranking: List[Tuple[str, float]]
    young: Optional[str] = None


class _Candidates:
    """The entries of an entry reading that may take a reading over (active and young, in the reading's order), worked
    out once per (entry ids, active ids, label counts): a reading then costs numpy operations over them, not a Python
    loop over every entry (a 300-entry base has ~270 young ones)."""

    def __init__(self, ids: Sequence[str], active: AbstractSet[str], label_counts: Dict[str, int]) -> None:
        self.key = (ids, active, label_counts)
        known, new = [], []
        for k, entry in enumerate(ids):
            if entry not in active or label_counts.get(FAQ_PREFIX + entry, 0) >= YOUNG_PHRASINGS:
                continue
            (known if FAQ_PREFIX + entry in label_counts else new).append(k)
        self.position = np.array(known + new, dtype=np.int64)
        self.known = len(known)
        self.known_ids = [ids[k] for k in known]
        # the reading's order among them (the first of equal scores wins, as in the reading's order)
        self.rank = np.argsort(self.position, kind="stable")


_CANDIDATES: List[_Candidates] = []  # the last few, matched by identity (a parser passes the same objects each time)


def _candidates(ids: Sequence[str], active: AbstractSet[str], label_counts: Dict[str, int]) -> _Candidates:
    for c in _CANDIDATES:
        if c.key[0] is ids and c.key[1] is active and c.key[2] is label_counts:
            return c
    c = _Candidates(ids, active, label_counts)
    _CANDIDATES.append(c)
    del _CANDIDATES[:-4]
    return c


def reads_entries(intent: str, confidence: float) -> bool:
    """Whether ``choose`` reads the entry model for this classifier reading (a young entry may take it over); else the
    entry model need not read the message."""
    return intent in YOUNG_OVER or (intent in YOUNG_OVER_FLOWS and confidence < FLOW_KEEP)


def choose(intent: str, confidence: float, faq_ranking: Sequence[Tuple[str, float]], active: AbstractSet[str],
           entry_probs: Union[Dict[str, float], EntryReading], label_counts: Dict[str, int],
           classifier: Optional[Dict[str, float]] = None) -> Choice:
    """The reading with the knowledge base as it is now: retired or unknown entries dropped from the FAQ ranking,
    and a young entry the entry model prefers read as the FAQ (see the module's docstring). ``entry_probs``: the
    entry model's reading (``EntryModel.reading``, or a dict by entry id). ``classifier``: the classifier's probability
    per entry id, at least for the young ones (default: the ranking's)."""
    ranking = [(i, p) for i, p in faq_ranking if i in active]
    over_flow = intent in YOUNG_OVER_FLOWS and confidence < FLOW_KEEP
    if not reads_entries(intent, confidence):
        return Choice(intent, confidence, ranking)
    reading = entry_probs if isinstance(entry_probs, EntryReading) else EntryReading.of(entry_probs)
    if not len(reading.ids):
        return Choice(intent, confidence, ranking)
    classifier = classifier if classifier is not None else dict(faq_ranking)
    cands = _candidates(reading.ids, active, label_counts)
    p = reading.p[cands.position]
    # a young entry the classifier learnt from a few phrasings: both readings count; one saved since the classifier's
    # training: the entry model alone
    scores = p.copy()
    if cands.known:
        scores[:cands.known] += CLASSIFIER_WEIGHT * np.fromiter(
            map(classifier.get, cands.known_ids, repeat(0.0)), dtype=np.float64, count=cands.known)
    ok = np.empty(len(scores), dtype=bool)
    np.greater_equal(scores[:cands.known], YOUNG_KNOWN_MIN, out=ok[:cands.known])
    np.greater_equal(scores[cands.known:], YOUNG_MIN, out=ok[cands.known:])
    if over_flow:
        ok &= p >= YOUNG_OVER_FLOW_MIN
    if ok.any():
        ordered = np.where(ok, scores, -np.inf)[cands.rank]  # in the reading's order: the first best wins
        at = int(cands.position[cands.rank[int(np.argmax(ordered))]])
        best, p_best = reading.ids[at], float(reading.p[at])
        others = [(i, p) for i, p in ranking if i != best]
        # its confidence: the entry model's share, raised so the router answers (the thresholds were chosen at the
        # router's thresholds: a young entry that clears them is answered, as the protocol measured)
        conf = max(p_best, 0.6)
        return Choice("faq", max(confidence if intent == "faq" else 0.0, conf), [(best, conf)] + others, young=best)
    return Choice(intent, confidence, ranking)

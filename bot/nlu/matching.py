"""Which entry answers a message when the knowledge base holds entries the classifier barely knows.

The classifier (bot/nlu/flat_classifier.py) learns each entry from its phrasings: an entry an admin has just written
with three questions competes with entries that have ninety, and one saved after the last training is not among
its labels at all. Measured by the cold-entry protocol (`wuye cv --cold`: one entry at a time keeps three
questions, read on the other authors' phrasings of it), the classifier alone answers such an entry right 28 % of
the time.

So beside it, every knowledge base version gets a small *entry model*: the same linear model over character and word
n-grams, trained on exactly the same amount of text per entry (its first ``ENTRY_QUESTIONS`` questions, title and
answer sentences), with balanced class weights. It reads residents' phrasings worse than the classifier does for the
entries the classifier knows well (0.73 against 0.95 top-1), but it is fair to a young entry, and it trains in well
under a second, so a saved entry is answerable at once without waiting for the full retrain.

The decision (:func:`choose`): the classifier's reading stands, except when the entry model's best entry is *young*
(fewer than ``YOUNG_PHRASINGS`` phrasings in the classifier, or not one of its labels) at a probability of at least
``YOUNG_MIN``; then that entry is the FAQ read, over another FAQ, a clarification, or an uncovered / out-of-scope
reading — never over a flow, a complaint, a request for a person or an emergency. Retired entries are never read.
``YOUNG_MIN`` was chosen by the cold-entry protocol (docs/figures/2026-12-06-kb.md).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

from bot.kb.knowledge import KnowledgeBase, answer_sentences
from bot.nlu.flat_classifier import FlatModel

FAQ_PREFIX = "faq/"
ENTRY_QUESTIONS = 3  # per entry in the entry model: the same for every entry, so none outweighs another
YOUNG_PHRASINGS = 30  # an entry the classifier learnt from fewer phrasings than this is young
YOUNG_MIN = 0.10  # the entry model's probability (over all active entries) that lets a young entry answer
YOUNG_OVER = ("faq", "uncovered", "out_of_scope")  # readings a young entry may take over (not flows, people, danger)


@dataclass
class EntryModel:
    """The entry model of one knowledge base version (None until it has at least two active entries)."""

    model: Optional[object]  # bot.nlu.flat_classifier.FlatModel
    entry_ids: List[str]

    def probabilities(self, text: str) -> Dict[str, float]:
        if self.model is None:
            return {self.entry_ids[0]: 1.0} if self.entry_ids else {}
        return dict(zip(self.model.labels, self.model.predict_proba(text).tolist()))  # type: ignore[attr-defined]


def entry_texts(kb: KnowledgeBase, normalize=None) -> Tuple[List[str], List[str]]:
    """The entry model's training texts and entry ids: per active entry, its first ENTRY_QUESTIONS questions, its
    title and its answer's sentences (normalised like messages when ``normalize`` is given)."""
    texts, labels = [], []
    for entry in sorted(kb.active.values(), key=lambda e: e.id):
        for text in entry.questions[:ENTRY_QUESTIONS] + [entry.title] + answer_sentences(entry.answer):
            texts.append(normalize(text) if normalize else text)
            labels.append(entry.id)
    return texts, labels


def train_entry_model(kb: KnowledgeBase, normalize=None) -> EntryModel:
    texts, labels = entry_texts(kb, normalize)
    ids = sorted(set(labels))
    if len(ids) < 2:
        return EntryModel(None, ids)
    model = EntryModel(FlatModel.train(texts, labels, C=10.0, class_weight="balanced", features="v2"), ids)
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
_RECENT: List[Tuple[object, tuple, EntryModel]] = []  # (normaliser's owner, content, model), newest last
_RECENT_SIZE = 4


def _content(kb: KnowledgeBase) -> tuple:
    """What the entry model is trained from (see ``entry_texts``)."""
    return tuple((e.id, tuple(e.questions[:ENTRY_QUESTIONS]), e.title, e.answer)
                 for e in sorted(kb.active.values(), key=lambda e: e.id))


def entry_model_of(kb: KnowledgeBase, normalize=None) -> EntryModel:
    """The entry model of a knowledge base version, trained once per content: a saved version and the copy the file
    watcher reloads a second later share one (each version object keeps it too)."""
    model = getattr(kb, "_entry_model", None)
    if model is None:
        with _LOCK:
            model = getattr(kb, "_entry_model", None)
            if model is None:
                owner, content = getattr(normalize, "__self__", normalize), _content(kb)
                model = next((m for o, c, m in _RECENT if o is owner and c == content), None)
                if model is None:
                    model = train_entry_model(kb, normalize)
                    _RECENT.append((owner, content, model))
                    del _RECENT[:-_RECENT_SIZE]
                kb._entry_model = model  # type: ignore[attr-defined]  # lives and dies with its version
    return model


@dataclass
class Choice:
    """What the reading becomes: the intent and its confidence, the FAQ ranking (id, probability) and whether a
    young entry took it over."""

    intent: str
    confidence: float
    faq_ranking: List[Tuple[str, float]]
    young: Optional[str] = None


def choose(intent: str, confidence: float, faq_ranking: Sequence[Tuple[str, float]], active: Set[str],
           entry_probs: Dict[str, float], label_counts: Dict[str, int]) -> Choice:
    """The reading with the knowledge base as it is now: retired or unknown entries dropped from the FAQ ranking,
    and a young entry the entry model prefers read as the FAQ (see the module's docstring)."""
    ranking = [(i, p) for i, p in faq_ranking if i in active]
    if not entry_probs:
        return Choice(intent, confidence, ranking)
    best = max(entry_probs, key=entry_probs.get)
    p_best = entry_probs[best]
    young = label_counts.get(FAQ_PREFIX + best, 0) < YOUNG_PHRASINGS
    if young and p_best >= YOUNG_MIN and intent in YOUNG_OVER and best in active:
        others = [(i, p) for i, p in ranking if i != best]
        # its confidence: the entry model's share, raised so the router answers (YOUNG_MIN was chosen at the
        # router's thresholds: a young entry that clears it is answered, as the protocol measured)
        conf = max(p_best, 0.6)
        return Choice("faq", max(confidence if intent == "faq" else 0.0, conf), [(best, conf)] + others, young=best)
    return Choice(intent, confidence, ranking)

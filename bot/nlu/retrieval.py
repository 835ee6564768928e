"""Similarity retrieval over the knowledge base: each entry's questions, title and answer sentences.

Why beside the classifier: the classifier learns an entry from its phrasings, so an entry an admin has just written
with three questions loses to entries with ninety, and it knows nothing of an entry saved after the last training.
The index is built from the knowledge base as it is served (in well under a second for 300 entries), so a saved entry
is answerable at once, and it scores an entry by its best-matching unit, so the number of phrasings does not decide
who wins. It also says how much of a message the knowledge base's own words cover at all, which is what tells a
question on a topic nobody wrote an entry for (bot/nlu/matching.py).

Units are TF-IDF vectors (sublinear tf, L2-normalised) over the normalised text's Chinese characters, character
pairs and jieba words (no HMM, so unknown pairs are not joined into words); the idf is the knowledge base's own, so a
word every entry uses weighs little.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import jieba
import numpy as np
from scipy.sparse import csr_matrix

from bot.kb.knowledge import KnowledgeBase, answer_sentences

# Characters that carry no topic: question words, particles, pronouns. Kept out of the units and of coverage.
STOP_CHARS = set("的了吗呢啊呀吧嘛么什怎要能可以是不有没在哪里个一这那我你您他她它们多少几还也就都和跟请问下想咋啥"
                 "该会得着过给让被把从对与或及等很太更最又再才已将")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_KEEP = re.compile(r"[\u4e00-\u9fffa-z0-9]+")


def _content(text: str) -> str:
    return " ".join(_KEEP.findall(text.lower()))


def tokens(text: str) -> List[str]:
    """Content characters, character pairs inside runs, and jieba words of 2+ characters (prefixed)."""
    clean = _content(text)
    out: List[str] = []
    for run in clean.split():
        out += [c for c in run if _CJK.match(c) and c not in STOP_CHARS]
        out += [run[i:i + 2] for i in range(len(run) - 1)
                if not (run[i] in STOP_CHARS and run[i + 1] in STOP_CHARS)]
    out += ["w:" + w for w in jieba.lcut(clean.replace(" ", ""), HMM=False) if len(w) >= 2]
    return out


@dataclass
class EntryScores:
    """One message against the index: per entry id, its best question/title and best answer-sentence similarity,
    and the share of the message's weight that entry's words (or any entry's) contain."""

    question: Dict[str, float]
    answer: Dict[str, float]
    coverage: Dict[str, float]
    kb_coverage: float


class EntryIndex:
    """The units of every active entry as TF-IDF rows; ``score`` reads one message against all of them."""

    def __init__(self, kb: KnowledgeBase) -> None:
        units: List[Tuple[str, str, str]] = []  # (entry id, kind q|a, text)
        for entry in kb.entries.values():
            if getattr(entry, "retired", False):
                continue
            units += [(entry.id, "q", q) for q in entry.questions] + [(entry.id, "q", entry.title)]
            units += [(entry.id, "a", s) for s in answer_sentences(entry.answer)]
        self.entry_ids = sorted({u[0] for u in units})
        unit_tokens = [tokens(text) for _, _, text in units]
        df: Counter = Counter()
        for toks in unit_tokens:
            df.update(set(toks))
        n = len(units) or 1
        self.vocab = {t: i for i, t in enumerate(sorted(df))}
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in sorted(df)])
        rows, cols, vals = [], [], []
        for r, toks in enumerate(unit_tokens):
            idx, w = self._weights(toks)
            rows += [r] * len(idx)
            cols += idx.tolist()
            vals += w.tolist()
        self.matrix = csr_matrix((vals, (rows, cols)), shape=(len(units), max(len(self.vocab), 1)))
        self.unit_entry = np.array([self.entry_ids.index(u[0]) for u in units], dtype=np.int64) \
            if units else np.zeros(0, dtype=np.int64)
        self.unit_is_answer = np.array([u[1] == "a" for u in units], dtype=bool)
        # each entry's vocabulary (all its units), for coverage
        self.entry_vocab: List[set] = [set() for _ in self.entry_ids]
        for (entry_id, _, _), toks in zip(units, unit_tokens):
            self.entry_vocab[self.entry_ids.index(entry_id)].update(t for t in toks if t in self.vocab)

    def _weights(self, toks: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        counts = Counter(self.vocab[t] for t in toks if t in self.vocab)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[idx]
        return idx, w / np.sqrt(np.dot(w, w))

    def query_weights(self, text: str) -> Dict[str, float]:
        """The message's tokens with an idf weight (unknown tokens weigh as the rarest known ones)."""
        top = float(self.idf.max()) if len(self.idf) else 1.0
        return {t: (float(self.idf[self.vocab[t]]) if t in self.vocab else top) for t in set(tokens(text))}

    def score(self, text: str) -> EntryScores:
        toks = tokens(text)
        idx, w = self._weights(toks)
        n_entries = len(self.entry_ids)
        best_q = np.zeros(n_entries)
        best_a = np.zeros(n_entries)
        if len(idx) and self.matrix.shape[0]:
            query = csr_matrix((w, (np.zeros(len(idx), dtype=np.int64), idx)), shape=(1, self.matrix.shape[1]))
            sims = (self.matrix @ query.T).toarray().ravel()
            q_mask = ~self.unit_is_answer
            np.maximum.at(best_q, self.unit_entry[q_mask], sims[q_mask])
            np.maximum.at(best_a, self.unit_entry[~q_mask], sims[~q_mask])
        weights = self.query_weights(text)
        total = sum(weights.values()) or 1.0
        coverage = {}
        for i in np.argsort(-np.maximum(best_q, best_a))[:5]:
            vocab = self.entry_vocab[i]
            coverage[self.entry_ids[i]] = sum(v for t, v in weights.items() if t in vocab) / total
        kb_coverage = sum(v for t, v in weights.items() if t in self.vocab) / total
        return EntryScores(dict(zip(self.entry_ids, best_q.tolist())), dict(zip(self.entry_ids, best_a.tolist())),
                           coverage, kb_coverage)


_LOCK = threading.Lock()


def index_of(kb: KnowledgeBase) -> EntryIndex:
    """The index of a knowledge base version, built once (a saved or reloaded version is a new object)."""
    index = getattr(kb, "_entry_index", None)
    if index is None:
        with _LOCK:
            index = getattr(kb, "_entry_index", None)
            if index is None:
                index = EntryIndex(kb)
                kb._entry_index = index  # type: ignore[attr-defined]  # lives and dies with its version
    return index


def entry_coverage(index: EntryIndex, text: str, entry_id: str) -> Optional[float]:
    if entry_id not in index.entry_ids:
        return None
    weights = index.query_weights(text)
    vocab = index.entry_vocab[index.entry_ids.index(entry_id)]
    return sum(v for t, v in weights.items() if t in vocab) / (sum(weights.values()) or 1.0)

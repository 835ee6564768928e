"""Similarity of a text to the knowledge base's entries: TF-IDF over each entry's questions, title and answer sentences.

Two readers. ``CharCentroids`` reads residents' phrasings: each entry's words (its questions, title and answer
sentences, as the entry model learns them) as one document of single characters; it is fused into the entry model's
probabilities (bot/nlu/matching.py). ``EntryIndex`` is for training (below).

What it is for now: at training, the "none of these" class (``uncovered``) drops the examples an active entry answers,
so an admin's new entry takes its topic's questions back (bot/nlu/flat_classifier.py ``covered_by_entries``). As a
reader of residents' phrasings it was measured and not chosen: it picks a cold entry first for 0.56 of its phrasings
against the entry model's 0.73, and adds nothing on top of it (docs/figures/2026-12-06-kb.md; bot/nlu/matching.py).

Units are TF-IDF vectors (sublinear tf, L2-normalised) over the normalised text's Chinese characters, character
pairs and jieba words (no HMM, so unknown pairs are not joined into words); the idf is the knowledge base's own (answer
sentences included), so a word every entry uses weighs little.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Dict, List, Sequence, Tuple

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


def content_chars(text: str) -> List[str]:
    """The Chinese characters of a text that carry a topic (not ``STOP_CHARS``)."""
    return [c for c in text if "\u4e00" <= c <= "\u9fff" and c not in STOP_CHARS]


class CharCentroids:
    """Each entry's words as one document of content characters (TF-IDF, sublinear tf, the entries' own idf,
    L2-normalised); a text's cosine similarity to each.

    Why single characters over one document per entry: an entry an admin has just written has three questions, a title
    and an answer, and residents' paraphrases share characters with the answer more often than words with the
    questions (磁卡/磁扣, 维修资金/大修的钱). Measured by the cold-entry protocol's cached folds (the entry model alone
    ranks a cold entry first for 0.732 of its phrasings; this alone 0.784; the two fused 0.797; with words or
    character pairs as well no better, without the answer 0.663; learnt word associations from our own corpus worse,
    docs/figures/2026-12-07-cold-entry.md)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], entry_ids: Sequence[str]) -> None:
        docs: Dict[str, Counter] = {i: Counter() for i in entry_ids}
        for text, label in zip(texts, labels):
            docs[label].update(content_chars(text))
        df: Counter = Counter(c for counts in docs.values() for c in counts)
        chars = sorted(df)
        n = len(entry_ids)
        self.vocab = {c: k for k, c in enumerate(chars)}
        self.idf = np.array([math.log((1 + n) / (1 + df[c])) + 1.0 for c in chars])
        matrix = np.zeros((len(chars), n))
        for j, entry_id in enumerate(entry_ids):
            for c, k in docs[entry_id].items():
                matrix[self.vocab[c], j] = (1.0 + math.log(k)) * self.idf[self.vocab[c]]
        norms = np.sqrt((matrix ** 2).sum(axis=0))
        norms[norms == 0] = 1.0
        self.matrix = matrix / norms  # characters × entries (float64: ~2 MB for 300 entries, read without a cast)

    def similarity(self, text: str) -> np.ndarray:
        """Cosine similarity of the text to each entry, in ``entry_ids`` order (every parse reads it: ~15 µs)."""
        vocab = self.vocab  # holds content characters only: no other filter needed
        counts = Counter(vocab[c] for c in text if c in vocab)
        if not counts:
            return np.zeros(self.matrix.shape[1])
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[idx]
        return (w @ self.matrix[idx]) / np.sqrt(np.dot(w, w))


class EntryIndex:
    """The units of every active entry as TF-IDF rows; ``question_similarity`` reads one text against them."""

    def __init__(self, kb: KnowledgeBase) -> None:
        units: List[Tuple[str, bool]] = []  # (entry id, an answer sentence?) per unit
        texts: List[str] = []
        for entry in kb.active.values():
            for text in entry.questions + [entry.title]:
                units.append((entry.id, False))
                texts.append(text)
            for text in answer_sentences(entry.answer):
                units.append((entry.id, True))
                texts.append(text)
        self.entry_ids = sorted({entry_id for entry_id, _ in units})
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        unit_tokens = [tokens(text) for text in texts]
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
        # only question and title rows are compared; answer sentences count in the idf
        questions = [r for r, (_, is_answer) in enumerate(units) if not is_answer]
        self.matrix = csr_matrix((vals, (rows, cols)), shape=(len(units), max(len(self.vocab), 1)))[questions]
        self.unit_entry = np.array([position[units[r][0]] for r in questions], dtype=np.int64)

    def _weights(self, toks: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        counts = Counter(self.vocab[t] for t in toks if t in self.vocab)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[idx]
        return idx, w / np.sqrt(np.dot(w, w))

    def question_similarity(self, text: str) -> Dict[str, float]:
        """Per entry id, the best cosine similarity of the text to one of its questions or its title."""
        idx, w = self._weights(tokens(text))
        best = np.zeros(len(self.entry_ids))
        if len(idx) and self.matrix.shape[0]:
            query = csr_matrix((w, (np.zeros(len(idx), dtype=np.int64), idx)), shape=(1, self.matrix.shape[1]))
            np.maximum.at(best, self.unit_entry, (self.matrix @ query.T).toarray().ravel())
        return dict(zip(self.entry_ids, best.tolist()))

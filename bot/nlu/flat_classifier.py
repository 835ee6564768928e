"""One flat linear classifier over the intents and the FAQ ids (``faq/<id>``), as a Rasa graph component.

Why flat: measured by leave-one-author-out cross-validation (``wuye cv``), a single TF-IDF logistic regression
over ``faq/<id>`` and the other intents reads unseen phrasings better than an intent classifier followed by a
ResponseSelector, mostly at the faq-versus-other boundary; it also trains in seconds and needs no TensorFlow.
The spec's fields stay: ``intent`` is ``faq`` with the summed probability of the FAQ labels, and the FAQ id
comes out in Rasa's ``response_selector`` shape (``faq.response`` / ``faq.ranking``), its confidence being the
probability of that one FAQ label.

Features, from one jieba cut of the normalised text (the domain dictionary is loaded by the tokenizer):
- character 1–3-grams of the text padded with start/end marks (so "打开…" or "…天气" count as a start/end), character
  1–4-grams inside each jieba word, jieba word 1–2-grams, and the text's length (1…12+ characters) as one token;
- what jieba's dictionaries know of the words ("v3"): each word's part-of-speech tag as 1–2-grams with start/end
  marks, its dictionary frequency (log10 bucket, alone and with the word's length), and the tags of every 2+-character
  dictionary word jieba's full mode finds. They generalise past the words seen in training: an unseen noun or place
  name still reads as a noun;
- what the general-knowledge lexicon (bot/nlu/lexicon.py, ``lexicon_path``) says the names in the message are ("v4":
  ``LX<category>``, ``LXW<category>`` for a bare name); the names are stored in flat.json with the model.
Counted, then TF-IDF weighted together (sublinear tf) and L2-normalised. The logistic regression is one-vs-rest
(liblinear) with ``class_weight: balanced`` (bot/config.yml): every label weighs the same in total, so a large label
(SMP2017's ``chat``) does not absorb the small ones. Each of these choices was made by cross-validation; the figures
are in docs/decisions/0002-classifier-and-thresholds.md. Training runs scikit-learn, one label per thread
(``fit_one_vs_rest``); the weights are stored as int16 with a scale per feature (``quantize``), and prediction is a
dot product over them (numpy only) that reads as scikit-learn's ``predict_proba`` within 1e-4 (a test checks the
parity). Models saved before the current feature set (no ``features`` key in flat.json) are read with their own
analyzers (``LEGACY_ANALYZERS``).

Long messages are read by their question: when the text has several clauses, the clause that carries the
question or request (the last one with a question or request marker) is read too, and its reading counts
``focus_weight`` against the whole text's.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.kb.knowledge import FaqEntry, KnowledgeBase, _parse_file, answer_sentences
from bot.nlu.clauses import question_focus
from bot.nlu.entities import without_places
from bot.nlu.lexicon import LexiconMatcher, load_lexicon
from bot.nlu.registration import component
from bot.nlu.retrieval import EntryIndex
from bot.nlu.tokenizer import jieba_words

FAQ_PREFIX = "faq/"
# An entry learnt from fewer phrasings than this is young (bot/nlu/matching.py): the FAQ ranking a message's reading
# carries always includes the young entries' probabilities, however low, as well as the ten best
FEW_PHRASINGS = 30


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def _cut(text: str) -> Tuple[str, ...]:
    return tuple(w for w in jieba_words(text) if w.strip())


_SHARING = threading.local()  # set in a thread whose trainings share their cuts (``shared_cuts``)


@contextlib.contextmanager
def shared_cuts():
    """The models trained inside (in this thread) keep each other's jieba cuts: the urgency model and the flat
    classifier of one `wuye train` cut the same ~9,000 phrasings (~1.5 s of a 300-entry base's training each time).
    The dictionaries do not change inside; the cuts are forgotten on the way out, as ``FlatModel.train`` forgets them."""
    _forget_cuts()
    _SHARING.on = True
    try:
        yield
    finally:
        _SHARING.on = False
        _forget_cuts()


def _words(text: str) -> List[str]:
    """jieba words of the cleaned text (prediction cuts once for both word blocks, see ``features_v2``). Remembered:
    training fits one vectorizer per block, and each would cut every phrasing again (a third of a retrain's
    feature time); ``FlatModel.train`` forgets them first, so a changed dictionary is always cut anew."""
    return list(_cut(text))


def char_ngrams(text: str, low: int = 1, high: int = 4) -> List[str]:
    text = _clean(text)
    return [text[i:i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


def padded_char_ngrams(text: str, low: int = 1, high: int = 3) -> List[str]:
    """Character 1–3-grams of the text between a start (\\x02) and an end (\\x03) mark."""
    text = "\x02" + _clean(text) + "\x03"
    return [text[i:i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


def _word_char_ngrams(words: Sequence[str]) -> List[str]:
    out = []
    for word in words:
        w = f" {word} "
        out += [w[i:i + n] for n in range(1, 5) for i in range(len(w) - n + 1)]
    return out


def _word_ngrams(words: Sequence[str]) -> List[str]:
    return list(words) + [f"{a} {b}" for a, b in zip(words, words[1:])]


def word_char_ngrams(text: str) -> List[str]:
    """Character 1–4-grams inside each jieba word, the word padded with spaces (Rasa's ``char_wb`` on tokens)."""
    return _word_char_ngrams(_words(_clean(text)))


def word_ngrams(text: str) -> List[str]:
    return _word_ngrams(_words(_clean(text)))


def length_token(text: str) -> List[str]:
    return [f"len{min(len(_clean(text)), 12)}"]


_TAGS: Optional[Dict[str, str]] = None
_TAGS_LOCK = threading.Lock()


def _dictionary_tags() -> Dict[str, str]:
    """jieba's main dictionary: word → part-of-speech tag (the third column of its dict.txt), read once (~0.25 s,
    ~45 MB; importing ``jieba.posseg`` for the same table costs twice that and its HMM tables)."""
    global _TAGS
    if _TAGS is None:
        import jieba

        with _TAGS_LOCK:
            if _TAGS is None:
                read: Dict[str, str] = {}
                with jieba.dt.get_dict_file() as f:
                    for line in f:
                        parts = line.decode("utf-8").split()
                        if len(parts) >= 3:
                            read[parts[0]] = sys.intern(parts[2])
                jieba.dt.check_initialized()
                # keyed by the word objects jieba's own FREQ table holds, so the ~350k words are stored once (~20 MB
                # less per worker); a word missing from FREQ (none in jieba's shipped dictionary) keeps its own key
                tags = {word: read.pop(word) for word in jieba.dt.FREQ if word in read}
                tags.update(read)
                _TAGS = tags
    return _TAGS


def word_tag(word: str) -> str:
    """The dictionary's tag of a word (jieba's dictionary, then the domain dictionary's), else its shape."""
    import jieba

    tag = _dictionary_tags().get(word) or jieba.dt.user_word_tag_tab.get(word)
    if tag:
        return tag
    if _NUMBER.fullmatch(word):
        return "m"
    if _LATIN.fullmatch(word):
        return "eng"
    return "oov"


_NUMBER = re.compile(r"[0-9.]+")
_LATIN = re.compile(r"[a-z]+")


def _tag_ngrams(words: Sequence[str]) -> List[str]:
    """Tag 1-grams and 2-grams with start/end marks ('Tv', '<s> Tv', 'Tv Tn', 'Tn </s>')."""
    tags = ["<s>"] + ["T" + word_tag(w) for w in words] + ["</s>"]
    return tags[1:-1] + [f"{a} {b}" for a, b in zip(tags, tags[1:])]


def _frequency_tokens(words: Sequence[str]) -> List[str]:
    """Each word's jieba dictionary frequency (log10 bucket, 'Fx' when unknown), alone and with its length 1…5+."""
    import jieba

    freq = jieba.dt.FREQ
    buckets = ["F" + (str(int(math.log10(f + 1))) if f else "x") for f in (freq.get(w, 0) for w in words)]
    return buckets + [f"{b}L{min(len(w), 5)}" for b, w in zip(buckets, words)]


def _all_word_tags(text: str) -> List[str]:
    """Tags of every dictionary word of 2+ characters that jieba's full mode finds in the text (overlaps too)."""
    import jieba

    return ["AT" + word_tag(w) for w in jieba.lcut(text, cut_all=True) if len(w) >= 2]


def tag_ngrams(text: str) -> List[str]:
    return _tag_ngrams(_words(_clean(text)))


def frequency_tokens(text: str) -> List[str]:
    return _frequency_tokens(_words(_clean(text)))


def all_word_tags(text: str) -> List[str]:
    return _all_word_tags(_clean(text))


def _v2_blocks(clean: str, words: List[str]) -> List[List[str]]:
    return [padded_char_ngrams(clean), _word_char_ngrams(words), _word_ngrams(words), length_token(clean)]


@functools.lru_cache(maxsize=8)
def _v2_of(clean: str) -> Tuple[List[str], ...]:
    """The v2 blocks of a cleaned text, kept for the few texts read last: one parse reads the same text with the
    intent classifier (v4, whose first blocks are these), the urgency model and the entry matcher (v2), and each
    built them again (~30 µs a parse). Few: a text's blocks are not kept from one message to the next. Read only;
    forgotten with the cuts (``_forget_cuts``)."""
    return tuple(_v2_blocks(clean, _words(clean)))


def _forget_cuts() -> None:
    jieba_words.cache_clear()
    _v2_of.cache_clear()


def features_v2(text: str) -> List[List[str]]:
    """The four blocks of the "v2" analyzers from one jieba cut (prediction path)."""
    return list(_v2_of(_clean(text)))


def _v3_blocks(clean: str, words: List[str]) -> List[List[str]]:
    return list(_v2_of(clean)) + [_tag_ngrams(words), _frequency_tokens(words), _all_word_tags(clean)]


def features_v3(text: str) -> List[List[str]]:
    """The seven blocks of ``FlatModel.ANALYZERS`` from one jieba cut and one full-mode pass (prediction path)."""
    clean = _clean(text)
    return _v3_blocks(clean, _words(clean))


def features_v4(text: str, matcher: LexiconMatcher) -> List[List[str]]:
    """v3's blocks and the lexicon's (bot/nlu/lexicon.py): what the names in the message are (the same cut)."""
    clean = _clean(text)
    words = _words(clean)
    return _v3_blocks(clean, words) + [matcher.tokens(clean, words)]


class LexiconTokens:
    """The lexicon block as a scikit-learn analyzer (training)."""

    def __init__(self, matcher: LexiconMatcher) -> None:
        self.matcher = matcher

    def __call__(self, text: str) -> List[str]:
        clean = _clean(text)
        return self.matcher.tokens(clean, _words(clean))


def features_v1(text: str) -> List[List[str]]:
    return [a(text) for a in FlatModel.LEGACY_ANALYZERS]


class FlatModel:
    """Stored vocabularies, idf and weights; prediction without scikit-learn."""

    def __init__(self, labels: List[str], vocab: List[Dict[str, int]], idf: np.ndarray,
                 coef: np.ndarray, intercept: np.ndarray, features: str = "v2",
                 lexicon: Optional[Dict[str, List[str]]] = None,
                 label_counts: Optional[Dict[str, int]] = None, scale: Optional[np.ndarray] = None) -> None:
        self.label_counts = label_counts  # phrasings per label in training (None: a model saved before they were)
        # the labels learnt from fewer than FEW_PHRASINGS phrasings (every reading asks: worked out once, not per parse)
        self.young_labels = {label for label, n in (label_counts or {}).items() if n < FEW_PHRASINGS}
        self.features = features  # which analyzers built the vocabularies (flat.json "features"; v1 if absent)
        self.lexicon = lexicon or {}  # v4: name → categories, stored with the model
        if features == "v4":
            matcher = LexiconMatcher(self.lexicon)
            self.blocks = lambda text: features_v4(text, matcher)
        else:
            self.blocks = {"v3": features_v3, "v2": features_v2}.get(features, features_v1)
        self.labels = labels
        self.vocab = vocab
        self.idf = idf  # one idf over the concatenated blocks
        self.coef = coef  # (n_features, n_labels), blocks in analyzer order: int16 with ``scale``, else float
        self.scale = scale  # per feature row: weight = coef · scale (see ``quantize``); None for float weights
        self.intercept = intercept
        self.offsets = np.cumsum([0] + [len(v) for v in vocab])[:-1]
        self._offsets = [int(o) for o in self.offsets]
        self._gets = [v.get for v in vocab]

    # chosen by CV on SMP2017 train+dev and by the product's cross-validation (README: the NLU pipeline)
    ANALYZERS = (padded_char_ngrams, word_char_ngrams, word_ngrams, length_token, tag_ngrams, frequency_tokens,
                 all_word_tags)
    FEATURE_SETS = {"v4": ANALYZERS, "v3": ANALYZERS, "v2": ANALYZERS[:4]}  # v4: + the lexicon block
    LEGACY_ANALYZERS = (char_ngrams, word_char_ngrams, word_ngrams)  # "v1" models, saved before

    @classmethod
    def vectorizers(cls, features: str = "v3", lexicon: Optional[Dict[str, List[str]]] = None) -> list:
        from sklearn.feature_extraction.text import CountVectorizer

        analyzers = list(cls.FEATURE_SETS[features])
        if features == "v4":
            analyzers.append(LexiconTokens(LexiconMatcher(lexicon or {})))
        return [CountVectorizer(analyzer=a, lowercase=False) for a in analyzers]

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], weights: Optional[Sequence[float]] = None,
              C: float = 10.0, class_weight: Optional[str] = None, features: str = "v3",
              lexicon: Optional[Dict[str, List[str]]] = None, parallel: bool = False) -> "FlatModel":
        """``parallel``: fit the labels on every CPU (``wuye train``); serving workers train their entry models on
        one thread (each thread's allocations would stay with the worker: ~30 MB more for a 300-entry base)."""
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfTransformer

        if not getattr(_SHARING, "on", False):
            _forget_cuts()  # the dictionaries may have changed since the last cut
        vectorizers = cls.vectorizers(features, lexicon)
        counts = hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
        tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        x = tfidf.transform(counts)
        if not getattr(_SHARING, "on", False):
            _forget_cuts()  # the cuts served the vectorizers; a serving worker that trains an entry model keeps none
        classes, coef, intercept = fit_one_vs_rest(x, list(labels), weights, C, class_weight, parallel)
        quantized, scale = quantize(coef)
        del coef
        return cls(classes, [dict((k, int(i)) for k, i in v.vocabulary_.items()) for v in vectorizers],
                   tfidf.idf_.astype(np.float64), quantized, intercept, features,
                   lexicon if features == "v4" else None, dict(Counter(labels)), scale)

    def _features(self, text: str) -> Tuple[np.ndarray, np.ndarray]:
        # the known grams' column numbers, counted once over all blocks by numpy: a Counter per block was a
        # quarter of a parse's CPU. One array for all blocks and np.unique's own steps (sort, the first of each
        # run, the runs' lengths) without its wrapper: ~20 µs less a read, the same numbers
        known: List[int] = []
        for get, offset, grams in zip(self._gets, self._offsets, self.blocks(text)):
            known += [i + offset for i in map(get, grams) if i is not None]
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        columns = np.array(known, dtype=np.int64)
        columns.sort()
        first = np.empty(columns.size, dtype=bool)
        first[0] = True
        np.not_equal(columns[1:], columns[:-1], out=first[1:])
        idx = columns[first]
        tf = np.diff(np.append(np.flatnonzero(first), columns.size))
        w = (1.0 + np.log(tf)) * self.idf[idx]
        return idx, w / np.sqrt(np.dot(w, w))

    def predict_proba(self, text: str) -> np.ndarray:
        idx, w = self._features(text)
        scores = self.intercept.copy()
        if len(idx):
            # the rows by ``take`` and cast to float once, then BLAS: ~3 µs a model less than ``w @ coef[idx]``
            rows = self.coef.take(idx, axis=0)
            if self.scale is not None:
                scores += np.dot(w * self.scale[idx], rows.astype(np.float64))
            else:
                scores += np.dot(w, rows)
        p = 1.0 / (1.0 + np.exp(-scores))  # one-vs-rest, normalised as scikit-learn does
        if len(self.labels) == 2 and len(p) == 1:  # binary: scikit-learn's one column is the second label's
            return np.array([1.0 - p[0], p[0]])
        return p / p.sum()

    def save(self, directory: Path) -> None:
        if self.scale is not None:
            np.savez(directory / "flat.npz", coef_q=self.coef, coef_scale=self.scale, intercept=self.intercept,
                     idf=self.idf)
        else:
            np.savez(directory / "flat.npz", coef=self.coef, intercept=self.intercept, idf=self.idf)
        meta = {"labels": self.labels, "vocab": self.vocab, "features": self.features,
                "label_counts": self.label_counts}
        if self.features == "v4":
            meta["lexicon"] = self.lexicon
        (directory / "flat.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "FlatModel":
        meta = json.loads((directory / "flat.json").read_text(encoding="utf-8"))
        arrays = np.load(directory / "flat.npz", allow_pickle=False)
        quantized = "coef_q" in arrays  # else saved before the weights were quantized: float, read as they are
        coef = arrays["coef_q"] if quantized else arrays["coef"]
        scale = arrays["coef_scale"] if quantized else None
        return cls(meta["labels"], meta["vocab"], arrays["idf"], coef, arrays["intercept"],
                   meta.get("features", "v1"), meta.get("lexicon"), meta.get("label_counts"), scale)


def fit_one_vs_rest(x: Any, labels: List[str], weights: Optional[Sequence[float]], C: float,
                    class_weight: Optional[str], parallel: bool = False) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """scikit-learn's liblinear one-vs-rest, one label at a time: labels, weights (features × labels, float32) and
    intercepts. Each label's binary problem is the one liblinear solves inside its own one-vs-rest (the label's
    phrasings at C·class weight, all others at C); fitted separately they run in parallel threads (liblinear releases
    the GIL; its primal solver draws no random numbers, so the result does not depend on the order). The features of
    a single phrasing are fitted as one (``merge_single_row_features``): the same optimum, ~30 % less work a label."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.class_weight import compute_class_weight
    from threadpoolctl import threadpool_limits

    y = np.asarray(labels)
    classes = np.unique(y)
    sample_weight = None if weights is None else np.asarray(weights, dtype=float)
    if len(classes) == 2:  # one binary problem, as scikit-learn fits it
        clf = LogisticRegression(C=C, solver="liblinear", class_weight=class_weight, random_state=42)
        clf.fit(x, y, sample_weight=sample_weight)
        return list(clf.classes_), clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float64).copy()
    per_class = (compute_class_weight("balanced", classes=classes, y=y) if class_weight == "balanced"
                 else np.ones(len(classes)))
    coef = np.zeros((x.shape[1], len(classes)), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float64)
    reduced, expand = merge_single_row_features(x)

    def fit(k: int) -> None:
        clf = LogisticRegression(C=C, solver="liblinear", class_weight={0: 1.0, 1: float(per_class[k])},
                                 random_state=42)
        clf.fit(reduced, (y == classes[k]).astype(int), sample_weight=sample_weight)
        coef[:, k] = expand(clf.coef_[0])
        intercept[k] = clf.intercept_[0]

    workers = min(os.cpu_count() or 1, 8) if parallel and len(classes) * x.shape[0] > 100_000 else 1
    # liblinear's vector operations are OpenBLAS's, whose threads only spin on them: one thread each fits as fast
    # (80 labels of a 300-entry base: 9.4 s either way, 18.6 s of CPU with OpenBLAS's threads against 9.5 s without),
    # and leaves the CPUs to the other labels' fits (2 threads: 7.2 s) or, in a server, to serving
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fit, range(len(classes))))
    return [str(c) for c in classes], coef, intercept


def merge_single_row_features(x: Any) -> Tuple[Any, Any]:
    """The problem with each phrasing's own features (columns only that row has) merged into one column, and the map
    from its weights back to every feature's.

    Why it is the same fit: an L2-regularised linear model sees a row's own features only through their sum
    w·v (v: their values in that row), and among the weights giving that sum the smallest penalty is w = u·v/|v|,
    i.e. one feature of value |v| with weight u. So the merged problem has the same optimum, and w = u·v/|v| gives
    every own feature's weight back (scikit-learn's fits agree to ~1e-6 on the 300-entry bench base, well inside the
    int16 storage's step). It is fewer columns for liblinear's every Newton step: on the 300-entry bench base
    167,700 → 69,262 (64 % of the features are a single phrasing's), ~30 % less CPU a label."""
    from scipy.sparse import csr_matrix, hstack

    x = x.tocsr()
    nonzero = x.data != 0
    single = np.bincount(x.indices[nonzero], minlength=x.shape[1]) == 1
    if not single.any():
        return x, lambda w: w
    keep = np.flatnonzero(~single)
    coo = x.tocoo()
    own = single[coo.col] & (coo.data != 0)
    rows, cols, vals = coo.row[own], coo.col[own], coo.data[own]
    norm = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=x.shape[0]))
    merged_rows = np.flatnonzero(norm > 0)
    position = np.zeros(x.shape[0], dtype=np.int64)
    position[merged_rows] = np.arange(len(merged_rows))
    merged = csr_matrix((norm[merged_rows], (merged_rows, np.arange(len(merged_rows)))),
                        shape=(x.shape[0], len(merged_rows)))
    reduced = hstack([x[:, keep], merged]).tocsr()
    share = vals / norm[rows]

    def expand(w: np.ndarray) -> np.ndarray:
        full = np.zeros(x.shape[1], dtype=np.float64)
        full[keep] = w[:len(keep)]
        full[cols] = w[len(keep) + position[rows]] * share
        return full
    return reduced, expand


def quantize(coef: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Weights as int16 with one float scale per feature row (weight ≈ q · scale, off by at most scale/2).

    Why: a one-vs-rest model's weights are dense (each feature of a phrasing gets a small weight for every other
    label), so they grow as features × labels: a 300-entry base held 140k × 315 float64, 354 MB per serving worker.
    int16 is a quarter of that and reads as fast as float (a sparse matrix of the same size read 7 times slower).
    A row's scale is its largest weight / 32767, so a scoring error stays below 1e-4 in practice (a test bounds it
    against scikit-learn's own fit)."""
    scale = (np.abs(coef).max(axis=1) / 32767.0).astype(np.float32)
    scale[scale == 0] = 1.0
    quantized = np.empty(coef.shape, dtype=np.int16)
    for start in range(0, coef.shape[0], 8192):  # by blocks of rows: no second full-size float copy
        block = slice(start, start + 8192)
        quantized[block] = np.rint(coef[block] / scale[block, None])
    return quantized, scale

def read(model: FlatModel, text: str, focus_weight: float) -> np.ndarray:
    """Label probabilities for a message, its question clause weighted in for long messages."""
    probs = model.predict_proba(text)
    focus = question_focus(text) if focus_weight > 0 else None
    if focus:
        probs = (1 - focus_weight) * probs + focus_weight * model.predict_proba(focus)
    return probs


def label_of(message: Message) -> Optional[str]:
    key = message.get(INTENT_RESPONSE_KEY)
    if key and "/" in key:
        return key
    return message.get(INTENT)


def faq_entries(faq_dir: Optional[Path]) -> List[FaqEntry]:
    """The active entries of the knowledge base files as written (validation is `wuye faq check`'s job)."""
    if not faq_dir or not Path(faq_dir).is_dir():
        return []
    entries: List[FaqEntry] = []
    for path in sorted(Path(faq_dir).glob("*.yml")):
        entries += _parse_file(path.read_text(encoding="utf-8"), path.name, [])
    return [e for e in entries if not e.retired]


def kb_examples(entries: Sequence[FaqEntry], title_weight: float, answer_weight: float = 0.0
                ) -> List[Tuple[str, str, float]]:
    """Active entries' titles (and, with ``answer_weight``, their answers' sentences) as phrasings of their id: an
    entry with few questions is still learnt from its own words."""
    out = []
    for entry in entries:
        if title_weight > 0 and entry.title:
            out.append((entry.title, FAQ_PREFIX + entry.id, title_weight))
        if answer_weight > 0:
            out += [(s, FAQ_PREFIX + entry.id, answer_weight) for s in answer_sentences(entry.answer)]
    return out


def covered_by_entries(texts: Sequence[str], entries: Sequence[FaqEntry], min_similarity: float) -> List[bool]:
    """Whether each text reads as a question of an active entry (best similarity to one of its questions or its
    title ≥ ``min_similarity``): "none of these" examples that an admin has since written an entry for."""
    if not entries or not texts:
        return [False] * len(texts)
    index = EntryIndex(KnowledgeBase(entries={e.id: e for e in entries}, communities=[]))
    return [max(index.question_similarity(t).values(), default=0.0) >= min_similarity for t in texts]


def without_covered(examples: Sequence[Tuple[str, str, float]], entries: Sequence[FaqEntry], none: str,
                    min_similarity: float) -> List[Tuple[str, str, float]]:
    """The training examples less the "none of these" (``none``) ones an active entry answers (``covered_by_entries``).
    One function for the classifier's training and the cold-entry protocol's folds (bot/tools/selection.py), so the
    protocol measures the classifier that training builds."""
    texts = [t for t, label, _ in examples if label == none]
    covered = set(t for t, c in zip(texts, covered_by_entries(texts, entries, min_similarity)) if c)
    return [x for x in examples if not (x[1] == none and x[0] in covered)]


@component("INTENT_CLASSIFIER", is_trainable=True)
class FlatIntentFaqClassifier(GraphComponent):
    """Intent + FAQ id from one linear model over ``faq/<id>`` and the other intents."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 10.0, "class_weight": None, "focus_weight": 0.0, "faq_path": None, "title_weight": 1.0,
                "answer_weight": 0.0, "retrieval_intent": "faq", "features": "v3", "lexicon_path": None,
                "uncovered_intent": "uncovered", "uncovered_covered_similarity": 0.5, "uncovered_weight": 1.0}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[FlatModel] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FlatIntentFaqClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "jieba"]

    def train(self, training_data: TrainingData) -> Resource:
        examples = [(m.get(TEXT), label_of(m), 1.0) for m in training_data.intent_examples
                    if m.get(TEXT) and label_of(m)]
        entries = faq_entries(Path(self._config["faq_path"]) if self._config.get("faq_path") else None)
        if any(label.startswith(FAQ_PREFIX) for _, label, _ in examples):
            # FAQ titles and answers are plain Mandarin already: they join the training data as they are
            examples += kb_examples(entries, float(self._config["title_weight"]), float(self._config["answer_weight"]))
        none = self._config.get("uncovered_intent")
        if none and any(label == none for _, label, _ in examples):  # an entry written since covers some of them
            examples = without_covered(examples, entries, none, float(self._config["uncovered_covered_similarity"]))
            # "none of these" against every entry: its weight relative to one label's (class_weight balanced
            # gives each label the same total)
            factor = float(self._config.get("uncovered_weight") or 1.0)
            examples = [(t, label, w * factor if label == none else w) for t, label, w in examples]
        texts, labels, weights = zip(*examples)
        texts = [without_places(t) for t in texts]
        features = str(self._config.get("features") or "v3")
        lexicon_path = self._config.get("lexicon_path")
        lexicon = load_lexicon(Path(lexicon_path)) if features == "v4" and lexicon_path else None
        self.model = FlatModel.train(texts, labels, weights, C=float(self._config["C"]),
                                     class_weight=self._config.get("class_weight") or None,
                                     features=features, lexicon=lexicon, parallel=True)
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(directory)
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "FlatIntentFaqClassifier":
        with model_storage.read_from(resource) as directory:
            model = FlatModel.load(Path(directory))
        if model.features in ("v3", "v4"):
            _dictionary_tags()  # read with the model, not by the first message
        return cls(config, model_storage, resource, model)

    def _young_labels(self) -> set:
        return self.model.young_labels if self.model is not None else set()

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None:
            return messages
        retrieval = self._config["retrieval_intent"]
        for message in messages:
            probs = read(self.model, without_places(message.get(TEXT) or ""), float(self._config["focus_weight"]))
            set_prediction(message, self.model.labels, probs, retrieval, self._young_labels())
        return messages


class _Layout:
    """Where a model's labels sit (which are FAQ ids, which are young), worked out once per model: a reading then
    costs numpy operations, not a Python loop over every label (a 300-entry base has ~315)."""

    def __init__(self, labels: List[str], retrieval: str, young: Optional[set]) -> None:
        self.labels = labels
        prefix = retrieval + "/"
        self.faq_idx = np.array([i for i, label in enumerate(labels) if label.startswith(prefix)], dtype=np.int64)
        self.other = [(label, i) for i, label in enumerate(labels) if not label.startswith(prefix)]
        self.young_idx = np.array([i for i in self.faq_idx if labels[i] in (young or ())], dtype=np.int64)
        self.young_ids = [labels[i][len(prefix):] for i in self.young_idx]


_LAYOUTS: Dict[Tuple[int, str], _Layout] = {}


def _layout(labels: List[str], retrieval: str, young: Optional[set]) -> _Layout:
    layout = _LAYOUTS.get((id(labels), retrieval))
    if layout is None or layout.labels is not labels:
        layout = _LAYOUTS[(id(labels), retrieval)] = _Layout(labels, retrieval, young)
    return layout


def set_prediction(message: Message, labels: List[str], probs: np.ndarray, retrieval: str = "faq",
                   young: Optional[set] = None) -> None:
    """The reading in Rasa's shapes: intents (the FAQ labels summed as ``retrieval``), the ten best FAQ ids in the
    response selector's ranking, and the young FAQ ids' probabilities (``young``: labels learnt from few phrasings;
    bot/nlu/matching.py weighs them however low they are) as its ``young`` map, by entry id."""
    layout = _layout(labels, retrieval, young)
    intents = {label: float(probs[i]) for label, i in layout.other}
    faq_probs = probs[layout.faq_idx] if len(layout.faq_idx) else None
    if faq_probs is not None:
        intents[retrieval] = intents.get(retrieval, 0.0) + float(faq_probs.sum())
    ranking = sorted(({"name": k, "confidence": v} for k, v in intents.items()), key=lambda r: -r["confidence"])
    message.set(INTENT, ranking[0], add_to_output=True)
    message.set("intent_ranking", ranking[:10], add_to_output=True)
    if faq_probs is not None:
        order = np.argsort(-faq_probs, kind="stable")[:10]
        faqs = [(labels[layout.faq_idx[j]], float(faq_probs[j])) for j in order]
        top_key, top_p = faqs[0]
        selector = message.get("response_selector") or {}
        selector["all_retrieval_intents"] = [retrieval]
        selector[retrieval] = {
            "response": {"responses": [{"text": top_key}], "confidence": top_p, "intent_response_key": top_key,
                         "utter_action": f"utter_{top_key}"},
            "ranking": [{"intent_response_key": k, "confidence": p, "id": i} for i, (k, p) in enumerate(faqs)],
            "young": dict(zip(layout.young_ids, probs[layout.young_idx].tolist())),
        }
        message.set("response_selector", selector, add_to_output=True)

"""The trained NLU in-process: load a model archive once, parse texts into the spec's /api/parse shape."""
from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from threadpoolctl import threadpool_limits

from bot.nlu import matching

logger = logging.getLogger(__name__)
UNCOVERED = "uncovered"  # the classifier's "none of these": a question on a topic no entry answers


@dataclass
class NluReading:
    """One parsed message. ``as_api()`` gives the spec shape (without ``route``)."""

    text: str
    intent: str
    confidence: float
    intent_ranking: List[Dict[str, Any]]
    faq_id: Optional[str]
    faq_confidence: float
    faq_ranking: List[Dict[str, Any]]
    entities: List[Dict[str, Any]]
    emotion: Dict[str, Any]
    normalized_text: str = ""
    young_entry: Optional[str] = None  # a young entry the entry model read it as (bot/nlu/matching.py)
    # P(danger now) from bot/nlu/urgency.py; None with a model trained before it (the router falls back on the
    # emergency intent's probability)
    urgency: Optional[float] = None

    @property
    def tokens(self) -> List[str]:
        """The jieba words of the normalised text (for `wuye parse --tokens`; computed on demand, not per turn)."""
        import jieba

        return [w for w in jieba.cut(self.normalized_text or self.text) if w.strip()]

    def opening_noun(self) -> Optional[str]:
        """The message's first word when jieba's dictionaries (its own and the domain one) know it as a noun — the
        subject a question names ("狗" in "狗能在草坪上跑吗"; none in "是纸质的还是电子的"), else None. Cut without
        jieba's HMM, which would join an unknown pair ("狗能") into one word."""
        import jieba

        from bot.nlu.flat_classifier import word_tag

        words = [w for w in jieba.lcut(self.normalized_text or self.text, HMM=False) if w.strip()]
        return words[0] if words and word_tag(words[0]).startswith("n") else None

    def probability(self, intent: str) -> float:
        """The intent's probability (0 when it is not among the ranked intents)."""
        return next((r["confidence"] for r in self.intent_ranking if r["name"] == intent), 0.0)

    def as_api(self) -> Dict[str, Any]:
        return {
            "text": self.text,
            # "uncovered" (a topic the knowledge base does not cover) is not one of the spec's intents: out of scope
            "intent": {"name": "out_of_scope" if self.intent == UNCOVERED else self.intent,
                       "confidence": round(self.confidence, 4)},
            "uncovered": self.intent == UNCOVERED,
            "faq": {"id": self.faq_id, "confidence": round(self.faq_confidence, 4)} if self.faq_id else None,
            "entities": [{k: e[k] for k in ("entity", "value", "start", "end")} for e in self.entities],
            # the cues (insult, threat: media …) too: stored with each message, they mask it in the agent console
            "emotion": {"label": self.emotion.get("label", "neutral"), "score": self.emotion.get("score", 0.0),
                        "cues": list(self.emotion.get("cues") or [])},
        }


class NluParser:
    """Wraps a loaded Rasa NLU model. Build with :meth:`load` (heavy: imports TensorFlow, loads the graph)."""

    def __init__(self, backend: Any, model_path: Path, load_seconds: float, engine: str = "fast",
                 knowledge: Optional[Any] = None) -> None:
        self._backend = backend
        self.model_path = model_path
        self.load_seconds = load_seconds
        self.engine = engine
        # the knowledge base being served (a callable); with it, readings follow it (bot/nlu/matching.py)
        self.knowledge = knowledge
        self.label_counts: Optional[Dict[str, int]] = None
        self._normalizer: Any = None  # the pipeline's TextNormalizer (fast path), for ``normalize``
        for step in getattr(backend, "_steps", []):
            owner = getattr(step, "__self__", None)
            model = getattr(owner, "model", None)
            if getattr(model, "label_counts", None) is not None:
                self.label_counts = model.label_counts
            if getattr(owner, "_normalizer", None) is not None:
                self._normalizer = owner

    @classmethod
    def load(cls, model_path: Path, engine: str = "fast", knowledge: Optional[Any] = None) -> "NluParser":
        """``engine="fast"`` (serving: bot/nlu/fast.py, no TensorFlow) or ``"rasa"`` (Rasa's Agent, for parity
        checks and anyone who wants the stock runtime)."""
        started = time.perf_counter()
        # A parse multiplies a message's ~150 features by each model's weights (3 products of ~150 × 300 values):
        # work of microseconds, which OpenBLAS splits across threads that wake, spin and wait. A 300-entry base's
        # parse cost 1.5-2.3 ms of CPU with two BLAS threads and 1.2 ms with one (docs/figures/2026-12-07-parse.md).
        # A serving process runs requests side by side instead, so BLAS gets one thread in it (process-wide; training
        # holds it to one anyway).
        threadpool_limits(limits=1, user_api="blas")
        if engine == "fast":
            from bot.nlu.fast import FastPipeline

            backend: Any = FastPipeline.load(Path(model_path))
        elif engine == "rasa":
            from rasa.core.agent import Agent

            backend = Agent.load(str(model_path))
            if backend.processor is None:
                raise RuntimeError(f"could not load the NLU model {model_path}")
        else:
            raise ValueError(f"unknown NLU engine {engine!r}")
        parser = cls(backend, Path(model_path), 0.0, engine, knowledge)
        if parser.label_counts is not None:  # the entry model stored with the model, if any: read, not trained
            matching.load_stored_entry_model(Path(model_path), parser.entry_owner)
        parser.parse("你好")  # warm-up: the first call builds caches (and TF functions on the Rasa path)
        if knowledge is not None and parser.label_counts is not None:  # the greeting does not read the entry model
            matching.entry_model_of(knowledge(), parser.normalize, parser.entry_owner)
        parser.load_seconds = time.perf_counter() - started
        return parser

    def raw_parse(self, text: str) -> Dict[str, Any]:
        if self.engine == "fast":
            return self._backend.parse(text)
        from rasa.core.channels import UserMessage

        return self._backend.processor._parse_message_with_graph(UserMessage(text), tracker=None)

    def parse(self, text: str, now: Optional[dt.datetime] = None) -> NluReading:
        """``now``: the local time that relative times (明天下午三点) are read against (default: the wall clock)."""
        from bot.nlu.entities import REFERENCE_TIME

        token = REFERENCE_TIME.set(now)
        try:
            raw = self.raw_parse(text)
        finally:
            REFERENCE_TIME.reset(token)
        ranking = [r for r in raw.get("intent_ranking", []) if r.get("name") != "nlu_fallback"]
        if not ranking and raw.get("intent"):
            ranking = [raw["intent"]]
        top = ranking[0] if ranking else {"name": "out_of_scope", "confidence": 0.0}
        selector = (raw.get("response_selector") or {}).get("faq") or {}
        faq_ranking = [
            {"id": r["intent_response_key"].split("/", 1)[1], "confidence": float(r["confidence"])}
            for r in selector.get("ranking", [])
            if "/" in r.get("intent_response_key", "")
        ]
        normalized = raw.get("normalized_text") or text
        intent, confidence, young = top["name"], float(top.get("confidence") or 0.0), None
        if self.knowledge is not None:
            young_probs = selector.get("young") or {}
            intent, confidence, faq_ranking, young = self._with_knowledge(normalized, intent, confidence, faq_ranking,
                                                                          young_probs)
        faq_id, faq_conf = None, 0.0
        if intent == "faq" and faq_ranking:
            faq_id, faq_conf = faq_ranking[0]["id"], faq_ranking[0]["confidence"]
        return NluReading(
            text=text,
            intent=intent,
            confidence=confidence,
            intent_ranking=[{"name": r["name"], "confidence": float(r["confidence"])} for r in ranking[:5]],
            faq_id=faq_id,
            faq_confidence=faq_conf,
            faq_ranking=faq_ranking[:5],
            entities=list(raw.get("entities", [])),
            emotion=dict(raw.get("emotion") or {"label": "neutral", "score": 0.0, "cues": []}),
            normalized_text=normalized,
            young_entry=young,
            urgency=float(raw["urgency"]["probability"]) if raw.get("urgency") else None,
        )

    def with_knowledge(self, knowledge: Any) -> "NluParser":
        """The same loaded model reading with this knowledge base (a callable); the model itself is shared."""
        clone = copy.copy(self)
        clone.knowledge = knowledge
        return clone

    def normalize(self, text: str) -> str:
        """The text as the pipeline reads it (normalised), for the entry model's training texts: the pipeline's own
        normaliser step where it is at hand, not the whole pipeline (a 300-entry base has ~2,500 such texts)."""
        if self._normalizer is not None and text:
            return self._normalizer.normalized_reading(text).text or text
        return self.raw_parse(text).get("normalized_text") or text

    @property
    def entry_owner(self) -> Any:
        """Who the entry models are read for: the pipeline's normaliser, shared by this parser's copies
        (``with_knowledge``), so they share the models too."""
        return self._normalizer if self._normalizer is not None else self

    def _with_knowledge(self, normalized: str, intent: str, confidence: float, faq_ranking: List[Dict[str, Any]],
                        young_probs: Optional[Dict[str, float]] = None):
        """The reading with the knowledge base being served: retired entries dropped, young entries read by the
        entry model (bot/nlu/matching.py). Only where the classifier's phrasing counts are known (the fast path)."""
        kb = self.knowledge()
        counts = self.label_counts
        probs = (matching.entry_model_of(kb, self.normalize, self.entry_owner).reading(normalized)
                 if counts is not None and matching.reads_entries(intent, confidence) else {})
        ranking = [(r["id"], r["confidence"]) for r in faq_ranking]
        choice = matching.choose(intent, confidence, ranking, matching.active_ids(kb), probs, counts or {},
                                 {**(young_probs or {}), **dict(ranking)})
        return (choice.intent, choice.confidence, [{"id": i, "confidence": p} for i, p in choice.faq_ranking],
                choice.young)

"""Emotion/urgency: a classifier trained on our own labelled data (data/nlu/emotion.yml) plus explicit cues.

Labels: ``neutral``, ``anxious``, ``angry``. A character n-gram logistic regression reads the tone; cues the
spec names (12345, 媒体/曝光, 律师/起诉, 第三次-style repeated chasing, insults, runs of !!!) force
``angry``, and danger/urgency words push towards ``anxious``. Off-the-shelf sentiment models are trained on
product reviews and misread neutral questions, so none is used.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.core.contract import EMOTIONS
from bot.nlu.normalize import NORMALIZED_KEY
from bot.nlu.registration import component

EMOTION_KEY = "emotion"

ANGRY_CUES: List[Tuple[str, str]] = [
    # the hotline named among words ("再不修我就打12345"); a bare 12345 typed at a flow's question is a mistyped room,
    # code or phone, not a threat
    (r"^(?=.*[^\W\d_]).*(?<![A-Za-z0-9])12345(?!\d)|市长热线|政府热线", "threat: 12345"),
    (r"媒体|曝光|记者|电视台|发微博|发抖音", "threat: media"),
    (r"律师|起诉|告你们|法院|打官司", "threat: legal"),
    (r"第[三四五六七八九十\d]+次|[三四五六七八九十\d]+次了|催了[三四五六七八九十\d]+次|多少遍|多少次了|"
     r"(投诉|反映|催|打电话|找)了?(好几|好多|无数)(次|遍|回)", "repeated chasing"),
    # 垃圾物业 is an insult, except after a kind of waste: 大件垃圾物业收不收费 / 装修垃圾物业管不管清运
    (r"^垃圾物业|(?<![件修筑活余害收他])垃圾物业(?![给的])|废物|傻[逼Xx×比]|混蛋|王八蛋|去死|^滚|滚[!！吧蛋开]|滚$|骗子|狗屁|你们?(才|是不是|真|就是)?有病|有病吧|神经病|脑残|聋了|瞎了", "insult"),
    (r"[!！]{3,}|[?？]{3,}", "exclamation run"),
    (r"干什么吃的|气死|受够了|欺人太甚|不想干了|太过分", "anger words"),
]
ANXIOUS_CUES: List[Tuple[str, str]] = [
    (r"救命|快来|快点|赶紧|马上|尽快|着急|急急|很急|紧急|求求|害怕|好怕|吓死|慌", "urgency words"),
    (r"被困|困在|困人|困住|着火|起火|冒.{0,3}烟|漏气|煤气味|爆|晕倒|受伤|流血|撬|被偷|进贼", "danger words"),
]


def match_cues(text: str, cues: List[Tuple[str, str]]) -> List[str]:
    return [name for pattern, name in cues if re.search(pattern, text)]


def load_emotion_examples(path: Path) -> List[Tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    block = data.get("emotion")
    if not isinstance(block, dict):
        raise ValueError(f"{path}: expected a top-level 'emotion:' mapping of label → examples")
    examples = []
    for label, texts in block.items():
        if label not in EMOTIONS:
            raise ValueError(f"{path}: unknown emotion label '{label}' (known: {', '.join(EMOTIONS)})")
        examples.extend((str(t), label) for t in texts or [])
    if {label for _, label in examples} != set(EMOTIONS):
        raise ValueError(f"{path}: every label needs examples: {', '.join(EMOTIONS)}")
    return examples


# Calm by construction: questions and requests of these intents are labelled neutral for the emotion model;
# emergency examples are labelled anxious. Complaints are mixed in tone and are left to emotion.yml.
NEUTRAL_INTENTS = ("faq", "fee_lookup", "repair_request", "repair_status", "parking", "human_agent", "greet",
                   "goodbye", "thanks", "affirm", "deny", "out_of_scope")


def examples_from_intents(training_data: TrainingData) -> List[Tuple[str, str]]:
    result = []
    for message in training_data.intent_examples:
        intent = message.get("intent")
        text = message.get(TEXT)
        if not text:
            continue
        if intent in NEUTRAL_INTENTS:
            result.append((text, "neutral"))
        elif intent == "emergency":
            result.append((text, "anxious"))
    return result


class EmotionModel:
    """The trainable part: char 1-3-gram TF-IDF + logistic regression, combined with the cues.

    Trained and stored as a scikit-learn pipeline; predicted with numpy from its arrays (:meth:`probabilities`),
    which gives the same probabilities (tests/test_fast_parser.py) in a fraction of scikit-learn's per-call
    overhead for one message."""

    WHITESPACE = re.compile(r"\s\s+")  # scikit-learn's char analyzer collapses runs of whitespace only

    def __init__(self, pipeline: Any = None) -> None:
        self.pipeline = pipeline
        self._arrays: Optional[Tuple[Dict[str, int], np.ndarray, np.ndarray, np.ndarray, List[str], bool]] = None
        self._ngram_range = (1, 3)
        if pipeline is not None:
            vectorizer, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
            if (vectorizer.analyzer == "char" and vectorizer.lowercase and vectorizer.sublinear_tf
                    and vectorizer.norm == "l2" and vectorizer.strip_accents is None and vectorizer.use_idf):
                multinomial = getattr(classifier, "multi_class", "auto") in ("auto", "multinomial") and \
                    len(classifier.classes_) > 2 and classifier.solver != "liblinear"
                self._arrays = ({k: int(v) for k, v in vectorizer.vocabulary_.items()}, vectorizer.idf_.astype(float),
                                classifier.coef_.T.astype(float).copy(), classifier.intercept_.astype(float),
                                [str(c) for c in classifier.classes_], multinomial)
                self._ngram_range = vectorizer.ngram_range

    def save(self, directory: Path) -> None:
        """The arrays (``emotion.npz`` + ``emotion.json``): serving loads them with numpy alone, no scikit-learn
        (~50 MB of a server's memory). A pipeline numpy cannot reproduce is kept as ``emotion.joblib``."""
        if self._arrays is None:
            import joblib

            joblib.dump(self.pipeline, directory / "emotion.joblib")
            return
        vocab, idf, coef, intercept, classes, multinomial = self._arrays
        np.savez(directory / "emotion.npz", idf=idf, coef=coef, intercept=intercept)
        (directory / "emotion.json").write_text(json.dumps(
            {"vocab": vocab, "classes": classes, "multinomial": multinomial, "ngram_range": list(self._ngram_range)},
            ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "EmotionModel":
        if not (directory / "emotion.npz").is_file():  # an archive trained before the arrays were stored
            import joblib

            return cls(joblib.load(directory / "emotion.joblib"))
        meta = json.loads((directory / "emotion.json").read_text(encoding="utf-8"))
        arrays = np.load(directory / "emotion.npz", allow_pickle=False)
        model = cls()
        model._arrays = (meta["vocab"], arrays["idf"], arrays["coef"], arrays["intercept"], meta["classes"],
                         bool(meta["multinomial"]))
        model._ngram_range = tuple(meta["ngram_range"])
        return model

    def probabilities(self, text: str) -> Dict[str, float]:
        if self._arrays is None:
            return dict(zip(self.pipeline.classes_, self.pipeline.predict_proba([text])[0]))
        vocab, idf, coef, intercept, classes, multinomial = self._arrays
        doc = self.WHITESPACE.sub(" ", text.lower())
        low, high = self._ngram_range
        counts = Counter(vocab[g] for n in range(low, high + 1) for i in range(len(doc) - n + 1)
                         if (g := doc[i:i + n]) in vocab)
        scores = intercept.copy()
        if counts:
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[idx]
            w /= np.sqrt(np.dot(w, w))
            scores = scores + w @ coef[idx]
        if multinomial:
            e = np.exp(scores - scores.max())
            p = e / e.sum()
        else:
            p = 1.0 / (1.0 + np.exp(-scores))
            p = p / p.sum()
        return dict(zip(classes, p))

    @classmethod
    def train(cls, examples: List[Tuple[str, str]]) -> "EmotionModel":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
            LogisticRegression(C=5.0, class_weight="balanced", max_iter=1000, random_state=42),
        )
        pipeline.fit([t for t, _ in examples], [label for _, label in examples])
        return cls(pipeline)

    def predict(self, text: str) -> Dict[str, Any]:
        probs = self.probabilities(text)
        angry = match_cues(text, ANGRY_CUES)
        anxious = match_cues(text, ANXIOUS_CUES)
        if angry:
            probs["angry"] = max(probs["angry"], 0.9)
        elif anxious:
            probs["anxious"] = max(probs["anxious"], 0.75)
        label = max(probs, key=probs.get)
        total = sum(probs.values())
        return {"label": label, "score": round(float(probs[label] / total), 4), "cues": angry + anxious}


@component("INTENT_CLASSIFIER", is_trainable=True)
class EmotionClassifier(GraphComponent):
    """Adds ``emotion: {label, score, cues}`` to every parsed message."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"examples_path": "data/nlu/emotion.yml"}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[EmotionModel] = None) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "EmotionClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn"]

    def train(self, training_data: TrainingData) -> Resource:
        path = Path(self._config["examples_path"])
        if not path.is_file():
            raise FileNotFoundError(f"emotion training data '{path}' not found")
        self._model = EmotionModel.train(load_emotion_examples(path) + examples_from_intents(training_data))
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(Path(directory))
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "EmotionClassifier":
        with model_storage.read_from(resource) as directory:
            model = EmotionModel.load(Path(directory))
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if self._model is not None:
                normalized = message.get(NORMALIZED_KEY)  # its emotion_text keeps the emoji: they carry tone
                text = normalized.emotion_text if normalized is not None else (message.get(TEXT) or "")
                message.set(EMOTION_KEY, self._model.predict(text), add_to_output=True)
        return messages

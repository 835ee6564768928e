"""Urgency: is this danger to people or property now? A binary linear model trained on our own labelled data.

The emergency *intent* says what a message is about; paging the on-call manager needs something else: whether
the danger is happening now. "万一电梯困人了打什么电话", "上周电梯困人的事处理了吗", "听说隔壁小区着火了" and
"救命，物业费怎么又涨了" are about emergencies or use their words, and page nobody; "隔壁老头两天没出门，敲门也
没人应" and "我爸用着呼吸机，整栋楼没电" use none of them and must. So the model learns from near-misses both ways
(data/nlu/urgency/, one file per author, each written by an author who saw only the spec) besides the training phrasings (every
emergency phrasing urgent, every other intent's calm). It reads the normalised text (the same as the classifiers),
with the features of the flat classifier (bot/nlu/flat_classifier.py, "v2": character and word n-grams), balanced
classes. The router (bot/routing/router.py) pages on its probability, and lets it veto a keyword rule that fires on a
hypothetical, past or rumoured danger.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.entities import without_places
from bot.nlu.flat_classifier import FlatModel
from bot.nlu.normalize import Normalizer, get_normalizer
from bot.nlu.registration import component

URGENCY_KEY = "urgency"
URGENT, CALM = "urgent", "calm"
EMERGENCY_INTENT = "emergency"


def load_urgency_examples(path: Path) -> List[Tuple[str, bool]]:
    """``items: [{text, urgent, kind}]`` (the format of data/nlu/urgency/*.yml and the held-out near-miss set)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get("items")
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a top-level 'items:' list of {{text, urgent, kind}}")
    examples = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not str(item.get("text") or "").strip() or \
                not isinstance(item.get("urgent"), bool):
            raise ValueError(f"{path}: item {n} needs a text and urgent: true/false")
        examples.append((str(item["text"]), item["urgent"]))
    return examples


def load_urgency_directory(directory: Path) -> Dict[str, List[Tuple[str, bool]]]:
    """Each file of near-misses under ``directory`` by its name (one author each: the groups cross-validation holds
    out)."""
    files = sorted(Path(directory).glob("*.yml"))
    if not files:
        raise FileNotFoundError(f"no urgency training data (*.yml) in '{directory}'")
    return {path.stem: load_urgency_examples(path) for path in files}


def examples_from_intents(training_data: TrainingData) -> List[Tuple[str, bool]]:
    """Every training phrasing: the emergency intent's urgent, the others' calm (FAQ questions, flows, complaints,
    small talk, uncovered topics — none of them danger now)."""
    return [(m.get(TEXT), m.get("intent") == EMERGENCY_INTENT) for m in training_data.intent_examples
            if m.get(TEXT) and m.get("intent")]


class UrgencyModel:
    """The flat classifier's model with two labels; ``probability`` is P(urgent)."""

    C = 30.0
    FEATURES = "v2"

    def __init__(self, model: FlatModel) -> None:
        self.model = model
        self._urgent = model.labels.index(URGENT)

    @classmethod
    def train(cls, texts: Sequence[str], urgent: Sequence[bool], weights: Optional[Sequence[float]] = None,
              C: float = C) -> "UrgencyModel":
        labels = [URGENT if u else CALM for u in urgent]
        return cls(FlatModel.train([without_places(t) for t in texts], labels, list(weights) if weights else None,
                                   C=C, class_weight="balanced", features=cls.FEATURES))

    def probability(self, text: str) -> float:
        return float(self.model.predict_proba(without_places(text))[self._urgent])


@component("INTENT_CLASSIFIER", is_trainable=True)
class UrgencyClassifier(GraphComponent):
    """Adds ``urgency: {probability}`` (of danger now) to every parsed message."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # near-misses weigh more than one of the many training phrasings: they are what the model is for (5 and
        # C 30 chosen by scripts/urgency_cv.py, each author held out: docs/figures/2026-12-06-urgency.md)
        return {"urgency_path": "data/nlu/urgency", "tables_path": "data/nlu/normalize",
                "dictionary_path": "data/nlu/dict", "near_miss_weight": 5.0, "C": UrgencyModel.C}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[UrgencyModel] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UrgencyClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "jieba"]

    def train(self, training_data: TrainingData) -> Resource:
        groups = load_urgency_directory(Path(self._config["urgency_path"]))
        # the near-misses are not Rasa training data: normalised here as the pipeline normalises what it reads
        normalizer: Normalizer = get_normalizer(Path(self._config["tables_path"]), Path(self._config["dictionary_path"]))
        near = [(normalizer.normalize(t).text or t, u) for examples in groups.values() for t, u in examples]
        phrasings = examples_from_intents(training_data)
        weight = float(self._config["near_miss_weight"])
        examples = [(t, u, weight) for t, u in near] + [(t, u, 1.0) for t, u in phrasings]
        texts, urgent, weights = zip(*examples)
        self._model = UrgencyModel.train(texts, urgent, weights, C=float(self._config["C"]))
        with self._model_storage.write_to(self._resource) as directory:
            self._model.model.save(Path(directory))
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "UrgencyClassifier":
        with model_storage.read_from(resource) as directory:
            model = UrgencyModel(FlatModel.load(Path(directory)))
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if self._model is not None:
                p = self._model.probability(message.get(TEXT) or "")
                message.set(URGENCY_KEY, {"probability": round(p, 4)}, add_to_output=True)
        return messages

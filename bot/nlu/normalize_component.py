"""The normaliser (bot/nlu/normalize.py) as the first component of the Rasa pipeline.

It rewrites TEXT into plain simplified Mandarin and keeps the map back to the original text in the message
(``wuye_normalized``), so the entity extractor reports spans of what the resident wrote and the emotion
classifier still sees the emoji. The tables are copied into the trained model, so a model always reads with
the tables it was trained with.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.normalize import NORMALIZED_KEY, Normalized, Normalizer, get_normalizer, load_tables
from bot.nlu.registration import component


@component("MESSAGE_FEATURIZER", is_trainable=True)
class TextNormalizer(GraphComponent):
    """First component of the pipeline: rewrites TEXT into plain simplified Mandarin (see bot/nlu/normalize.py)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"tables_path": "data/nlu/normalize", "dictionary_path": "data/nlu/dict"}

    def __init__(self, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 normalizer: Optional[Normalizer] = None, from_config: bool = False) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._normalizer = normalizer
        self._from_config = from_config  # no normaliser yet: the config's tables give it when first asked

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TextNormalizer":
        # the untrained normaliser is built when first used: a training's graph only trains this instance and reads
        # the training data with the trained one (``load``), so building it here (~0.6 s) delayed the training
        return cls(config, model_storage, resource, from_config=True)

    def _reader(self) -> Optional[Normalizer]:
        if self._normalizer is None and self._from_config:
            self._normalizer = get_normalizer(Path(self._config["tables_path"]), Path(self._config["dictionary_path"]))
        return self._normalizer

    @staticmethod
    def required_packages() -> List[str]:
        return ["opencc", "pypinyin", "jieba"]

    def train(self, training_data: TrainingData) -> Resource:
        import shutil

        with self._model_storage.write_to(self._resource) as directory:
            shutil.copytree(self._config["tables_path"], Path(directory) / "tables")
            shutil.copytree(self._config["dictionary_path"], Path(directory) / "dict")
            tables = load_tables(Path(directory) / "tables", Path(directory) / "dict")
            # pypinyin's part, computed now: serving reads it instead of importing pypinyin (~60 MB); the spelled-
            # pinyin vocabulary is weighed by the training texts (what the classifiers will know). Rasa's graph
            # loads this resource (``load``) to normalise the training data too, so training and serving decode alike
            corpus = [m.get(TEXT) for m in training_data.training_examples if m.get(TEXT)]
            (Path(directory) / "pinyin.json").write_text(
                json.dumps(Normalizer.pinyin_data(tables, corpus), ensure_ascii=False, sort_keys=True), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TextNormalizer":
        import shutil
        import tempfile

        with model_storage.read_from(resource) as directory:
            target = Path(tempfile.mkdtemp(prefix="wuye-normalize-"))
            shutil.copytree(Path(directory) / "tables", target / "tables")
            shutil.copytree(Path(directory) / "dict", target / "dict")
            stored = Path(directory) / "pinyin.json"  # absent in archives trained before it was stored
            readings = json.loads(stored.read_text(encoding="utf-8")) if stored.is_file() else None
        normalizer = Normalizer(load_tables(target / "tables", target / "dict"), readings)
        shutil.rmtree(target, ignore_errors=True)
        return cls(config, model_storage, resource, normalizer)

    def normalized_reading(self, original: str) -> Normalized:
        """What the classifiers read of a text (also the knowledge base's texts, for the entry model)."""
        result = self._reader().normalize(original)
        if not result.text.strip():  # only emoji: let the classifiers see them
            shown = result.emotion_text or original
            result = Normalized(original, shown, result.emotion_text, [0] * len(shown), [len(original)] * len(shown),
                                result.changes)
        return result

    def _normalize(self, message: Message) -> None:
        original = message.get(TEXT)
        if not original or self._reader() is None:
            return
        result = self.normalized_reading(original)
        message.set(TEXT, result.text)
        message.set(NORMALIZED_KEY, result)
        message.set("normalized_text", result.text, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages

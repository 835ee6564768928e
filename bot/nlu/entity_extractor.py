"""Rasa component: the property entities of a message (bot.nlu.entities rules), found on the normalised text and
reported on what the resident wrote.

Why no spaCy: this component used to wrap the rules in a blank spaCy ``zh`` pipeline and put their matches into
``doc.ents``, but what it reported was always the rules' own list, so spaCy changed no output. It cost a serving
worker ~60 MB (spaCy and its language data) and ~0.2 ms per message with an entity (another jieba cut, a Token per
word), measured with a 300-entry knowledge base (docs/figures/2026-12-06-kb.md).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.entities import extract_entities
from bot.nlu.normalize import NORMALIZED_KEY
from bot.nlu.registration import component, extractor_bases


@component("ENTITY_EXTRACTOR", is_trainable=False)
class PropertyEntityExtractor(GraphComponent, *extractor_bases()):
    """Rooms, plates, phones, work orders, times and amounts, with Chinese numerals normalised."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = config

    @classmethod
    def create(
        cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> "PropertyEntityExtractor":
        return cls(config)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["jieba"]

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            normalized = message.get(NORMALIZED_KEY)
            found = []
            for e in extract_entities(text):
                # found on the normalised text; reported on what the resident wrote
                start, end = normalized.original_span(e.start, e.end) if normalized else (e.start, e.end)
                found.append({"entity": e.entity, "value": e.value, "start": start, "end": end,
                              "confidence_entity": 1.0, "extractor": self.__class__.__name__})
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

"""JiebaTokenizer with the traps closed.

Rasa's JiebaTokenizer silently loads nothing when ``dictionary_path`` is a file or is missing (it only
logs at DEBUG), and emits whitespace tokens for mixed Chinese/English text with spaces. This subclass
fails loudly on a missing or empty dictionary directory, at training and at load time, and drops
whitespace tokens.

``tokenize_training_data: false`` (bot/config.yml) leaves the training data untokenised: no trained component of our
pipeline reads tokens (the classifiers read the normalised text), and tokenising a 300-entry base's ~13,000 messages
cost ~3 s of its training. A Rasa featurizer placed after it needs the default, true.
"""
from __future__ import annotations

import functools
import glob
import os
import shutil
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.registration import component


class DictionaryError(RuntimeError):
    """The jieba user dictionary is missing, not a directory, or empty."""


def dictionary_files(path: Text) -> List[Text]:
    """The dictionary files of ``path``; raises DictionaryError unless it is a directory holding some."""
    if path is None:
        raise DictionaryError("dictionary_path is not set: the domain dictionary is required")
    if not os.path.isdir(path):
        kind = "a file" if os.path.isfile(path) else "missing"
        raise DictionaryError(f"jieba dictionary_path '{path}' is {kind}: it must be a directory of dictionaries")
    files = [f for f in sorted(glob.glob(os.path.join(path, "*"))) if os.path.isfile(f) and os.path.getsize(f) > 0]
    if not files:
        raise DictionaryError(f"jieba dictionary directory '{path}' holds no dictionary file")
    return files


@component("MESSAGE_TOKENIZER", is_trainable=True)
class DomainJiebaTokenizer(Tokenizer):
    """jieba tokens with the property-management dictionary, loaded or else an error.

    Written on Rasa's ``Tokenizer`` base rather than its ``JiebaTokenizer``, whose module imports TensorFlow;
    the behaviour is the same (its dictionary is copied into the model at training, loaded from there)."""

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"dictionary_path": None, "intent_tokenization_flag": False, "intent_split_symbol": "_",
                "token_pattern": None, "prefix_separator_symbol": None, "tokenize_training_data": True}

    @staticmethod
    def required_packages() -> List[Text]:
        return ["jieba"]

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config)
        self._model_storage = model_storage
        self._resource = resource

    @staticmethod
    def _load_custom_dictionary(path: Text) -> None:
        import jieba

        for file in sorted(glob.glob(f"{path}/*")):
            jieba.load_userdict(file)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "DomainJiebaTokenizer":
        dictionary_files(config["dictionary_path"])
        cls._load_custom_dictionary(config["dictionary_path"])
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Copies the dictionary into the model."""
        with self._model_storage.write_to(self._resource) as directory:
            for file in dictionary_files(self._config["dictionary_path"]):
                shutil.copy2(file, directory)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "DomainJiebaTokenizer":
        try:
            with model_storage.read_from(resource) as directory:
                cls._load_custom_dictionary(str(directory))
                dictionary_files(str(directory))
            jieba_words.cache_clear()  # cut with the dictionaries before
        except ValueError as exc:
            raise DictionaryError(f"the trained model has no jieba dictionary ({exc})") from exc
        return cls(config, model_storage, resource)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        if not self._config.get("tokenize_training_data", True):
            return training_data
        return super().process_training_data(training_data)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens, start = [], 0
        for word in jieba_words(message.get(attribute)):  # jieba.tokenize's tokens: its words and their offsets
            tokens.append(Token(word, start))
            start += len(word)
        return [t for t in self._apply_token_pattern(tokens) if t.text.strip()]


@functools.lru_cache(maxsize=16384)  # a training's phrasings (a 300-entry base has ~8,400); serving keeps it small
def jieba_words(text: str) -> Tuple[str, ...]:
    """jieba's words of a text (its default cut, whitespace kept), remembered: the tokenizer and the classifiers'
    features (bot/nlu/flat_classifier.py) cut the same normalised message, and each cut it again (~50 µs a parse).
    Forgotten when a dictionary is loaded (``DomainJiebaTokenizer.load``) or may have changed (training)."""
    import jieba

    return tuple(jieba.lcut(text))

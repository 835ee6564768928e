"""JiebaTokenizer with the traps closed.

Rasa's JiebaTokenizer silently loads nothing when ``dictionary_path`` is a file or is missing (it only
logs at DEBUG), and emits whitespace tokens for mixed Chinese/English text with spaces. This subclass
fails loudly on a missing or empty dictionary directory, at training and at load time, and drops
whitespace tokens.
"""
from __future__ import annotations

import glob
import os
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class DomainJiebaTokenizer(JiebaTokenizer):
    """jieba tokens with the property-management dictionary, loaded or else an error."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "DomainJiebaTokenizer":
        dictionary_files(config["dictionary_path"])
        return super().create(config, model_storage, resource, execution_context)

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
        except ValueError as exc:
            raise DictionaryError(f"the trained model has no jieba dictionary ({exc})") from exc
        return cls(config, model_storage, resource)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        return [t for t in tokens if t.text.strip()]

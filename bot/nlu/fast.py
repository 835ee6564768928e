"""The trained Rasa NLU graph, run without TensorFlow and without Rasa's graph runner (the serving path).

A model archive from `wuye train` (or stock `rasa train nlu`) holds the predict graph in ``metadata.json`` and each
component's files under ``components/``. This module reads both, builds the same components with the same
constructor (``load``/``create``) and config Rasa's ``GraphNode`` would, and calls their ``process`` in graph order
— the graph is a chain here (converter → normaliser → tokenizer → entities → emotion → classifier → regex
handler). Rasa's ``rasa.core.agent`` import costs ~4.5 s and ~700 MB because it imports TensorFlow; this path
imports only ``rasa.engine.graph``/``storage``, ``rasa.shared`` and our components (bot/nlu/registration.py
keeps them free of the TensorFlow-importing recipe). The parity with the Rasa path is tested on every
evaluation set (tests/test_fast_parser.py).
"""
from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

CONVERTER = "rasa.graph_components.converters.nlu_message_converter.NLUMessageConverter"
REGEX_HANDLER = "rasa.nlu.classifiers.regex_message_handler.RegexMessageHandler"


def _class(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _chain(nodes: Dict[str, Dict[str, Any]], target: str) -> List[str]:
    """The nodes the target depends on, in the order they run (each needs at most the one before it)."""
    order: List[str] = []
    name: Optional[str] = target
    while name and name in nodes:
        order.append(name)
        needs = list(nodes[name].get("needs", {}).values())
        if len(needs) > 1:
            raise ValueError(f"node {name} has several inputs: the fast path runs chain-shaped NLU graphs only")
        name = needs[0] if needs else None
    return list(reversed(order))


class FastPipeline:
    def __init__(self, steps: List[Callable[[List[Any]], List[Any]]], directory: Path, model_id: str) -> None:
        self._steps = steps
        self._directory = directory
        self.model_id = model_id

    @classmethod
    def load(cls, archive: Path) -> "FastPipeline":
        import tarsafe
        from rasa.engine.graph import ExecutionContext
        from rasa.engine.storage.local_model_storage import LocalModelStorage
        from rasa.engine.storage.resource import Resource

        directory = Path(tempfile.mkdtemp(prefix="wuye-model-"))
        with tarsafe.open(archive, mode="r:gz") as tar:
            tar.extractall(directory)
        metadata = json.loads((directory / "metadata.json").read_text(encoding="utf-8"))
        storage = LocalModelStorage(directory / "components")
        nodes = metadata["predict_schema"]["nodes"]
        steps: List[Callable[[List[Any]], List[Any]]] = []
        for name in _chain(nodes, metadata["nlu_target"]):
            node = nodes[name]
            if node["uses"] == CONVERTER:
                steps.append(_convert)
                continue
            if node["uses"] == REGEX_HANDLER:
                steps.append(_unpack_regex_messages)
                continue
            component_class = _class(node["uses"])
            config = {**component_class.get_default_config(), **node.get("config", {})}
            resource = Resource(**node["resource"]) if node.get("resource") else None
            context = ExecutionContext(graph_schema=None, model_id=metadata.get("model_id"), node_name=name)  # type: ignore[arg-type]
            component = getattr(component_class, node["constructor_name"])(
                config=config, model_storage=storage, resource=resource, execution_context=context)
            steps.append(getattr(component, node["fn"]))
        return cls(steps, directory, metadata.get("model_id", ""))

    def parse(self, text: str) -> Dict[str, Any]:
        """The same dict ``MessageProcessor._parse_message_with_graph`` returns."""
        messages: List[Any] = [text]
        for step in self._steps:
            messages = step(messages)
        parsed = {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []}
        parsed.update(messages[0].as_dict(only_output_properties=True))
        return parsed

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)


def _convert(texts: List[Any]) -> List[Any]:
    from rasa.shared.nlu.constants import TEXT, TEXT_TOKENS
    from rasa.shared.nlu.training_data.message import Message

    return [Message(data={TEXT: t, "message_id": None, "metadata": None}, output_properties={TEXT_TOKENS})
            for t in texts]


def _unpack_regex_messages(messages: List[Any]) -> List[Any]:
    """Rasa's RegexMessageHandler ("/intent{...}" messages), whose module imports TensorFlow."""
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    return [YAMLStoryReader.unpack_regex_message(m, None, entity_extractor_name="RegexMessageHandler")
            for m in messages]

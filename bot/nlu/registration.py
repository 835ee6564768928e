"""Registering our pipeline components with Rasa's default recipe — without importing it.

``rasa.engine.recipes.default_recipe`` imports TensorFlow (7 s, 700 MB), and so does every module that uses its
``DefaultV1Recipe.register`` decorator at import time. Training needs the registration; serving
(bot/nlu/fast.py) does not. So our components use :func:`component` instead: if the recipe is already loaded
(as it is whenever Rasa resolves a pipeline, including stock ``rasa train nlu`` / ``rasa test nlu``), the class
is registered at once; otherwise it is remembered and :func:`register_all` (called before our own training
runs) registers it.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, List, Tuple, Type

RECIPE_MODULE = "rasa.engine.recipes.default_recipe"
_pending: List[Tuple[Type[Any], Tuple[str, ...], bool]] = []


def _register(cls: Type[Any], kinds: Tuple[str, ...], is_trainable: bool) -> None:
    recipe = sys.modules[RECIPE_MODULE].DefaultV1Recipe
    if recipe._registered_components.get(cls.__name__) is not None and \
            recipe._registered_components[cls.__name__].clazz is cls:
        return
    recipe.register([getattr(recipe.ComponentType, kind) for kind in kinds], is_trainable=is_trainable)(cls)


def component(*kinds: str, is_trainable: bool) -> Callable[[Type[Any]], Type[Any]]:
    """``@component("MESSAGE_TOKENIZER", is_trainable=True)`` in place of ``@DefaultV1Recipe.register(...)``."""
    def decorator(cls: Type[Any]) -> Type[Any]:
        if RECIPE_MODULE in sys.modules:
            _register(cls, kinds, is_trainable)
        else:
            _pending.append((cls, kinds, is_trainable))
        return cls

    return decorator


def register_all() -> None:
    """Import the recipe (and TensorFlow with it) and register every component defined so far. The caller imports
    the components first (bot/nlu/training.py imports the whole pipeline's): this module stays below them."""
    import importlib

    importlib.import_module(RECIPE_MODULE)
    while _pending:
        _register(*_pending.pop())


def extractor_bases() -> Tuple[Type[Any], ...]:
    """Rasa's EntityExtractorMixin (TensorFlow) when Rasa itself is evaluating or training, else nothing."""
    module = sys.modules.get("rasa.nlu.extractors.extractor")
    if module is None and RECIPE_MODULE in sys.modules:
        import rasa.nlu.extractors.extractor as module  # type: ignore[no-redef]
    return (module.EntityExtractorMixin,) if module is not None else ()

"""Rasa's LogisticRegressionClassifier on TF-IDF-weighted, L2-normalised features.

Rasa's CountVectorsFeaturizer gives raw counts, summed over the tokens of a sentence; a linear model on raw
counts lets long messages and frequent n-grams dominate. This component puts scikit-learn's
TfidfTransformer (sublinear tf, idf, L2 norm) in front of the same LogisticRegression, inside one pipeline
that is persisted and loaded with skops like the parent's. Loading never falls back to an untrained model.
"""
from __future__ import annotations

from typing import Any, Dict, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier


# The TfidfTransformer keeps its idf as a sparse diagonal matrix: plain data, safe to load.
SAFE_TYPES = ("scipy.sparse._csr.csr_matrix",)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfLogisticRegressionClassifier(LogisticRegressionClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0, "sublinear_tf": True}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.pipeline import Pipeline

        self.clf.set_params(C=float(self.config["C"]))
        self.clf = Pipeline([("tfidf", TfidfTransformer(sublinear_tf=bool(self.config["sublinear_tf"]))),
                             ("lr", self.clf)])

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfLogisticRegressionClassifier":
        import skops.io as sio

        with model_storage.read_from(resource) as model_dir:
            path = model_dir / f"{resource.name}.skops"
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in SAFE_TYPES]
            if untrusted:
                raise ValueError(f"refusing to load {path}: untrusted types {untrusted}")
            component = cls(config, execution_context.node_name, model_storage, resource)
            component.clf = sio.load(path, trusted=list(SAFE_TYPES))
        return component

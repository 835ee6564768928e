"""What the urgency studies (scripts/urgency_cv.py, scripts/urgency_bands.py) read: the training phrasings and the
near-miss groups of data/nlu/urgency/ (one author a file), normalised as the pipeline reads them, the trained model's
readings (cached) and the knowledge base; ``train`` fits an urgency model without some groups."""
from __future__ import annotations

import functools

from rasa.shared.data import get_data_files, is_nlu_file
from rasa.shared.nlu.training_data.loading import load_data

from bot.core.settings import get_settings
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.normalize import get_normalizer
from bot.nlu.parser import NluParser
from bot.nlu.training import current_model
from bot.nlu.urgency import UrgencyModel, examples_from_intents, load_urgency_directory

settings = get_settings()
normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
norm = lambda t: normalizer.normalize(t).text or t  # noqa: E731
files = sorted(get_data_files([str(settings.nlu_dir)], is_nlu_file))
data = load_data(files[0]).merge(*[load_data(f) for f in files[1:]])
for m in data.intent_examples:
    m.set("text", norm(m.get("text")))
phrasings = examples_from_intents(data)
# the readings (intent, FAQ, entities) of the trained model; only their urgency is replaced by the model under study
parser = NluParser.load(current_model(settings))
parse = functools.lru_cache(maxsize=None)(parser.parse)
kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
groups = load_urgency_directory(settings.nlu_dir / "urgency")


def train(weight: float, C: float, without: set) -> UrgencyModel:
    """An urgency model of the training phrasings and every near-miss group but ``without`` (near-misses at
    ``weight``)."""
    rows = [(norm(t), u, weight) for g, its in groups.items() if g not in without for t, u in its]
    rows += [(t, u, 1.0) for t, u in phrasings]
    return UrgencyModel.train(*zip(*rows), C=C)

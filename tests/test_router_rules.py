"""The emergency rules of bot/router.py against the training data: they catch keyword-free descriptions and
almost never fire on anything else."""
from __future__ import annotations

import yaml

from bot.router import emergency_matches


def _phrasings(settings):
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.knowledge import load_knowledge_base

    out = [(q, "faq") for e in load_knowledge_base(settings.faq_dir, settings.communities_file).entries.values()
           for q in e.questions]
    generated = settings.generated_faq_nlu.resolve()
    for path in sorted(settings.nlu_dir.rglob("*.yml")):
        if path.resolve() == generated or "nlu" not in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}):
            continue
        out += [(m.get("text"), m.get("intent")) for m in load_data(str(path)).intent_examples]
    return out


def test_rules_catch_most_keyword_free_emergencies_and_almost_nothing_else(settings):
    from rasa.shared.nlu.training_data.loading import load_data

    implicit = [m.get("text") for m in load_data(str(settings.nlu_dir / "styles" / "emergency_implicit.yml")).intent_examples]
    caught = sum(bool(emergency_matches(t)) for t in implicit)
    assert len(implicit) >= 40 and caught / len(implicit) >= 0.75
    others = [t for t, intent in _phrasings(settings) if intent != "emergency"]
    false_alarms = [t for t in others if emergency_matches(t)]
    assert len(false_alarms) / len(others) <= 0.002, false_alarms


def test_rules_read_the_normalised_text_too(settings):
    from bot.nlu.normalize import get_normalizer

    normalizer = get_normalizer(settings.normalize_dir, settings.dictionary_dir)
    for written in ("𨋢困咗人呀，快啲嚟", "lift困人了", "dt困人了快来"):
        assert not emergency_matches(written)
        assert emergency_matches(written, normalizer.normalize(written).text), normalizer.normalize(written).text
    assert not emergency_matches("电动车被偷了能查监控吗")

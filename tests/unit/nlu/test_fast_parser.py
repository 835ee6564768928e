"""The serving path (bot/nlu/fast.py: no TensorFlow, no Rasa graph runner) reads every evaluation message exactly
as Rasa's own Agent does on the same model archive."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bot.core.settings import PROJECT_ROOT


def evaluation_texts(settings) -> list:
    """Every message of both held-out sets (entity markup and emotion tags removed) plus button payloads."""
    import re

    texts = []
    styles = yaml.safe_load((PROJECT_ROOT / "tests" / "heldout" / "styles.yml").read_text(encoding="utf-8"))["styles"]
    texts += [item["text"] for items in styles.values() for item in items]
    heldout = yaml.safe_load((PROJECT_ROOT / "tests" / "heldout" / "heldout.yml").read_text(encoding="utf-8"))["heldout"]
    for items in heldout.values():
        for item in items:
            item = re.sub(r"\s+@\w+$", "", str(item))
            texts.append(re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", item))
    texts += ["/faq pets", "/handoff", "3栋电梯困人了，快来！明天下午三点", "粤B12345 13800138000 WO20261127001", "😡😡😡"]
    texts += ["wuyefei zenme jiao", "tingche yueka duoshao qian", "you can take one"]  # spelled pinyin, English
    return texts


@pytest.fixture(scope="module")
def rasa_parser(trained_model):
    from bot.nlu.parser import NluParser

    return NluParser.load(trained_model, engine="rasa")


def test_the_fast_path_reads_every_evaluation_message_like_rasa(parser, rasa_parser, settings):
    texts = evaluation_texts(settings)
    assert len(texts) > 500
    assert parser.engine == "fast"
    for text in texts:
        fast, rasa = parser.raw_parse(text), rasa_parser.raw_parse(text)
        assert fast["intent"]["name"] == rasa["intent"]["name"], text
        assert abs(fast["intent"]["confidence"] - rasa["intent"]["confidence"]) < 1e-4, text
        assert [(r["name"], round(r["confidence"], 4)) for r in fast.get("intent_ranking", [])] == \
            [(r["name"], round(r["confidence"], 4)) for r in rasa.get("intent_ranking", [])], text
        assert fast.get("response_selector") == rasa.get("response_selector"), text
        assert fast["entities"] == rasa["entities"], text
        assert fast.get("emotion") == rasa.get("emotion"), text
        assert fast.get("normalized_text") == rasa.get("normalized_text"), text


def test_serving_never_imports_tensorflow_or_scikit_learn(trained_model):
    """Serving loads the archive with numpy alone: TensorFlow (~700 MB), scikit-learn (~40 MB) and pypinyin (~60 MB,
    its readings are stored in the archive) are for training only (SciPy stays: Rasa's training-data module imports
    scipy.sparse)."""
    code = ("import sys; from bot.nlu.parser import NluParser; p = NluParser.load(sys.argv[1]); p.parse('物业几点上班'); "
            "p.parse('3栋2单元501 明天下午三点 13800138000'); import bot.main, bot.services, bot.conversation.engine; "
            "bot.main.create_app(); print([m for m in ('tensorflow', 'sklearn', 'pypinyin') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(trained_model)], capture_output=True, text=True, timeout=300,
                         cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_emotion_probabilities_from_numpy_equal_scikit_learns(parser, settings, tmp_path):
    """The archive stores the emotion model as arrays (no scikit-learn when serving); what numpy computes from the
    stored arrays equals scikit-learn's predict_proba of the pipeline they came from."""
    from bot.nlu.emotion import EmotionModel, examples_from_intents, load_emotion_examples  # noqa: F401

    directory = parser._backend._directory / "components"
    stored = list(directory.glob("*EmotionClassifier*/emotion.npz"))
    assert stored and not list(directory.glob("*EmotionClassifier*/emotion.joblib"))
    trained = EmotionModel.train(load_emotion_examples(settings.data_dir / "nlu" / "emotion.yml"))
    trained.save(tmp_path)
    model = EmotionModel.load(tmp_path)
    assert model.pipeline is None and model._arrays is not None  # loaded without scikit-learn
    for text in evaluation_texts(settings) + ["  多  个   空格\t\t", "ＡＢＣ大写", ""]:
        mine = model.probabilities(text)
        theirs = dict(zip(trained.pipeline.classes_, trained.pipeline.predict_proba([text])[0]))
        assert set(mine) == set(theirs)
        assert all(abs(mine[k] - theirs[k]) < 1e-9 for k in mine), text
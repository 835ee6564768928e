"""`wuye train`: the fingerprint covers what training depends on; an edited dictionary retrains for real."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.core.settings import PROJECT_ROOT
from bot.nlu import training
from tests.conftest import settings_for, subprocess_env


def test_fingerprint_covers_dictionary_faq_questions_answers_retirement_and_config(data_copy, tmp_path):
    s = settings_for(data_copy, tmp_path / "models")
    base = training.fingerprint(s)
    faq = data_copy / "faq" / "living.yml"
    original = faq.read_text(encoding="utf-8")
    faq.write_text(original.replace("每月对公共区域", "每月两次对公共区域"), encoding="utf-8")
    assert training.fingerprint(s) != base, "answers' sentences are phrasings of their entry: a retrain reads them"
    faq.write_text(original.replace("    title: 大件垃圾处理", "    retired: true\n    title: 大件垃圾处理", 1),
                   encoding="utf-8")
    assert training.fingerprint(s) != base, "a retired entry is no longer trained"
    faq.write_text(original.replace("      - 小区有老鼠怎么办\n", "      - 小区有老鼠怎么办呢\n"), encoding="utf-8")
    assert training.fingerprint(s) != base
    faq.write_text(original, encoding="utf-8")
    assert training.fingerprint(s) == base
    with open(data_copy / "nlu" / "dict" / "property.txt", "a", encoding="utf-8") as f:
        f.write("蓝莓苑 2000 n\n")
    assert training.fingerprint(s) != base


def test_generated_faq_training_data_comes_from_the_knowledge_base(settings):
    from bot.kb.knowledge import load_knowledge_base

    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    data = yaml.safe_load(training.faq_training_yaml(kb))
    intents = {block["intent"]: block["examples"] for block in data["nlu"]}
    assert set(intents) == {f"faq/{i}" for i in kb.entries}
    assert "物业几点上班" in intents["faq/office_hours"]
    assert "utter_faq/office_hours" in data["responses"]


def _tiny_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((PROJECT_ROOT / "bot" / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "ResponseSelector":
            component["epochs"] = 2
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _wuye(args, data, models, config, stderr=None):
    env = subprocess_env(WUYE_DATA_DIR=str(data), WUYE_MODELS_DIR=str(models), WUYE_RASA_CONFIG=str(config))
    out = subprocess.run([sys.executable, "-m", "bot.tools.cli", *args], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    if stderr is not None:
        stderr.append(out.stderr)
    return out.stdout


def _last(stdout: str) -> str:
    return [line for line in stdout.splitlines() if line.strip()][-1]


@pytest.mark.deploy  # `make test-deploy`: `wuye train` run twice as separate processes
def test_editing_the_dictionary_makes_wuye_train_retrain(data_copy, tmp_path):
    models, config = tmp_path / "models", _tiny_config(tmp_path)
    stderr = []
    assert _last(_wuye(["train"], data_copy, models, config, stderr)).startswith("trained")
    # quiet: no page of TensorFlow / deprecation warnings (libraries put "once"/"always" filters before ours)
    assert "Warning" not in stderr[0] and "tensorflow" not in stderr[0], stderr[0][-2000:]
    assert _last(_wuye(["train"], data_copy, models, config)).startswith("up to date")
    new_word = "蓝莓苑"
    before = json.loads(_last(_wuye(["parse", "--no-train", "--tokens", f"我住{new_word}"], data_copy, models, config)))
    assert new_word not in before["tokens"]
    with open(data_copy / "nlu" / "dict" / "property.txt", "a", encoding="utf-8") as f:
        f.write(f"{new_word} 50000 n\n")
    assert _last(_wuye(["train"], data_copy, models, config)).startswith("trained")
    after = json.loads(_last(_wuye(["parse", "--no-train", "--tokens", f"我住{new_word}"], data_copy, models, config)))
    assert new_word in after["tokens"]
    assert len(list(models.glob("nlu-*.tar.gz"))) == 2


WORKER = """
import sys
from pathlib import Path
from bot.core.settings import get_settings
from bot.kb.knowledge import load_knowledge_base
from bot.nlu.parser import NluParser
settings = get_settings()
kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
parser = NluParser.load(Path(sys.argv[1]), knowledge=lambda: kb)
reading = parser.parse("小区里老鼠好多怎么弄")
imported = "sklearn" in sys.modules
import numpy as np
from bot.nlu import matching
from bot.nlu.flat_classifier import FlatModel
stored = FlatModel.load(matching.stored_path(Path(sys.argv[1])))
trained_here = matching.train_entry_model(kb, parser.normalize).model
assert stored.labels == trained_here.labels
texts = ["小区里老鼠好多怎么弄", "装修垃圾放哪", "物业电话多少", "完全无关"]
gap = max(float(np.abs(stored.predict_proba(t) - trained_here.predict_proba(t)).max()) for t in texts)
print(reading.faq_id, imported, gap)
"""


def test_a_model_carries_the_entry_model_of_its_knowledge_base(settings, trained_model):
    """`wuye train` stores the entry model of the knowledge base it trained with beside the archive. A worker serving
    that base reads it instead of training it, so it never imports scikit-learn (in a 300-entry base's worker, that
    import and the training's peak were most of its memory above the model); and it reads as the one the worker
    would have trained."""
    from bot.kb.knowledge import load_knowledge_base
    from bot.nlu import matching

    stored_dir = matching.stored_path(trained_model)
    assert (stored_dir / "entry.json").is_file() and (stored_dir / "flat.npz").is_file()
    out = subprocess.run([sys.executable, "-c", WORKER, str(trained_model)], capture_output=True, text=True,
                         env=subprocess_env(), cwd=PROJECT_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    faq_id, imported, gap = out.stdout.split()[-3:]
    assert faq_id == "pest_control" and imported == "False"
    # read as the worker's own training reads, in a fresh process as a worker is. Not to 1e-6: jieba's dictionary is
    # process-wide, and when the suite trains the session's model other tests may have added words to it
    assert float(gap) < 1e-3

    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    assert json.loads((stored_dir / "entry.json").read_text(encoding="utf-8"))["key"] == matching.content_key(kb)


def _pid(*_inputs):
    return ("node", os.getpid())


def _fails(*_inputs):
    if os.getpid() != PARENT:
        raise RuntimeError("only in the forked copy")
    return ("node", "here")


PARENT = os.getpid()


def test_side_nodes_run_in_a_forked_copy_and_a_failed_one_runs_here():
    graph = {"input": ("input", 1), "side": (_pid, "input"), "main": (_pid, "input"), "after": (_pid, "side", "main"),
             "failing": (_fails, "input")}
    out = training.run_with_side_nodes(graph, ["side", "main", "after", "failing"], {"side", "failing"})
    side, main, after, failing = (value for _, value in out)
    assert side != os.getpid() and main == after == os.getpid()
    assert failing == "here"  # its process failed: run in the graph's own

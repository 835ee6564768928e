"""The flat intent/FAQ classifier and the selection tools: stored-weights prediction equals scikit-learn's, the
question clause, the threshold choice."""
from __future__ import annotations

import numpy as np
import pytest

from bot.nlu.clauses import question_focus
from bot.nlu.flat_classifier import FlatModel, merge_single_row_features
from bot.tools.selection import Example, Prediction, choose_emergency_threshold, choose_thresholds, summarise

TEXTS = ["物业几点上班", "物业费怎么交", "电梯困人了快来", "我家水管坏了", "物业上班时间", "在哪交物业费", "有人晕倒了",
         "厨房漏水要修", "你好", "谢谢你"]
LABELS = ["faq/office_hours", "faq/payment_methods", "emergency", "repair_request", "faq/office_hours",
          "faq/payment_methods", "emergency", "repair_request", "greet", "thanks"]


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_stored_weights_predict_like_scikit_learn(tmp_path, class_weight):
    """One label at a time, stored as int16 with a scale per feature, the model reads as scikit-learn's own one-vs-rest fit of the same
    data does: the same top label, probabilities within 1e-4."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    weights = [1.0 + (i % 3) for i in range(len(TEXTS))]
    model = FlatModel.train(TEXTS, LABELS, weights, C=10.0, class_weight=class_weight)
    vectorizers = FlatModel.vectorizers()
    counts = hstack([v.fit_transform(TEXTS) for v in vectorizers]).tocsr()
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    reference = LogisticRegression(C=10.0, solver="liblinear", class_weight=class_weight, random_state=42).fit(
        tfidf.transform(counts), LABELS, sample_weight=weights)
    model.save(tmp_path)
    loaded = FlatModel.load(tmp_path)
    assert list(reference.classes_) == loaded.labels
    for text in ["物业几点下班", "电梯里有人被困", "水管漏了", "完全无关的话", "x"] + TEXTS:
        x = tfidf.transform(hstack([v.transform([text]) for v in vectorizers]).tocsr())
        expected = reference.predict_proba(x)[0]
        got = loaded.predict_proba(text)
        assert np.allclose(got, expected, atol=1e-4), text
        assert got.argmax() == expected.argmax(), text


def test_a_phrasings_own_features_fitted_as_one_give_the_full_fits_weights():
    """Merging the columns only one row has (most n-grams of a knowledge base) leaves the L2-regularised fit's
    optimum where it was: every feature's weight, read back, is the full problem's within the solver's tolerance."""
    from scipy.sparse import random as sparse_random
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(3)
    x = sparse_random(60, 400, density=0.03, format="csr", random_state=rng)
    x.data = rng.uniform(0.1, 1.0, x.size)
    y = rng.randint(0, 2, 60)
    reduced, expand = merge_single_row_features(x)
    assert reduced.shape[1] < x.shape[1] - 50  # a third of the 400 columns are one row's
    full = LogisticRegression(C=50.0, solver="liblinear", tol=1e-8).fit(x, y)
    merged = LogisticRegression(C=50.0, solver="liblinear", tol=1e-8).fit(reduced, y)
    assert np.abs(full.coef_[0]).max() > 0.5
    assert np.allclose(expand(merged.coef_[0]), full.coef_[0], atol=1e-5)
    assert np.isclose(merged.intercept_[0], full.intercept_[0], atol=1e-5)


def test_a_model_saved_with_dense_weights_still_loads(tmp_path):
    """Archives trained before the weights were quantized hold one dense matrix ("coef"): they read as before."""
    model = FlatModel.train(TEXTS, LABELS, C=10.0)
    model.save(tmp_path)
    dense = (model.coef * model.scale[:, None]).astype(np.float64)
    np.savez(tmp_path / "flat.npz", coef=dense, intercept=model.intercept, idf=model.idf)
    loaded = FlatModel.load(tmp_path)
    assert isinstance(loaded.coef, np.ndarray)
    for text in ["物业几点下班", "电梯里有人被困"]:
        assert np.allclose(loaded.predict_proba(text), model.predict_proba(text), atol=1e-6)


@pytest.mark.parametrize("features", ["v2", "v3"])
def test_models_of_each_feature_set_load_with_their_own_analyzers(tmp_path, features):
    """A model keeps the feature set it was trained with (flat.json "features"): an archive trained before the
    dictionary tags ("v2") still predicts as it did."""
    model = FlatModel.train(TEXTS, LABELS, C=10.0, features=features)
    model.save(tmp_path)
    loaded = FlatModel.load(tmp_path)
    assert loaded.features == features and len(loaded.vocab) == len(FlatModel.FEATURE_SETS[features])
    assert np.allclose(loaded.predict_proba("物业几点下班"), model.predict_proba("物业几点下班"))


def test_dictionary_tags_and_frequencies_describe_unseen_words():
    """The v3 blocks: jieba's dictionary tag of each word (the domain dictionary's too), else its shape; the word's
    dictionary frequency bucket; the tags of every dictionary word full mode finds."""
    from bot.nlu.flat_classifier import all_word_tags, frequency_tokens, tag_ngrams, word_tag

    assert word_tag("北京") == "ns" and word_tag("2026") == "m" and word_tag("wifi") == "eng"
    assert word_tag("阿斯顿发") == "oov"
    tags = tag_ngrams("北京明天天气")
    assert "Tns" in tags and "<s> Tns" in tags and tags[-1].endswith("</s>")
    assert any(t.startswith("F") and "L" in t for t in frequency_tokens("北京明天天气"))
    assert "ATns" in all_word_tags("北京明天天气")


def test_question_focus_finds_the_question_after_a_story():
    story = "上周我家楼上装修，吵得孩子睡不着，我老公还去敲过门，想问一下装修几点可以开始"
    assert question_focus(story) == "想问一下装修几点可以开始"
    assert question_focus("物业几点上班") is None


def _pred(label, intent, conf, faq=None, faq_conf=0.0, emergency_p=0.0, text="x"):
    return Prediction(Example(text, label, "s", "a"), intent, conf, faq, faq_conf, emergency_p)


def test_thresholds_keep_clarify_and_wrong_answers_within_bounds():
    preds = ([_pred("faq/a", "faq", 0.9, "a", 0.8)] * 80 + [_pred("faq/a", "faq", 0.9, "b", 0.2)] * 10
             + [_pred("faq/a", "faq", 0.5, "a", 0.3)] * 10 + [_pred("greet", "greet", 0.9)] * 50)
    (tc, tf), at = choose_thresholds(preds)
    assert at["wrong_answer"] <= 0.08 and at["clarify"] <= 0.10
    assert 0.2 < tf <= 0.3  # clarifies the ten wrong ones (FAQ 0.2), answers the ten right ones at 0.3
    s = summarise(preds, tc, tf)
    assert s["answered_right"] == pytest.approx(0.9) and s["wrong_answer"] == 0.0


def test_emergency_threshold_bounds_false_urgent_handoffs():
    preds = ([_pred("emergency", "emergency", 0.9, emergency_p=p) for p in (0.9, 0.6, 0.2)]
             + [_pred("faq/a", "faq", 0.9, "a", 0.8, emergency_p=0.25)] + [_pred("greet", "greet", 0.9)] * 199)
    t, figures = choose_emergency_threshold(preds, max_false=0.01)
    assert t <= 0.25 and figures["false_urgent"] <= 0.01 and figures["urgent_recall"] == 1.0
    t, figures = choose_emergency_threshold(preds, max_false=0.001)
    assert t >= 0.25 and figures["false_urgent"] == 0.0 and figures["urgent_recall"] == pytest.approx(2 / 3)


def test_cold_entry_folds_drop_the_uncovered_examples_their_entries_answer_as_training_does():
    """The cold-entry protocol's fold is trained on what training would keep: a cold entry's first questions only, and
    the "none of these" examples less those an entry of the fold answers — a cold entry judged by the questions it
    kept, so an example only its dropped fourth question answers stays (it was measured without any drop before)."""
    from bot.kb.knowledge import FaqEntry
    from bot.tools.selection import cold_fold_examples

    entry = FaqEntry("office_hours", "物业办公时间", ["物业几点上班", "物业周末上不上班", "物业中午休息吗", "春节放假怎么安排"],
                     "周一至周日8:30-17:30。", "x.yml", 1)
    other = FaqEntry("invoice", "物业费发票", ["物业费发票怎么开"], "在服务中心开。", "x.yml", 9)
    norm = [Example(q, "faq/office_hours", "base", "base") for q in entry.questions] + \
        [Example("物业啥时候有人", "faq/office_hours", "s1", "A"), Example("物业费发票怎么开", "faq/invoice", "base", "base"),
         Example("物业几点上班", "uncovered", "u3", "U3"), Example("春节放假怎么安排的", "uncovered", "u3", "U3"),
         Example("暖气几号开始供", "uncovered", "u3", "U3")]
    config = {"uncovered_weight": 3}
    texts, labels, weights = cold_fold_examples(norm, [], {"faq/office_hours"}, 3, [entry, other], config)
    assert [t for t, l in zip(texts, labels) if l == "faq/office_hours"] == entry.questions[:3]
    assert [t for t, l in zip(texts, labels) if l == "uncovered"] == ["春节放假怎么安排的", "暖气几号开始供"]
    assert [w for w, l in zip(weights, labels) if l == "uncovered"] == [3.0, 3.0]
    texts, labels, _ = cold_fold_examples(norm, [], {"faq/invoice"}, 3, [entry, other], config)
    assert "物业啥时候有人" in texts and [t for t, l in zip(texts, labels) if l == "uncovered"] == ["暖气几号开始供"]

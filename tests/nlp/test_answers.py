"""What the answers tell the matcher (``nlp.answers``, issue 14 item 1): the words no wording explains, and a
subject named only as a qualifier of an intent.

A small exam-prep knowledge base written for these tests: two subject entries, intent entries whose answers list
the subjects, and one entry with no answer."""

from __future__ import annotations

import numpy as np
import pytest

from edudesk.nlp.answers import KEEP, AnswerEvidence
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder
from edudesk.nlp.matcher import Band, FaqIndex, MatcherConfig
from edudesk.nlp.tokenise import words

FEE, HR, HEALTH, TIMES, REFUND, PLACE, BOOKS = 1, 2, 3, 4, 5, 6, 7
KB = (
    FaqDocument(
        FEE,
        "培训班怎么收费？",
        ("学费是多少", "各个班的价格", "收费明细", "报一个班要多少钱"),
        "费用",
        "人力资源管理师 ¥2,800；健康管理师 ¥2,200；心理咨询师 ¥3,600。",
    ),
    FaqDocument(
        HR,
        "人力资源管理师课程介绍",
        ("人力资源师培训", "人资证好考吗", "人力资源管理师考几科"),
        "项目",
        "人力资源管理师分理论知识和专业能力两科，三级起报。",
    ),
    FaqDocument(
        HEALTH,
        "健康管理师适合什么人报考？",
        ("健康管理师考试难吗", "健康管理师报考条件", "非医学专业能考健康管理师吗"),
        "项目",
        "医学、药学、护理等专业背景最合适，其他专业需相关工作经历。",
    ),
    FaqDocument(
        TIMES,
        "什么时候开课？",
        ("上课时间", "周末上课吗", "晚上有课吗", "多久开一期"),
        "安排",
        "人力资源管理师每月初开班，健康管理师每季度开班，周六日上课。",
    ),
    FaqDocument(
        REFUND,
        "可以退费吗？",
        ("能退钱吗", "不想学了怎么退", "退费规则"),
        "费用",
        "开课前可全额退费，开课后按未上课时退。",
    ),
    FaqDocument(PLACE, "校区在哪？", ("地址在哪里", "怎么过去", "离地铁近吗"), "校区", ""),
    FaqDocument(
        BOOKS,
        "教材怎么发放？",
        ("有没有资料", "讲义怎么领", "书什么时候寄"),
        "学习",
        "全程班含纸质教材和历年题库，开课前快递寄出。",
    ),
)


def _evidence(documents: tuple[FaqDocument, ...] = KB) -> AnswerEvidence | None:
    texts = [(i, t) for i, d in enumerate(documents) for t in (d.question, *d.similar)]
    return AnswerEvidence.build(
        [words(t.lower()) for _, t in texts], np.asarray([i for i, _ in texts]), [d.answer for d in documents]
    )


def test_without_answers_there_is_nothing_to_explain() -> None:
    assert _evidence(tuple(FaqDocument(d.entry_id, d.question, d.similar) for d in KB)) is None


def test_subject_words_are_rare_words_that_are_not_concepts() -> None:
    found = _evidence()
    assert found is not None
    assert found.entries_of["健康"] == (2,)  # jieba's word; the HEALTH entry's position
    assert "收费" not in found.entries_of  # a concept word (price) is an intent, never a subject
    assert found.mentions(0, 1) and found.mentions(3, 2)  # the fee answer names 人力资源管理师, the schedule one 健康
    assert not found.mentions(4, 1)  # the refund answer names no subject
    assert not found.mentions(5, 1)  # no answer at all


def test_probability_moves_from_the_subject_to_the_intent_that_names_it() -> None:
    found = _evidence()
    assert found is not None
    pool = np.arange(6)  # the first six entries were pooled
    prob = np.asarray([0.30, 0.50, 0.0, 0.0, 0.10, 0.0])
    agree = np.asarray([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])  # the query names price; the fee and refund entries too
    moved = found.explain(words("人力资源管理师多少钱"), ["§price"], pool, prob, agree)
    assert moved[0] == pytest.approx(0.30 + 0.50 * (1 - KEEP)) and moved[1] == pytest.approx(0.50 * KEEP)
    assert moved[4] == pytest.approx(0.10)  # the refund answer does not name the subject: it takes nothing
    assert moved.sum() == pytest.approx(prob.sum())  # moved, never added


@pytest.mark.parametrize(
    ("query", "concepts", "agree"),
    [
        ("多少钱", ["§price"], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # no subject named
        (
            "人力资源管理师多少钱",
            ["§price"],
            [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        ),  # the subject entry names the price itself
        ("健康管理师几月开班", ["§schedule"], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # no entry names the concept
    ],
)
def test_nothing_moves_without_a_subject_and_an_intent_that_explains_it(
    query: str, concepts: list[str], agree: list[float]
) -> None:
    found = _evidence()
    assert found is not None
    prob = np.asarray([0.2, 0.4, 0.3, 0.1, 0.0, 0.0])
    moved = found.explain(words(query), concepts, np.arange(6), prob, np.asarray(agree))
    assert np.array_equal(moved, prob)


def test_a_subject_whose_answer_names_the_concept_keeps_its_probability() -> None:
    documents = (*KB[:2], FaqDocument(HEALTH, KB[2].question, KB[2].similar, "", "健康管理师每季度开班。"), *KB[3:])
    found = _evidence(documents)
    assert found is not None
    prob = np.asarray([0.0, 0.0, 0.6, 0.3, 0.0, 0.0])
    agree = np.asarray([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    assert np.array_equal(found.explain(words("健康管理师几月开班"), ["§schedule"], np.arange(6), prob, agree), prob)


@pytest.fixture(scope="module")
def index(embedder: Embedder) -> FaqIndex:
    return FaqIndex.build(KB, embedder)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("人力资源管理师多少钱", FEE),
        ("健康管理师学费多少", FEE),
        ("健康管理师什么时候开课", TIMES),
    ],
)
def test_a_subject_with_an_intent_ranks_the_intent_entry(index: FaqIndex, query: str, expected: int) -> None:
    result = index.match(query)
    assert result.best is not None and result.best.entry_id == expected, result.candidates
    off = index.with_config(MatcherConfig(subject_qualifiers=False)).match(query)
    assert off.best is not None and result.best.probability > off.candidates[0].probability - 1e-9


def test_the_subject_entry_is_still_offered(index: FaqIndex) -> None:
    off = index.with_config(MatcherConfig(subject_qualifiers=False)).match("人力资源管理师多少钱")
    assert off.best is not None and off.best.entry_id == HR  # the subject's rare words win without the answers
    result = index.match("人力资源管理师多少钱")
    assert result.band is Band.ANSWER and [c.entry_id for c in result.candidates][:2] == [FEE, HR]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("人力资源管理师考几科", HR),  # the subject alone: its own entry, nothing moves
        ("健康管理师难不难考", HEALTH),
    ],
)
def test_a_subject_alone_keeps_its_entry(index: FaqIndex, query: str, expected: int) -> None:
    result = index.match(query)
    assert result.best is not None and result.best.entry_id == expected


def test_an_unrelated_question_stays_unanswered(index: FaqIndex) -> None:
    assert index.match("今天天气怎么样").band is not Band.ANSWER


def test_cover_is_the_idf_weighted_share_of_unexplained_words_an_answer_contains() -> None:
    found = _evidence()
    assert found is not None
    cover = found.cover(["题库", "快递", "的"], np.arange(len(KB)))
    assert cover is not None
    assert cover[6] == pytest.approx(1.0)  # the materials answer has both words
    assert cover[:6].tolist() == [0.0] * 6
    assert found.cover(["天气", "的"], np.arange(len(KB))) is None  # no answer uses them: nothing to say


def test_words_only_an_answer_uses_separate_its_entry_from_the_rest(index: FaqIndex) -> None:
    on = index.match("快递到付吗")
    off = index.with_config(MatcherConfig(answer_weight=0.0)).match("快递到付吗")
    assert on.best is not None and off.best is not None and on.best.entry_id == off.best.entry_id == BOOKS
    assert on.best.probability <= off.best.probability + 1e-9  # belief moves, it is not added
    assert on.candidates[1].probability < off.candidates[1].probability / 2


def test_a_remainder_the_intent_answer_does_not_explain_keeps_the_subject() -> None:
    """ "人力资源管理师报名费多少": 报名费 is in no wording and not in the fee answer either (the authority's fee, not
    ours), so nothing moves; a word the fee answer does contain (心理咨询师) does not stop it."""
    found = _evidence()
    assert found is not None
    pool = np.arange(6)
    prob = np.asarray([0.30, 0.50, 0.0, 0.0, 0.10, 0.0])
    agree = np.asarray([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    tokens = words("人力资源管理师报名费多少钱")
    assert np.array_equal(found.explain(tokens, ["§price"], pool, prob, agree, ["报名费"]), prob)
    moved = found.explain(tokens, ["§price"], pool, prob, agree, ["心理咨询师"])
    assert moved[0] > prob[0]

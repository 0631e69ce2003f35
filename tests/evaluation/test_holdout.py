"""Hold-out scoring without a database: fold assignment, what is held out, and what cannot be scored."""

from __future__ import annotations

from edudesk.evaluation import holdout
from edudesk.evaluation.holdout import LabelledQuery
from edudesk.nlp.documents import FaqDocument

DOCS = [
    FaqDocument(10, "学费多少钱？", ("一节课多少钱", "怎么收费", "价格贵吗"), "价格"),
    FaqDocument(20, "可以试听吗？", ("有试听课吗", "试听免费吗"), "试听"),
    FaqDocument(30, "校区在哪里？", (), ""),
]


def test_holdout_key_ignores_punctuation_width_and_case() -> None:
    assert holdout.holdout_key("能停车吗？") == holdout.holdout_key("能 停车吗") == "能停车吗"
    assert holdout.holdout_key("ＶＩＰ课!") == "vip课"


def test_similar_questions_spread_over_the_folds() -> None:
    queries = holdout.similar_question_queries(DOCS, folds=3)
    # entry i, similar question j → fold (i + j) mod 3
    assert [(q.query, q.expected, q.fold) for q in queries] == [
        ("一节课多少钱", 10, 0), ("怎么收费", 10, 1), ("价格贵吗", 10, 2), ("有试听课吗", 20, 1), ("试听免费吗", 20, 2)]
    sampled = holdout.similar_question_queries(DOCS, folds=3, limit=2)
    assert [q.query for q in sampled] == ["一节课多少钱", "价格贵吗"]  # evenly through the KB (step 2.5)


def test_held_out_wordings_cannot_match_themselves_and_unscorable_queries_are_none() -> None:
    queries = [
        LabelledQuery("有试听课吗？", 20, 0),  # held out with its "？"-less twin; the entry keeps two wordings
        LabelledQuery("校区在哪里", 30, 0),  # the entry's only wording: nothing left to find → None
        LabelledQuery("帮我订机票", None, 1),  # out of scope
        LabelledQuery("学费", 99, 1),  # an entry that is not in the KB → None
    ]
    results = holdout.score(DOCS, queries, None)
    assert results[1] is None and results[3] is None
    trial, ticket = results[0], results[2]
    assert trial is not None and ticket is not None
    assert (trial.expected, trial.category) == ("可以试听吗？", "试听")
    assert trial.ranked[0] == "可以试听吗？"  # found through its other wordings, named by its standard question
    assert ticket.expected is None and ticket.answer is None
    assert holdout._without(DOCS, {"有试听课吗"})[1] == FaqDocument(20, "可以试听吗？", ("试听免费吗",), "试听")
    # A held-out standard question is stood in for by the first remaining wording; an emptied entry is dropped.
    kept = holdout._without(DOCS, {"学费多少钱", "校区在哪里"})
    assert [d.question for d in kept] == ["一节课多少钱", "可以试听吗？"]


def test_an_empty_kb_refuses_everything() -> None:
    results = holdout.score([], [LabelledQuery("随便问问", None, 0), LabelledQuery("学费", 10, 0)], None)
    assert results[1] is None and results[0] is not None and results[0].answer is None

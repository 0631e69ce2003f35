"""The per-category, wrong-pair and threshold views on seven scored queries whose numbers are worked out by hand."""

from __future__ import annotations

import pytest

from edudesk.evaluation import breakdown
from edudesk.evaluation.breakdown import CategoryRow, Outcome, WrongPair

A, B, C = "学费多少？", "可以试听吗？", "校区在哪？"
CATEGORY = {A: "课程/价格", B: "课程/试听", C: ""}


def o(query: str, expected: str | None, ranked: tuple[str, ...], answer: str | None, score: float,
      eligible: bool) -> Outcome:
    return Outcome(query, expected, CATEGORY.get(expected or "", ""), ranked, answer, score, eligible)


# The answer column is what the bot did at 0.55: answered exactly when eligible and score >= 0.55.
OUTCOMES = [
    o("q1", A, (A, B), A, 0.80, True),  # right
    o("q2", A, (B, A), B, 0.60, True),  # wrong answer A → B
    o("q3", A, (B, C, A), None, 0.50, True),  # wrong top-1, not answered at 0.55 (would be at 0.50)
    o("q4", B, (B,), None, 0.70, False),  # right top-1, never answered (the classifier is unsure)
    o("q5", C, (), None, 0.0, False),  # no candidate at all
    o("q6", None, (A,), A, 0.58, True),  # out of scope, answered: wrong
    o("q7", None, (B,), None, 0.40, True),  # out of scope, refused at 0.55 (answered below 0.40)
]


def test_the_answer_column_agrees_with_the_threshold_rule() -> None:
    for outcome in OUTCOMES:
        assert outcome.answered_at(0.55) == (outcome.answer is not None)


def test_per_category() -> None:
    rows = breakdown.by_category(OUTCOMES)
    assert rows == [CategoryRow("课程/价格", 3, 1, 3, 2, 1), CategoryRow("课程/试听", 1, 1, 1, 0, 0),
                    CategoryRow("", 1, 0, 0, 0, 0), CategoryRow(None, 2, 0, 0, 1, 1)]
    assert rows[0].as_dict() == {"category": "课程/价格", "queries": 3, "top1": 0.3333, "top3": 1.0,
                                 "answered": 0.6667, "wrong": 0.3333}
    assert rows[-1].as_dict() == {"category": None, "queries": 2, "top1": None, "top3": None, "answered": 0.5,
                                  "wrong": 0.5}


def test_wrong_pairs() -> None:
    assert breakdown.wrong_pairs(OUTCOMES, kind="answer") == [WrongPair(None, A, 1, "q6"), WrongPair(A, B, 1, "q2")]
    assert breakdown.wrong_pairs(OUTCOMES, kind="top1") == [WrongPair(A, B, 2, "q2"), WrongPair(C, None, 1, "q5")]
    assert breakdown.wrong_pairs(OUTCOMES, kind="top1", limit=1) == [WrongPair(A, B, 2, "q2")]
    with pytest.raises(ValueError, match="unknown kind"):
        breakdown.wrong_pairs(OUTCOMES, kind="nope")


def test_threshold_sweep() -> None:
    rows = {r.threshold: r for r in breakdown.sweep(OUTCOMES, 0.55)}
    assert list(rows) == [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]
    # (answered of 5 in scope, precision of all direct answers, wrong of 5 in scope, refused of 2 out of scope)
    expected = {
        0.30: (0.6, 0.2, 0.4, 0.0),  # q1 q2 q3 + q6 q7: 1 right of 5
        0.45: (0.6, 0.25, 0.4, 0.5),  # q7 (0.40) no longer answered
        0.50: (0.6, 0.25, 0.4, 0.5),
        0.55: (0.4, 0.3333, 0.2, 0.5),  # q1 q2 + q6: the summary's answered 2/5 and wrong 1/5
        0.60: (0.4, 0.5, 0.2, 1.0),  # q2 at exactly 0.60 still answered; q6 (0.58) refused
        0.65: (0.2, 1.0, 0.0, 1.0),
        0.85: (0.0, None, 0.0, 1.0),  # nothing answered: no precision
    }
    for threshold, (answered, precision, wrong, refused) in expected.items():
        row = rows[threshold]
        assert (row.answered, row.precision, row.wrong_answer_rate, row.refused) == (
            answered, precision, wrong, refused), threshold
    assert [t for t, r in rows.items() if r.current] == [0.55]


def test_an_off_grid_threshold_is_added_and_marked() -> None:
    rows = breakdown.sweep(OUTCOMES, 0.52)
    assert len(rows) == 14 and [r.threshold for r in rows if r.current] == [0.52]
    assert [r.threshold for r in rows] == sorted(r.threshold for r in rows)


def test_without_out_of_scope_queries_refused_is_none() -> None:
    rows = breakdown.sweep([x for x in OUTCOMES if x.expected is not None], 0.55)
    assert all(r.refused is None for r in rows)
    assert breakdown.by_category([])[:] == [] and breakdown.sweep([], 0.55)[0].precision is None


def test_report_dict_is_json_ready() -> None:
    data = breakdown.report_dict(OUTCOMES, 0.55, limit=5)
    assert set(data) == {"categories", "wrong_pairs", "thresholds"}
    assert data["wrong_pairs"]["top1"][0] == {"expected": A, "predicted": B, "count": 2, "example": "q2"}
    assert data["thresholds"]["current"] == 0.55
    assert next(r for r in data["thresholds"]["rows"] if r["current"])["precision"] == 0.3333

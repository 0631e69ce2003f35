"""Where the FAQ matcher goes wrong and what another answer threshold would change: three views of one scored run.

Shared by ``edudesk eval faq`` (a KB file and a test file) and the admin's "问答质量" page (an org's own KB and its
labelled misses), so both show the same numbers the same way. Pure: scored queries in, tables out.

One scored query is an :class:`Outcome`. Beside what the bot did at its configured threshold (``answer``), it keeps
the best candidate's fused ``score`` and ``eligible``: whether everything in the answer rule *except* the threshold
said yes (the query matched once more with the answer threshold at 0). The threshold enters the matcher's rule
only as ``score ≥ threshold``, so a query would be answered directly at threshold ``t`` exactly when
``eligible and score ≥ t`` — the sweep needs no third match per threshold. The row of the sweep at the configured
threshold therefore reproduces the summary's "answered" and "wrong answers" (tests/evaluation check this, so a
matcher change that breaks the assumption shows up there).

Definitions (fractions in 0..1; "in scope" means the query has an expected entry):

- **per category** (the expected entry's category; out-of-scope queries form a row of their own): queries, top-1,
  top-3, answered directly and wrong answers (answered directly with another entry), each over the row's queries.
  For the out-of-scope row top-1/top-3 do not apply and every direct answer is a wrong one.
- **wrong pairs**: (expected → predicted, count, first example query), most frequent first; for wrong direct
  answers (out-of-scope queries that were answered count with expected ``None``) and for wrong top-1 candidates
  (in-scope queries whose best candidate is another entry, or none).
- **threshold sweep**, per threshold ``t``: *answered*, the share of in-scope queries answered directly;
  *precision*, of all direct answers (in scope and out of scope), the share that were right (``None`` when nothing
  was answered); *wrong-answer rate*, in-scope queries answered with the wrong entry over in-scope queries (the
  summary's definition); *refused*, the share of out-of-scope queries not answered directly (``None`` without
  out-of-scope queries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CategoryRow", "Outcome", "ThresholdRow", "WrongPair", "by_category", "report_dict", "summary", "sweep",
           "sweep_thresholds", "wrong_pairs"]

# 0.30, 0.35 … 0.90: below 0.30 a fused score says little, above 0.90 almost nothing is answered.
SWEEP = tuple(round(0.30 + 0.05 * i, 2) for i in range(13))
TOP_PAIRS = 10
UNCATEGORISED = ""


@dataclass(frozen=True)
class Outcome:
    """One scored query. Entries are named by their standard question (unique within a KB)."""

    query: str
    expected: str | None  # the entry that should answer; None: out of scope
    category: str  # the expected entry's category path ("" when uncategorised or out of scope)
    ranked: tuple[str, ...]  # the best candidates, best first (up to three)
    answer: str | None  # answered directly with this entry at the configured threshold
    score: float  # the best candidate's fused score
    eligible: bool  # answered directly if the answer threshold were 0

    def answered_at(self, threshold: float) -> bool:
        return self.eligible and self.score >= threshold


@dataclass(frozen=True)
class CategoryRow:
    category: str | None  # None: the out-of-scope row
    queries: int
    top1: int
    top3: int
    answered: int
    wrong: int

    def as_dict(self) -> dict[str, Any]:
        in_scope = self.category is not None
        return {"category": self.category, "queries": self.queries,
                "top1": _share(self.top1, self.queries) if in_scope else None,
                "top3": _share(self.top3, self.queries) if in_scope else None,
                "answered": _share(self.answered, self.queries), "wrong": _share(self.wrong, self.queries)}


@dataclass(frozen=True)
class WrongPair:
    expected: str | None
    predicted: str | None  # None: no candidate at all (wrong top-1 only)
    count: int
    example: str

    def as_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "predicted": self.predicted, "count": self.count,
                "example": self.example}


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    answered: float  # over in-scope queries
    precision: float | None  # right direct answers over all direct answers; None: nothing answered
    wrong_answer_rate: float  # over in-scope queries
    refused: float | None  # over out-of-scope queries; None when there are none
    current: bool

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "answered": self.answered, "precision": self.precision,
                "wrong_answer_rate": self.wrong_answer_rate, "refused": self.refused, "current": self.current}


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def by_category(outcomes: Iterable[Outcome]) -> list[CategoryRow]:
    """One row per category of the expected entries, sorted by name ("" last), then the out-of-scope row."""
    counts: dict[str | None, list[int]] = {}
    for o in outcomes:
        key = None if o.expected is None else o.category
        row = counts.setdefault(key, [0, 0, 0, 0, 0])
        row[0] += 1
        if o.expected is None:
            row[3] += o.answer is not None
            row[4] += o.answer is not None
            continue
        row[1] += o.ranked[:1] == (o.expected,)
        row[2] += o.expected in o.ranked[:3]
        row[3] += o.answer is not None
        row[4] += o.answer is not None and o.answer != o.expected
    named = sorted((k for k in counts if k is not None), key=lambda k: (k == UNCATEGORISED, k))
    keys: list[str | None] = [*named, *([None] if None in counts else [])]
    return [CategoryRow(k, *counts[k]) for k in keys]


def _pairs(pairs: Iterable[tuple[str | None, str | None, str]], limit: int) -> list[WrongPair]:
    counts: Counter[tuple[str | None, str | None]] = Counter()
    examples: dict[tuple[str | None, str | None], str] = {}
    for expected, predicted, query in pairs:
        counts[(expected, predicted)] += 1
        examples.setdefault((expected, predicted), query)
    ranked = sorted(counts, key=lambda k: (-counts[k], k[0] or "", k[1] or ""))
    return [WrongPair(e, p, counts[(e, p)], examples[(e, p)]) for e, p in ranked[:limit]]


def wrong_pairs(outcomes: Sequence[Outcome], *, kind: str = "answer", limit: int = TOP_PAIRS) -> list[WrongPair]:
    """The most frequent (expected → predicted) mistakes: ``kind`` "answer" for wrong direct answers, "top1" for
    a wrong best candidate."""
    if kind == "answer":
        return _pairs(((o.expected, o.answer, o.query) for o in outcomes
                       if o.answer is not None and o.answer != o.expected), limit)
    if kind == "top1":
        return _pairs(((o.expected, o.ranked[0] if o.ranked else None, o.query) for o in outcomes
                       if o.expected is not None and o.ranked[:1] != (o.expected,)), limit)
    raise ValueError(f"unknown kind {kind!r}")


def sweep_thresholds(current: float) -> list[float]:
    """The sweep's thresholds, plus the configured one when it is not on the 0.05 grid (an org's own 0.52)."""
    return sorted({*SWEEP, round(current, 4)})


def sweep(outcomes: Sequence[Outcome], current: float, thresholds: Sequence[float] | None = None) -> list[ThresholdRow]:
    """What answering at each threshold would have given on these queries (definitions: module docstring)."""
    in_scope = [o for o in outcomes if o.expected is not None]
    out_of_scope = [o for o in outcomes if o.expected is None]
    rows = []
    for t in thresholds if thresholds is not None else sweep_thresholds(current):
        answered = [o for o in in_scope if o.answered_at(t)]
        right = sum(o.ranked[:1] == (o.expected,) for o in answered)
        oos_answered = sum(o.answered_at(t) for o in out_of_scope)
        total = len(answered) + oos_answered
        rows.append(ThresholdRow(
            threshold=t, answered=_share(len(answered), len(in_scope)),
            precision=_share(right, total) if total else None,
            wrong_answer_rate=_share(len(answered) - right, len(in_scope)),
            refused=_share(len(out_of_scope) - oos_answered, len(out_of_scope)) if out_of_scope else None,
            current=abs(t - current) < 1e-9))
    return rows


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The summary metrics of ``edudesk eval faq`` (architecture, "File formats"), without the speed."""
    in_scope = [o for o in outcomes if o.expected is not None]
    out_of_scope = [o for o in outcomes if o.expected is None]
    return {
        "queries": len(outcomes),
        "top1": _share(sum(o.ranked[:1] == (o.expected,) for o in in_scope), len(in_scope)),
        "top3": _share(sum(o.expected in o.ranked[:3] for o in in_scope), len(in_scope)),
        "answered": _share(sum(o.answer is not None for o in in_scope), len(in_scope)),
        "wrong_answer_rate": _share(sum(o.answer is not None and o.answer != o.expected for o in in_scope),
                                    len(in_scope)),
        "out_of_scope": len(out_of_scope),
        "refused": _share(sum(o.answer is None for o in out_of_scope), len(out_of_scope)),
    }


def report_dict(outcomes: Sequence[Outcome], current: float, limit: int = TOP_PAIRS) -> dict[str, Any]:
    """The three views as JSON-ready data (the CLI's ``--json`` additions and the admin's stored report)."""
    return {
        "categories": [r.as_dict() for r in by_category(outcomes)],
        "wrong_pairs": {"answer": [p.as_dict() for p in wrong_pairs(outcomes, kind="answer", limit=limit)],
                        "top1": [p.as_dict() for p in wrong_pairs(outcomes, kind="top1", limit=limit)]},
        "thresholds": {"current": current, "rows": [r.as_dict() for r in sweep(outcomes, current)]},
    }

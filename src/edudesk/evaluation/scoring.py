"""From one match to one :class:`~edudesk.evaluation.breakdown.Outcome`, through the matcher's public API only.

Kept apart from the file handling of ``faq`` so that the admin's report on an org's own knowledge base
(``edudesk.evaluation.holdout``) scores queries with exactly the code ``edudesk eval faq`` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from edudesk.evaluation.breakdown import Outcome
from edudesk.nlp.matcher import Band, Candidate, FaqIndex, MatchResult

__all__ = ["outcome", "without_threshold"]


def without_threshold(index: FaqIndex) -> FaqIndex:
    """The same index (no rebuild) answering whenever everything but the answer threshold says yes: its band tells
    whether a query is *eligible* for a direct answer at any threshold."""
    config = replace(index.config, answer_threshold=0.0, suggest_threshold=0.0, bm25_only_answer_threshold=0.0,
                     bm25_only_suggest_threshold=0.0)
    return index.with_config(config)


def outcome(query: str, expected: str | None, category: str, result: MatchResult, unthresholded: MatchResult,
            names: Mapping[int, str] | None = None) -> Outcome:
    """``result``: the match at the configured thresholds; ``unthresholded``: the same query on
    :func:`without_threshold`'s index. ``names`` maps entry ids to the names to report (default: the candidate's
    standard question), for an index whose documents were changed for a hold-out."""

    def name(candidate: Candidate) -> str:
        return names.get(candidate.entry_id, candidate.question) if names is not None else candidate.question

    ranked = tuple(name(c) for c in result.candidates[:3])
    answer = name(result.answer) if result.answer is not None else None
    return Outcome(query=query, expected=expected, category=category, ranked=ranked, answer=answer,
                   score=result.score, eligible=unthresholded.band is Band.ANSWER)

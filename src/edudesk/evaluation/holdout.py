"""Scoring an org's own labelled questions against its own knowledge base without letting them match themselves.

The admin's "问答质量" report (``edudesk.kb.quality``) has two sources of labelled questions, and both already sit
in the knowledge base as wordings:

- **resolved misses.** "加为词条 X 的相似问" added the visitor's wording to entry X; "新建词条 X" made it X's
  standard or a similar question. Scored against today's KB, the query would find its own wording and match
  trivially: every labelled miss would look answered. So each query is scored against the KB *without every text
  whose :func:`holdout_key` equals the query's* — the KB as it would be had the editor not added that wording
  (other edits since are kept; we keep no history of the KB, and the rest of it is what visitors meet today).
  Dismissed misses ("忽略") are out-of-scope queries; holding their wording out changes nothing unless an entry
  carries it after all, and then it should not count.
- **the KB's own similar questions**, for a new org without misses: k-fold hold-out, each fold's index built
  without that fold's wordings, each wording scored as a query for its own entry. The j-th similar question of
  the i-th entry goes to fold ``(i + j) mod k``, so each fold takes about one in k of every entry's wordings and
  no entry loses all of them at once.

Queries are grouped into folds and every fold is one index build (the costly part: the embedding of every text,
memoised by the embedder across folds). A query whose expected entry has no wording left in its fold (an entry
made from exactly that one miss), or is not in the KB any more, cannot be scored: it is counted as skipped.

Pure: FaqDocuments and labelled queries in, :class:`~edudesk.evaluation.breakdown.Outcome` values out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from edudesk.evaluation import scoring
from edudesk.evaluation.breakdown import Outcome
from edudesk.nlp.documents import FaqDocument
from edudesk.nlp.embedding import Embedder
from edudesk.nlp.matcher import FaqIndex, MatcherConfig

__all__ = ["FOLDS", "LabelledQuery", "holdout_key", "score", "similar_question_queries"]

FOLDS = 5


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    expected: int | None  # entry id; None: out of scope (a dismissed miss)
    fold: int


def holdout_key(text: str) -> str:
    """Letters and digits only, NFKC and lower case: "能停车吗？" and "能停车吗" are the same wording, so holding one
    out holds out both (the misses page adds only one of them for the same reason)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def similar_question_queries(documents: Sequence[FaqDocument], folds: int = FOLDS,
                             limit: int | None = None) -> list[LabelledQuery]:
    """Every similar question as a query for its own entry, spread over ``folds`` folds; at most ``limit`` of
    them, taken evenly through the KB (a big KB is sampled, not cut after its first entries)."""
    queries = [LabelledQuery(text, doc.entry_id, (i + j) % folds)
               for i, doc in enumerate(documents) for j, text in enumerate(doc.similar)]
    if limit is not None and len(queries) > limit:
        step = len(queries) / limit
        queries = [queries[int(n * step)] for n in range(limit)]
    return queries


def _without(documents: Sequence[FaqDocument], held: set[str]) -> list[FaqDocument]:
    kept_docs = []
    for doc in documents:
        texts = [t for t in (doc.question, *doc.similar) if holdout_key(t) not in held]
        if texts:
            # The first remaining wording stands in for a held-out standard question; results are reported by
            # entry id under the real standard question, so nobody sees the stand-in.
            kept_docs.append(FaqDocument(doc.entry_id, texts[0], tuple(texts[1:]), doc.category, doc.answer))
    return kept_docs


def score(documents: Sequence[FaqDocument], queries: Sequence[LabelledQuery], embedder: Embedder | None,
          config: MatcherConfig | None = None) -> list[Outcome | None]:
    """Each fold's queries matched against an index built without their wordings (module docstring); one result
    per query, in order: its :class:`Outcome`, or ``None`` when it could not be scored."""
    config = config or MatcherConfig()
    names = {d.entry_id: d.question for d in documents}
    categories = {d.entry_id: d.category for d in documents}
    results: list[Outcome | None] = [None] * len(queries)
    for fold in sorted({q.fold for q in queries}):
        members = [(n, q) for n, q in enumerate(queries) if q.fold == fold]
        docs = _without(documents, {holdout_key(q.query) for _, q in members})
        present = {d.entry_id for d in docs}
        scorable = [(n, q) for n, q in members if q.expected is None or q.expected in present]
        if not scorable:
            continue
        if not docs:  # nothing left to match against (only out-of-scope queries are scorable): all refused
            for n, q in scorable:
                results[n] = Outcome(q.query, None, "", (), None, 0.0, False)
            continue
        index = FaqIndex.build(docs, embedder, config)
        unthresholded = scoring.without_threshold(index)
        for n, q in scorable:
            expected = names[q.expected] if q.expected is not None else None
            category = categories[q.expected] if q.expected is not None else ""
            results[n] = scoring.outcome(q.query, expected, category, index.match(q.query, k=3),
                                         unthresholded.match(q.query, k=3), names)
    return results

"""The FAQ matcher's thresholds, fusion weights and limits (``matcher``), with how they were chosen."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MatcherConfig"]


@dataclass(frozen=True)
class MatcherConfig:
    """Thresholds and fusion weights; scores are in 0..1.

    Defaults calibrated on the SMP2017 development set (``edudesk eval faq``; 31 entries, 770 queries), chosen to
    keep the wrong-answer rate near 0.02, with margin under the 0.03 target, rather than at the edge of it:

    - with the embedding model, answer ≥ 0.55: 86 % answered directly, 1.9 % wrong (0.50 would give 89 % / 2.2 %);
    - BM25-only, answer ≥ 0.45: 63 % answered, 1.8 % wrong — its ``sim`` is BM25 alone, which runs lower than an
      embedding cosine for the same paraphrase, hence separate thresholds;
    - suggest thresholds sit just above the scores of off-topic questions on a small education KB, so "did you
      mean" is offered for near misses, not for questions about the weather;
    - ``retrieval_temperature`` makes the no-classifier posterior (large KBs) share the same thresholds: forced
      onto the dev set it answers 64 % with 2.1 % wrong at 0.55.

    The remaining knobs are engineering limits, not fitted.
    """

    answer_threshold: float = 0.55
    suggest_threshold: float = 0.40
    bm25_only_answer_threshold: float = 0.45
    bm25_only_suggest_threshold: float = 0.25
    # Fusion weights of the retrieval similarity: BM25 (normalised) and the embedding cosine.
    lexical_weight: float = 0.4
    semantic_weight: float = 0.6
    # Without the classifier, p(entry) = softmax(sim / temperature) over the candidate entries.
    retrieval_temperature: float = 0.08
    # The classifier is fitted when texts × entries and the entry count stay under these (build time and memory).
    classifier_max_cells: int = 2_000_000
    classifier_max_entries: int = 600
    classifier_l2: float = 3e-5
    # Lexical features of the classifier are hashed into this many columns (bounds its size and build time).
    classifier_buckets: int = 2048
    # Entries that get the per-paraphrase kNN after the first pass.
    candidate_pool: int = 48
    # Longer messages are cut: an FAQ question is short, and a 5,000-character paste must not cost 5,000 tokens.
    max_query_chars: int = 200
    # How parents type: the slang lexicon (``colloquial``) on both sides, and the query's homophone typos, pinyin
    # and initials repaired towards the KB's own words (``pinyin``).
    colloquial: bool = True
    # Added to the logit of every entry that shares an education concept with the query (``colloquial.CONCEPTS``:
    # price, place, schedule …), when any entry does: "二建多少钱" means the fee entry, not the 二建 entry.
    concept_boost: float = 2.5
    # What the answers tell (``answers``; nothing without them): a subject named only as a qualifier of a concept
    # ("消防工程师多少钱一年") moves the subject entry's probability to the concept's entry whose answer names it;
    # and the query words no wording uses are looked up in the candidates' answers, ``answer_weight`` times the
    # share found added to the logit (dev halves: 1 → 5 tried, 3 best; SMP2017's answers are placeholders).
    subject_qualifiers: bool = True
    # Two questions in one message ("地址在哪 有停车位吗"): a concept named only in a later clause than the first
    # concept's boosts its entries by this share of ``concept_boost``, so the first question leads and the second
    # does not become a confident answer in its place (dev halves: 0.0–0.6 alike, 1.0 = no preference).
    later_concept_weight: float = 0.5
    answer_weight: float = 3.0

    def __post_init__(self) -> None:
        for name in ("answer_threshold", "suggest_threshold", "bm25_only_answer_threshold",
                     "bm25_only_suggest_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, got {value}")
        if self.suggest_threshold > self.answer_threshold or \
                self.bm25_only_suggest_threshold > self.bm25_only_answer_threshold:
            raise ValueError("the suggest threshold must not exceed the answer threshold")
        if self.lexical_weight < 0 or self.semantic_weight < 0 or self.lexical_weight + self.semantic_weight <= 0:
            raise ValueError("fusion weights must be >= 0 and not both 0")
        if self.concept_boost < 0:
            raise ValueError("concept_boost must be >= 0")
        if not 0.0 <= self.later_concept_weight <= 1.0 or self.answer_weight < 0:
            raise ValueError("later_concept_weight must be in 0..1 and answer_weight >= 0")
        if self.retrieval_temperature <= 0 or self.candidate_pool < 1 or self.max_query_chars < 1:
            raise ValueError("retrieval_temperature, candidate_pool and max_query_chars must be positive")

    def thresholds(self, semantic: bool) -> tuple[float, float]:
        """(answer, suggest) for an index with (``True``) or without an embedding model."""
        if semantic:
            return self.answer_threshold, self.suggest_threshold
        return self.bm25_only_answer_threshold, self.bm25_only_suggest_threshold

"""What the FAQ matcher indexes: one knowledge-base entry as plain data, so the matcher needs no database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaqDocument:
    entry_id: int
    # The standard question (标准问) shown to visitors and reported by `edudesk eval faq`.
    question: str
    # Paraphrases (相似问) that should find the same entry.
    similar: tuple[str, ...] = ()
    # Category path, levels joined by "/", e.g. "课程/价格"; "" when uncategorised.
    category: str = ""
    # The answer's plain text; the matcher reads which subjects it names (``nlp.qualifier``), never matches on it.
    answer: str = ""

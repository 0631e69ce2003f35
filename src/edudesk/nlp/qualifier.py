"""A subject named only as a qualifier: "消防工程师多少钱一年" asks the fee entry, not the 消防 entry.

An exam-prep knowledge base has two kinds of entries: one per subject (一级消防工程师课程介绍, 二级建造师的报考条件)
and one per intent, about every subject at once (收费标准, 报名时间, 报名流程). A question naming a subject and an
intent ("一建多少钱", "二建学费多少") has words of both, and the subject's rare words pull it to the subject's entry
or split the belief between the two, so the fee question is not answered or is answered with the course
introduction. A person reads it at once: the intent decides, the subject only says which line of the fee list.

What the knowledge base itself tells us: the intent entry's **answer** names the subject ("一级建造师 ¥6,980，二级
建造师 ¥3,980 …"), the subject entry does not name the intent (no price word in any of its wordings). So, for a
query that names an education concept (``colloquial.CONCEPTS``: price, schedule, signup …) and a subject word:

- a *subject word* is a jieba word (two characters or more, not a concept word) that the wordings of at most
  ``MAX_ENTRIES`` entries use, in the query and in the entry;
- a candidate *Y* whose wordings use a subject word of the query but name none of its concepts, and whose answer
  names none either, is the subject ("初中数学一周上几次课": the 初中数学 entry's answer says 每周两次, so it stays);
- a candidate *E* that names a concept of the query and whose answer contains a subject word of *Y* explains
  the subject as a qualifier: *Y*'s probability moves to such *E* (shared by their own probabilities), all but
  ``KEEP`` of it, so *Y* is still offered among "您是不是想问".

Nothing moves when the query names no concept, when no answer mentions the subject (a KB without answers, or the
subject entry is what the query means: "二建考试用什么笔" names no concept), or when the subject entry names the
concept itself (its own wordings ask about the price: it is the better answer). The probability only moves
between entries that both matched the query; it is not added, so a question the KB does not cover stays as
unsure as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edudesk.nlp import colloquial
from edudesk.nlp.normalise import normalise

__all__ = ["KEEP", "MAX_ENTRIES", "Qualifiers"]

# A word that the wordings of more entries use names no one subject (考试, 课程, 报考).
MAX_ENTRIES = 2
# The share of its probability a subject entry keeps: enough to stay among "您是不是想问", never first.
KEEP = 0.1
_CONCEPT_WORDS = frozenset(w for group in colloquial.CONCEPTS.values() for w in group)


def _subject_like(word: str) -> bool:
    return len(word) >= 2 and not word.isdigit() and word not in _CONCEPT_WORDS


@dataclass(frozen=True)
class Qualifiers:
    """Which entries each subject word names, each entry's subject words, and each entry's normalised answer."""

    entries_of: dict[str, tuple[int, ...]]
    words_of: tuple[tuple[str, ...], ...]
    answers: tuple[str, ...]
    answer_concepts: tuple[frozenset[str], ...]  # the concepts each answer names ("§price" …)

    @classmethod
    def build(
        cls, tokens: Sequence[Sequence[str]], entry_of_text: np.ndarray, answers: Sequence[str]
    ) -> Qualifiers | None:
        """From the jieba words of every (rewritten) wording, its entry, and the entries' answers; ``None`` when no
        entry has an answer (nothing can explain a subject)."""
        folded = tuple(normalise(a) for a in answers)
        if not any(folded):
            return None
        seen: dict[str, set[int]] = {}
        for text_tokens, entry in zip(tokens, entry_of_text.tolist(), strict=True):
            for word in text_tokens:
                if _subject_like(word):
                    seen.setdefault(word, set()).add(entry)
        entries_of = {w: tuple(sorted(es)) for w, es in seen.items() if len(es) <= MAX_ENTRIES}
        words_of: list[list[str]] = [[] for _ in folded]
        for word, es in entries_of.items():
            for entry in es:
                words_of[entry].append(word)
        return cls(
            entries_of,
            tuple(tuple(sorted(ws)) for ws in words_of),
            folded,
            tuple(frozenset(colloquial.concepts(a)) for a in folded),
        )

    def mentions(self, answer_of: int, subject: int) -> bool:
        """Whether entry ``answer_of``'s answer names a subject word of entry ``subject``."""
        answer = self.answers[answer_of]
        return bool(answer) and any(w in answer for w in self.words_of[subject])

    def explain(
        self,
        query_tokens: Sequence[str],
        query_concepts: Sequence[str],
        pool: np.ndarray,
        prob: np.ndarray,
        agree: np.ndarray,
    ) -> np.ndarray:
        """``prob`` (over the pooled entries ``pool``) with the subject entries' probability moved to the intent
        entries that explain them. ``agree``: 1.0 where the pooled entry names a concept of the query."""
        asked = frozenset(query_concepts)
        named = {e for w in query_tokens for e in self.entries_of.get(w, ())}
        if not named:
            return prob
        position = {int(e): i for i, e in enumerate(pool.tolist())}
        intents = [i for i in range(len(pool)) if agree[i] > 0]
        out = prob.copy()
        for subject in named:
            i = position.get(subject)
            if i is None or agree[i] > 0 or prob[i] <= 0 or self.answer_concepts[subject] & asked:
                continue
            takers = [j for j in intents if self.mentions(int(pool[j]), subject)]
            weights = prob[takers]
            if not takers or weights.sum() <= 0:
                continue
            moved = prob[i] * (1.0 - KEEP)
            out[takers] += moved * weights / weights.sum()
            out[i] -= moved
        return np.asarray(np.maximum(out, 0.0))

"""What the answers tell the matcher: the query words no wording explains, and subjects named as qualifiers.

The matcher ranks on the questions and their similar questions (their wording is what visitors' questions look
like); an answer is written to be read, and matching on it would let every long answer match everything. But
an answer says what its entry covers, and two things the wordings alone get wrong are settled by it (issue 14,
item 1). Both only move belief between entries the query already matched, never add to it, so a question the
knowledge base does not cover stays as unsure as before, and a KB without answers ranks as it did.

**The remainder the wordings do not explain** (``cover``). "录播班有纸质书吗": 纸质 is in no question, but the
materials entry's answer says "纸质教材可另购"; "今年没过 下一期能免费听吗" — the retake entry's answer says "免费重读
下一期". The query's jieba words (two characters or more) that no wording of the KB uses are looked up in the
pooled candidates' answers; each candidate gets the idf-weighted share of them its answer contains (idf over the
answers), and ``MatcherConfig.answer_weight`` times that is added to its logit, the probability of none rising
above the best one's without it (as with the concept boost).

**A subject named only as a qualifier** (``explain``): "消防工程师多少钱一年" asks the fee entry, not the 消防
entry. An exam-prep knowledge base has two kinds of entries: one per subject (一级消防工程师课程介绍, 二级建造师的
报考条件) and one per intent, about every subject at once (收费标准, 报名时间, 报名流程). A question naming a subject
and an intent ("一建多少钱", "二建学费多少") has words of both, and the subject's rare words pull it to the subject's
entry or split the belief between the two, so the fee question is not answered or is answered with the course
introduction. A person reads it at once: the intent decides, the subject only says which line of the fee list.
The intent entry's answer names the subject ("一级建造师 ¥6,980，二级建造师 ¥3,980 …"), the subject entry does not
name the intent. So, for a query that names an education concept (``colloquial.CONCEPTS``: price, schedule,
signup …) and a subject word:

- a *subject word* is a jieba word (two characters or more, not a concept word) that the wordings of at most
  ``MAX_ENTRIES`` entries use, in the query and in the entry;
- a candidate *Y* whose wordings use a subject word of the query but name none of its concepts, and whose answer
  names none either, is the subject ("初中数学一周上几次课": the 初中数学 entry's answer says 每周两次, so it stays);
- a candidate *E* that names a concept of the query and whose answer contains a subject word of *Y* explains
  the subject as a qualifier: *Y*'s probability moves to such *E* (shared by their own probabilities), all but
  ``KEEP`` of it, so *Y* is still offered among "您是不是想问".

Nothing moves when the query names no concept, when no answer mentions the subject (or the subject entry is what
the query means: "二建考试用什么笔" names no concept), when the subject entry names the concept itself, or when the
query has a word no wording uses that the intent's answer does not contain either ("二建考试费多少钱": 考试费 is the
authority's fee, which the fee list does not explain).

Cost: the answers are cut into words when the index is built (jieba, linear in their length, memoised for the
rebuilds after an edit); per query, a few substring tests per pooled candidate.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edudesk.nlp import colloquial
from edudesk.nlp.normalise import normalise
from edudesk.nlp.tokenise import words

__all__ = ["KEEP", "MAX_ENTRIES", "AnswerEvidence"]

# A word that the wordings of more entries use names no one subject (考试, 课程, 报考).
MAX_ENTRIES = 2
# The share of its probability a subject entry keeps: enough to stay among "您是不是想问", never first.
KEEP = 0.1
_CONCEPT_WORDS = frozenset(w for group in colloquial.CONCEPTS.values() for w in group)


@functools.lru_cache(maxsize=65_536)
def _answer_words(answer: str) -> frozenset[str]:
    """The words (two characters or more) of a normalised answer. Memoised: after an edit the index is rebuilt
    from every answer, and cutting them again was as slow as cutting all the wordings (5,000 answers of 100
    characters: about 1.5 s of jieba); a few MB for the largest KBs."""
    return frozenset(w for w in words(answer) if len(w) >= 2)


def _subject_like(word: str) -> bool:
    return len(word) >= 2 and not word.isdigit() and word not in _CONCEPT_WORDS


@dataclass(frozen=True)
class AnswerEvidence:
    """Which entries each subject word names, each entry's subject words, each entry's normalised answer, the
    concepts it names, and how many answers use each word."""

    entries_of: dict[str, tuple[int, ...]]
    words_of: tuple[tuple[str, ...], ...]
    answers: tuple[str, ...]
    answer_concepts: tuple[frozenset[str], ...]  # the concepts each answer names ("§price" …)
    answer_df: dict[str, int]  # a jieba word of the answers (two characters or more) -> how many answers use it

    @classmethod
    def build(
        cls, tokens: Sequence[Sequence[str]], entry_of_text: np.ndarray, answers: Sequence[str]
    ) -> AnswerEvidence | None:
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
        answer_df: dict[str, int] = {}
        for a in folded:
            for w in _answer_words(a):
                answer_df[w] = answer_df.get(w, 0) + 1
        return cls(
            entries_of,
            tuple(tuple(sorted(ws)) for ws in words_of),
            folded,
            tuple(frozenset(colloquial.concepts(a)) for a in folded),
            answer_df,
        )

    def cover(self, unexplained: Sequence[str], pool: np.ndarray) -> np.ndarray | None:
        """For each pooled entry, the idf-weighted share of the query words ``unexplained`` (those no wording of
        the KB uses) that its answer contains; ``None`` when no answer uses any of them."""
        found = sorted({w for w in unexplained if len(w) >= 2 and w in self.answer_df})
        if not found:
            return None
        idf = np.log(1.0 + len(self.answers) / np.asarray([self.answer_df[w] for w in found], dtype=np.float64))
        hits = np.asarray([[w in self.answers[int(e)] for w in found] for e in pool.tolist()], dtype=np.float64)
        return np.asarray(hits @ idf / idf.sum())

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
        unexplained: Sequence[str] = (),
    ) -> np.ndarray:
        """``prob`` (over the pooled entries ``pool``) with the subject entries' probability moved to the intent
        entries that explain them. ``agree``: 1.0 where the pooled entry names a concept of the query;
        ``unexplained``: the query's words no wording uses, which a taker's answer must contain too."""
        rest = [w for w in unexplained if len(w) >= 2]
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
            takers = [
                j
                for j in intents
                if self.mentions(int(pool[j]), subject) and all(w in self.answers[int(pool[j])] for w in rest)
            ]
            weights = prob[takers]
            if not takers or weights.sum() <= 0:
                continue
            moved = prob[i] * (1.0 - KEEP)
            out[takers] += moved * weights / weights.sum()
            out[i] -= moved
        return np.asarray(np.maximum(out, 0.0))

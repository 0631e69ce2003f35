"""Phrase lists compiled to one regular expression each, with negation handling for Chinese.

“不能保证提分” is the opposite of the promise “保证提分”, and “没有不满意” is no complaint. A match is *negated* when a
negation cue (不, 没, 无法, 不能, 不会, 绝不 …) stands right before it in the same clause, with at most two characters
between (“不能跟您保证提分”, “不敢说包过”). Cues that open a concession rather than deny (不管, 无论, 不仅, 不但, 不光)
do not negate: “无论如何保证提分” is still a promise. Clause boundaries (punctuation, spaces, line breaks) stop the
look-back, so “没问题，我们保证提分” hits.

Texts are compared folded (full-width → half-width, traditional → simplified, same length) and lower-cased, so
offsets of a match are offsets in the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from edudesk.nlp.extract.common import fold

_CLAUSE_END = re.compile(r"[，,。.！!？?；;：:、\s~～…]")
_NEGATION = re.compile(r"(?:不可能|不可以|不能够|不能|不会|不敢|不是|不用|不必|无法|没法|没有|并非|绝不|决不|从不|从没|"
                       r"别|勿|不|没|无|未|非)(?P<gap>.{0,2})$")
_CONCESSIVE = frozenset("管论仅但光")
LOOK_BACK = 8


def prepare(text: str) -> str:
    """The form every rule matches against; same length as ``text``."""
    folded = fold(text).lower()
    return folded if len(folded) == len(text) else text.lower()


def is_negated(text: str, start: int) -> bool:
    """Whether the phrase at ``start`` of the prepared ``text`` is denied by a cue just before it."""
    window = text[max(0, start - LOOK_BACK):start]
    cuts = [m.end() for m in _CLAUSE_END.finditer(window)]
    if cuts:
        window = window[cuts[-1]:]
    match = _NEGATION.search(window)
    if match is None:
        return False
    gap = match.group("gap")
    return not (gap and gap[0] in _CONCESSIVE)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    phrase: str


class PhraseList:
    """Finds any of ``phrases`` in prepared text; longer phrases win where two overlap."""

    def __init__(self, phrases: Sequence[str], *, negation: bool) -> None:
        words = sorted({prepare(p) for p in phrases if p.strip()}, key=len, reverse=True)
        self.negation = negation
        self._regex = re.compile("|".join(re.escape(w) for w in words)) if words else None

    def find(self, text: str) -> Iterator[Found]:
        if self._regex is None:
            return
        for match in self._regex.finditer(text):
            if self.negation and is_negated(text, match.start()):
                continue
            yield Found(match.start(), match.end(), match.group(0))

    def first(self, text: str) -> Found | None:
        return next(self.find(text), None)

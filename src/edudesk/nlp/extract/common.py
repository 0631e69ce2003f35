"""Shared pieces of field extraction: the evidence type and a length-preserving text fold.

Every extractor reports *where* a value came from (``Span``: start/end offsets into the visitor's original message),
so the lead card can highlight it. Offsets are only meaningful if the text the rules run on has exactly the
characters of the original, one for one. :func:`edudesk.nlp.normalise.normalise` does not guarantee that (NFKC may
expand a character, punctuation runs collapse), so extraction uses :func:`fold`: full-width ASCII → ASCII, the
ideographic space → space, traditional → simplified only when OpenCC keeps the length (a lone surrogate, which
OpenCC cannot read, becomes U+FFFD there). Every rule then matches
half-width digits and letters, and an offset in the folded text is an offset in the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edudesk.nlp.normalise import to_simplified

__all__ = ["CJK", "Span", "fold"]

# Full-width ASCII block U+FF01..U+FF5E maps to U+0021..U+007E; U+3000 is the ideographic space.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
CJK = re.compile(r"[\u4e00-\u9fff]")
# OpenCC encodes its input as UTF-8, which a lone surrogate cannot be: it would raise UnicodeEncodeError. The edges
# refuse such text (``edudesk.inputs``), but extraction also reads text from other callers, so it must not crash.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Span:
    """Evidence for one extracted value: the substring ``text[start:end]`` of the original message."""

    field: str
    value: str | int
    start: int
    end: int
    source: str = "rule"  # "rule" (a pattern or lexicon) or "ner" (the bundled model)


def fold(text: str) -> str:
    """Half-width, simplified form of ``text`` with exactly the same length (so offsets carry over)."""
    folded = text.translate(_FULLWIDTH)
    if not folded.isascii():
        simplified = to_simplified(_SURROGATE.sub("\ufffd", folded))
        if len(simplified) == len(folded):
            folded = simplified
    return folded

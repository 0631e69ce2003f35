"""Age in years, from "孩子5岁", "五岁半", "今年7周岁", "3岁半", "虚岁六岁" (Chinese numerals through ``cn2an``).

The value is the whole number of years stated ("五岁半" → 5). It is the age the visitor states, whoever it belongs
to: most messages are about the child, but adult learners (vocational exam prep, "30岁了还能学钢琴吗") exist and
their age matters to the school just as much, so "30岁的我" → 30.

Not an age: ranges and limits, which describe a course rather than a person ("3-6岁", "5岁以上", "6到12岁的孩子");
"几岁" (a question); ages outside 1..80. ``5年级`` never matches (it has no 岁).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an

__all__ = ["Age", "find_age", "to_int"]

_PATTERN = re.compile(r"(?P<n>\d{1,2}|[一二两三四五六七八九十]{1,3})\s?(?:周岁|岁)(?P<half>半)?")
_RANGE_BEFORE = re.compile(r"(?:\d|[一二两三四五六七八九十])\s?(?:岁)?\s?[-~～到至—]\s?$")
_RANGE_AFTER = re.compile(
    r"^\s?(?:[-~～到至—]\s?(?:\d|[一二三四五六七八九十])|以上|以下|以内|及以上|及以下|之间|之前|前|后|起|\+)")


@dataclass(frozen=True)
class Age:
    value: int
    start: int
    end: int


def to_int(numeral: str) -> int | None:
    """Arabic or Chinese numeral → int (``"十二"`` → 12, ``"两"`` → 2); ``None`` when it is not a number."""
    if numeral.isdigit():
        return int(numeral)
    try:
        return int(cn2an.cn2an(numeral.replace("两", "二"), "strict"))
    except (ValueError, KeyError, IndexError):
        return None


def find_age(text: str) -> Age | None:
    """The first stated age in ``text`` (folded); ``None`` when there is none."""
    if "岁" not in text:
        return None
    for match in _PATTERN.finditer(text):
        start, end = match.span()
        if _RANGE_BEFORE.search(text[max(0, start - 4):start]) or _RANGE_AFTER.match(text[end:end + 4]):
            continue
        years = to_int(match.group("n"))
        if years is not None and 1 <= years <= 80:
            return Age(years, start, end)
    return None

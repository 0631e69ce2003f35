"""School grade of the child, normalised to the labels a school's timetable uses.

Labels: 小班/中班/大班 (kindergarten), 一年级…六年级, 初一/初二/初三, 高一/高二/高三. Written forms: Chinese or
Arabic numerals (``3年级``, ``三年级``, ``小学四年级``), 七/八/九年级 (the same as 初一…初三), 初中二年级, 高中一年级,
``初2``. The first grade mentioned wins (a parent names their own child's grade first; "三年级和五年级" is rare).

Hard negatives handled here: 小班/大班 are also class sizes (``小班教学``, ``大班课``), so a kindergarten class needs a
kindergarten cue nearby (幼儿园, 宝宝, 上/读/在…班); ``高一点`` (a bit higher), ``大年初一`` / ``初一十五`` (dates);
``5年级`` vs ``5岁`` is the age module's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Grade", "find_grade"]

_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
        "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9}
_PRIMARY = ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级")
_N = "[一二两三四五六七八九1-9]"
_PATTERN = re.compile(
    rf"(?P<hs>高中|初中|小学)?(?P<n>{_N})\s?年级"
    rf"|(?<![\d一二三四五六七八九十])(?P<stage>初|高)(?:中)?(?P<m>[一二三123])(?![\d一二三四五六七八九十点些层楼级])"
    r"|(?P<kg>幼儿园)?(?P<size>[小中大])班(?!教学|课|制|授课|上课|型|额|费|额)"
)
_KG_CUE = re.compile(r"幼儿园|宝宝|小朋友|孩子|娃|岁|上|读|在|念|是")
_MIDDLE_CUE = re.compile(r"幼儿园|孩子|宝宝|岁|上|读|在|念")  # 中班 alone is also a shift or a mid-size class
_DATE_BEFORE = re.compile(r"(?:大年|正月|腊月|农历|初一十五|月)$")


@dataclass(frozen=True)
class Grade:
    value: str
    start: int
    end: int


def _label(match: re.Match[str]) -> str | None:
    if match.group("n"):
        n = _NUM[match.group("n")]
        stage = match.group("hs")
        if stage == "高中":
            return f"高{'一二三'[n - 1]}" if n <= 3 else None
        if stage == "初中":
            return f"初{'一二三'[n - 1]}" if n <= 3 else (f"初{'一二三'[n - 7]}" if 7 <= n <= 9 else None)
        return _PRIMARY[n - 1] if n <= 6 else f"初{'一二三'[n - 7]}"
    if match.group("stage"):
        return f"{match.group('stage')}{'一二三'['一二三123'.index(match.group('m')) % 3]}"
    return f"{match.group('size')}班"


def find_grade(text: str) -> Grade | None:
    """The first grade mentioned in ``text`` (folded), normalised; ``None`` when there is none."""
    for match in _PATTERN.finditer(text):
        start = match.start()
        if match.group("size"):
            before = text[max(0, start - 6):start]
            after = text[match.end():match.end() + 3]
            kid_after = after.startswith(("孩子", "宝宝", "小朋友", "的孩"))
            if not (match.group("kg") or _KG_CUE.search(before) or kid_after):
                continue
            if match.group("size") == "中" and not (match.group("kg") or _MIDDLE_CUE.search(before)):
                continue
        if match.group("stage") and (_DATE_BEFORE.search(text[max(0, start - 4):start]) or
                                     text[match.end():match.end() + 2] == "十五"):
            continue
        label = _label(match)
        if label:
            return Grade(label, start, match.end())
    return None

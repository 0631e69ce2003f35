"""Subjects and activities a visitor asks about, normalised through a synonym lexicon.

One canonical label per thing a school sells a course for (数学, 英语, 美术, 编程, 钢琴…), reached from the ways
parents write it: ``奥数``/``口算`` → 数学, ``少儿英语``/``剑桥英语``/``KET``/``自然拼读`` → 英语,
``画画``/``素描`` → 美术, ``scratch``/``python``/``信奥`` → 编程. Longest synonym wins at a position
(``英语口语`` is one mention of 英语).

Decision (docs/decisions.md): several subjects → ``Extraction.subjects`` lists them all in order of appearance and
``Extraction.subject`` is the first one (the lead card's single "意向科目"; the first named is nearly always the
main interest: "数学和英语都想了解").

A few synonyms are also everyday words; their non-subject uses are excluded by what follows them
(``历史记录``, ``地理位置``, ``科学的方法``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SUBJECTS", "Subject", "find_subjects"]

SUBJECTS: dict[str, tuple[str, ...]] = {
    "数学": ("数学", "奥数", "奥林匹克数学", "口算", "珠心算", "心算", "珠算", "思维数学", "数理思维", "华数"),
    "英语": ("英语", "英文", "少儿英语", "剑桥英语", "新概念", "自然拼读", "phonics", "ket", "pet", "雅思", "托福",
             "ielts", "toefl", "外教口语", "英语口语", "四六级"),
    "语文": ("语文", "作文", "写作", "拼音", "古诗", "大语文", "阅读写作", "国学"),
    "物理": ("物理",),
    "化学": ("化学",),
    "生物": ("生物",),
    "历史": ("历史",),
    "地理": ("地理",),
    "政治": ("政治", "道德与法治", "道法"),
    "科学": ("科学", "stem", "steam"),
    "美术": ("美术", "画画", "绘画", "素描", "国画", "水彩", "油画", "创意美术", "儿童画", "漫画", "速写", "色彩"),
    "书法": ("书法", "硬笔", "软笔", "练字", "毛笔字"),
    "编程": ("编程", "scratch", "python", "c++", "信息学", "信奥", "noip", "少儿编程", "图形化编程"),
    "机器人": ("机器人", "乐高", "lego"),
    "钢琴": ("钢琴",),
    "小提琴": ("小提琴",),
    "古筝": ("古筝",),
    "吉他": ("吉他", "尤克里里"),
    "架子鼓": ("架子鼓", "爵士鼓"),
    "声乐": ("声乐", "唱歌", "合唱"),
    "舞蹈": ("舞蹈", "跳舞", "街舞", "芭蕾", "中国舞", "拉丁舞", "民族舞", "爵士舞", "hiphop"),
    "围棋": ("围棋",),
    "国际象棋": ("国际象棋",),
    "口才": ("口才", "主持", "演讲"),
    "游泳": ("游泳",),
    "篮球": ("篮球",),
    "足球": ("足球",),
    "跆拳道": ("跆拳道",),
    "武术": ("武术",),
}
_EXCLUDE_AFTER = {"历史": ("记录", "消息", "订单"), "地理": ("位置",), "科学": ("的", "地", "合理", "方法"),
                  "主持": ("人",), "色彩": ("搭配",)}
_CANONICAL = {syn.lower(): canon for canon, syns in SUBJECTS.items() for syn in syns}
# ASCII synonyms must not be part of a longer word ("pet" in "carpet", "ket" in "market").
_PATTERN = re.compile(
    "|".join(
        (rf"(?<![a-z]){re.escape(s)}(?![a-z])" if s.isascii() else re.escape(s))
        for s in sorted(_CANONICAL, key=len, reverse=True)
    ),
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Subject:
    value: str
    start: int
    end: int


def find_subjects(text: str) -> list[Subject]:
    """Distinct subjects in ``text`` (folded), in order of first mention."""
    found: list[Subject] = []
    seen: set[str] = set()
    for match in _PATTERN.finditer(text):
        word = match.group(0).lower()
        canonical = _CANONICAL[word]
        if text[match.end():match.end() + 4].startswith(_EXCLUDE_AFTER.get(word, ("\0",))):
            continue
        if canonical not in seen:
            seen.add(canonical)
            found.append(Subject(canonical, match.start(), match.end()))
    return found

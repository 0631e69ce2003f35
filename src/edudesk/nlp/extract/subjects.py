"""Subjects and activities a visitor asks about, normalised through a synonym lexicon.

One canonical label per thing a school sells a course for (数学, 英语, 美术, 编程, 钢琴…), reached from the ways
parents write it: ``奥数``/``口算`` → 数学, ``少儿英语``/``剑桥英语``/``KET``/``自然拼读`` → 英语,
``画画``/``素描`` → 美术, ``scratch``/``python``/``信奥`` → 编程. Exam preparation (一建, 教资, 注会, 考研, 国考,
雅思…) has its own labels, the canonical exam names, in :mod:`.exams`. Longest synonym wins at a position
(``英语口语`` is one mention of 英语, ``考研数学`` starts with 考研).

Decision (docs/decisions.md): several subjects → ``Extraction.subjects`` lists them all in order of appearance and
``Extraction.subject`` is the first one (the lead card's single "意向科目"; the first named is nearly always the
main interest: "数学和英语都想了解").

An institution's own catalogue is a further lexicon (:class:`Lexicon`, built by :func:`lexicon` from its courses'
names and subjects): an org that sells 茶艺 or 尤克里里弹唱 gets those recognised too. Built once per org bot version
by the caller and passed to ``extract``; built lexicons are also cached here by their terms, so two orgs with the
same catalogue share one. The built-in synonyms keep their labels when an org's term is the same word.

A few synonyms are also everyday words; their non-subject uses are excluded by what stands right before or after them
(``历史记录``, ``地理位置``, ``科学的方法``, ``统一建设``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from edudesk.nlp.extract.exams import EXAMS, EXCLUDE_AFTER, EXCLUDE_BEFORE

__all__ = ["SUBJECTS", "Lexicon", "Subject", "find_subjects", "lexicon"]

SUBJECTS: dict[str, tuple[str, ...]] = {
    "数学": ("数学", "奥数", "奥林匹克数学", "口算", "珠心算", "心算", "珠算", "思维数学", "数理思维", "华数"),
    "英语": ("英语", "英文", "少儿英语", "剑桥英语", "新概念", "自然拼读", "phonics", "ket", "pet", "外教口语",
             "英语口语", "四六级"),
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
    **EXAMS,
}
_EXCLUDE_AFTER: dict[str, tuple[str, ...]] = {
    "历史": ("记录", "消息", "订单"), "地理": ("位置",), "科学": ("的", "地", "合理", "方法"), "主持": ("人",),
    "色彩": ("搭配",), **EXCLUDE_AFTER}
_EXCLUDE_BEFORE: dict[str, tuple[str, ...]] = {"主持": ("谁", "来"), "机器人": ("扫地", "聊天"), **EXCLUDE_BEFORE}
_BUILTIN = {syn.lower(): canon for canon, syns in SUBJECTS.items() for syn in syns}
# Words too generic to be an org's term on their own ("课程", "精品班").
_GENERIC = frozenset({"课程", "课", "班", "培训", "辅导", "精品班", "课堂", "其他", "其它", "通用"})
_SUFFIXES = ("培训班", "训练营", "精讲班", "冲刺班", "入门班", "提高班", "精品班", "精品课", "体验课", "课程", "培训",
             "辅导", "班", "课")
MAX_TERM_CHARS = 30


@dataclass(frozen=True)
class Subject:
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Lexicon:
    """An org's own terms on top of the built-in synonyms: term (lower-case) → label, indexed by the term's first two
    characters so a message costs one dict probe per character however large the catalogue (one regex alternation
    of 1,500 terms cost 0.2 ms a message)."""

    terms: tuple[tuple[str, str], ...]
    # first two chars → (length, {term: label}) per distinct term length, longest first
    by_prefix: dict[str, tuple[tuple[int, dict[str, str]], ...]]


def _compile(canonical: dict[str, str]) -> re.Pattern[str]:
    # ASCII synonyms must not be part of a longer word ("pet" in "carpet", "ket" in "market", "cpa" in "cpanel").
    return re.compile(
        "|".join(
            (rf"(?<![a-z]){re.escape(s)}(?![a-z])" if s.isascii() else re.escape(s))
            for s in sorted(canonical, key=len, reverse=True)
        ),
        re.IGNORECASE,
    )


def _core(name: str) -> str:
    """A course name without its generic tail: "茶艺入门班" → "茶艺", "尤克里里弹唱课" → "尤克里里弹唱"."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@lru_cache(maxsize=256)
def _build(terms: tuple[tuple[str, str], ...]) -> Lexicon:
    index: dict[str, dict[int, dict[str, str]]] = {}
    for term, label in terms:
        if term.lower() not in _BUILTIN:
            index.setdefault(term[:2].lower(), {}).setdefault(len(term), {})[term.lower()] = label
    by_prefix = {k: tuple(sorted(v.items(), reverse=True)) for k, v in index.items()}
    return Lexicon(terms, by_prefix)


def lexicon(courses: Iterable[tuple[str, str]] = ()) -> Lexicon:
    """The built-in synonyms plus an org's catalogue: ``courses`` are (course name, subject) pairs.

    Each course adds its subject (label: the subject) and its name with and without a generic tail (label: the
    subject, or the name when the course has none). A term the built-in lexicon knows keeps the built-in label, so
    an org's "少儿英语" still counts as 英语 and leads stay comparable across orgs."""
    terms: dict[str, str] = {}
    for name, subject in courses:
        name, subject = " ".join(name.split()), " ".join(subject.split())
        label = _BUILTIN.get(subject.lower(), subject) if subject else name
        for term in (subject, name, _core(name)):
            if 2 <= len(term) <= MAX_TERM_CHARS and term not in _GENERIC and not term.isdigit():
                terms.setdefault(term, _BUILTIN.get(term.lower(), label or term))
    return _build(tuple(sorted(terms.items())))


_PATTERN = _compile(_BUILTIN)


def _org_mentions(text: str, lex: Lexicon) -> list[tuple[int, int, str]]:
    """The org's own terms in ``text``: (start, end, label), longest at each position, not overlapping."""
    found: list[tuple[int, int, str]] = []
    lowered = text.lower() if text.isascii() else None
    i, n = 0, len(text)
    while i < n - 1:
        for size, labels in lex.by_prefix.get(text[i:i + 2].lower(), ()):
            end = i + size
            piece = lowered[i:end] if lowered is not None else text[i:end].lower()
            label = labels.get(piece)
            if label is not None and not (piece.isascii() and _glued(text, i, end)):
                found.append((i, end, label))
                i = end
                break
        else:
            i += 1
    return found


def _glued(text: str, start: int, end: int) -> bool:
    """An ASCII term inside a longer Latin word ("art" in "party")."""
    return (start > 0 and text[start - 1].isascii() and text[start - 1].isalpha()) or \
        (end < len(text) and text[end].isascii() and text[end].isalpha())


def find_subjects(text: str, lex: Lexicon | None = None) -> list[Subject]:
    """Distinct subjects in ``text`` (folded), in order of first mention; ``lex`` adds an org's own terms."""
    mentions: list[tuple[int, int, str]] = []
    for match in _PATTERN.finditer(text):
        word = match.group(0).lower()
        start, end = match.span()
        if text[end:end + 4].startswith(_EXCLUDE_AFTER.get(word, ("\0",))) or \
                text[max(0, start - 2):start].endswith(_EXCLUDE_BEFORE.get(word, ("\0",))):
            continue
        mentions.append((start, end, _BUILTIN[word]))
    if lex is not None and lex.by_prefix:
        # Leftmost first, the longer of two at one position; a mention inside an earlier one does not count.
        mentions = sorted([*mentions, *_org_mentions(text, lex)], key=lambda m: (m[0], m[0] - m[1]))
    found: list[Subject] = []
    seen: set[str] = set()
    reach = 0
    for start, end, label in mentions:
        if start < reach:
            continue
        reach = end
        if label not in seen:
            seen.add(label)
            found.append(Subject(label, start, end))
    return found

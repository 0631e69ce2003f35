"""“A price quoted different from the knowledge base”: the price book and the heuristic that reads agents' quotes.

The price book maps each course of the org's catalogue to the amounts the knowledge base (and the catalogue's
own price text) states for it. An amount belongs to a course when it follows that course's name in the same
sentence, before any other course is named: “小学数学思维提高班 ¥3,600/期，初中数学同步培优 ¥4,800/期” gives 3600
to the first course and 4800 to the second. The book is generous on purpose (every amount near a course is allowed), so
that an agent repeating the knowledge base never raises an alarm.

An agent's amount is a *quote* only when all of these hold (precision over recall — a false alarm costs an agent
points, a missed one only a finding):

- it is written as money: ``¥``/``￥``/``RMB`` before it or ``元``/``块``/``万`` after it (“3600 一期” is not
  read); ``万`` multiplies by 10,000;
- it is at least the rule's ``min_amount`` (a 50 元 material fee is not a course price);
- its clause says nothing of discounts, deposits, instalments or extra fees (减, 优惠, 折, 定金, 分期, 活动价 …):
  a discounted or partial amount may rightly differ from the list price;
- it is not a unit price: no 每 just before it, no ``/课时``, ``一节``, ``每月`` … just after it;
- a course is named before it in the same sentence (the nearest one counts), or else the customer's previous turn
  named exactly one course (“思维班多少钱？” — “¥3000”);
- the book has amounts for that course (no KB price, nothing to contradict).

Then it is a hit when it differs from every amount of the course by more than the rule's ``tolerance``.
Amounts in Chinese numerals (三千六) are not read. Course names match exactly, or without a final 班/课/课程, or by
the aliases the rule lists (“小学数学思维提高班=思维班”).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edudesk.qc.lexicon import prepare

_SENTENCE_END = re.compile(r"[。！!？?；;\n]")
_CLAUSE_END = re.compile(r"[，,。！!？?；;\n]")
_AMOUNT = re.compile(
    r"(?<![\d.a-z])(?P<cur>[¥￥]|rmb|人民币)?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d])"
    r"\s?(?P<wan>万)?\s?(?P<unit>元|块)?")
_DISCOUNT = re.compile(r"减|优惠|便宜|省|返|送|折|定金|订金|押金|首付|分期|活动价|特价|团购|补差|差价|教材|资料费|"
                       r"材料费|报名费|书本费|月供|加收|另收|多收|贵了")
_UNIT_BEFORE = re.compile(r"(?:每|单)[^，,。！!？?；;\d]{0,4}$")
_UNIT_AFTER = re.compile(r"^\s?(?:/|每|一|1)?\s?(?:课时|节|次|个?月|小时|天|周|人|小时)")
_SUFFIX = re.compile(r"(?:课程|班|课)$")


@dataclass(frozen=True)
class Amount:
    value: float
    start: int
    end: int


def amounts_in(text: str) -> list[Amount]:
    """Money amounts (with ¥ before or 元 after) in prepared ``text``."""
    out = []
    for m in _AMOUNT.finditer(text):
        if not (m.group("cur") or m.group("unit") or m.group("wan")):
            continue
        value = float(m.group("num").replace(",", ""))
        if m.group("wan"):
            value *= 10000
        start = m.start("cur") if m.group("cur") else m.start("num")
        end = max(m.end(g) for g in ("num", "wan", "unit") if m.group(g))
        out.append(Amount(value, start, end))
    return out


class CourseNames:
    """Finds course mentions; each name or alias maps to its catalogue name."""

    def __init__(self, courses: Iterable[str], aliases: Mapping[str, Sequence[str]] | None = None) -> None:
        names: dict[str, str] = {}
        for course in courses:
            if not course.strip():
                continue
            names.setdefault(prepare(course), course)
            short = _SUFFIX.sub("", course)
            if len(short) >= 3:
                names.setdefault(prepare(short), course)
        for course, others in (aliases or {}).items():
            for alias in others:
                names.setdefault(prepare(alias), course)
        self._names = names
        ordered = sorted(names, key=len, reverse=True)
        self._regex = re.compile("|".join(re.escape(n) for n in ordered)) if ordered else None

    def mentions(self, text: str) -> list[tuple[int, str]]:
        """(offset, catalogue name) of each mention in prepared ``text``."""
        if self._regex is None:
            return []
        return [(m.start(), self._names[m.group(0)]) for m in self._regex.finditer(text)]


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


def _owner(mentions: list[tuple[int, str]], start: int, end: int, at: int) -> str | None:
    """The course named last before offset ``at`` within the sentence [start, end)."""
    owner = None
    for offset, course in mentions:
        if start <= offset < at:
            owner = course
        elif offset >= at:
            break
    return owner


@dataclass(frozen=True)
class PriceBook:
    names: CourseNames
    prices: dict[str, frozenset[float]]

    @classmethod
    def build(cls, courses: Iterable[str], texts: Iterable[str],
              aliases: Mapping[str, Sequence[str]] | None = None) -> PriceBook:
        """``texts``: knowledge-base answers and the catalogue's “<course> <price text>” lines."""
        names = CourseNames(courses, aliases)
        prices: dict[str, set[float]] = {}
        for raw in texts:
            text = prepare(raw)
            mentions = names.mentions(text)
            if not mentions:
                continue
            for amount in amounts_in(text):
                for start, end in _sentences(text):
                    if start <= amount.start < end + 1:
                        course = _owner(mentions, start, end, amount.start)
                        if course is not None:
                            prices.setdefault(course, set()).add(amount.value)
                        break
        return cls(names, {k: frozenset(v) for k, v in prices.items()})


@dataclass(frozen=True)
class Quote:
    course: str
    amount: Amount
    known: frozenset[float]


def _is_quote(text: str, amount: Amount, min_amount: int) -> bool:
    if amount.value < min_amount:
        return False
    clause_start = 0
    for m in _CLAUSE_END.finditer(text, 0, amount.start):
        clause_start = m.end()
    m_end = _CLAUSE_END.search(text, amount.end)
    clause = text[clause_start:m_end.start() if m_end else len(text)]
    if _DISCOUNT.search(clause):
        return False
    if _UNIT_BEFORE.search(text[clause_start:amount.start]):
        return False
    return not _UNIT_AFTER.match(text[amount.end:amount.end + 6])


def quotes(book: PriceBook, text: str, context_course: str | None, min_amount: int) -> list[Quote]:
    """The course-price quotes in one prepared agent turn."""
    found = amounts_in(text)
    if not found:
        return []
    mentions = book.names.mentions(text)
    sentences = _sentences(text)
    out = []
    for amount in found:
        if not _is_quote(text, amount, min_amount):
            continue
        course = None
        for start, end in sentences:
            if start <= amount.start <= end:
                course = _owner(mentions, start, end, amount.start)
                break
        course = course or context_course
        if course is None or course not in book.prices:
            continue
        out.append(Quote(course, amount, book.prices[course]))
    return out

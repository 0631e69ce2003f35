"""The checks a generated answer must pass before a parent sees a word of it (pure: no session, no HTTP).

A model asked to answer only from the org's passages may still invent a price, move a date, make up a phone
number or promise what no school may promise; and a visitor or a document may carry instructions ("忽略以上指令…")
that the model follows. The prompt asks for good behaviour; these checks do not rely on it. Per sentence:

- **facts**: every number, price, date and phone number must appear in the passages the answer cited. Numbers are
  compared after normalising full-width digits, thousands separators, 千/万 and Chinese numerals (cn2an), so
  "三千六百元", "3,600 块" and "￥3600" are the same fact; dates as month-day (and the year when given); phone numbers
  as their digits.
- **citations**: a sentence stating a fact needs a citation ("[1]"), in itself or before it; a citation must name
  a passage that was retrieved and given to the model.
- **promises**: the org's forbidden phrases and the defaults (保证提分, 包过, 100%通过 …), matched without spaces.
- **sensitive words**: the bot's list (``bot.sensitive``) as the FAQ answers use it.
- **leaks**: text that shows the model left its role (an echoed instruction, a "system:" line, a link that is in
  no passage).

A sentence that fails stops the answer: nothing of it is sent, and the bot falls back to its usual behaviour.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cn2an

DEFAULT_FORBIDDEN = (
    "保证提分",
    "保证提高",
    "保证通过",
    "保证考上",
    "保证录取",
    "保证拿证",
    "保过",
    "包过",
    "包通过",
    "包教包会",
    "包拿证",
    "包录取",
    "稳过",
    "必过",
    "100%通过",
    "百分百通过",
    "百分之百通过",
    "100%提分",
    "一定能考上",
    "一定能通过",
    "不过退款",
    "不过全额退款",
    "不过包退",
    "提分保障",
    "签约保分",
    "保分",
    "绝对有效",
    "无效退款",
)
# Text a model in its role does not write: an echoed instruction or a role marker.
LEAK_MARKERS = (
    "忽略以上",
    "忽略之前",
    "忽略上述",
    "忽略前面",
    "无视以上",
    "ignore previous",
    "ignore all",
    "ignore the above",
    "system:",
    "system：",
    "assistant:",
    "<|",
    "|>",
    "系统提示",
    "system prompt",
    "扮演",
    "开发者模式",
    "developer mode",
    "jailbreak",
    "我是chatgpt",
    "作为一个ai",
    "作为ai",
)
NO_ANSWER = "无法回答"
MAX_ANSWER_CHARS = 600

_CITATION = re.compile(r"[\[【〔(（]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】〕)）]")
_SENTENCE = re.compile(r".+?(?:[。！？!?；;…\n]+|$)(?:\s*" + _CITATION.pattern + r")*", re.S)
_PHONE = re.compile(
    r"(?<![\d-])(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8}|0\d{2,3}[\s-]?\d{7,8}|[48]00(?:[\s-]?\d){7})"
    r"(?![\d])"
)
_DATE_YMD = re.compile(r"(?:(\d{4})\s*[年/.\-]\s*)?(\d{1,2})\s*(?:月|/|\.|-)\s*(\d{1,2})\s*(?:日|号)?(?![\d])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*([千万])")
_CN_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万亿点]+")
# A Chinese numeral counts as a fact only before a measure word (or when it is two characters or more):
# "一起", "一下", "统一" are words, "两个校区", "三节课" are facts.
_MEASURE = (
    "元",
    "块",
    "个",
    "次",
    "节",
    "课",
    "人",
    "名",
    "岁",
    "年",
    "月",
    "日",
    "号",
    "点",
    "分",
    "小时",
    "周",
    "天",
    "期",
    "班",
    "校",
    "门",
    "科",
    "位",
    "折",
    "%",
    "％",
    "套",
    "本",
    "级",
    "届",
    "学期",
    "课时",
    "对",
)
_URL = re.compile(r"(?:https?://|www\.)[^\s，。、“”'\"<>）)]+", re.I)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # numbers / citation / promise / sensitive / leak / empty / no_answer / too_long
    detail: str = ""


OK = Verdict(True)


def fold(text: str) -> str:
    """Full-width to half-width, lower case, no spaces: the form the phrase checks compare."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def citations(text: str) -> list[int]:
    found: list[int] = []
    for m in _CITATION.finditer(text):
        found.extend(int(n) for n in re.split(r"\s*[,，、]\s*", m.group(1)))
    return found


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text)


def sentences(text: str) -> list[str]:
    """Sentences with the citations that follow their end kept with them ("学费3600元。[1]")."""
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0).strip()]


def _chinese_numbers(text: str) -> tuple[str, list[str]]:
    found: list[str] = []

    def convert(m: re.Match[str]) -> str:
        run = m.group(0)
        after = text[m.end() : m.end() + 2]
        if run in ("一", "点", "万", "千", "百", "亿") or (len(run) == 1 and not after.startswith(_MEASURE)):
            return run
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                value = cn2an.cn2an(run, "smart")
            except (ValueError, KeyError, IndexError, TypeError):
                return run
        number = _canonical(str(value))
        found.append(number)
        return f" {number} "

    return _CN_RUN.sub(convert, text), found


def _canonical(number: str) -> str:
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number.lstrip("0") or "0"


@dataclass(frozen=True)
class Facts:
    numbers: frozenset[str]
    dates: frozenset[str]
    phones: frozenset[str]
    urls: frozenset[str]

    @property
    def empty(self) -> bool:
        return not (self.numbers or self.dates or self.phones or self.urls)


def facts(text: str) -> Facts:
    """The checkable facts of a text, normalised."""
    text = unicodedata.normalize("NFKC", strip_citations(text))
    urls = frozenset(u.rstrip(".,;:!?").lower() for u in _URL.findall(text))
    text = _URL.sub(" ", text)
    phones = frozenset(re.sub(r"\D", "", m.group(1)) for m in _PHONE.finditer(text))
    text = _PHONE.sub(" ", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 3,600 → 3600
    text, chinese = _chinese_numbers(text)
    dates: set[str] = set()
    for m in _DATE_YMD.finditer(text):
        year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
        if 1 <= month <= 12 and 1 <= day <= 31:
            dates.add(f"{month}-{day}")
            if year:
                dates.add(f"{year}-{month}-{day}")
    numbers: set[str] = set(chinese)
    for m in _SCALED.finditer(text):
        scale = 1000 if m.group(2) == "千" else 10000
        numbers.add(_canonical(f"{float(m.group(1)) * scale:.2f}"))
    numbers.update(_canonical(n) for n in _NUMBER.findall(text))
    return Facts(frozenset(numbers), frozenset(dates), phones, urls)


def _digits_in(phone: str, source: Facts, raw: str) -> bool:
    return phone in source.phones or phone in re.sub(r"\D", "", raw)


def check_facts(sentence: str, source: Facts, source_text: str) -> Verdict:
    """Whether every fact of the sentence is in the cited passages."""
    found = facts(sentence)
    for phone in found.phones:
        if not _digits_in(phone, source, source_text):
            return Verdict(False, "numbers", f"phone {phone[:3]}…")
    date_numbers: set[str] = set()
    for date in found.dates:
        if date not in source.dates:
            return Verdict(False, "numbers", f"date {date}")
        date_numbers.update(date.split("-"))
    # A date's year, month and day were checked as a date; a number like 2026 in "2026年9月1日" is not asked again.
    for number in found.numbers - date_numbers:
        if number not in source.numbers:
            return Verdict(False, "numbers", f"number {number}")
    for url in found.urls:
        if url not in source.urls:
            return Verdict(False, "leak", "link")
    return OK


def check_phrases(text: str, forbidden: Iterable[str]) -> Verdict:
    folded = fold(text)
    for phrase in forbidden:
        if phrase and fold(phrase) in folded:
            return Verdict(False, "promise", phrase)
    for marker in LEAK_MARKERS:
        if fold(marker) in folded:
            return Verdict(False, "leak", marker)
    return OK


class SentenceChecker:
    """Checks an answer sentence by sentence (the streaming path sends each sentence that passed)."""

    def __init__(self, passages: Sequence[str], *, forbidden: Iterable[str], sensitive: object | None = None) -> None:
        self.passages = list(passages)
        self.forbidden = tuple(dict.fromkeys((*DEFAULT_FORBIDDEN, *forbidden)))
        self.sensitive = sensitive
        self.cited: list[int] = []
        self.chars = 0

    def _source(self) -> tuple[Facts, str]:
        text = "\n".join(self.passages[n - 1] for n in dict.fromkeys(self.cited))
        return facts(text), text

    def check(self, sentence: str) -> Verdict:
        self.chars += len(sentence)
        if self.chars > MAX_ANSWER_CHARS:
            return Verdict(False, "too_long")
        if NO_ANSWER in sentence:
            return Verdict(False, "no_answer")
        numbers = citations(sentence)
        for n in numbers:
            if not 1 <= n <= len(self.passages):
                return Verdict(False, "citation", f"[{n}]")
        self.cited.extend(n for n in numbers if n not in self.cited)
        phrases = check_phrases(sentence, self.forbidden)
        if not phrases.ok:
            return phrases
        apply = getattr(self.sensitive, "apply", None)
        if apply is not None and apply(sentence).hit:
            return Verdict(False, "sensitive")
        found = facts(sentence)
        if not found.empty:
            if not self.cited:
                return Verdict(False, "citation", "fact without a citation")
            source, raw = self._source()
            verdict = check_facts(sentence, source, raw)
            if not verdict.ok:
                return verdict
        return OK

    def finish(self) -> Verdict:
        """After the last sentence: an answer with no citation at all is not grounded."""
        if not self.cited:
            return Verdict(False, "citation", "no citation")
        return OK


def check_answer(
    answer: str, passages: Sequence[str], *, forbidden: Iterable[str] = (), sensitive: object | None = None
) -> Verdict:
    """The whole answer at once (the non-streaming path): every sentence, then the answer as a whole."""
    if not answer.strip():
        return Verdict(False, "empty")
    checker = SentenceChecker(passages, forbidden=forbidden, sensitive=sensitive)
    for sentence in sentences(answer):
        verdict = checker.check(sentence)
        if not verdict.ok:
            return verdict
    # A promise split over two sentences ("保证" … "提分") is caught on the whole text.
    whole = check_phrases(answer, checker.forbidden)
    return whole if not whole.ok else checker.finish()

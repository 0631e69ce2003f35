"""Reading a visitor's reply as the answer to a flow's question, by the lead-card field type.

The reply to "孩子几年级？" is rarely just "三年级": parents write "3年级了", "孩子读三年级，电话138…", or press
button 2. So typed fields use the same extraction the lead card uses (``nlp.extract``: a phone validated by
libphonenumber, grades, ages, subjects, names), and free text is accepted only when it is not a question or a
refusal — "学费多少？" must not become a child's name.

Rules per type:
- ``phone``: the first Chinese mobile in the message (11 digits, as the card stores it); landlines are refused
  because a callback lead needs a number that can take an SMS.
- ``number``: the child's age from the extraction for ``child_age``, else the first Arabic or Chinese number.
- ``single``: an option by its label (also inside a longer reply: "想报一建"), by its number ("2", "第2个") when
  the options are shown as buttons, or for ``grade`` the extracted grade; several options named → not an answer.
- ``multi``: the options named or numbered ("1、3"); without options (``subject``) the extracted subjects, else the
  reply split at 、，和.
- ``date``: YYYY-MM-DD (also / . 年月日), M月D日 (this year, or next year when already past), 今天/明天/后天.
- ``text``: the trimmed reply up to ``max_length``; ``wechat`` and ``name`` prefer what the extraction found.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cn2an
import regex
import structlog

from edudesk.bot.flows.spec import MAX_BUTTONS, FieldType
from edudesk.bot.text import normalise
from edudesk.nlp.extract import Extraction

__all__ = ["Answer", "Rule", "is_refusal", "looks_like_question", "match_option", "parse_answer"]

_MOBILE = re.compile(r"1[3-9]\d{9}")
_WECHAT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{5,19}")
_NAME_PREFIX = re.compile(r"^(?:我姓|我叫|叫我|我是|本人|姓)")
_NAME = re.compile(r"[\u4e00-\u9fa5A-Za-z·]{1,10}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|[零一二两三四五六七八九十百]+")
_INDEX = re.compile(r"^(?:第|选)?\s*(\d{1,2})\s*(?:个|项|号)?$")
_INDEXES = re.compile(r"^\d{1,2}(?:\s*[,，、和及/ ]\s*\d{1,2})*$")
_SPLIT = re.compile(r"\s*[,，、/和及]\s*|\s+")
_FULL_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_MONTH_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_RELATIVE_DAYS = {"今天": 0, "明天": 1, "后天": 2}
_QUESTION_END = re.compile(r"(?:[?？]|吗|呢|么|嘛|多少|多少钱|怎么样|怎么办|如何)[\s~～。.!！]*$")
_QUESTION_WORDS = re.compile(r"多少|怎么|什么|哪|为什么|如何|几点|能不能|可不可以|可以吗|是否|有没有|有啥|咋")
_REFUSALS = re.compile(r"不方便|不想说|不想留|不想告诉|不愿意|不告诉|保密|跳过|算了|不用了|不需要|暂时不|先不|不留|"
                       r"没必要")


@dataclass(frozen=True)
class Rule:
    """How to read one ask's answer: the field and the validation its step and the card field define."""

    key: str
    type: FieldType
    options: tuple[str, ...] = ()
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = 100


@dataclass(frozen=True)
class Answer:
    """A valid answer: the field it fills (the ask's, or one of its alternatives), the normalised value and the
    visitor's words it was read from."""

    key: str
    value: Any
    evidence: str


def looks_like_question(text: str) -> bool:
    """A heuristic for "the visitor asked something instead of answering": a question mark or particle at the end,
    or a question word anywhere."""
    stripped = text.strip()
    return bool(_QUESTION_END.search(stripped) or _QUESTION_WORDS.search(stripped))


def is_refusal(text: str) -> bool:
    """"不方便留电话", "跳过", "算了": the visitor declines to answer, so re-asking would only annoy them."""
    return bool(_REFUSALS.search(text))


log = structlog.get_logger(__name__)

# An admin-written pattern runs on every visitor answer in a worker thread; a pattern that backtracks
# catastrophically (``(a+)+$``) would hold that thread for minutes. The ``regex`` engine stops after this long.
PATTERN_TIMEOUT_SECONDS = 0.05


def pattern_matches(pattern: str, value: str) -> bool:
    """``value`` matches the admin's ``pattern`` as a whole; an answer the pattern cannot decide in time does not
    match (the visitor is asked again) and the slow pattern is logged for the admin to fix."""
    try:
        return regex.fullmatch(pattern, value, timeout=PATTERN_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        log.warning("flow_pattern_timeout", pattern=pattern[:200], answer_chars=len(value))
        return False


def parse_answer(rule: Rule, text: str, extraction: Extraction, *, today: dt.date) -> Answer | None:
    """The answer ``text`` gives to an ask with ``rule``, or None when it does not answer it."""
    stripped = text.strip()
    if not stripped:
        return None
    found = _parse(rule, stripped, extraction, today)
    if found is None:
        return None
    value, evidence = found
    if rule.pattern is not None and isinstance(value, str) and not pattern_matches(rule.pattern, value):
        return None
    return Answer(rule.key, value, (evidence or stripped)[:200])


def match_option(text: str, options: Sequence[str], *, by_number: bool = True) -> int | None:
    """The index of the one option ``text`` names: by label, by number (1-based; only when the options are shown,
    so ``by_number``), or contained in the reply."""
    norm = normalise(text)
    labels = [normalise(o) for o in options]
    if norm in labels:
        return labels.index(norm)
    numbered = _INDEX.match(norm) if by_number else None
    if numbered:
        n = int(numbered.group(1))
        return n - 1 if 1 <= n <= len(options) else None
    named = _named(norm, labels)
    return named[0] if len(named) == 1 else None


def _named(norm: str, labels: Sequence[str]) -> list[int]:
    """Options whose label (two characters or more) appears in the reply, dropping a label that only appears
    inside a longer one found too ("中级会计" also contains "会计")."""
    # One-character labels (是/否) only count as the whole reply: "不是" contains "是".
    hits = [i for i, label in enumerate(labels) if len(label) >= 2 and label in norm]
    return [i for i in hits if not any(j != i and labels[i] in labels[j] for j in hits)]


def _span_text(extraction: Extraction, name: str, text: str) -> str:
    span = extraction.span(name)
    return text[span.start:span.end] if span is not None and span.end <= len(text) else ""


def _parse(rule: Rule, text: str, ex: Extraction, today: dt.date) -> tuple[Any, str] | None:
    if rule.type == "phone":
        mobile = next((p for p in ex.phones if _MOBILE.fullmatch(p)), None)
        return (mobile, _span_text(ex, "phone", text)) if mobile else None
    if rule.type == "number":
        return _number(rule, text, ex)
    if rule.type == "date":
        return _date(text, today)
    if rule.type == "single" and rule.options:
        return _single(rule, text, ex)
    if rule.type == "multi":
        return _multi(rule, text, ex)
    return _text(rule, text, ex)


def _number(rule: Rule, text: str, ex: Extraction) -> tuple[Any, str] | None:
    value: float | None = None
    evidence = ""
    if rule.key == "child_age" and ex.age is not None:
        value, evidence = float(ex.age), _span_text(ex, "age", text)
    else:
        for token in _NUMBER.findall(text):
            try:
                value = float(token) if token[0].isdigit() else float(cn2an.cn2an(token, "smart"))
            except (ValueError, KeyError, IndexError):  # cn2an raises KeyError on "零十零"
                continue
            evidence = token
            break
    if value is None:
        return None
    if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
        return None
    return (int(value) if value.is_integer() else value), evidence


def _date(text: str, today: dt.date) -> tuple[Any, str] | None:
    for word, days in _RELATIVE_DAYS.items():
        if word in text:
            return (today + dt.timedelta(days=days)).isoformat(), word
    try:
        full = _FULL_DATE.search(text)
        if full:
            year, month, day = (int(g) for g in full.groups())
            return dt.date(year, month, day).isoformat(), full.group(0)
        short = _MONTH_DAY.search(text)
        if short:
            month, day = int(short.group(1)), int(short.group(2))
            date = dt.date(today.year, month, day)
            if date < today:  # "3月5日" said in December means next March
                date = dt.date(today.year + 1, month, day)
            return date.isoformat(), short.group(0)
    except ValueError:  # 2月30日
        return None
    return None


def _single(rule: Rule, text: str, ex: Extraction) -> tuple[Any, str] | None:
    if rule.key == "grade" and ex.grade in rule.options:
        return ex.grade, _span_text(ex, "grade", text)
    # Options are numbered only when shown as buttons: "3" for a 15-grade list means 三年级, not the third option.
    index = match_option(text, rule.options, by_number=len(rule.options) <= MAX_BUTTONS)
    return (rule.options[index], text) if index is not None else None


def _multi(rule: Rule, text: str, ex: Extraction) -> tuple[Any, str] | None:
    norm = normalise(text)
    if rule.options:
        if _INDEXES.match(norm) and len(rule.options) <= MAX_BUTTONS:
            picked = [int(n) - 1 for n in re.findall(r"\d{1,2}", norm)]
            if not all(0 <= i < len(rule.options) for i in picked):
                return None
        else:
            picked = _named(norm, [normalise(o) for o in rule.options])
        values = list(dict.fromkeys(rule.options[i] for i in sorted(set(picked), key=picked.index)))
        return (values, text) if values else None
    if rule.key == "subject" and ex.subjects:
        return list(ex.subjects), _span_text(ex, "subject", text)
    if looks_like_question(text) or is_refusal(text):
        return None
    items = [i for i in _SPLIT.split(text.strip(" 。.!！~～")) if i]
    if not items or any(len(i) > 20 for i in items):
        return None
    return list(dict.fromkeys(items)), text


def _text(rule: Rule, text: str, ex: Extraction) -> tuple[Any, str] | None:
    if rule.key == "wechat":
        if ex.wechat:
            return ex.wechat, _span_text(ex, "wechat", text)
        bare = text.strip(" 。.!！~～")
        if _WECHAT_ID.fullmatch(bare) or _MOBILE.fullmatch(bare):
            return bare, bare
        return None
    if rule.key == "name" and ex.name:
        return ex.name, _span_text(ex, "name", text)
    if looks_like_question(text) or is_refusal(text):
        return None
    value = text.strip(" 。.!！~～")
    if rule.key == "name":
        value = _NAME_PREFIX.sub("", value)
        return (value, text) if _NAME.fullmatch(value) else None
    return (value, text) if 0 < len(value) <= rule.max_length else None

"""Splitting one visitor message into the questions it asks: "校区在哪里，停车方便吗" → 校区在哪里 / 停车方便吗.

Parents type several questions in one message, with or without punctuation. The FAQ bot matches each part on its
own (``bot.multi``); this module only proposes the parts, by rules that need no model:

- **Boundaries**: punctuation (，。？！；、… and their half-width forms), spaces, emoji (also WeChat's "[微笑]"),
  conjunctions that open a new question (还有, 另外, 顺便问下, 以及, 对了, 然后 …), and — in a run-on sentence
  without punctuation — the end of a question before a second clause that is a question too ("校区在哪里 |
  停车方便吗", "学费多少 | 能分期吗").
- **A boundary only closes a part that asks something.** Text before it that is not a question ("您好", "我家孩子
  三年级", "数学、英语") is context: it stays with the question after it, so "我家孩子三年级，数学跟不上，有没有
  适合的班" remains one part and "数学、英语有课吗" is not cut at 、. A question mark always closes a part.
- A list marker in front of a question ("1." "2、" "一、" "问题1：" "①") is not part of it.
- **Never inside** a phone number ("138 0013 8000"), a number or quantity ("3,600", "1.5"), a WeChat ID, e-mail
  or link (latin letters and digits).
- A run-on cut after a question *word* ("哪里", "多少", "怎么样") is ``soft``: the bot keeps it only when both
  sides are answered, by different entries (so "在哪里报名" is not cut into "在哪里" / "报名"). A cut after a
  sentence-final particle (吗 / 呢 / 嘛) is firm.
- **Limits**: a message longer than ``MAX_CHARS`` is not split (a pasted essay is not a list of questions), and at
  most ``MAX_SPLIT`` parts come back; the bot answers fewer (``bot.multi.MAX_PARTS``).

Pure and linear in the message (no backtracking patterns): messages are untrusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edudesk.bot.flows.answers import looks_like_question

__all__ = ["MAX_CHARS", "MAX_SPLIT", "Part", "asks", "split"]

MAX_CHARS = 200
MAX_SPLIT = 8


@dataclass(frozen=True)
class Part:
    """One question (or the trailing context) of a message, in the visitor's words."""

    text: str
    # Asks something by its wording (a question mark, particle or question word), rather than stating.
    question: bool
    # Cut from the part before it in a run-on sentence at a question word: kept only if both are answered.
    soft: bool = False
    # The question itself without the context before it ("我微信 abc123，学费多少" → "学费多少"): matched when the
    # whole part is not answered, quoted back and logged as the miss. "" when the part is one clause.
    core: str = ""

    @property
    def asked(self) -> str:
        """The words that ask: the core clause, or the whole part."""
        return self.core or self.text


# Emoji and pictographs (with their joiners and variation selectors), and WeChat's text emoticons "[微笑]".
_EMOJI = (r"(?:[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\uFE0F\u200D]"
          r"|\[[\u4e00-\u9fffA-Za-z]{1,6}\])")
# Circled numbers (①②) number a list of questions: a boundary like a comma.
_SEPARATOR = re.compile(rf"(?:[\s,，。.;；!！?？、…~～|｜\u2460-\u2473]|{_EMOJI})+")
# A list marker in front of a question: "1." "2、" "3)" "一、" "问题1：" (not the 3 of "3岁能学吗", nor 1.5).
_MARKER = re.compile(r"^(?:问题\s*)?(?:\d{1,2}\s*[.、)）:：](?!\d)|[一二三四五六七八九十]\s*[、.:：])\s*")
_EMOJI_RE = re.compile(_EMOJI)
# Spans no boundary may fall inside: links, latin tokens (WeChat IDs, e-mail, course codes), digit groups with
# spaces, dashes or separators (phone numbers, 3,600, 1.5, 2、3).
_PROTECTED = re.compile(
    r"https?://[^\s，。！？、]+"
    r"|[A-Za-z0-9][A-Za-z0-9_.@\-]*[A-Za-z0-9]"
    r"|\+?\d(?:[\d\s\-–—.,，、~～/]*\d)?")
# Words that open a further question; the ones in _KEEP are also ordinary words ("还有名额吗") and stay in the part.
_CONJUNCTION = re.compile(
    r"还有就是|另外就是|顺便问一下|顺便问下|顺便问问|顺便问|再问一下|再问下|还想问一下|还想问|还想了解一下|还想了解"
    r"|另外|还有|以及|此外|对了|然后")
_KEEP = frozenset({"还有"})
# Where a question ends inside a run-on sentence: a sentence-final particle (firm) or a clause-final question word.
_PARTICLE = re.compile(r"吗|呢|(?<!干)嘛|(?<![怎什那这多要])么")
_QUESTION_END = re.compile(
    r"多少(?:钱|人|岁|节课|节|课时|天|次|个|年|元|块|周)?|在?哪(?:里|儿)|在哪|怎么样|怎么办|如何|几点|多久|多长时间"
    r"|贵不贵|好不好|行不行|吗|呢|(?<!干)嘛|(?<![怎什那这多要])么")
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_ASKS_NOT = re.compile(r"[\u4e00-\u9fff]不$")
_STRIP = " \t\r\n,，。.;；!！?？、…~～|｜\"'“”‘’()（）"


def _content(text: str) -> int:
    return len(_CONTENT.findall(text))


def _clean(text: str) -> str:
    return _MARKER.sub("", _EMOJI_RE.sub("", text).strip(_STRIP)).strip(_STRIP)


def asks(text: str) -> bool:
    """Whether the words ask something: ``looks_like_question``, a 吗 inside ("是小班吗还是大班"), or a spoken
    yes-no question ending in 不 ("停车方便不", "能退不")."""
    text = _clean(text)
    return looks_like_question(text) or "吗" in text or _ASKS_NOT.search(text) is not None


def split(text: str) -> tuple[Part, ...]:
    """The parts of ``text``, in order; one part for a single question, none for an empty message."""
    whole = _clean(text)
    if not whole:
        return ()
    if len(text) > MAX_CHARS:
        return (Part(whole, asks(whole)),)
    blocked = [False] * len(text)
    for span in _PROTECTED.finditer(text):
        for i in range(span.start() + 1, span.end() - 1):
            blocked[i] = True
    # (position, order, kind, end): separators before conjunctions before run-on ends at the same position.
    events: list[tuple[int, int, str, int]] = []
    events.extend((m.start(), 0, "sep", m.end()) for m in _SEPARATOR.finditer(text)
                  if not any(blocked[m.start():m.end()]))
    events.extend((m.start(), 1, "conj", m.end()) for m in _CONJUNCTION.finditer(text))
    events.extend((m.end(), 2, "run", m.end()) for m in _QUESTION_END.finditer(text))
    events.sort()
    separators = sorted(e[0] for e in events if e[2] == "sep")

    parts: list[Part] = []
    start, soft_next = 0, False

    def emit(end: int, *, asked: bool = False) -> None:
        nonlocal soft_next
        piece = _clean(text[start:end])
        if piece:
            inner = [e for at, _, kind, e in events if kind == "sep" and start < at and e < end]
            core = _clean(text[inner[-1]:end]) if inner else ""
            if not (_content(core) >= 2 and asks(core)):
                core = ""
            parts.append(Part(piece, asked or asks(piece), soft_next, core))
        soft_next = False

    for at, _, kind, end in events:
        if at < start:
            continue
        pending = text[start:at]
        if kind == "sep":
            mark = "?" in text[at:end] or "？" in text[at:end]
            if not _content(pending):
                start = end  # separators (or emoji) before any words: nothing to close
            elif mark or asks(pending):
                emit(at, asked=mark)
                start = end
        elif kind == "conj":
            word = text[at:end]
            if not _content(pending):
                if word not in _KEEP:
                    start = end  # "另外，…" / "…？顺便问下…": the conjunction is not part of the question
            elif _content(pending) >= 2 and asks(pending):
                emit(at)
                start = at if word in _KEEP else end
        elif at < len(text) and _SEPARATOR.match(text, at) is None:
            following = next((s for s in separators if s > at), len(text))
            rest = text[at:following]
            if _content(pending) >= 2 and _content(rest) >= 2 and asks(pending) and asks(rest):
                firm = _PARTICLE.fullmatch(text, at - 1, at) is not None
                emit(at)
                start, soft_next = at, not firm
        if len(parts) >= MAX_SPLIT:
            return tuple(parts)
    emit(len(text))
    return tuple(parts[:MAX_SPLIT])

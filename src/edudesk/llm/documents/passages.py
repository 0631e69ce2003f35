"""A document's text cut into the passages the grounded answers retrieve and cite (pure, no database).

Cut at headings first (a passage never spans two sections, and carries its section's heading, so "学费" under
"二、暑期班" is not confused with the spring term's), then gather paragraphs up to about ``TARGET`` characters; a
paragraph longer than ``LIMIT`` is cut at sentence ends. Consecutive passages of a section overlap by the last
sentence of the one before (at most ``OVERLAP`` characters): a fact told across a cut is whole in one of them.
Sizes are Chinese characters: ~200–400 is one or two answers' worth, short enough for the model to quote from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TARGET = 300
LIMIT = 400
MIN_TAIL = 80
OVERLAP = 80
MAX_HEADING = 300
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
# "一、招生对象" / "第三章 收费" / "1. 课程介绍" alone on a line are headings in documents that were not Markdown.
_NUMBERED_HEADING = re.compile(
    r"^(第[一二三四五六七八九十百]+[章节部分条]|[一二三四五六七八九十]+、|\d{1,2}[.、]\s?)\S.{0,28}$"
)


@dataclass(frozen=True)
class Passage:
    position: int
    heading: str
    text: str


def _sections(text: str) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraph: list[str] = []

    def close() -> None:
        if paragraph:
            sections[-1][1].append("".join(_join(paragraph)))
            paragraph.clear()

    for raw in text.split("\n"):
        line = raw.strip()
        heading = _HEADING.match(line)
        if heading or (line and _NUMBERED_HEADING.match(line) and not line.endswith(("。", "，", "；"))):
            close()
            title = heading.group(2) if heading else line
            sections.append((title.strip()[:MAX_HEADING], []))
        elif not line:
            close()
        else:
            paragraph.append(line)
    close()
    return [(h, ps) for h, ps in sections if ps]


def _join(lines: list[str]) -> list[str]:
    """Lines of one paragraph: Chinese lines are joined as they are, Latin ones with a space."""
    out: list[str] = []
    for line in lines:
        if out and out[-1][-1:].isascii() and line[:1].isascii():
            out.append(" ")
        out.append(line)
    return out


def _sentences(paragraph: str) -> list[str]:
    parts = [p for p in _SENTENCE_END.split(paragraph) if p and p.strip()]
    out: list[str] = []
    for part in parts:
        while len(part) > LIMIT:  # one endless "sentence" (a table row, a list without stops): cut hard
            out.append(part[:LIMIT])
            part = part[LIMIT:]
        out.append(part)
    return out


def split(text: str) -> list[Passage]:
    passages: list[Passage] = []
    for heading, paragraphs in _sections(text):
        units: list[str] = []
        for paragraph in paragraphs:
            units.extend(_sentences(paragraph) if len(paragraph) > LIMIT else [paragraph])
        current: list[str] = []
        size = 0
        for unit in units:
            if current and size + len(unit) > LIMIT and size >= MIN_TAIL:
                passages.append(Passage(len(passages), heading, "\n".join(current)))
                last = current[-1]
                current = [last] if len(last) <= OVERLAP else []
                size = sum(len(u) for u in current)
            current.append(unit)
            size += len(unit)
            if size >= TARGET and unit.endswith(("。", "！", "？", "!", "?", ".")):
                passages.append(Passage(len(passages), heading, "\n".join(current)))
                current, size = [], 0
        if current:
            tail = "\n".join(current)
            if (
                passages
                and passages[-1].heading == heading
                and len(tail) < MIN_TAIL
                and len(passages[-1].text) + len(tail) <= LIMIT + MIN_TAIL
            ):
                previous = passages.pop()
                tail = previous.text + "\n" + tail
            passages.append(Passage(len(passages), heading, tail))
    return passages

"""The sensitive-word filter applied to visitor text before it is stored and to bot text before it is sent.

A parent-facing channel of a school must not echo abuse back to agents' screens or let a knowledge-base typo put
a slur in front of a child. Words are masked with "*" rather than dropped, so the meaning of the rest of the
sentence (and the fact that something was said) survives for the agent.

Matching tolerates the usual evasions: full-width letters, upper case and a separator between characters
("傻 逼", "傻*逼", "ｓｂ").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# A small built-in list of abuse every institution wants masked; orgs add their own words in the bot settings.
DEFAULT_WORDS: tuple[str, ...] = (
    "傻逼", "傻b", "煞笔", "沙比", "傻叉", "脑残", "智障", "白痴", "弱智", "操你", "草你", "艹你", "操你妈", "草泥马",
    "你妈的", "他妈的", "去死", "滚蛋", "贱人", "婊子", "狗日的", "王八蛋", "混蛋", "fuck", "shit", "bitch",
)
_SEPARATOR = r"[\s*＊·._\-—~～|/\\]{0,2}"
MAX_WORDS = 500
MAX_WORD_LEN = 30
# Results remembered per filter (see ``SensitiveFilter.apply``), for texts up to this long: ≤ ~0.5 MB per org.
SEEN_TEXTS = 256
SEEN_MAX_CHARS = 500


@dataclass(frozen=True)
class FilterResult:
    text: str
    words: tuple[str, ...]

    @property
    def hit(self) -> bool:
        return bool(self.words)


class SensitiveFilter:
    def __init__(self, words: Iterable[str] = DEFAULT_WORDS) -> None:
        cleaned = sorted({_fold(w) for w in words if _fold(w)}, key=len, reverse=True)
        self.words = tuple(cleaned)
        if cleaned:
            alternatives = "|".join(_SEPARATOR.join(re.escape(ch) for ch in w) for w in cleaned)
            self._pattern: re.Pattern[str] | None = re.compile(alternatives, re.IGNORECASE)
        else:
            self._pattern = None
        self._seen: dict[str, FilterResult] = {}

    def apply(self, text: str) -> FilterResult:
        if self._pattern is None or not text:
            return FilterResult(text, ())
        # A turn filters the visitor's text twice (before it is stored, and as the bot reads it) and then the bot's
        # replies, which are mostly the org's own fixed texts: remembered results are reused (the filter never
        # changes; a new word list is a new filter). Bounded, and safe to share between threads.
        if len(text) > SEEN_MAX_CHARS:
            return self._apply(text)
        known = self._seen.get(text)
        if known is None:
            if len(self._seen) >= SEEN_TEXTS:
                self._seen.clear()
            known = self._seen[text] = self._apply(text)
        return known

    def _apply(self, text: str) -> FilterResult:
        assert self._pattern is not None
        # NFKC keeps the length of nearly all CJK and full-width text, so positions map back to the original;
        # where it does not (ligatures, rare compatibility forms) the folded text is masked instead.
        folded = unicodedata.normalize("NFKC", text)
        source = text if len(folded) == len(text) else folded
        found: list[str] = []
        chars = list(source)
        for m in self._pattern.finditer(folded):
            found.append(m.group(0))
            for i in range(m.start(), m.end()):
                if not chars[i].isspace():
                    chars[i] = "*"
        if not found:
            return FilterResult(text, ())
        return FilterResult("".join(chars), tuple(dict.fromkeys(found)))


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKC", word).strip().lower()


def parse_words(raw: str) -> list[str]:
    """Words as an admin types them: one per line, or separated by commas (半角/全角) or 、."""
    parts = re.split(r"[\n,，、]+", raw)
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))

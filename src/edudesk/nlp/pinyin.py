"""Pinyin-level spelling repair against the knowledge base's own words: homophone typos, pinyin and initials.

Parents type with a pinyin input method and pick the first candidate that sounds right: 学废 for 学费, 试厅课 for
试听课, 报明 for 报名, 上客 for 上课; or they do not switch to characters at all: ``xuefei``, ``tyk`` (体验课), ``bm``.
The sentence encoder and BM25 see other characters and miss. The repair is aimed at one knowledge base: it only
ever turns a piece of the query into a word **that this knowledge base uses**, so it cannot invent a topic.

How a query is repaired (:meth:`KbSpeller.correct`):

- **Homophone typos.** A span of 2–4 Chinese characters that the knowledge base never writes, that sounds like one
  of its words (the same toneless pinyin, by each character's most common reading) and differs from it in exactly
  one character, becomes that word. One character: a typo swaps a character, it does not rewrite a phrase; and
  "天气" never turns into some KB word that happens to sound alike. Function characters (的 / 得, 有 / 为 …) are
  never swapped; a span that cuts through a dictionary word of the query ("要是听说": 是听 straddles 要是) is left
  alone, and so is a real word unless it is rare and the KB word is far more common (发飘 → 发票; 教室 stays).
  The typed character must be one the KB never writes, or the dictionary must know the repaired span and not the
  typed one (报过 stays, though the exam KB says 包过).
- **Pinyin typed as letters.** Letters that split into pinyin syllables are typed the way an input method would:
  the fewest pieces, the KB's own words first, then common words (jieba's dictionary), then the KB's most frequent
  character for a syllable (``xuefei`` → 学费, ``shi ting ke`` → 试听课, ``zenmeyang`` → 怎么样). A lone English
  word that happens to be pinyin ("time": ti + me) stays unless a word of two syllables or more is in it. A token
  of 2–4 consonants is read as the initials of one of the KB's words (``sxsw`` → 数学思维; the most frequent wins).

The knowledge base's "words" are its jieba words of two or more characters, and pairs of neighbouring words up to
four characters (体验 + 课), counted over all its questions and paraphrases.

Pinyin comes from pypinyin's character table (toneless, every reading of a heteronym), read straight from the JSON
file inside the wheel: importing the pypinyin package would also load its phrase dictionary (about 56 MB resident
per process) to tell readings apart by context, which a lookup that accepts every reading does not need (the table
alone: about 5 MB, 40 ms, once per process).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edudesk.nlp.tokenise import dictionary_items, word_frequency, words

__all__ = ["KbSpeller", "initials", "readings"]

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
# Latin words, and runs of them separated by single spaces ("shi ting ke", "huabei fenqi keyi ma").
_LATIN_RUN = re.compile(r"(?<![a-z0-9_])[a-z]{1,24}(?: [a-z]{1,24}){0,7}(?![a-z0-9_])")
# Costs of the pieces a typed pinyin string is cut into (fewest pieces wins; among equals the KB's own words).
_COST_KB_WORD, _COST_COMMON_WORD, _COST_CHARACTER = 1.0, 1.2, 1.7
_VOWELS = frozenset("aeiou")
# A dictionary word of the query counts as a typo only when it is this rare (jieba's counts) and the KB word it
# sounds like is this many times as common: 发飘 (3) → 发票 (271), never 视听 (132) → 试听 or 教室 → 教师.
_RARE, _COMMON_RATIO = 50, 10
# Short words of the function kind that never start a compound worth repairing towards (的学费, 吗体验).
_FUNCTION_WORDS = frozenset("的了吗呢啊吧呀是我你他她它们在有和与或也都就还很么")
# Characters never taken for a typo nor put in for one: particles and function words (的 / 得 / 地, 有 / 为 …) are
# where homophones are densest and where a swap most often changes the sentence, not repairs it.
_FUNCTION_CHARS = frozenset("的得地了吗嘛么呢啊吧呀哦是事有为在再和与或也都就还很会要能给对说把被让向从跟我你他她它"
                            "们这那哪谁一不没个几多少")

_load_lock = threading.Lock()


def _strip_tone(reading: str) -> str:
    decomposed = unicodedata.normalize("NFD", reading)
    return "".join("v" if c == "\u0308" else c for c in decomposed if not unicodedata.combining(c) or c == "\u0308"
                   ).replace("uv", "v")


@functools.cache
def _table() -> dict[str, tuple[str, ...]]:
    with _load_lock:
        spec = importlib.util.find_spec("pypinyin")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("pypinyin is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
        raw: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        table: dict[str, tuple[str, ...]] = {}
        for code, value in raw.items():
            char = chr(int(code))
            if _CJK_RUN.fullmatch(char):
                table[char] = tuple(dict.fromkeys(_strip_tone(r) for r in value.split(",") if r))
        return table


def readings(char: str) -> tuple[str, ...]:
    """Toneless pinyin readings of one character, the most common first (``()`` for a non-Chinese character)."""
    return _table().get(char, ())


def sound(text: str) -> str:
    """Toneless pinyin of ``text`` by the most common reading of each character, syllables joined by spaces
    (``""`` if a character has none). Every reading would let rare ones (有 as "wei", 查 as "chai") turn 有什么 into
    为什么; a typo made with an input method is nearly always the common reading of the character picked."""
    found = []
    for char in text:
        options = readings(char)
        if not options:
            return ""
        found.append(options[0])
    return " ".join(found)


def spellings(text: str, limit: int = 4) -> list[str]:
    """Ways to type ``text`` in full pinyin without spaces, the common readings first (会计: "huiji", "kuaiji";
    letters typed on purpose may well use the rarer reading of a heteronym)."""
    options = []
    for char in text:
        found = readings(char)
        if not found:
            return []
        options.append(found[:2])
    out: list[str] = []
    for combo in itertools.product(*options):
        out.append("".join(combo))
        if len(out) == limit:
            break
    return out


@functools.cache
def _syllables() -> frozenset[str]:
    return frozenset(r for found in _table().values() for r in found)


@functools.cache
def _common_words() -> dict[str, str]:
    """Full pinyin -> the most frequent common word (jieba's dictionary, 2–4 characters, count ≥ 20) spelt so:
    the vocabulary of a small input method, for the pinyin a parent types that the KB's own words do not cover
    (``zenmeyang`` → 怎么样). About 60,000 words; built once per process, 0.5 s."""
    best: dict[str, tuple[int, str]] = {}
    for word, count in common_vocabulary():
        for spelling in spellings(word, limit=1):
            if spelling not in best or best[spelling][0] < count:
                best[spelling] = (count, word)
    return {spelling: word for spelling, (_, word) in best.items()}


def common_vocabulary(min_count: int = 20) -> list[tuple[str, int]]:
    """Common Chinese words of 2–4 characters with their counts, from jieba's dictionary."""
    return [(word, count) for word, count in dictionary_items() if count >= min_count and 2 <= len(word) <= 4
            and _CJK_RUN.fullmatch(word)]


def initials(text: str) -> str:
    """First letters of the most common reading of each character: 体验课 → ``tyk`` (``""`` if any has none)."""
    letters = []
    for char in text:
        found = readings(char)
        if not found:
            return ""
        letters.append(found[0][0])
    return "".join(letters)


def _substitution(span: str, target: str) -> int | None:
    """The one position at which ``span`` and ``target`` differ, or ``None`` (none, or more than one)."""
    if len(span) != len(target):
        return None
    differing = [i for i, (a, b) in enumerate(zip(span, target, strict=True)) if a != b]
    return differing[0] if len(differing) == 1 else None


@dataclass(frozen=True)
class _Lookup:
    by_sound: dict[str, tuple[str, ...]]  # "xue fei" -> KB words that sound so, most frequent first
    by_spelling: dict[str, str]  # "xuefei" -> 学费
    by_initials: dict[str, str]  # "bm" -> 报名
    by_syllable: dict[str, str]  # "ke" -> 课: the KB's most frequent character read so


class KbSpeller:
    """Repairs a query towards one knowledge base's words. Immutable once built; safe to share between threads."""

    def __init__(self, words_count: Counter[str], chars: Counter[str], known: Container[str]) -> None:
        self._known = known
        self._words = frozenset(words_count)
        self._lookup = self._index(words_count, chars)

    @classmethod
    def build(cls, text_words: Iterable[Sequence[str]], known: Container[str]) -> KbSpeller:
        """From the jieba words of every knowledge-base text; ``known`` holds the terms the KB's lexical index
        has (words, characters and character bigrams): a query span found there is no typo."""
        counts: Counter[str] = Counter()
        chars: Counter[str] = Counter()
        for tokens in text_words:
            chinese = [t if _CJK_RUN.fullmatch(t) else "" for t in tokens]
            chars.update("".join(chinese))
            for i, token in enumerate(chinese):
                if len(token) >= 2:
                    counts[token] += 1
                following = chinese[i + 1] if i + 1 < len(chinese) else ""
                if token and following and len(token) + len(following) <= 4 \
                        and token not in _FUNCTION_WORDS and following not in _FUNCTION_WORDS:
                    counts[token + following] += 1
        _common_words()  # built once per process, here at index build rather than in a visitor's first pinyin
        return cls(counts, chars, known)

    @staticmethod
    def _index(counts: Counter[str], chars: Counter[str]) -> _Lookup:
        by_sound: dict[str, list[str]] = {}
        by_spelling: dict[str, str] = {}
        by_initials: dict[str, str] = {}
        for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            key = sound(word)
            if not key:
                continue
            by_sound.setdefault(key, []).append(word)
            for spelling in spellings(word):
                by_spelling.setdefault(spelling, word)
            by_initials.setdefault("".join(syllable[0] for syllable in key.split()), word)
        by_syllable: dict[str, str] = {}
        for char, _ in sorted(chars.items(), key=lambda item: (-item[1], item[0])):
            found = readings(char)
            if found:
                by_syllable.setdefault(found[0], char)
        return _Lookup({k: tuple(v[:4]) for k, v in by_sound.items()}, by_spelling, by_initials, by_syllable)

    def __len__(self) -> int:
        return len(self._words)

    # ---- repairing ----
    def correct(self, text: str) -> str:
        """``text`` (normalised, lower case) with homophone typos, pinyin and initials replaced by KB words."""
        if not text or not self._words:
            return text
        text = _CJK_RUN.sub(lambda m: self._correct_run(m.group(0)), text)
        return _LATIN_RUN.sub(lambda m: self._correct_latin(m.group(0)), text)

    def _correct_run(self, run: str) -> str:
        if len(run) < 2:
            return run
        # Segmenting the query is the costly part, so it waits for a span that sounds like a KB word: most
        # questions have none.
        tokens: list[tuple[int, int, str]] | None = None
        inside: set[int] = set()
        chars = list(run)
        done = [False] * len(run)
        for length in (4, 3, 2):
            for start in range(len(run) - length + 1):
                end = start + length
                if any(done[start:end]):
                    continue
                span = run[start:end]
                if span in self._known or span in self._words:
                    continue
                candidates = self._sounds_like(span)
                if not candidates:
                    continue
                if tokens is None:
                    tokens = self._tokens(run)
                    # a typo may replace whole words of the query, or characters jieba could not place in a
                    # dictionary word; never part of a real word ("要是听说": 是听 is no span)
                    inside = {i for first, last, word in tokens if len(word) >= 2 and word_frequency(word) > 0
                              for i in range(first + 1, last)}
                if start in inside or end in inside:
                    continue
                target = next((t for t, position in candidates
                               if self._looks_like_typo(span, position, start, t, tokens)), None)
                if target is not None:
                    chars[start:end] = list(target)
                    done[start:end] = [True] * length
        return "".join(chars)

    @staticmethod
    def _tokens(run: str) -> list[tuple[int, int, str]]:
        """(start, end, word) of the query's jieba words."""
        spans = []
        position = 0
        for token in words(run):
            start = run.find(token, position)
            if start < 0:
                continue
            position = start + len(token)
            spans.append((start, position, token))
        return spans

    def _sounds_like(self, span: str) -> list[tuple[str, int]]:
        """KB words that sound like ``span`` and differ from it in one character that is no function word, with
        that character's position."""
        key = sound(span)
        found = []
        for target in self._lookup.by_sound.get(key, ()) if key else ():
            position = _substitution(span, target)
            if position is not None and span[position] not in _FUNCTION_CHARS \
                    and target[position] not in _FUNCTION_CHARS:
                found.append((target, position))
        return found

    def _looks_like_typo(self, span: str, position: int, start: int, target: str,
                         tokens: list[tuple[int, int, str]]) -> bool:
        """Whether the character at ``position`` reads as a slip rather than as meant.

        Not inside a real (dictionary) word of the query: 教室有摄像头吗 means the classroom, 芋头 is no typo of
        鱼头; unless that word is rare and what it would become is far more common (发飘 → 发票). Elsewhere it
        is a slip when the knowledge base never writes that character (学废, 试厅, 挺车), or when
        the dictionary knows the repaired span and not the typed one; 报过 stays: the KB writes 报 everywhere, and
        包过 is no more a word than 报过.
        """
        absolute = start + position
        for word_start, word_end, word in tokens:
            if word_start <= absolute < word_end and len(word) >= 2 and word_frequency(word) > 0:
                count = word_frequency(word)
                replacement = target[word_start - start:word_end - start]
                return count < _RARE and word_frequency(replacement) >= _COMMON_RATIO * count
        return span[position] not in self._known or word_frequency(target) > word_frequency(span)

    def _correct_latin(self, run: str) -> str:
        pieces = run.split(" ")
        if len(pieces) > 1 and all(_split_syllables(p) for p in pieces):
            typed = self._type_pinyin("".join(pieces))  # one phrase typed with spaces: "shi ting ke"
            if typed is not None:
                return typed
        return " ".join(self._correct_latin_word(p) for p in pieces)

    def _correct_latin_word(self, token: str) -> str:
        if token in self._known or len(token) < 2:
            return token
        syllables = _split_syllables(token)
        if syllables and len(syllables) >= 2:
            typed = self._type_pinyin(token, words_only=True)
            if typed is not None:
                return typed
        if len(token) <= 4 and not _VOWELS.intersection(token):
            return self._lookup.by_initials.get(token, token)
        return token

    def _type_pinyin(self, letters: str, words_only: bool = False) -> str | None:
        """``letters`` (full pinyin, no spaces) as Chinese, the way an input method would put it: cut into the
        fewest pieces, preferring the KB's own words, then common words, then single characters (the KB's most
        frequent character for that syllable). ``words_only``: a lone Latin word must contain a word of two or
        more syllables, so that English that happens to be pinyin ("time": ti + me) stays English."""
        lookup = self._lookup
        common = _common_words()
        syllables = _syllables()
        n = len(letters)
        best: list[tuple[float, list[str]] | None] = [None] * (n + 1)
        best[0] = (0.0, [])
        for i in range(n):
            current = best[i]
            if current is None:
                continue
            for j in range(i + 1, min(n, i + 24) + 1):
                piece = letters[i:j]
                options = []
                if j - i >= 2 and piece in lookup.by_spelling:
                    options.append((_COST_KB_WORD, lookup.by_spelling[piece]))
                if j - i >= 2 and piece in common:
                    options.append((_COST_COMMON_WORD, common[piece]))
                if piece in syllables and piece in lookup.by_syllable:
                    char = lookup.by_syllable[piece]
                    # a character the KB writes right after the previous piece costs a little less (试听 + 课)
                    joined = current[1][-1][-1:] + char if current[1] else ""
                    options.append((_COST_CHARACTER - (0.1 if joined in self._known else 0.0), char))
                for cost, word in options:
                    total = current[0] + cost
                    existing = best[j]
                    if existing is None or total < existing[0]:
                        best[j] = (total, [*current[1], word])
        found = best[n]
        if found is None or (words_only and all(len(piece) == 1 for piece in found[1])):
            return None
        return "".join(found[1])


@functools.lru_cache(maxsize=4096)  # keyed by what visitors type: bounded
def _split_syllables(letters: str) -> tuple[str, ...]:
    """``letters`` cut into pinyin syllables (longest first), or ``()`` when it is not pinyin ("ok", "ket")."""
    syllables = _syllables()
    n = len(letters)
    cut: list[tuple[str, ...] | None] = [None] * (n + 1)
    cut[0] = ()
    for i in range(n):
        current = cut[i]
        if current is None:
            continue
        for j in range(min(n, i + 6), i, -1):
            if cut[j] is None and letters[i:j] in syllables:
                cut[j] = (*current, letters[i:j])
    return cut[n] or ()

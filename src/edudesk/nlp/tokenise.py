"""Tokens for Chinese retrieval: jieba words and character n-grams, on text already passed through ``normalise``.

Why both: jieba knows words (``学费``, ``试听课``) but splits unknown names and new terms inconsistently
(``试听课`` may come out as ``试 / 听课``); character unigrams and bigrams never miss a shared piece of text, but
carry less meaning each. BM25 over the union is what the architecture asks for and what works best.

jieba is initialised once per process, lazily, and quietly:

- its own tokenizer instance, not the module-level ``jieba.dt`` other code may configure differently;
- the dictionary is read from the bundled ``dict.txt`` into a compact trie (``nlp/dictionary.py``: ~3 MB instead
  of jieba's ~60 MB prefix dict, the same segmentation), never through ``Tokenizer.initialize``, which logs to
  stderr and writes a marshal cache to the shared system temp directory (``/tmp/jieba.cache``, readable and
  replaceable by any local user). Nothing is written anywhere.

The first caller builds it under a lock; later callers only read it. jieba's ``cut`` keeps its state in local
variables, so one tokenizer serves every thread.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

import jieba

from edudesk.nlp.dictionary import CompactTokenizer, release_free_memory

__all__ = ["char_ngrams", "char_units", "dictionary_items", "warm_up", "word_frequency", "words"]

_lock = threading.Lock()
_tokenizer: Any = None

# A "character unit": one CJK (or other non-ASCII) character, or a run of ASCII letters/digits (a Latin word or a
# number such as "98.4" is one unit, not five characters).
_UNIT = re.compile(r"[0-9a-z.:]+|\S")


def _get_tokenizer() -> Any:
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tok = CompactTokenizer()
                release_free_memory()  # the build's transient ~20 MB, back to the operating system
                _tokenizer = tok
    return _tokenizer


def warm_up() -> None:
    """Build the jieba dictionary now (e.g. at start-up) rather than on the first visitor message."""
    _get_tokenizer()


def word_frequency(word: str) -> int:
    """How often jieba's dictionary saw ``word`` (0 when it is no dictionary word): a cheap "is this an everyday
    word?" test, e.g. for a name tagger's guess ("雷阵雨", "丁香")."""
    return int(_get_tokenizer().FREQ.get(word, 0) or 0)


def dictionary_items() -> list[tuple[str, int]]:
    """Every word of jieba's dictionary with its count (words only, not the prefixes jieba keeps with count 0)."""
    return [(word, count) for word, count in _get_tokenizer().FREQ.items() if count]


def words(text: str) -> list[str]:
    """jieba words of a normalised text (precise mode, HMM for unknown words), whitespace dropped."""
    if not text:
        return []
    return [w for w in _get_tokenizer().lcut(text, HMM=True) if not w.isspace()]


def char_units(text: str) -> list[list[str]]:
    """The character units of each whitespace-separated segment."""
    return [_UNIT.findall(segment) for segment in text.split()]


def char_ngrams(text: str, n: int) -> list[str]:
    """Character n-grams (over units) inside each segment; n-grams never span a space or punctuation."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return list(_ngrams(char_units(text), n))


def _ngrams(segments: Iterable[list[str]], n: int) -> Iterable[str]:
    for units in segments:
        for i in range(len(units) - n + 1):
            yield "".join(units[i:i + n])

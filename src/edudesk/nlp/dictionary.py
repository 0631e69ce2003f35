"""jieba's word dictionary in a few megabytes: a MARISA trie of the words plus their counts in a flat array.

Why: jieba keeps its dictionary as a Python dict of every word *and every prefix of every word* (~580,000 str
keys with int values), about 60 MB in every server process — the largest single item of an idle instance
(docs/performance.md, "Memory"). The same words in a ``marisa_trie.Trie`` take 1.3 MB, their counts 1.4 MB, and a
trie answers jieba's real question directly: *which dictionary words start at this position?* is one C call
(``iter_prefixes_with_ids``) instead of a Python loop of dict probes, one per extra character.

:class:`CompactTokenizer` is a ``jieba.Tokenizer`` whose ``get_DAG`` and ``calc`` read the trie; everything else
(HMM for unknown words, the cut loop) is jieba's own. Its segmentation is identical to jieba's: the same words
end at the same places, with the same ``log(count)`` weights and the same tie-breaking
(tests/nlp/test_dictionary.py compares them sentence by sentence).

Building the trie allocates ~20 MB of short-lived C++ and Python objects that glibc keeps in its heap after they are
freed; :func:`release_free_memory` hands them back to the operating system.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from typing import Any

import jieba
import marisa_trie

from edudesk import cmalloc

__all__ = ["CompactTokenizer", "Frequencies", "load_frequencies", "release_free_memory"]

# The longest word of jieba's bundled dictionary has 16 characters; a window this long never cuts one short.
LONGEST_WORD = 32


class Frequencies:
    """Word → count, read-only, with the slice of the ``dict`` interface jieba and edudesk use."""

    def __init__(self, trie: marisa_trie.Trie, counts: array[int], total: int) -> None:
        self.trie, self.counts, self.total = trie, counts, total
        # log(count) per word id, computed as jieba computes it, so a path's weight is the same float.
        self.log_counts = array("d", (math.log(c or 1) for c in counts))

    def __len__(self) -> int:
        return len(self.trie)

    def get(self, word: str, default: Any = None) -> Any:
        word_id = self.trie.get(word)
        return default if word_id is None else self.counts[word_id]

    def __contains__(self, fragment: object) -> bool:
        """As in jieba's dict: a word, or the beginning of one."""
        return isinstance(fragment, str) and (fragment in self.trie or self._starts_a_word(fragment))

    def __getitem__(self, fragment: str) -> int:
        word_id = self.trie.get(fragment)
        if word_id is not None:
            return int(self.counts[word_id])
        if self._starts_a_word(fragment):
            return 0  # jieba keeps every prefix of a word with count 0
        raise KeyError(fragment)

    def _starts_a_word(self, fragment: str) -> bool:
        return next(iter(self.trie.iterkeys(fragment)), None) is not None

    def items(self) -> Iterator[tuple[str, int]]:
        counts = self.counts
        return ((word, counts[word_id]) for word, word_id in self.trie.iteritems())

    def __setitem__(self, word: str, count: int) -> None:
        raise TypeError("the compact dictionary is read-only (jieba's add_word/suggest_freq are not supported)")


def _entries(source: Any) -> Iterator[tuple[str, int]]:
    """(word, count) per line of a jieba dictionary file (``word count [tag]``), as jieba's ``gen_pfdict`` reads it."""
    with source as stream:
        for number, raw in enumerate(stream, 1):
            line = raw.strip().decode("utf-8")
            try:
                word, count = line.split(" ")[:2]
                yield word, int(count)
            except ValueError:
                raise ValueError(f"invalid dictionary entry at line {number}: {line!r}") from None


def load_frequencies(tokenizer: jieba.Tokenizer) -> Frequencies:
    """The tokenizer's dictionary file as a trie and counts. A word listed twice keeps its last count and adds both
    to the total, as in jieba."""
    trie = marisa_trie.Trie(word for word, _ in _entries(tokenizer.get_dict_file()))
    counts = array("I", bytes(4 * len(trie)))
    total = 0
    for word, count in _entries(tokenizer.get_dict_file()):
        counts[trie[word]] = count
        total += count
    return Frequencies(trie, counts, total)


class _Dag(dict[int, list[int]]):
    """jieba's DAG (start → ends of the words starting there) plus each edge's log count, so ``calc`` needs no
    second lookup. Built per call: nothing is shared between threads."""

    __slots__ = ("weights",)

    def __init__(self) -> None:
        super().__init__()
        self.weights: dict[int, list[float]] = {}


class CompactTokenizer(jieba.Tokenizer):  # type: ignore[misc]
    """A ``jieba.Tokenizer`` over :class:`Frequencies`; ``lcut``, ``cut`` and the HMM are jieba's."""

    def __init__(self) -> None:
        super().__init__()
        frequencies = load_frequencies(self)
        self.FREQ, self.total = frequencies, frequencies.total
        self._trie, self._log_counts = frequencies.trie, frequencies.log_counts
        self._log_total = math.log(frequencies.total)
        self.initialized = True

    def get_DAG(self, sentence: str) -> _Dag:
        dag = _Dag()
        weights, log_counts, prefixes = dag.weights, self._log_counts, self._trie.iter_prefixes_with_ids
        for start in range(len(sentence)):
            ends: list[int] = []
            edge_weights: list[float] = []
            for word, word_id in prefixes(sentence[start:start + LONGEST_WORD]):
                ends.append(start + len(word) - 1)
                edge_weights.append(log_counts[word_id])
            if not ends:  # no dictionary word starts here: the character alone, weight log(1)
                ends.append(start)
                edge_weights.append(0.0)
            dag[start] = ends
            weights[start] = edge_weights
        return dag

    def calc(self, sentence: str, DAG: dict[int, list[int]], route: dict[int, tuple[float, int]]) -> None:
        weights = getattr(DAG, "weights", None)
        if weights is None:  # a DAG built elsewhere: jieba's own lookups
            super().calc(sentence, DAG, route)
            return
        log_total = self._log_total
        route[len(sentence)] = (0, 0)
        for start in range(len(sentence) - 1, -1, -1):
            route[start] = max((weight - log_total + route[end + 1][0], end)
                               for end, weight in zip(DAG[start], weights[start], strict=True))


def release_free_memory() -> None:
    """Returns the C heap's free pages to the operating system (glibc's ``malloc_trim``; elsewhere nothing). Call it
    after building large transient structures at start-up: freed memory otherwise stays in the process's RSS."""
    cmalloc.trim()

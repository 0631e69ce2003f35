"""The model's token table memory-mapped from the data directory: the same vectors, little resident memory, and a
bad cache file never used."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import structlog

from edudesk.nlp.embedding import MemoEmbedder, load_default_embedder
from tests.nlp.memory_probe import fresh_process_mb

TEXTS = ["学费多少钱", "孩子三年级数学不好，想报周末班", "请问 ABC 英语外教课 45分钟 198元？", "今天天气怎么样"]


def _table(embedder: MemoEmbedder) -> np.ndarray:
    return embedder.inner._model.backend.table  # type: ignore[attr-defined]


def _is_mapped(array: np.ndarray) -> bool:
    base: object = array
    while isinstance(base, np.ndarray | memoryview):
        base = base.base if isinstance(base, np.ndarray) else base.obj
    return isinstance(base, mmap.mmap)


def test_mapped_table_gives_the_same_vectors(tmp_path: Path) -> None:
    plain = load_default_embedder(memo_items=0)
    mapped = load_default_embedder(memo_items=0, table_dir=tmp_path / "cache")
    assert isinstance(plain, MemoEmbedder) and isinstance(mapped, MemoEmbedder)
    assert not _is_mapped(_table(plain))
    assert _is_mapped(_table(mapped)) and not _table(mapped).flags.writeable
    np.testing.assert_array_equal(mapped.encode(TEXTS), plain.encode(TEXTS))
    (cache,) = (tmp_path / "cache").iterdir()
    assert cache.stat().st_size == _table(plain).nbytes
    # A second process (or start) maps the file it finds instead of writing it again.
    before = cache.stat().st_mtime_ns
    again = load_default_embedder(memo_items=0, table_dir=tmp_path / "cache")
    assert again is not None and cache.stat().st_mtime_ns == before
    np.testing.assert_array_equal(again.encode(TEXTS), plain.encode(TEXTS))


def test_a_truncated_cache_file_is_rewritten(tmp_path: Path) -> None:
    load_default_embedder(memo_items=0, table_dir=tmp_path)
    (cache,) = tmp_path.iterdir()
    size = cache.stat().st_size
    cache.write_bytes(b"\0" * 1000)
    embedder = load_default_embedder(memo_items=0, table_dir=tmp_path)
    assert embedder is not None and cache.stat().st_size == size
    assert _is_mapped(_table(embedder))


def test_a_cache_file_with_other_content_is_not_used(tmp_path: Path) -> None:
    plain = load_default_embedder(memo_items=0)
    assert plain is not None
    load_default_embedder(memo_items=0, table_dir=tmp_path)
    (cache,) = tmp_path.iterdir()
    cache.write_bytes(b"\x07" * cache.stat().st_size)  # right size, wrong bytes
    with structlog.testing.capture_logs() as logs:
        embedder = load_default_embedder(memo_items=0, table_dir=tmp_path)
    assert embedder is not None
    assert not _is_mapped(_table(embedder))  # kept in memory, and said so
    assert any("could not be memory-mapped" in entry["event"] for entry in logs)
    np.testing.assert_array_equal(embedder.encode(TEXTS), plain.encode(TEXTS))


def test_an_unwritable_directory_keeps_the_table_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    embedder = load_default_embedder(memo_items=0, table_dir=blocker / "cache")
    assert embedder is not None and not _is_mapped(_table(embedder))


def test_mapped_model_keeps_little_of_the_table_resident(tmp_path: Path) -> None:
    """In a fresh process: the model with its table mapped holds ~60 MB less than with the table in memory."""
    body = (
        "import pathlib\n"
        "from edudesk.nlp.embedding import load_default_embedder\n"
        "from edudesk.nlp.dictionary import release_free_memory\n"
        "e = load_default_embedder(table_dir=pathlib.Path(sys.argv[1]) if sys.argv[1] else None)\n"
        "e.encode(['孩子三年级数学不好，想报周末班', '学费多少钱', '有没有试听课'])\n"
        "release_free_memory()\n"
        "print(rss())\n"
    )
    fresh_process_mb(body, str(tmp_path))  # writes the file
    rss = {kind: fresh_process_mb(body, arg) for kind, arg in (("mapped", str(tmp_path)), ("in_memory", ""))}
    assert rss["in_memory"] - rss["mapped"] > 40, rss

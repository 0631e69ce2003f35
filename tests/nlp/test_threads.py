"""BLAS stays at one thread while any ``one_blas_thread`` context is open, whichever thread opened it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from edudesk.nlp.threads import one_blas_thread


def blas_threads() -> int:
    assert np.__name__  # numpy (and its BLAS) loaded before asking
    count: int = ThreadpoolController().select(user_api="blas").info()[0]["num_threads"]
    return count


def set_blas_threads(count: int) -> None:
    """As a fresh process starts, with no Python thread holding threadpoolctl's "control" of OpenBLAS."""
    for library in ThreadpoolController().select(user_api="blas").lib_controllers:
        release: Any = getattr(type(library), "clear_controlling_thread", None)
        if release is not None:
            release(force=True)
        library.set_num_threads(count)
        if release is not None:
            release()


@pytest.fixture(autouse=True)
def two_blas_threads() -> Iterator[None]:
    before = blas_threads()
    set_blas_threads(2)
    yield
    set_blas_threads(before)


def test_overlapping_contexts_in_two_threads_keep_one_thread_until_the_last_leaves() -> None:
    """The order of a CI failure: a bulk encode's context opens, a visitor's match opens its own, the bulk ends."""
    entered = threading.Event()
    leave = threading.Event()
    left = threading.Event()

    def first() -> None:
        with one_blas_thread():
            entered.set()
            leave.wait(5)
        left.set()

    worker = threading.Thread(target=first)
    worker.start()
    assert entered.wait(5)
    with one_blas_thread():
        assert blas_threads() == 1
        leave.set()
        assert left.wait(5)
        assert blas_threads() == 1  # the first context left while this one is open: still one thread
    worker.join(5)
    assert blas_threads() == 2  # the last to leave restored what the first found


def test_nested_contexts_in_one_thread_restore_on_the_outermost_exit() -> None:
    with one_blas_thread():
        with one_blas_thread():
            assert blas_threads() == 1
        assert blas_threads() == 1
    assert blas_threads() == 2


def test_an_exception_inside_still_restores() -> None:
    with pytest.raises(RuntimeError), one_blas_thread():
        raise RuntimeError("boom")
    assert blas_threads() == 2

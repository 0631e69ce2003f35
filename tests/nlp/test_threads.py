"""BLAS stays at one thread while any ``one_blas_thread`` context is open, whichever thread opened it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from edudesk.nlp import threads
from edudesk.nlp.threads import one_blas_thread


def blas_threads() -> int:
    """The thread count of every loaded BLAS library (numpy's OpenBLAS, and scipy's once ``scipy.linalg`` is
    imported: the controller lists them in no fixed order), which must agree."""
    assert np.__name__  # numpy (and its BLAS) loaded before asking
    counts = {info["num_threads"] for info in ThreadpoolController().select(user_api="blas").info()}
    assert len(counts) == 1, counts
    return int(counts.pop())


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
    """Two threads, set while no context is open: a server thread of an earlier test on this worker may still be
    matching or encoding, and setting the count under its context would only test the fixture."""
    deadline = time.monotonic() + 10
    while threads._holders and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not threads._holders, "a one_blas_thread context stayed open for 10 s in another thread"
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


def test_a_blas_library_loaded_while_a_context_is_open_runs_on_one_thread_too() -> None:
    """scipy.linalg brings its own OpenBLAS; imported (for the first time, in a subprocess) inside a context, it
    is limited by the next context that opens and restored with the others."""
    code = """
import numpy  # noqa: F401 (its OpenBLAS)
from threadpoolctl import ThreadpoolController
from edudesk.nlp import threads
from edudesk.nlp.threads import one_blas_thread

def counts():
    return {i["filepath"]: i["num_threads"] for i in ThreadpoolController().select(user_api="blas").info()}

ThreadpoolController().limit(limits=2, user_api="blas")
(numpy_blas,) = counts()
with one_blas_thread():
    import scipy.linalg  # noqa: F401
    (scipy_blas,) = set(counts()) - {numpy_blas}
    own = counts()[scipy_blas]  # what scipy's OpenBLAS starts with on this machine
    with one_blas_thread():
        assert set(counts().values()) == {1}, counts()
assert counts() == {numpy_blas: 2, scipy_blas: own}, counts()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_exception_inside_still_restores() -> None:
    with pytest.raises(RuntimeError), one_blas_thread():
        raise RuntimeError("boom")
    assert blas_threads() == 2

"""One BLAS thread for the matcher's matrix products.

The products of matching are small (a query against a few thousand rows: 0.1 ms on one core). With OpenBLAS's
default of one thread per core they are split across threads that have to be woken first, and on a 2-core machine
that is busy with other requests the wake-up costs milliseconds: p99 of a 5,000 × 512 product measured 8 ms with 2
threads against 0.15 ms with 1. Fitting the per-index classifier was also faster on one thread (3.6 s against 5–8 s
wall for 5,000 texts × 500 entries). Parallelism belongs to the server (one request per worker thread/process), not
to BLAS inside one request.

The limit is applied around each call, not process-wide: the process may host other numeric code with its own
needs, and the BLAS environment variables are the operator's. ``threadpoolctl``'s controller scans the loaded
libraries lazily, under a lock, and again only after a module has been imported; entering the limit costs about
7 µs.

BLAS's thread count is one setting for the whole process, while the contexts run in many threads at once (two
visitors' questions matched together, a bulk encode beside them). Each context restoring what it found on entry
breaks then: A enters (2 → 1), B enters (finds 1), A leaves (back to 2) and B's products run on two threads, the
slow case this module exists to avoid — a CI run saw it. (``threadpoolctl`` 3.8 adds its own twist: only one
"controlling" Python thread may change OpenBLAS's pool, the others are silently ignored, and a leaving thread can
hand control away from one still inside.) So the contexts are counted: the first to enter sets one thread, the
last to leave restores what the first found, none in between touches the setting, and each change is made
directly rather than through ``threadpoolctl``'s per-thread limiter.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread", "spare_core"]

_lock = threading.Lock()
_controller: ThreadpoolController | None = None
_modules_at_scan = 0  # len(sys.modules) when the libraries were last scanned
_holders = 0  # contexts inside ``one_blas_thread`` now, across threads
_found: dict[str, tuple[Any, int]] = {}  # per library path: the library and the count found, restored by the last


# How long ``spare_core`` watches the machine before it answers.
SAMPLE_SECONDS = 0.2


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """A context in which BLAS runs single-threaded; the thread counts found by the first of overlapping contexts
    are restored when the last of them leaves."""
    global _holders
    with _lock:
        for library in _blas_libraries():
            if library.filepath not in _found:  # first holder, or a library loaded while others hold
                _found[library.filepath] = (library, library.get_num_threads())
                _set_threads(library, 1)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                for library, count in _found.values():
                    _set_threads(library, count)
                _found.clear()


def _blas_libraries() -> list[Any]:
    """The BLAS libraries loaded in this process, under ``_lock``. Scanned again whenever a module has been
    imported since the last scan (0.3 ms; rare once the process is warm): numpy brings one OpenBLAS, and
    ``scipy.linalg``, imported later by whatever needs it, brings a second."""
    global _controller, _modules_at_scan
    if _controller is None or len(sys.modules) != _modules_at_scan:
        _modules_at_scan = len(sys.modules)
        _controller = ThreadpoolController().select(user_api="blas")
    libraries: list[Any] = list(_controller.lib_controllers)  # threadpoolctl is untyped
    return libraries


def _set_threads(library: Any, count: int) -> None:
    """Set a library's thread count from whichever thread this runs on. ``threadpoolctl`` ≥ 3.8 lets only one
    "controlling" Python thread change OpenBLAS's shared pool and silently ignores the others; the counted contexts
    above already keep the changes in order, so each change takes control for itself and gives it back."""
    release = getattr(type(library), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    library.set_num_threads(count)
    if release is not None:
        release()


def spare_core() -> bool:
    """Whether a second thread of long work (a bulk encode, the lexical side of a build beside it) would find a
    core to run on: what the rest of the machine uses (its busy CPU less this process's own, over
    ``SAMPLE_SECONDS``) leaves at least a core and a half. Where the platform does not tell, the 1-minute load
    average below the core count less half a core.

    On a saturated machine a second thread only competes with the first and with the neighbours: a cold build of
    50,000 questions took 67–73 s with two encoder workers and the lexical side beside them against 60–63 s with one
    thread, the other tenants using 110 % of a core (docs/performance.md, "FAQ at 50,000 questions"). The load
    average was the first measure, but it lags by a minute and counts this process's own work: a build right after
    the warm-up (or a previous build) ran on one thread on an idle machine — 53 s instead of 38 s at 50,000."""
    cores = os.cpu_count() or 1
    if cores < 2:
        return False
    busy = machine_busy_seconds()
    if busy is None:
        try:
            return os.getloadavg()[0] < cores - 0.5
        except OSError:  # not available on this platform
            return False
    own = time.process_time()
    time.sleep(SAMPLE_SECONDS)
    later = machine_busy_seconds()
    if later is None:
        return False
    others = (later - busy - (time.process_time() - own)) / SAMPLE_SECONDS  # cores the rest of the machine used
    return others < cores - 1.5


def machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine has spent busy (all but idle and iowait), or ``None`` where the
    platform does not tell."""
    try:
        t = psutil.cpu_times()
    except (OSError, NotImplementedError):
        return None
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))

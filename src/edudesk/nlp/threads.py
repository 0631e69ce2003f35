"""One BLAS thread for the matcher's matrix products.

The products of matching are small (a query against a few thousand rows: 0.1 ms on one core). With OpenBLAS's
default of one thread per core they are split across threads that have to be woken first, and on a 2-core machine
that is busy with other requests the wake-up costs milliseconds: p99 of a 5,000 × 512 product measured 8 ms with 2
threads against 0.15 ms with 1. Fitting the per-index classifier was also faster on one thread (3.6 s against 5–8 s
wall for 5,000 texts × 500 entries). Parallelism belongs to the server (one request per worker thread/process), not
to BLAS inside one request.

The limit is applied around each call, not process-wide: the process may host other numeric code with its own
needs, and the BLAS environment variables are the operator's. ``threadpoolctl``'s controller scans the loaded
libraries once (lazily, under a lock); entering the limit then costs about 5 µs.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

import psutil
from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread", "spare_core"]

_lock = threading.Lock()
_controller: ThreadpoolController | None = None


# How long ``spare_core`` watches the machine before it answers.
SAMPLE_SECONDS = 0.2


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which BLAS runs single-threaded (restored on exit)."""
    global _controller
    if _controller is None:
        with _lock:
            if _controller is None:
                _controller = ThreadpoolController()
    limiter: AbstractContextManager[Any] = _controller.limit(limits=1, user_api="blas")  # threadpoolctl is untyped
    return limiter


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

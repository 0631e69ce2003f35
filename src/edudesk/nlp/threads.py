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
from contextlib import AbstractContextManager
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread", "spare_core"]

_lock = threading.Lock()
_controller: ThreadpoolController | None = None


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
    core to run on: the 1-minute load average, this process's own busy threads included, is below the core count
    less half a core.

    On a saturated machine a second thread only competes with the first and with the neighbours: a cold build of
    50,000 questions took 67–73 s with two encoder workers and the lexical side beside them against 60–63 s with one
    thread, the other tenants using 110 % of a core (docs/performance.md, "FAQ at 50,000 questions"). The load
    average lags by a minute, which is about the length of the work it decides on."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return False
    cores = os.cpu_count() or 1
    return cores > 1 and load < cores - 0.5

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

import threading
from contextlib import AbstractContextManager
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

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

"""Watches for what stalls every request at once: garbage-collector pauses and a blocked event loop.

Why here and always on: a chat server's latency is dominated by rare pauses, not by its average turn — a full
collection that walks a million live objects, or one synchronous call on the event loop, holds every open socket
for hundreds of milliseconds (docs/performance.md, "Stalls"). Both are cheap to observe where they happen, and
impossible to infer from outside. The figures are Prometheus histograms on ``/metrics``; a pause longer than
``log_over`` seconds is also logged with what caused it.

- ``edudesk_gc_pause_seconds{generation}``: every collection's duration (``gc.callbacks``; collections in worker
  threads count too: they hold the GIL, so the loop waits for them).
- ``edudesk_event_loop_lag_seconds``: how late a 50 ms timer fires — everything that kept the loop from running
  (a collection, a synchronous call, a burst of work).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Histogram

__all__ = ["StallMonitor"]

log = structlog.get_logger(__name__)

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TICK_SECONDS = 0.05


class StallMonitor:
    def __init__(self, registry: CollectorRegistry, *, log_over: float = 0.1, logger: Any = None) -> None:
        self.log_over = log_over
        self.log = logger if logger is not None else log
        self.gc_pause = Histogram("edudesk_gc_pause_seconds", "garbage-collector pauses by generation",
                                  ["generation"], buckets=BUCKETS, registry=registry)
        self.loop_lag = Histogram("edudesk_event_loop_lag_seconds", "how late a 50 ms event-loop timer fired",
                                  buckets=BUCKETS, registry=registry)
        self._started = threading.local()
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started.at = time.perf_counter()
            return
        started = getattr(self._started, "at", None)
        if started is None:
            return
        self._started.at = None
        seconds = time.perf_counter() - started
        generation = int(info.get("generation", -1))
        self.gc_pause.labels(str(generation)).observe(seconds)
        if seconds >= self.log_over:
            # Nothing here may walk the heap: ``gc.get_freeze_count()`` counts the permanent generation node by
            # node (50 ms at a million frozen objects, with the GIL held), and a loaded machine logs a pause every
            # few seconds — measured, half a core of a 5,000-socket server went to that count alone.
            self.log.warning("gc_pause", generation=generation, seconds=round(seconds, 3),
                             collected=info.get("collected"))

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            lag = max(0.0, loop.time() - due)
            self.loop_lag.observe(lag)
            if lag >= self.log_over:
                self.log.warning("event_loop_stalled", seconds=round(lag, 3))

    def start(self) -> None:
        """Call on the event loop (the app's lifespan)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch_loop())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

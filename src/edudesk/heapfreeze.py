"""Keeps long-lived objects out of the garbage collector's full collections (docs/performance.md, "Stalls").

Why: a full collection walks every object the collector tracks, with the GIL held. An idle server's models and
dictionaries are frozen once after the warm-up (``settle``); but every open widget socket adds ~190 tracked objects
(its tasks, coroutines, queues, closures), so 5,000 connected visitors are ~1 M objects, and each full collection
then stalls every request for hundreds of milliseconds — measured 12 of 14 full collections over 100 ms with 2,000
visitors. Sockets live for minutes to hours, exactly the objects a full collection need not look at again.

So every ``freeze_seconds`` the survivors are moved to the permanent generation (``gc.freeze``: constant time, no
walk): full collections then only see what was created since. The price: cyclic garbage among frozen objects is not
collected while frozen. Measured, a visitor who leaves leaves 17 unreachable objects in cycles (the rest is freed by
reference counting), so every ``settle_seconds`` (an hour by default) the heap is thawed, collected once and frozen
again: one pause per hour, logged, instead of a few every minute.
"""

from __future__ import annotations

import asyncio
import gc
import time

import structlog

__all__ = ["HeapFreezer", "settle"]

log = structlog.get_logger(__name__)


def settle() -> float:
    """Thaws, collects everything once, freezes what is left; returns the seconds it took (the pause)."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


class HeapFreezer:
    def __init__(self, freeze_seconds: float = 30.0, settle_seconds: float = 3600.0) -> None:
        if freeze_seconds <= 0 or settle_seconds < freeze_seconds:
            raise ValueError("freeze_seconds must be > 0 and settle_seconds >= freeze_seconds")
        self.freeze_seconds, self.settle_seconds = freeze_seconds, settle_seconds
        self.freezes = self.settles = 0

    def tick(self, now: float, last_settle: float) -> float:
        """One period's work; returns when the heap was last settled."""
        if now - last_settle >= self.settle_seconds:
            pause = settle()
            self.settles += 1
            log.info("heap_settled", seconds=round(pause, 3), frozen=gc.get_freeze_count())
            return now
        gc.freeze()
        self.freezes += 1
        return last_settle

    async def run(self) -> None:
        last_settle = time.monotonic()
        while True:
            await asyncio.sleep(self.freeze_seconds)
            last_settle = self.tick(time.monotonic(), last_settle)

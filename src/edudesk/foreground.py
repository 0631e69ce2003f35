"""Whether this process is answering someone right now, so that background work can step aside.

Why: a serving process also runs its jobs (``jobs_in_process``). Most are part of a reply (a WeChat send, a
webhook), but some only keep derived data current — a visitor's classification, the dashboards' roll-ups, quality
sampling. An evening burst leaves thousands of those queued (each new conversation classifies its visitor), and run
back to back on several loops they took the GIL and SQLite's write gate from the parents waiting for an answer:
with 5,000 visitors connected, replies waited hundreds of milliseconds behind a backlog nobody was waiting for.
Visitor turns mark themselves here; the background job loop starts its next job only once no turn has run for a
moment, or after a bounded wait, so the backlog still drains (docs/performance.md, "Background jobs step aside").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["FOREGROUND", "Foreground"]

# The background job loop's next job waits for this long a pause in visitor turns, but never longer than the cap,
# so a backlog still drains on a process that is never idle (at most one job per cap plus its own time).
BACKGROUND_QUIET_SECONDS = 0.02
BACKGROUND_MAX_WAIT_SECONDS = 0.25


class Foreground:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._active = 0
        self._last_left = float("-inf")

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Around the work someone is waiting for (any thread)."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._last_left = self.clock()

    def marks(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorates a function whose every call is a turn."""

        @functools.wraps(func)
        def marked(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.turn():
                return func(*args, **kwargs)

        return marked

    def busy(self, within: float) -> bool:
        """A turn is running, or one ended less than ``within`` seconds ago (the next message is likely close)."""
        with self._lock:
            return self._active > 0 or self.clock() - self._last_left < within

    async def wait_for_pause(self) -> float:
        """What the background job loop waits for before each job."""
        return await self.wait_quiet(BACKGROUND_QUIET_SECONDS, BACKGROUND_MAX_WAIT_SECONDS)

    async def wait_quiet(self, quiet_for: float, max_wait: float, step: float = 0.005) -> float:
        """Waits until ``busy(quiet_for)`` is false, at most ``max_wait`` seconds; returns the seconds waited."""
        started = self.clock()
        # Polled, not an event: turns end in worker threads, and a few wake-ups a turn cost less than a
        # cross-thread signal on every turn of a busy evening.
        while self.busy(quiet_for) and self.clock() - started < max_wait:  # noqa: ASYNC110
            await asyncio.sleep(step)
        return self.clock() - started


# The process's one instance: turns are marked where they happen, the job loop reads it.
FOREGROUND = Foreground()

"""The machine under test: the server's memory and CPU (psutil, over its process tree), the whole machine's busy
time, the speed of one core, and the open-file limit that many sockets need."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time

import psutil

from edudesk.bench.stats import (
    SAMPLE_SECONDS,
    BenchError,
)
from edudesk.nlp import threads


class ServerSampler:
    """Samples the server's resident memory (the process plus its children, for ``serve --workers N``) and CPU."""

    def __init__(self, pid: int | None) -> None:
        self.proc: psutil.Process | None = None
        if pid is not None:
            try:
                self.proc = psutil.Process(pid)
                self.proc.memory_info()
            except psutil.Error as exc:
                raise BenchError(f"无法读取服务进程 {pid}：{exc}") from None
        self.peak = 0
        self.samples: dict[str, int] = {}
        self.processes = 0
        self._task: asyncio.Task[None] | None = None

    def _tree(self) -> list[psutil.Process]:
        assert self.proc is not None
        try:
            return [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return [self.proc]

    def rss(self) -> int | None:
        if self.proc is None:
            return None
        value, alive = 0, 0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                value += int(p.memory_info().rss)
                alive += 1
        if not alive:
            return None
        self.processes = max(self.processes, alive)
        self.peak = max(self.peak, value)
        return value

    def mark(self, name: str) -> None:
        value = self.rss()
        if value is not None:
            self.samples[name] = value

    def cpu_seconds(self) -> float | None:
        if self.proc is None:
            return None
        total = 0.0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    async def _loop(self) -> None:
        while True:
            self.rss()
            await asyncio.sleep(SAMPLE_SECONDS)

    def start(self) -> None:
        if self.proc is not None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all cores), for telling a loaded machine from a slow server."""
    return threads.machine_busy_seconds() or 0.0


def python_core_ms(iterations: int = 1_000_000, repeats: int = 3) -> float:
    """Milliseconds a fixed pure-Python loop takes on this machine, best of a few runs.

    Shared VMs differ several-fold in speed per core from one day to the next; printed beside the figures, this makes
    runs on different days comparable (scale by the ratio) instead of mistaking a slower host for a regression."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def raise_open_file_limit(needed: int) -> int:
    """Raises this process's soft RLIMIT_NOFILE to at least ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise BenchError(f"打开文件数上限只有 {soft}，{needed - 256} 个访客至少需要 {needed}（ulimit -n）")
    return int(soft)

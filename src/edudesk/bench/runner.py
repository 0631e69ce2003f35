"""One bench run: checks the server, opens the visitors gradually, drives the open-loop load and gathers the
figures into one result."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil

from edudesk.bench.machine import (
    ServerSampler,
    machine_busy_seconds,
    python_core_ms,
    raise_open_file_limit,
)
from edudesk.bench.stats import (
    DEFAULT_SERVER_LIMIT_PER_MINUTE,
    MAX_OPENING,
    BenchConfig,
    BenchError,
    Stats,
    p99_by_second,
    percentile,
)
from edudesk.bench.visitor import (
    Visitor,
)


def _ws_base(url: str) -> str:
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BenchError(f"--url 应形如 http://127.0.0.1:8000，而不是 {url!r}")
    return urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, parts.path, "", ""))


async def _check_server(http: httpx.AsyncClient, cfg: BenchConfig) -> None:
    try:
        resp = await http.post("/api/v1/widget/session", json={"org_key": cfg.org_key})
    except httpx.HTTPError as exc:
        raise BenchError(f"无法连接 {cfg.url}：{exc or type(exc).__name__}") from None
    if resp.status_code == 404:
        raise BenchError(f"服务器上没有公钥为 {cfg.org_key} 的机构")
    if resp.status_code != 200:
        raise BenchError(f"创建访客会话失败：HTTP {resp.status_code} {resp.text[:200]}")


async def run_async(cfg: BenchConfig) -> dict[str, Any]:
    if cfg.visitors < 1 or cfg.rate < 0 or cfg.duration <= 0 or cfg.ramp <= 0:
        raise BenchError("访客数须 ≥ 1，速率须 ≥ 0，时长和建连速率须 > 0")
    if not cfg.texts:
        raise BenchError("至少需要一条访客消息文本")
    fd_limit = raise_open_file_limit(cfg.visitors + 256)
    core_ms = python_core_ms()  # before any load, so the server's own work does not slow it
    ws_base = _ws_base(cfg.url)
    sampler = ServerSampler(cfg.server_pid)
    me = psutil.Process()
    stats = Stats()
    visitors = [Visitor(i, stats) for i in range(cfg.visitors)]
    loop = asyncio.get_running_loop()
    # Drop idle connections before uvicorn's 5 s keep-alive timeout closes them under us.
    limits = httpx.Limits(max_connections=MAX_OPENING, max_keepalive_connections=MAX_OPENING, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=cfg.url.rstrip("/"), limits=limits, timeout=cfg.open_timeout) as http:
        await _check_server(http, cfg)
        sampler.mark("start")
        sampler.start()

        # 1. Open every connection, gradually.
        gate = asyncio.Semaphore(MAX_OPENING)
        open_started = loop.time()

        async def open_one(v: Visitor) -> bool:
            delay = open_started + v.index / cfg.ramp - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            async with gate:
                return await v.open(http, cfg, ws_base)

        opened_flags = await asyncio.gather(*(open_one(v) for v in visitors))
        open_seconds = loop.time() - open_started
        opened = sum(opened_flags)
        live = [v for v in visitors if v.alive]
        sampler.mark("connected")

        # 2. Send on schedule for `duration` seconds, every live visitor with its own phase.
        cpu_server_0, cpu_me_0, cpu_all_0 = sampler.cpu_seconds(), _cpu(me), machine_busy_seconds()
        wall_0, unix_0 = time.perf_counter(), time.time()
        perf_start = wall_0 + 0.5  # the schedule's start on the clock the turns are stamped with
        start = loop.time() + 0.5
        end = start + cfg.duration
        senders: list[asyncio.Task[None]] = []
        per_visitor = cfg.rate / len(live) if live else 0.0
        if per_visitor > 0:
            period = 1 / per_visitor
            for k, v in enumerate(live):
                first = start + period * k / len(live)
                senders.append(asyncio.create_task(v.send_on_schedule(cfg.texts, first, period, end)))
        await asyncio.sleep(max(0.0, end - loop.time()))
        await asyncio.gather(*senders)
        sending_seconds = loop.time() - start  # the schedule's window (longer only if senders fell behind)

        # 3. Let the last answers arrive, then read the figures while every connection is still held.
        drain_until = loop.time() + cfg.reply_timeout
        # Polling is cheaper here than one Event per turn, and the drain is bounded by reply_timeout.
        while any(v.pending for v in live if v.alive) and loop.time() < drain_until:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        cpu_server_1, cpu_me_1, cpu_all_1 = sampler.cpu_seconds(), _cpu(me), machine_busy_seconds()
        busy_seconds, unix_1 = time.perf_counter() - wall_0, time.time()
        held = sum(1 for v in visitors if v.alive)
        sampler.mark("final")
        await sampler.stop()
        unanswered = sum(len(v.pending) for v in visitors)
        await asyncio.gather(*(v.close() for v in visitors))

    if unanswered:
        stats.errors["no_reply"] += unanswered
    lat_ms = [x * 1000 for x in stats.latencies]
    first_ms = [x * 1000 for x in stats.first_latencies]
    lag_ms = [x * 1000 for x in stats.send_lags]
    notes: list[str] = []
    if per_visitor * 60 > DEFAULT_SERVER_LIMIT_PER_MINUTE:
        notes.append(f"每位访客 {per_visitor * 60:.0f} 条/分钟，超过服务器默认限流 "
                     f"{DEFAULT_SERVER_LIMIT_PER_MINUTE} 条/分钟（EDUDESK_VISITOR_MESSAGES_PER_MINUTE）")
    if stats.handed_off:
        notes.append(f"{stats.handed_off} 位访客被转人工，之后机器人不再回复；请为测试文本配置关键词回复")

    def mb(name: str) -> float | None:
        value = sampler.samples.get(name)
        return round(value / 2**20, 1) if value is not None else None

    def cpu_pct(a: float | None, b: float | None) -> float | None:
        return round((b - a) / busy_seconds * 100, 1) if a is not None and b is not None else None

    def ms(value: float | None) -> float | None:
        return round(value, 2) if value is not None else None

    errors = dict(sorted(stats.errors.items()))
    return {
        "url": cfg.url,
        "visitors": cfg.visitors,
        "target_rate": cfg.rate,
        "duration_seconds": cfg.duration,
        "connections": {
            "opened": opened,
            "held": held,
            "failed": cfg.visitors - opened,
            "open_seconds": round(open_seconds, 2),
        },
        "messages": {
            "sent": stats.sent,
            "answered": len(stats.latencies),
            "sent_per_second": round(stats.sent / sending_seconds, 1) if sending_seconds else 0.0,
            "answered_per_second": round(len(stats.latencies) / sending_seconds, 1) if sending_seconds else 0.0,
            "handed_off_visitors": stats.handed_off,
        },
        "reply_ms": {
            "p50": ms(percentile(lat_ms, 50)),
            "p95": ms(percentile(lat_ms, 95)),
            "p99": ms(percentile(lat_ms, 99)),
            "max": ms(max(lat_ms) if lat_ms else None),
            "mean": ms(sum(lat_ms) / len(lat_ms) if lat_ms else None),
            "p99_by_second": p99_by_second(stats.sent_ats, lat_ms, perf_start),
        },
        # The messages that opened the conversations, sent while connecting and not part of the rate above.
        "first_reply_ms": {
            "answered": len(first_ms),
            "p50": ms(percentile(first_ms, 50)),
            "p99": ms(percentile(first_ms, 99)),
        },
        "errors": {"total": sum(errors.values()), **errors},
        "server": {
            "pid": cfg.server_pid,
            "rss_mb_start": mb("start"),
            "rss_mb_connected": mb("connected"),
            "rss_mb_peak": round(sampler.peak / 2**20, 1) if sampler.peak else None,
            "rss_mb_final": mb("final"),
            "cpu_percent": cpu_pct(cpu_server_0, cpu_server_1),
            # What one answered message cost the server, whatever the rate: the figure to compare between changes.
            "cpu_ms_per_answered": (round((cpu_server_1 - cpu_server_0) * 1000 / len(lat_ms), 2)
                                    if cpu_server_0 is not None and cpu_server_1 is not None and lat_ms else None),
            "processes": sampler.processes or None,
        },
        "machine": {
            "cpus": psutil.cpu_count(),
            # In percent of one core, like the two figures above; "others" is what neither of them used
            # (PostgreSQL, Redis, anything else running): a high value means the figures are disturbed.
            "cpu_percent": cpu_pct(cpu_all_0, cpu_all_1),
            "others_cpu_percent": (round(max(0.0, (cpu_all_1 - cpu_all_0) - ((cpu_server_1 or 0) - (cpu_server_0 or 0))
                                              - (cpu_me_1 - cpu_me_0)) / busy_seconds * 100, 1)),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python_core_ms": core_ms,
            # The wall-clock window the CPU figures cover (sending and draining, every socket held), so a caller
            # can split the machine's CPU over processes the bench does not know (benchmarks/scaleout.py).
            "cpu_window_unix": [round(unix_0, 3), round(unix_1, 3)],
        },
        "client": {
            "cpu_percent": cpu_pct(cpu_me_0, cpu_me_1),
            "send_lag_ms_p99": ms(percentile(lag_ms, 99)),
            "open_file_limit": fd_limit,
        },
        "notes": notes,
    }


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _run_on_new_loop(cfg: BenchConfig) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        with asyncio.Runner() as runner:
            return runner.run(run_async(cfg))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run_async(cfg))


def run(cfg: BenchConfig) -> dict[str, Any]:
    """Runs the bench on a fresh event loop (uvloop when installed, as the server uses) and returns the figures."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_on_new_loop(cfg)
    # Called from code that already runs an event loop in this thread: give the bench a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_on_new_loop, cfg).result()

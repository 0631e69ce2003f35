"""``edudesk bench``: drive many concurrent widget visitors against a running server and measure it.

Each visitor does what the real widget does (docs/protocol.md): ``POST /api/v1/widget/session`` for a token, then
``/ws/visitor?token=…``, waits for ``hello`` and keeps the socket open until the end of the run. Connections are
opened gradually (``ramp`` per second, a bounded number in flight) so the server's accept queue is not flooded.

Load is open-loop: the total message rate is spread evenly over the visitors, each on a fixed schedule with its own
phase, so a slow server cannot slow the senders down and hide its own latency. A turn's round trip runs from the
moment its ``message`` frame is written to the moment the first bot ``message`` frame stored after the visitor's
message arrives (the visitor's message id comes from its echo or its ``ack``; the welcome text that opens a
conversation is older and is not counted).

Each visitor's first message opens its conversation (welcome text, the bot's state: about twice the statements of a
later turn), so it is sent as the visitor connects, answered before the measured load starts and reported apart
(``first_reply_ms``): 200 visitors opening their conversations in the same second is a burst of 200 new chats per
second, not the steady load a message rate describes, and it would otherwise fill the first seconds' p99.

Server memory and CPU are read with psutil from ``--server-pid``; the bench itself runs on the same machine, so
its own CPU use is reported beside the server's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import psutil
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

# Visitor questions the bench sends, in turn. ``benchmarks/run.py`` seeds a keyword rule that answers all of them;
# against another org, add a keyword rule for 学费/试听/上课时间/价格 or pass your own texts, otherwise the default
# bot hands a visitor over to a human after three questions it cannot answer (and then stays silent).
DEFAULT_TEXTS = (
    "请问学费是多少？",
    "试听课怎么预约",
    "周末的上课时间是什么时候",
    "价格可以优惠吗",
    "学费能分期吗",
    "想了解一下试听",
)
# The default per-visitor limit of the server (EDUDESK_VISITOR_MESSAGES_PER_MINUTE).
DEFAULT_SERVER_LIMIT_PER_MINUTE = 60
MAX_OPENING = 64
SAMPLE_SECONDS = 0.25


class BenchError(Exception):
    """A setup problem (server unreachable, unknown org key, too few file descriptors): one line for the user."""


@dataclass(frozen=True)
class BenchConfig:
    url: str
    org_key: str
    visitors: int
    rate: float  # visitor messages per second, over all visitors
    duration: float  # seconds of sending, after every connection is open
    server_pid: int | None = None
    ramp: float = 200.0  # new connections per second
    texts: Sequence[str] = DEFAULT_TEXTS
    reply_timeout: float = 10.0  # how long a turn may wait for its answer after the sending window
    open_timeout: float = 20.0
    open_conversations: bool = True  # each visitor's first message, as it connects (when rate > 0)


@dataclass
class Turn:
    client_id: str
    sent_at: float
    message_id: int | None = None
    first: bool = False  # the message that opened the conversation


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    sent_ats: list[float] = field(default_factory=list)  # when each answered turn was sent, beside its latency
    first_latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    handed_off: int = 0
    last_reply_at: float = 0.0


def p99_by_second(sent_ats: Sequence[float], latencies_ms: Sequence[float], origin: float) -> list[float]:
    """The p99 of the turns sent in each second of the run: a p99 missed because of a few slow seconds (a pause,
    a neighbour on the machine) reads differently from one missed because every second is slow."""
    seconds: dict[int, list[float]] = {}
    for sent_at, latency in zip(sent_ats, latencies_ms, strict=True):
        seconds.setdefault(max(0, int(sent_at - origin)), []).append(latency)
    last = max(seconds, default=-1)
    return [round(percentile(seconds[k], 99) or 0.0, 1) if k in seconds else 0.0 for k in range(last + 1)]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Visitor:
    def __init__(self, index: int, stats: Stats) -> None:
        self.index = index
        self.stats = stats
        self.ws: ClientConnection | None = None
        self.pending: dict[str, Turn] = {}
        self.alive = False
        self.handed_off = False
        self.reader: asyncio.Task[None] | None = None
        self._n = 0
        self._first_settled = asyncio.Event()  # the opening message was answered, or the visitor handed over

    async def open(self, http: httpx.AsyncClient, cfg: BenchConfig, ws_base: str) -> bool:
        body = {"org_key": cfg.org_key, "page_url": "http://bench.invalid/"}
        try:
            try:
                resp = await http.post("/api/v1/widget/session", json=body)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # A pooled keep-alive connection the server closed just as it was reused: a client race, not a
                # server failure. One fresh attempt, as a browser would make.
                resp = await http.post("/api/v1/widget/session", json=body)
        except httpx.HTTPError as exc:
            self.stats.errors[f"session_{type(exc).__name__}"] += 1
            return False
        if resp.status_code != 200:
            self.stats.errors[f"session_http_{resp.status_code}"] += 1
            return False
        token = resp.json()["token"]
        try:
            self.ws = await connect(f"{ws_base}/ws/visitor?{urlencode({'token': token})}",
                                    open_timeout=cfg.open_timeout, ping_interval=None, close_timeout=2)
            hello = json.loads(await asyncio.wait_for(self.ws.recv(), cfg.open_timeout))
        except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
            self.stats.errors[f"ws_open_{type(exc).__name__}"] += 1
            if self.ws is not None:
                await self.ws.close()
            return False
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            self.stats.errors["ws_no_hello"] += 1
            await self.ws.close()
            return False
        self.alive = True
        self.reader = asyncio.create_task(self._read())
        if cfg.open_conversations and cfg.rate > 0:
            await self._open_conversation(cfg.texts[self.index % len(cfg.texts)], cfg.open_timeout)
        return True

    async def _open_conversation(self, text: str, patience: float) -> None:
        assert self.ws is not None
        cid = f"bench-{self.index}-0"
        self.pending[cid] = Turn(cid, time.perf_counter(), first=True)
        try:
            await self.ws.send(json.dumps({"type": "message", "client_id": cid, "text": text}, ensure_ascii=False))
            await asyncio.wait_for(self._first_settled.wait(), patience)
        except ConnectionClosed:
            self.pending.pop(cid, None)
        except TimeoutError:
            self.pending.pop(cid, None)
            self.stats.errors["first_no_reply"] += 1

    async def _read(self) -> None:
        assert self.ws is not None
        code: int | None = None
        try:
            async for raw in self.ws:
                self._on_frame(json.loads(raw))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
        except ValueError:
            self.stats.errors["bad_frame_from_server"] += 1
        if self.alive:  # not closed by us; 1011 is the server's keepalive ping timing out
            self.alive = False
            self.stats.errors[f"closed_by_server_{code or 'no_close_frame'}"] += 1

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            msg = frame["message"]
            if msg["sender"] == "visitor":
                turn = self.pending.get(msg.get("client_id") or "")
                if turn is not None and turn.message_id is None:
                    turn.message_id = msg["id"]
            elif msg["sender"] == "bot":
                self._answered(msg["id"])
        elif kind == "ack":
            turn = self.pending.get(frame.get("client_id") or "")
            if turn is not None and turn.message_id is None:
                turn.message_id = frame["message"]["id"]
        elif kind == "error":
            self.stats.errors[f"server_{frame.get('code')}"] += 1
            self.pending.pop(frame.get("client_id") or "", None)
        elif kind == "state" and frame.get("state") in ("queued", "assigned") and not self.handed_off:
            self.handed_off = True
            self.stats.handed_off += 1
            self._first_settled.set()

    def _answered(self, bot_message_id: int) -> None:
        now = time.perf_counter()
        for cid, turn in self.pending.items():
            if turn.message_id is not None and turn.message_id < bot_message_id:
                del self.pending[cid]
                if turn.first:
                    self.stats.first_latencies.append(now - turn.sent_at)
                    self._first_settled.set()
                    return
                self.stats.latencies.append(now - turn.sent_at)
                self.stats.sent_ats.append(turn.sent_at)
                self.stats.last_reply_at = now
                return

    async def send_on_schedule(self, texts: Sequence[str], first: float, period: float, end: float) -> None:
        loop = asyncio.get_running_loop()
        due = first
        while due < end and self.alive and self.ws is not None:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.alive:
                return
            self.stats.send_lags.append(max(0.0, loop.time() - due))
            self._n += 1
            cid = f"bench-{self.index}-{self._n}"
            text = texts[(self.index + self._n) % len(texts)]
            self.pending[cid] = Turn(cid, time.perf_counter())
            try:
                await self.ws.send(json.dumps({"type": "message", "client_id": cid, "text": text},
                                              ensure_ascii=False))
            except ConnectionClosed:
                self.pending.pop(cid, None)
                return
            self.stats.sent += 1
            due += period

    async def close(self) -> None:
        self.alive = False
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


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


def _machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all cores), for telling a loaded machine from a slow server."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


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
        cpu_server_0, cpu_me_0, cpu_all_0 = sampler.cpu_seconds(), _cpu(me), _machine_busy_seconds()
        wall_0 = time.perf_counter()
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
        cpu_server_1, cpu_me_1, cpu_all_1 = sampler.cpu_seconds(), _cpu(me), _machine_busy_seconds()
        busy_seconds = time.perf_counter() - wall_0
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


def _fmt(value: Any, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


def render_table(result: dict[str, Any]) -> Table:
    c, m, r, s, cl = (result["connections"], result["messages"], result["reply_ms"], result["server"],
                      result["client"])
    table = Table("指标", "数值", title=f"edudesk bench：{result['visitors']} 位访客，"
                                       f"目标 {result['target_rate']} 条/秒，{result['duration_seconds']} 秒")
    table.add_row("连接 建立 / 保持 / 失败",
                  f"{c['opened']} / {c['held']} / {c['failed']}（用时 {c['open_seconds']} 秒）")
    table.add_row("消息 发送 / 收到回复", f"{m['sent']} / {m['answered']}")
    table.add_row("实际速率（发送 / 回复）", f"{m['sent_per_second']} / {m['answered_per_second']} 条/秒")
    table.add_row("机器人回复往返 p50 / p95 / p99",
                  f"{_fmt(r['p50'])} / {_fmt(r['p95'])} / {_fmt(r['p99'])} 毫秒")
    table.add_row("机器人回复往返 最大 / 平均", f"{_fmt(r['max'])} / {_fmt(r['mean'])} 毫秒")
    first = result["first_reply_ms"]
    if first["answered"]:
        table.add_row("开场消息（开启会话，建连时发送，不计入上面）往返 p50 / p99",
                      f"{_fmt(first['p50'])} / {_fmt(first['p99'])} 毫秒（{first['answered']} 条）")
    errors = {k: v for k, v in result["errors"].items() if k != "total"}
    table.add_row("错误", str(result["errors"]["total"]) + (
        "（" + "，".join(f"{k} {v}" for k, v in errors.items()) + "）" if errors else ""))
    if m["handed_off_visitors"]:
        table.add_row("被转人工的访客", str(m["handed_off_visitors"]))
    if s["pid"] is not None:
        procs = f"（{s['processes']} 个进程合计）" if (s["processes"] or 1) > 1 else ""
        table.add_row(f"服务进程内存 RSS{procs} 起始 / 连接后 / 峰值 / 结束",
                      f"{_fmt(s['rss_mb_start'])} / {_fmt(s['rss_mb_connected'])} / {_fmt(s['rss_mb_peak'])} / "
                      f"{_fmt(s['rss_mb_final'])} MB")
        table.add_row("服务进程 CPU / 每条回复",
                      f"{_fmt(s['cpu_percent'], '%')} / {_fmt(s['cpu_ms_per_answered'])} 毫秒")
    table.add_row("压测进程 CPU / 发送延迟 p99", f"{_fmt(cl['cpu_percent'], '%')} / {_fmt(cl['send_lag_ms_p99'])} 毫秒")
    mc = result["machine"]
    table.add_row(f"整机 CPU（{mc['cpus']} 核）/ 其他进程", f"{_fmt(mc['cpu_percent'], '%')} / "
                  f"{_fmt(mc['others_cpu_percent'], '%')}（以单核为 100%；负载 {mc['load_average_1m']}）")
    table.add_row("单核速度（100 万次 Python 加法）", f"{_fmt(mc['python_core_ms'])} 毫秒")
    for note in result["notes"]:
        table.add_row("注意", note)
    return table


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False)



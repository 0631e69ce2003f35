"""The physical limits of this machine, measured in the same run as edudesk: a bare ``websockets`` echo server
holding the same number of sockets at the same message rate, and a bare loop of single-row INSERT + COMMIT on the
same database. ``run.py`` prints edudesk's figures as ratios to these, so a slow machine (or a slow database
server) reads differently from a slow edudesk: a reply p99 of 90 ms is a fault on a machine whose echo p99 is
1 ms, and the machine's on one whose echo p99 is 80 ms.

    .venv/bin/python benchmarks/baselines.py --connections 1000 --rate 20 --duration 10
    .venv/bin/python benchmarks/baselines.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
import websockets

from edudesk.bench.stats import p99_by_second, percentile

# The echo server is a separate process (its memory must be its own), started with this interpreter.
ECHO_SERVER = """
import asyncio, sys
import websockets

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port, max_size=65536, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1])))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def _echo_load(
    port: int, connections: int, rate: float, duration: float, server: psutil.Process
) -> dict[str, Any]:
    sockets: list[Any] = []
    rss_idle = server.memory_info().rss
    for i in range(connections):
        sockets.append(await websockets.connect(f"ws://127.0.0.1:{port}", ping_interval=None, max_size=65536))
        if i % 500 == 499:
            await asyncio.sleep(0)
    rss_held = server.memory_info().rss
    latencies: list[float] = []
    sent_ats: list[float] = []
    origin = time.monotonic()
    payload = json.dumps(
        {"type": "message", "text": "请问学费多少钱？周末有试听课吗", "client_id": "x" * 22}, ensure_ascii=False
    )

    async def one(ws: Any, due: float) -> None:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.monotonic()
        await ws.send(payload)
        await ws.recv()
        sent_ats.append(started)
        latencies.append((time.monotonic() - started) * 1000)

    total = int(rate * duration)
    tasks = [asyncio.create_task(one(sockets[i % len(sockets)], origin + i / rate)) for i in range(total)]
    peak = rss_held
    while not all(t.done() for t in tasks):
        peak = max(peak, server.memory_info().rss)
        await asyncio.sleep(0.25)
    await asyncio.gather(*tasks)
    for ws in sockets:
        await ws.close()
    by_second = p99_by_second(sent_ats, latencies, origin) if latencies else []
    return {
        "connections": connections,
        "rate": rate,
        "answered": len(latencies),
        "rtt_ms": {
            "p50": _round(percentile(latencies, 50)),
            "p95": _round(percentile(latencies, 95)),
            "p99": _round(percentile(latencies, 99)),
            "worst_second_p99": max(by_second, default=None),
        },
        "rss_mb": {
            "idle": round(rss_idle / 2**20, 1),
            "held": round(rss_held / 2**20, 1),
            "peak": round(peak / 2**20, 1),
        },
        "kb_per_connection": round((rss_held - rss_idle) / 1024 / max(1, connections), 1),
    }


def echo_baseline(connections: int, rate: float, duration: float) -> dict[str, Any]:
    """A bare websockets echo server holding ``connections`` sockets while ``rate`` messages per second make the
    round trip: its memory per socket and its round-trip percentiles are what the machine gives for free."""
    _raise_open_files(2 * connections + 256)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _raise_open_files(connections + 256),
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the echo server did not start")
        return asyncio.run(_echo_load(port, connections, rate, duration, psutil.Process(proc.pid)))
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def insert_baseline(database_url: str, duration: float) -> dict[str, Any]:
    """Single-row INSERT + COMMIT in a loop on the same database for ``duration`` seconds: the rate at which this
    machine's database can make one small write durable, the floor under every turn edudesk commits."""
    engine = sa.create_engine(database_url)
    table = f"bench_baseline_{os.getpid()}"
    meta = sa.MetaData()
    rows = sa.Table(
        table,
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text),
        sa.Column("created_at", sa.Float),
    )
    meta.create_all(engine)
    latencies: list[float] = []
    try:
        with engine.connect() as conn:
            stop = time.monotonic() + duration
            while time.monotonic() < stop:
                started = time.monotonic()
                conn.execute(rows.insert(), {"body": "请问学费多少钱？周末有试听课吗", "created_at": time.time()})
                conn.commit()
                latencies.append((time.monotonic() - started) * 1000)
    finally:
        meta.drop_all(engine)
        engine.dispose()
    return {
        "inserts": len(latencies),
        "per_second": round(len(latencies) / duration, 1),
        "commit_ms": {"p50": _round(percentile(latencies, 50), 3), "p99": _round(percentile(latencies, 99), 3)},
    }


def ratios(
    edudesk: dict[str, Any], echo: dict[str, Any] | None, insert: dict[str, Any] | None, visitors: int
) -> dict[str, float | None]:
    """edudesk's figures over the machine's: how many times the bare minimum each one costs."""

    def over(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else round(a / b, 1)

    out: dict[str, float | None] = {}
    lat, server = edudesk["reply_ms"], edudesk["server"]
    if echo is not None:
        out["reply_p50_over_echo"] = over(lat["p50"], echo["rtt_ms"]["p50"])
        out["reply_p99_over_echo"] = over(lat["p99"], echo["rtt_ms"]["p99"])
        worst = max(lat.get("p99_by_second") or [], default=None)
        out["worst_second_over_echo"] = over(worst, echo["rtt_ms"]["worst_second_p99"])
        per_visitor = None
        if server.get("rss_mb_connected") is not None and server.get("rss_mb_start") is not None:
            per_visitor = (server["rss_mb_connected"] - server["rss_mb_start"]) * 1024 / max(1, visitors)
        out["kb_per_visitor_over_echo"] = over(per_visitor, echo["kb_per_connection"])
    if insert is not None:
        # One turn's server CPU in bare single-row commits: how many of the database's cheapest durable writes a
        # turn costs (a turn commits once, so most of this is edudesk's own work, not the database's).
        out["turn_cpu_over_bare_commit"] = over(server.get("cpu_ms_per_answered"), insert["commit_ms"]["p50"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--database-url", help="default: a temporary SQLite file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'baseline.db'}"
        result = {
            "echo": echo_baseline(args.connections, args.rate, args.duration),
            "insert": insert_baseline(url, args.duration),
        }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Page-view beacons of the visitor trail: a fixed rate of beacons from many visitors against one real instance.

Starts a real ``edudesk serve`` (SQLite file or the PostgreSQL URL given) and sends ``--rate`` beacons per second
for ``--duration`` seconds, round-robin over ``--visitors`` visitors (each beacon a new page view of its visitor,
with ``left`` for the previous one, as the widget sends them), over ``--connections`` keep-alive connections. The
client writes pre-encoded HTTP requests on raw sockets so that it costs the shared machine as little as possible.
Latency runs from writing a request to reading its answer's status line. After the run it waits for the writer
to store everything, then prints sent / accepted / latency percentiles / rows written / batches (transactions)
from the database and the server's ``/metrics``.

    .venv/bin/python benchmarks/beacons.py                        # SQLite, 1,000 beacons/s for 20 s
    .venv/bin/python benchmarks/beacons.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Target (issue 13): 1,000 beacons per second with p99 ≤ 20 ms, written in batches (not a transaction per beacon).
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench_run

from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.db import Database
from edudesk.orgs import service as orgs_service
from edudesk.visitors.models import PageView, Visit

UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
      "MicroMessenger/8.0.40 NetType/WIFI Language/zh_CN")
PAGES = ["https://school.example/", "https://school.example/course/math", "https://school.example/price",
         "https://school.example/teachers", "https://school.example/trial"]


def requests_for(host: str, org_key: str, org_id: int, secret: str, visitors: int, total: int) -> list[bytes]:
    """``total`` pre-encoded beacon requests, round-robin over the visitors."""
    tokens = VisitorTokens(secret)
    keys = [tokens.issue(org_id)[0] for _ in range(visitors)]
    previous: list[str | None] = [None] * visitors
    out = []
    for i in range(total):
        v = i % visitors
        view_key = secrets.token_urlsafe(12)
        first = previous[v] is None
        url = PAGES[(i // visitors) % len(PAGES)] + ("?utm_source=baidu&utm_medium=cpc&utm_campaign=bench" if first
                                                     else "")
        body = json.dumps({"org_key": org_key, "token": keys[v], "view": {
            "key": view_key, "url": url, "title": "压测页面",
            "referrer": "https://www.baidu.com/s?wd=%E5%B0%91%E5%84%BF%E7%BC%96%E7%A8%8B" if first else PAGES[0]},
            "left": None if first else {"key": previous[v], "seconds": 17}}, ensure_ascii=False).encode()
        previous[v] = view_key
        head = (f"POST /api/v1/widget/beacon HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {UA}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


class Results:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.lag: list[float] = []  # how late the client itself sent (a loaded machine)


async def connection(host: str, port: int, queue: asyncio.Queue[tuple[float, bytes] | None], res: Results) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := await queue.get()) is not None:
            due, request = item
            started = time.monotonic()
            res.lag.append((started - due) * 1000)
            try:
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length and int(length.group(1)):
                    await reader.readexactly(int(length.group(1)))
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                res.errors.append(type(exc).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            res.latencies.append((time.monotonic() - started) * 1000)
            res.statuses[status] = res.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def send_all(host: str, port: int, requests: list[bytes], rate: float, connections: int) -> Results:
    res = Results()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    workers = [asyncio.create_task(connection(host, port, queue, res)) for _ in range(connections)]
    began = time.monotonic() + 0.2
    for i, request in enumerate(requests):
        due = began + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return res


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edudesk-beacon-bench-"))
    database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    secret = secrets.token_urlsafe(32)
    _, org_key = bench_run.seed(database_url)
    db = Database(database_url)
    with db.session() as session:
        org = orgs_service.get_by_public_key(session, org_key)
        assert org is not None
        org_id = org.id
        rows_before = session.scalar(select(func.count()).select_from(PageView)) or 0
    server = bench_run.Server(database_url, None, work, {"EDUDESK_SECRET_KEY": secret})
    server.start(timeout=180)
    total = int(args.rate * args.duration)
    host = "127.0.0.1"
    requests = requests_for(f"{host}:{server.port}", org_key, org_id, secret, args.visitors, total)
    try:
        proc = psutil.Process(server.pid)
        cpu_before = sum(proc.cpu_times()[:2])
        res = asyncio.run(send_all(host, server.port, requests, args.rate, args.connections))
        cpu_ms = (sum(proc.cpu_times()[:2]) - cpu_before) * 1000
        accepted = res.statuses.get(204, 0)
        sent_done = time.monotonic()
        deadline = sent_done + 300
        while time.monotonic() < deadline:
            stored = metric(server.url, "edudesk_trail_written") + metric(server.url, "edudesk_trail_duplicates")
            if stored >= metric(server.url, "edudesk_trail_accepted"):
                break
            time.sleep(0.25)
        drain_s = round(time.monotonic() - sent_done, 1)  # the writer's backlog when the last answer came
        batches = int(metric(server.url, "edudesk_trail_batches"))
        dropped = int(metric(server.url, "edudesk_trail_dropped"))
        failed = int(metric(server.url, "edudesk_trail_failed_batches"))
    finally:
        server.stop()
    with db.session() as session:
        rows = (session.scalar(select(func.count()).select_from(PageView)) or 0) - rows_before
        visits = session.scalar(select(func.count()).select_from(Visit).where(Visit.org_id == org_id)) or 0
    db.dispose()
    result = {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "rate": args.rate, "duration": args.duration, "visitors": args.visitors, "connections": args.connections,
        "sent": total, "accepted": accepted, "statuses": res.statuses, "client_errors": len(res.errors),
        "latency_ms": {"p50": percentile(res.latencies, 0.5), "p95": percentile(res.latencies, 0.95),
                       "p99": percentile(res.latencies, 0.99), "max": percentile(res.latencies, 1.0),
                       "mean": round(statistics.fmean(res.latencies), 2) if res.latencies else None},
        "client_send_lag_ms_p99": percentile(res.lag, 0.99),
        "rows_written": rows, "visits": visits, "batches": batches, "writer_drain_s": drain_s,
        "rows_per_batch": round(rows / batches, 1) if batches else None, "dropped": dropped,
        "failed_batches": failed, "server_cpu_ms_per_beacon": round(cpu_ms / max(1, total), 3),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    p99 = result["latency_ms"]["p99"]
    ok = p99 is not None and p99 <= 20 and accepted == total and rows == total and batches < total / 10
    print(f"target p99 ≤ 20 ms, every beacon stored, batched: {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()

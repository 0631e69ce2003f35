"""WeChat Official Account: inbound callback to outbound customer-service send, at a fixed rate, on one instance.

Starts a fake WeChat API on 127.0.0.1 (the tests' fake, timestamping every ``message/custom/send``), a real
``edudesk serve`` whose WeChat API base points at it, and an Official Account inbox in safe (AES) mode. Parents
(distinct openids) each say one warm-up message; then they send ``学费多少`` callbacks, signed and encrypted as
WeChat does (wechatpy), at ``--rate`` per second for ``--duration`` seconds. Each callback's latency runs from the
moment its POST is sent to the moment the fake API receives the bot's answer for that parent. Lost = answers that
never came; duplicated = answers beyond one per callback.

    .venv/bin/python benchmarks/wechat_channel.py                      # SQLite, 100 msg/s for 30 s
    .venv/bin/python benchmarks/wechat_channel.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Targets (issue 12): p99 ≤ 200 ms at 100 messages per second, 0 lost, 0 duplicated. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from wechatpy.crypto import WeChatCrypto

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench_run
from tests.channels.wechat.fake_api import APP_ID, APP_SECRET, FakeWeChat

from edudesk.audit.service import Actor
from edudesk.channels.wechat.adapter import WeChatChannel
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.orgs.models import Org

TOKEN = "benchtoken2027"  # noqa: S105 (the fake account's callback token)
QUESTION = "学费多少"


class TimedWeChat(FakeWeChat):
    """The tests' fake, noting when each customer-service message arrives, per openid."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = collections.defaultdict(list)
        self.arrival_lock = threading.Lock()

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, str, bytes]:
        result = super().answer(method, path, query, body)
        if path == "/cgi-bin/message/custom/send" and isinstance(body, dict) and b'"errcode": 0' in result[2]:
            with self.arrival_lock:
                self.arrivals[str(body.get("touser"))].append(time.monotonic())
        return result


def make_inbox(database_url: str, secret_key: str, aes_key: str) -> str:
    db = Database(database_url)
    try:
        with db.session() as session:
            org = session.query(Org).order_by(Org.id.desc()).first()
            assert org is not None
            inbox = inboxes_service.create(session, Actor(org.id, label="bench"), WeChatChannel,
                                           inboxes_service.secret_box(secret_key), name="压测公众号",
                                           data={"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN,
                                                 "encoding_aes_key": aes_key, "message_mode": "safe"})
            session.commit()
            return inbox.public_id
    finally:
        db.dispose()


class Parent:
    def __init__(self, n: int) -> None:
        self.openid = f"oBENCH{n:06d}" + secrets.token_hex(4)
        self.sent: list[float] = []


def callback(crypto: WeChatCrypto, openid: str, msg_id: int) -> tuple[dict[str, str], str]:
    ts = str(int(time.time()))
    nonce = secrets.token_hex(5)
    plain = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
             f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             f"<Content><![CDATA[{QUESTION}]]></Content><MsgId>{msg_id}</MsgId></xml>")
    body = crypto.encrypt_message(plain, nonce, ts)
    encrypted = body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()  # noqa: S324
    msg_signature = hashlib.sha1("".join(sorted([TOKEN, ts, nonce, encrypted])).encode()).hexdigest()  # noqa: S324
    return ({"signature": signature, "timestamp": ts, "nonce": nonce, "openid": openid,
             "encrypt_type": "aes", "msg_signature": msg_signature}, body)


async def send_one(client: httpx.AsyncClient, url: str, crypto: WeChatCrypto, parent: Parent, msg_id: int,
                   errors: list[str], measured: bool) -> None:
    params, body = callback(crypto, parent.openid, msg_id)
    started = time.monotonic()
    if measured:
        parent.sent.append(started)
    try:
        resp = await client.post(url, params=params, content=body.encode())
        if resp.status_code != 200:
            errors.append(f"HTTP {resp.status_code}")
    except httpx.HTTPError as exc:
        errors.append(type(exc).__name__)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--parents", type=int, default=200)
    parser.add_argument("--job-loops", type=int, default=None, help="EDUDESK_JOB_LOOPS of the server")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="seconds without a new answer after which the missing ones count as lost")
    parser.add_argument("--workers", type=int, default=1, help="edudesk serve --workers (one instance)")
    parser.add_argument("--redis-url", default=None, help="Redis for the events and tokens, as in production")
    parser.add_argument("--no-deliver-on-commit", action="store_true",
                        help="deliver through the job only (EDUDESK_DELIVER_ON_COMMIT=false), for comparison")
    args = parser.parse_args()

    fake = TimedWeChat()
    fake.start()
    work = Path(tempfile.mkdtemp(prefix="edudesk-wechat-bench-"))
    database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    secret_key = secrets.token_urlsafe(32)
    aes_key = base64.b64encode(os.urandom(32)).decode()[:-1]
    bench_run.seed(database_url)
    public_id = make_inbox(database_url, secret_key, aes_key)
    server = bench_run.Server(database_url, args.redis_url, work, {
        "EDUDESK_SECRET_KEY": secret_key, "EDUDESK_WECHAT_API_BASE": fake.url,
        "EDUDESK_RUN_JOBS_IN_PROCESS": "true",
        "EDUDESK_DELIVER_ON_COMMIT": "false" if args.no_deliver_on_commit else "true",
        **({"EDUDESK_JOB_LOOPS": str(args.job_loops)} if args.job_loops else {})}, workers=args.workers)
    server.start(timeout=600)  # two workers loading the language models on a busy machine take minutes
    crypto = WeChatCrypto(TOKEN, aes_key, APP_ID)
    parents = [Parent(n) for n in range(args.parents)]
    errors: list[str] = []
    try:
        url = f"{server.url}/channels/wechat/{public_id}"
        # Warm-up: each parent's first message opens a conversation (the welcome and the answer are counted per
        # parent before the measured phase).
        asyncio.run(asyncio.wait_for(_warm(url, crypto, parents, errors), 120))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(len(fake.arrivals[p.openid]) < 2 for p in parents):
            time.sleep(0.2)
        baseline = {p.openid: len(fake.arrivals[p.openid]) for p in parents}
        proc = psutil.Process(server.pid)
        procs = [proc, *proc.children(recursive=True)]  # --workers: the worker processes do the work
        cpu_before = sum(sum(p.cpu_times()[:2]) for p in procs)
        total = asyncio.run(_measured(url, crypto, parents, args.rate, args.duration, errors))
        # Late answers are not lost: wait until every callback is answered, or nothing new arrives for
        # --settle seconds; then a further 5 s for any duplicate a retry would cause.
        _settle(fake, parents, baseline, args.settle)
        time.sleep(5)
        cpu_ms = (sum(sum(p.cpu_times()[:2]) for p in procs) - cpu_before) * 1000
    finally:
        server.stop()
        fake.stop()
    latencies: list[float] = []
    lost = duplicated = 0
    for p in parents:
        got = fake.arrivals[p.openid][baseline[p.openid]:]
        lost += max(0, len(p.sent) - len(got))
        duplicated += max(0, len(got) - len(p.sent))
        latencies += [(arrived - sent) * 1000 for sent, arrived in zip(p.sent, got, strict=False)]
    result = {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "workers": args.workers, "redis": bool(args.redis_url), "deliver_on_commit": not args.no_deliver_on_commit,
        "rate": args.rate, "duration": args.duration, "parents": args.parents, "sent": total,
        "answered": len(latencies), "server_cpu_ms_per_message": round(cpu_ms / max(1, total), 2),
        "load_average": os.getloadavg()[0], "lost": lost, "duplicated": duplicated, "http_errors": len(errors),
        "latency_ms": {"p50": round(percentile(latencies, 0.5), 1) if latencies else None,
                       "p95": round(percentile(latencies, 0.95), 1) if latencies else None,
                       "p99": round(percentile(latencies, 0.99), 1) if latencies else None,
                       "mean": round(statistics.fmean(latencies), 1) if latencies else None},
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = (result["latency_ms"]["p99"] is not None and result["latency_ms"]["p99"] <= 200 and lost == 0
          and duplicated == 0)
    print(f"target p99 ≤ 200 ms, 0 lost, 0 duplicated: {'ok' if ok else 'MISSED'}")


def _settle(fake: TimedWeChat, parents: list[Parent], baseline: dict[str, int], quiet: float) -> None:
    def answered() -> int:
        return sum(min(len(p.sent), len(fake.arrivals[p.openid]) - baseline[p.openid]) for p in parents)

    wanted = sum(len(p.sent) for p in parents)
    last, since = answered(), time.monotonic()
    while last < wanted and time.monotonic() - since < quiet:
        time.sleep(0.5)
        now = answered()
        if now != last:
            last, since = now, time.monotonic()


async def _warm(url: str, crypto: WeChatCrypto, parents: list[Parent], errors: list[str]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        sem = asyncio.Semaphore(20)

        async def one(i: int, p: Parent) -> None:
            async with sem:
                await send_one(client, url, crypto, p, 10**11 + i, errors, False)

        await asyncio.gather(*(one(i, p) for i, p in enumerate(parents)))


async def _measured(url: str, crypto: WeChatCrypto, parents: list[Parent], rate: float, duration: float,
                    errors: list[str]) -> int:
    ids = iter(range(1_000_000, 10**12))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        tasks = []
        total = int(rate * duration)
        began = time.monotonic()
        for i in range(total):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send_one(client, url, crypto, parents[i % len(parents)], next(ids),
                                                      errors, True)))
        await asyncio.gather(*tasks)
        return total


if __name__ == "__main__":
    main()

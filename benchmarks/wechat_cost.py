"""What one WeChat Official Account message costs the server's CPU, step by step, without uvicorn in the way.

Runs in this process what ``POST /channels/wechat/<public_id>`` runs for a signed, AES-encrypted ``学费多少``
callback (the inbox lookup, the signature check, decryption and XML, then the receipt and the conversation turn),
one callback after another, while the deliver-on-commit threads send each answer to a fake WeChat API on 127.0.0.1
(the tests' fake, in this process). It prints the CPU milliseconds per message of each step — the callback's steps
by ``time.thread_time`` of the calling thread, the delivery lane's by the CPU of its threads (the fake API's own
threads are not counted) — and the SQL statements each side issues. CPU time is far less disturbed by the rest of
a busy machine than wall-clock figures, so this is the number to watch when changing the WeChat path; the
end-to-end figure (uvicorn, the event loop, the fake over real sockets) is ``wechat_channel.py``'s.

    .venv/bin/python benchmarks/wechat_cost.py
    .venv/bin/python benchmarks/wechat_cost.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import event
from wechatpy.crypto import WeChatCrypto

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import seed
from tests.channels.wechat.fake_api import APP_ID, APP_SECRET, FakeWeChat
from wechat_channel import TOKEN
from wechat_channel import callback as signed_callback

from edudesk.app import create_app
from edudesk.audit.service import Actor
from edudesk.channels.wechat import callback, inbound
from edudesk.channels.wechat.adapter import WeChatChannel
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.orgs import service as orgs_service
from edudesk.outbound.service import Deliverer
from edudesk.settings import Settings

DELIVERY_THREADS = "deliver-on-commit"


class Steps:
    """CPU seconds (``time.thread_time``) per named step, summed over the threads that ran it; nested steps are
    subtracted from the step around them, so the steps add up to the whole."""

    def __init__(self) -> None:
        self.cpu: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._local = threading.local()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        stack: list[list[float]] = self._local.__dict__.setdefault("stack", [])
        frame = [time.thread_time(), 0.0]  # start, CPU of nested steps
        stack.append(frame)
        try:
            yield
        finally:
            stack.pop()
            spent = time.thread_time() - frame[0]
            self.cpu[name] += spent - frame[1]
            self.calls[name] += 1
            if stack:
                stack[-1][1] += spent

    def wrap(self, obj: Any, attr: str, name: str) -> None:
        original = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return original(*args, **kwargs)

        setattr(obj, attr, timed)

    def clear(self) -> None:
        self.cpu.clear()
        self.calls.clear()


def make_callback(crypto: WeChatCrypto, openid: str, msg_id: int) -> tuple[callback.Query, bytes]:
    """The end-to-end benchmark's signed, encrypted callback, as the handler in process takes it."""
    params, body = signed_callback(crypto, openid, msg_id)
    return callback.Query.of(params), body.encode()


def delivery_thread_cpu() -> float:
    """CPU seconds used so far by this process's deliver-on-commit threads."""
    ids = {t.native_id for t in threading.enumerate() if t.name.startswith(DELIVERY_THREADS)}
    return sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id in ids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    ap.add_argument("--parents", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=6, help="measured rounds of one message per parent")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    fake = FakeWeChat().start()
    tmp = Path(tempfile.mkdtemp(prefix="edudesk-wxcost-"))
    url = args.database_url or f"sqlite:///{tmp / 'wx.db'}"
    slug, _key = seed(url)
    secret_key = "wechat-cost-" + "x" * 22
    aes_key = base64.b64encode(os.urandom(32)).decode()[:-1]
    settings = Settings(database_url=url, secret_key=secret_key, data_dir=tmp, visitor_messages_per_minute=100_000,
                        wechat_api_base=fake.url, run_jobs_in_process=False, deliver_on_commit=True)
    app = create_app(settings)
    ctx = app.state.ctx
    direct = app.state.deliver_on_commit
    if not ctx.channels.has("wechat"):
        ctx.channels.register(WeChatChannel)
    with ctx.db.session() as session:
        org_id = orgs_service.get_by_slug(session, slug).id
        inbox = inboxes_service.create(session, Actor(org_id, label="bench"), WeChatChannel,
                                       inboxes_service.secret_box(secret_key), name="压测公众号",
                                       data={"app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN,
                                             "encoding_aes_key": aes_key, "message_mode": "safe"})
        session.commit()
        public_id = inbox.public_id

    steps = Steps()
    statements: collections.Counter[str] = collections.Counter()

    def count(_conn: Any, _cur: Any, sql: str, *_a: Any) -> None:
        side = "delivery" if threading.current_thread().name.startswith(DELIVERY_THREADS) else "callback"
        statements[f"{side}:{sql.split(None, 1)[0].upper()}"] += 1

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    deliverer: Deliverer = direct.deliverer
    steps.wrap(deliverer, "claim_next", "delivery: claim")
    steps.wrap(deliverer, "prepare", "delivery: prepare (reads)")
    steps.wrap(deliverer, "finish_sent", "delivery: outcome + commit")
    steps.wrap(WeChatChannel, "send", "delivery: adapter send (HTTP)")
    steps.wrap(inbound, "handle", "callback: handle's own (session, classify, commit)")
    steps.wrap(inboxes_service, "first_receipt_of", "callback: receipt (dedupe of resends)")
    steps.wrap(inbound_service, "receive", "callback: the turn (inbound.service.receive)")

    crypto = WeChatCrypto(TOKEN, aes_key, APP_ID)
    parents = [f"oCOST{n:06d}" + secrets.token_hex(4) for n in range(args.parents)]
    ids = iter(range(1_000_000, 10**12))

    def one(openid: str) -> None:
        query, body = make_callback(crypto, openid, next(ids))
        with steps.step("callback: inbox lookup (load_target)"):
            target = inbound.load_target(ctx, public_id)
        with steps.step("callback: signature, AES, XML (open_message)"):
            fields = callback.open_message(target.config, query, body)
        inbound.handle(ctx, target, fields)

    def rounds(n: int, each: Callable[[str], None]) -> None:
        for _ in range(n):
            for openid in parents:
                each(openid)
            direct.wait_idle(60)

    rounds(2, one)  # each parent's first message opens the conversation (welcome + answer); then a warm turn
    per_round: list[float] = []
    steps.clear()
    statements.clear()
    sent_before = len(fake.texts())
    main_before, delivery_before = time.thread_time(), delivery_thread_cpu()
    for _ in range(args.rounds):
        t0, d0 = time.thread_time(), delivery_thread_cpu()
        rounds(1, one)
        per_round.append(((time.thread_time() - t0) + (delivery_thread_cpu() - d0)) / len(parents) * 1000)
    main_cpu = time.thread_time() - main_before
    delivery_cpu = delivery_thread_cpu() - delivery_before
    messages = args.rounds * len(parents)
    sent = len(fake.texts()) - sent_before
    direct.close()
    fake.stop()
    ctx.db.dispose()

    ms = {name: round(cpu / messages * 1000, 3) for name, cpu in sorted(steps.cpu.items())}
    delivery_steps = sum(v for k, v in ms.items() if k.startswith("delivery:"))
    ms["delivery: the rest (threads, session, commit of the claim)"] = round(
        delivery_cpu / messages * 1000 - delivery_steps, 3)
    result = {
        "database": ctx.db.dialect, "messages": messages, "answers_sent": sent,
        "cpu_ms_per_message": {
            "callback (calling thread)": round(main_cpu / messages * 1000, 3),
            "delivery (deliver-on-commit threads)": round(delivery_cpu / messages * 1000, 3),
            "total": round((main_cpu + delivery_cpu) / messages * 1000, 3),
            "total, best round": round(min(per_round), 3),
            "total, median round": round(statistics.median(per_round), 3),
        },
        "steps_ms_per_message": ms,
        "statements_per_message": {k: round(v / messages, 2) for k, v in sorted(statements.items())},
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if sent == messages else 1


if __name__ == "__main__":
    sys.exit(main())

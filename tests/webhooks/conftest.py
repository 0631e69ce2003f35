"""Webhook fixtures: a real HTTP receiver on 127.0.0.1, a worker that runs only delivery jobs, and a way to make
every retry due now instead of sleeping for minutes."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update

from edudesk import jobs
from edudesk.audit.service import Actor
from edudesk.db import Database, utcnow
from edudesk.settings import Settings
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.delivery import Deliverer
from edudesk.webhooks.models import UNFINISHED, WebhookDelivery
from edudesk.webhooks.urls import UrlPolicy

APP_SECRET = "test-secret-" + "x" * 20
ALL_TYPES = ["lead.created", "lead.updated", "lead.status_changed", "trial.booked"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": True})


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """Answers ``fail_first`` requests with 500, then ``status``; records every request it got."""

    fail_first: int = 0
    status: int = 200
    delay: float = 0.0
    answer: bytes = b"ok"
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    status = 500 if len(receiver.requests) < receiver.fail_first else receiver.status
                    receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body,
                                                      status))
                if receiver.delay:
                    time.sleep(receiver.delay)
                payload = b"boom" if status >= 300 else receiver.answer
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def make_deliverer(*, allow_private: bool = True, timeout: float = 10.0,
                   clock: Callable[[], dt.datetime] = utcnow) -> Deliverer:
    return Deliverer(webhooks_service.secret_box(APP_SECRET), UrlPolicy(allow_private=allow_private),
                     connect_timeout=min(timeout, 5.0), timeout=timeout, clock=clock)


def make_worker(db: Database, deliverer: Deliverer, name: str = "w1") -> jobs.Worker:
    registry = jobs.JobRegistry()
    registry.register(webhooks_service.DELIVER_JOB, deliverer)
    return jobs.Worker(db, registry, worker_id=name)


def fast_forward(db: Database) -> None:
    """Makes every scheduled retry due now: the test's stand-in for waiting minutes or hours."""
    past = utcnow() - dt.timedelta(seconds=1)
    with db.session() as session:
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending).values(run_at=past))
        session.execute(update(WebhookDelivery).where(WebhookDelivery.status.in_(UNFINISHED))
                        .values(next_attempt_at=past))
        session.commit()


def drain(db: Database, worker: jobs.Worker, deadline_seconds: float = 60.0) -> None:
    """Runs the worker, fast-forwarding retries between rounds, until no job is left (another worker may still be
    running some: then it waits a little). The deadline only stops a broken test from hanging."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        while worker.run_pending(limit=100):
            pass
        fast_forward(db)
        with db.session() as session:
            left = session.query(jobs.Job).filter(jobs.Job.status.in_(
                [jobs.JobStatus.pending, jobs.JobStatus.running])).count()
        if not left:
            return
        time.sleep(0.01)
    raise AssertionError("deliveries did not settle")


def create_endpoint(db: Database, org_id: int, url: str, types: list[str] | None = None) -> tuple[int, str]:
    with db.session() as session:
        endpoint, secret = webhooks_service.create_endpoint(
            session, Actor(org_id, label="test"), webhooks_service.secret_box(APP_SECRET),
            UrlPolicy(allow_private=True), webhooks_service.EndpointInput(url, types or ALL_TYPES, "测试"))
        session.commit()
        return endpoint.id, secret

"""The ``webhooks.deliver`` job: claim one delivery, POST it, log the attempt, schedule the retry or the next one.

No database transaction is held open while the receiver answers: the delivery is claimed with a short lease (a
conditional UPDATE that only one worker can win, on PostgreSQL as on SQLite), committed, sent, and the outcome is
written in a second transaction. The claim also refuses a delivery while an earlier event of the same subject is
still unfinished for the same endpoint, which keeps each subject's events in order; finishing a delivery (success
or dead) enqueues the next waiting one of its subject.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from edudesk import jobs
from edudesk.db import utcnow
from edudesk.secretbox import SecretBox, SecretBoxError
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks import signing
from edudesk.webhooks.models import (
    UNFINISHED,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from edudesk.webhooks.urls import UrlPolicy, UrlRefused

log = structlog.get_logger(__name__)

BODY_EXCERPT_BYTES = 1024
USER_AGENT = "edudesk-webhooks/1"


def retry_delay(attempts: int, rand: Callable[[], float] = random.random) -> dt.timedelta:
    """1, 2, 4 … minutes after the 1st, 2nd, 3rd … failure, capped at an hour, each ±15 % so that the retries of
    many deliveries to one receiver that was down do not all arrive in the same second when it comes back."""
    base = min(3600.0, 60.0 * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=base * (0.85 + 0.3 * rand()))


def body_of(event: WebhookEvent) -> bytes:
    data = {"id": event.public_id, "type": event.type, "created_at": event.created_at.isoformat(),
            "sequence": event.sequence, "data": event.payload}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Outcome:
    code: int | None = None
    body: str = ""
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass
class Deliverer:
    """The job handler, built by the app factory with what it needs from the settings."""

    box: SecretBox
    policy: UrlPolicy
    connect_timeout: float = 5.0
    timeout: float = 10.0
    retry_window: dt.timedelta = dt.timedelta(hours=24)
    lease: dt.timedelta = dt.timedelta(seconds=120)
    clock: Callable[[], dt.datetime] = utcnow
    transport: httpx.BaseTransport | None = field(default=None, repr=False)

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        self.deliver(session, int(payload["delivery_id"]))

    def claim(self, session: Session, delivery_id: int) -> bool:
        """Takes the delivery for this worker if it is due, unfinished, not leased and first in its subject's
        line for its endpoint. One UPDATE decides, so two workers can never both win."""
        now = self.clock()
        earlier = aliased(WebhookDelivery)
        blocked = exists().where(earlier.endpoint_id == WebhookDelivery.endpoint_id,
                                 earlier.subject_key == WebhookDelivery.subject_key,
                                 earlier.sequence < WebhookDelivery.sequence, earlier.status.in_(UNFINISHED))
        result = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_(UNFINISHED),
                   WebhookDelivery.next_attempt_at <= now,
                   (WebhookDelivery.locked_until.is_(None)) | (WebhookDelivery.locked_until < now), ~blocked)
            .values(locked_until=now + self.lease)
            .execution_options(synchronize_session=False))
        session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def deliver(self, session: Session, delivery_id: int) -> None:
        if not self.claim(session, delivery_id):
            self.look_again_after_lease(session, delivery_id)
            return
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        assert delivery is not None
        event = session.get(WebhookEvent, delivery.event_id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert event is not None and endpoint is not None
        session.commit()  # no transaction stays open while the receiver answers
        started = self.clock()
        outcome = self.send(endpoint, event, delivery) if endpoint.enabled else Outcome(error="端点已停用")
        self.record(session, delivery, outcome, started)

    def look_again_after_lease(self, session: Session, delivery_id: int) -> None:
        """The delivery is leased by another job run. If that worker was killed mid-send, no job is left to finish
        the delivery; so one more job looks again when the lease ends (it finds nothing to do if the holder
        finished). Without this a delivery could stay unsent forever after a ``kill -9`` (docs/faults.md)."""
        delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
        if (delivery is None or delivery.status not in UNFINISHED or delivery.locked_until is None
                or delivery.locked_until < self.clock()):
            return
        jobs.enqueue(session, webhooks_service.DELIVER_JOB, {"delivery_id": delivery.id}, org_id=delivery.org_id,
                     run_at=delivery.locked_until + dt.timedelta(seconds=1),
                     max_attempts=webhooks_service.JOB_MAX_ATTEMPTS)
        session.commit()

    def send(self, endpoint: WebhookEndpoint, event: WebhookEvent, delivery: WebhookDelivery) -> Outcome:
        began = time.monotonic()
        try:
            secret = self.box.decrypt(endpoint.secret_encrypted)
            target = self.policy.target(endpoint.url)
        except (SecretBoxError, UrlRefused) as exc:
            return Outcome(error=str(exc))
        body = body_of(event)
        timestamp = int(self.clock().timestamp())
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "Host": target.host_header, "X-Edudesk-Event": event.type,
                   "X-Edudesk-Delivery": delivery.public_id, "X-Edudesk-Timestamp": str(timestamp),
                   "X-Edudesk-Signature": signing.sign(secret, timestamp, body)}
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            # trust_env=False: an HTTP(S)_PROXY of the server's environment must not carry webhooks elsewhere.
            with httpx.Client(transport=self.transport, timeout=timeout, follow_redirects=False,
                              trust_env=False) as client, \
                    client.stream("POST", target.url, content=body, headers=headers,
                                  extensions=extensions) as resp:
                excerpt = b""
                for chunk in resp.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= BODY_EXCERPT_BYTES:
                        break
                code = resp.status_code
        except httpx.TimeoutException as exc:
            return Outcome(error=f"超时：{type(exc).__name__}", duration_ms=_ms_since(began))
        except httpx.HTTPError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=_ms_since(began))
        text = excerpt[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace")
        error = None if 200 <= code < 300 else f"HTTP {code}"
        return Outcome(code=code, body=text, error=error, duration_ms=_ms_since(began))

    def record(self, session: Session, delivery: WebhookDelivery, outcome: Outcome, started: dt.datetime) -> None:
        now = self.clock()
        session.add(WebhookAttempt(org_id=delivery.org_id, delivery_id=delivery.id, started_at=started,
                                   response_code=outcome.code, duration_ms=outcome.duration_ms,
                                   response_body=outcome.body, error=outcome.error))
        delivery.attempts += 1
        delivery.last_response_code = outcome.code
        delivery.last_error = outcome.error
        delivery.last_duration_ms = outcome.duration_ms
        delivery.locked_until = None
        if outcome.ok:
            delivery.status = DeliveryStatus.succeeded
            delivery.delivered_at = now
        elif now - delivery.series_started_at >= self.retry_window:
            delivery.status = DeliveryStatus.dead
        else:
            delivery.status = DeliveryStatus.failed
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
            webhooks_service.schedule(session, delivery)
        session.flush()
        if delivery.status in (DeliveryStatus.succeeded, DeliveryStatus.dead):
            self.release_next(session, delivery)
        log.info("webhook_attempt", delivery=delivery.public_id, status=delivery.status.value, code=outcome.code,
                 error=outcome.error)

    def release_next(self, session: Session, delivery: WebhookDelivery) -> None:
        """The next unfinished event of the subject for this endpoint was waiting behind this one: run it now."""
        nxt = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == delivery.endpoint_id,
                   WebhookDelivery.subject_key == delivery.subject_key,
                   WebhookDelivery.sequence > delivery.sequence, WebhookDelivery.status.in_(UNFINISHED))
            .order_by(WebhookDelivery.sequence).limit(1)).first()
        if nxt is not None:
            webhooks_service.schedule(session, nxt)


def _ms_since(began: float) -> int:
    return int((time.monotonic() - began) * 1000)

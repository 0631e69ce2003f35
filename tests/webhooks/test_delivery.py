"""Delivery end to end against a real HTTP receiver: outbox, retries, order per lead, dead, replay, workers."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select

from edudesk import jobs
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database, utcnow
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.conftest import TwoOrgs, free_port
from tests.webhooks.conftest import Receiver, create_endpoint, drain, make_deliverer, make_worker
from tests.webhooks.test_signing import documented_verifier


def emit(db: Database, org_id: int, event_type: str, subject: str, **data: object) -> str:
    with db.session() as session:
        event = webhooks_service.emit(session, org_id, event_type, subject, dict(data))
        session.commit()
        return event.public_id


def deliveries(db: Database) -> list[WebhookDelivery]:
    with db.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_rolled_back_emit_sends_nothing(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    create_endpoint(database, orgs.a.id, receiver.url)
    with database.session() as session:
        webhooks_service.emit(session, orgs.a.id, "lead.created", "lead:1", {"name": "王妈妈"})
        session.rollback()
    drain(database, make_worker(database, make_deliverer()))
    assert receiver.requests == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
        assert session.scalar(select(func.count()).select_from(jobs.Job)) == 0


def test_only_subscribed_enabled_endpoints_of_the_org_get_it(database: Database, orgs: TwoOrgs,
                                                             receiver: Receiver) -> None:
    create_endpoint(database, orgs.a.id, receiver.url, ["lead.created"])
    create_endpoint(database, orgs.a.id, receiver.url, ["trial.booked"])
    create_endpoint(database, orgs.b.id, receiver.url, ["lead.created"])
    emit(database, orgs.a.id, "lead.created", "lead:1", name="王妈妈")
    drain(database, make_worker(database, make_deliverer()))
    assert len(receiver.requests) == 1 and receiver.requests[0].json["type"] == "lead.created"


def test_events_arrive_once_each_and_in_order_per_lead(database: Database, orgs: TwoOrgs,
                                                        receiver: Receiver) -> None:
    """The receiver fails its first 4 requests; after the retries every event is accepted exactly once, and the
    events of each lead in the order they were emitted, though the two leads interleave."""
    receiver.fail_first = 4
    _, secret = create_endpoint(database, orgs.a.id, receiver.url)
    emitted: dict[str, list[str]] = {"lead:1": [], "lead:2": []}
    for step in range(4):
        for lead in ("lead:1", "lead:2"):
            kind = "lead.created" if step == 0 else "lead.updated"
            emitted[lead].append(emit(database, orgs.a.id, kind, lead, step=step, lead=lead))
    drain(database, make_worker(database, make_deliverer()))

    accepted = receiver.accepted()
    ids = [r.json["id"] for r in accepted]
    assert sorted(ids) == sorted(emitted["lead:1"] + emitted["lead:2"]) and len(ids) == len(set(ids)) == 8
    for lead, expected in emitted.items():
        got = [r.json for r in accepted if r.json["data"]["lead"] == lead]
        assert [g["id"] for g in got] == expected
        assert [g["sequence"] for g in got] == [1, 2, 3, 4]
    verify = documented_verifier()
    for r in receiver.requests:
        assert verify(secret, r.headers, r.body)
        assert r.headers["x-edudesk-event"] == r.json["type"] and r.headers["x-edudesk-delivery"].startswith("dlv_")

    rows = deliveries(database)
    assert all(d.status == DeliveryStatus.succeeded and d.delivered_at for d in rows)
    with database.session() as session:
        attempts = list(session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))
    assert len(attempts) == 8 + 4
    failed = [a for a in attempts if a.response_code == 500]
    assert len(failed) == 4 and all(a.error == "HTTP 500" and a.response_body == "boom" for a in failed)
    assert sum(d.attempts for d in rows) == 12


def test_refused_connection_is_retried_with_backoff(database: Database, orgs: TwoOrgs) -> None:
    create_endpoint(database, orgs.a.id, f"http://127.0.0.1:{free_port()}/hook")
    emit(database, orgs.a.id, "lead.created", "lead:1")
    emit(database, orgs.a.id, "lead.updated", "lead:1")
    before = utcnow()
    make_worker(database, make_deliverer()).run_pending()
    first, second = deliveries(database)
    assert first.status == DeliveryStatus.failed and first.last_response_code is None and first.last_error
    assert dt.timedelta(seconds=45) < first.next_attempt_at - before < dt.timedelta(seconds=75)
    assert second.status == DeliveryStatus.pending and second.attempts == 0  # waits behind the first


def test_timeout_counts_as_failure(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    receiver.delay = 1.5
    create_endpoint(database, orgs.a.id, receiver.url)
    emit(database, orgs.a.id, "lead.created", "lead:1")
    make_worker(database, make_deliverer(timeout=0.3)).run_pending()
    (delivery,) = deliveries(database)
    assert delivery.status == DeliveryStatus.failed and "超时" in (delivery.last_error or "")


def test_dead_after_the_retry_window_releases_the_next_event(database: Database, orgs: TwoOrgs,
                                                             receiver: Receiver) -> None:
    receiver.fail_first = 1
    create_endpoint(database, orgs.a.id, receiver.url)
    emit(database, orgs.a.id, "lead.created", "lead:1")
    emit(database, orgs.a.id, "lead.updated", "lead:1")
    later = make_deliverer(clock=lambda: utcnow() + dt.timedelta(hours=25))
    drain(database, make_worker(database, later))
    first, second = deliveries(database)
    assert first.status == DeliveryStatus.dead and first.attempts == 1
    assert second.status == DeliveryStatus.succeeded


def test_succeeded_is_never_resent_but_replay_sends_again(database: Database, orgs: TwoOrgs,
                                                          receiver: Receiver) -> None:
    endpoint_id, _ = create_endpoint(database, orgs.a.id, receiver.url)
    event_id = emit(database, orgs.a.id, "lead.created", "lead:1")
    worker = make_worker(database, make_deliverer())
    drain(database, worker)
    (delivery,) = deliveries(database)
    with database.session() as session:  # a stale duplicate job must not send it again
        webhooks_service.schedule(session, delivery)
        session.commit()
    drain(database, worker)
    assert len(receiver.requests) == 1
    with database.session() as session:
        webhooks_service.replay(session, Actor(orgs.a.id, label="t"), endpoint_id, delivery.id)
        session.commit()
    drain(database, worker)
    assert [r.json["id"] for r in receiver.requests] == [event_id, event_id]
    with database.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.replay")).one()


def test_private_target_is_refused_at_delivery_time(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    create_endpoint(database, orgs.a.id, receiver.url)  # saved while private targets were allowed
    emit(database, orgs.a.id, "lead.created", "lead:1")
    make_worker(database, make_deliverer(allow_private=False)).run_pending()
    (delivery,) = deliveries(database)
    assert receiver.requests == [] and delivery.status == DeliveryStatus.failed
    assert "内网" in (delivery.last_error or "")


def test_response_body_excerpt_is_at_most_1kb(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    receiver.answer = "好".encode() * 3000
    create_endpoint(database, orgs.a.id, receiver.url)
    emit(database, orgs.a.id, "lead.created", "lead:1")
    drain(database, make_worker(database, make_deliverer()))
    with database.session() as session:
        attempt = session.scalars(select(WebhookAttempt)).one()
    assert attempt.response_code == 200 and 0 < len(attempt.response_body.encode()) <= 1024 + 3


def test_two_workers_never_send_a_delivery_twice(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    """Two workers race over the same jobs, with a duplicate job for every delivery on top."""
    create_endpoint(database, orgs.a.id, receiver.url)
    expected = [emit(database, orgs.a.id, "lead.updated", f"lead:{i % 5}", i=i) for i in range(20)]
    with database.session() as session:
        for d in session.scalars(select(WebhookDelivery)):
            webhooks_service.schedule(session, d)
        session.commit()
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            drain(database, make_worker(database, make_deliverer(), name))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    ids = [r.json["id"] for r in receiver.requests]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    for lead in range(5):
        seqs = [r.json["sequence"] for r in receiver.requests if r.json["data"]["i"] % 5 == lead]
        assert seqs == sorted(seqs)

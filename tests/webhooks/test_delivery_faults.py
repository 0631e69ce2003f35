"""A worker killed in the middle of sending a webhook leaves the delivery leased; it must still be sent, once,
when the lease runs out (before, the job that found it leased ended as done and the delivery stayed unsent)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from edudesk import jobs
from edudesk.db import Database, utcnow
from edudesk.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.conftest import TwoOrgs
from tests.webhooks.conftest import Receiver, create_endpoint, make_deliverer, make_worker
from tests.webhooks.test_delivery import emit


def pending_jobs(database: Database) -> list[jobs.Job]:
    with database.session() as session:
        return list(session.scalars(select(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending)))


def test_delivery_leased_by_a_dead_worker_is_sent_once_after_the_lease(database: Database, orgs: TwoOrgs,
                                                                        receiver: Receiver) -> None:
    create_endpoint(database, orgs.a.id, receiver.url, ["lead.created"])
    event_id = emit(database, orgs.a.id, "lead.created", "lead:1", name="王妈妈")
    deliverer = make_deliverer()
    with database.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        # The dead worker's claim: committed, then the process was killed before it sent or recorded anything.
        assert deliverer.claim(session, delivery.id)
        delivery_id = delivery.id

    worker = make_worker(database, deliverer)
    assert worker.run_pending() == 1  # the delivery job, run again by another worker: the delivery is leased
    assert receiver.requests == []
    again = pending_jobs(database)
    assert len(again) == 1 and again[0].payload == {"delivery_id": delivery_id}
    with database.session() as session:
        locked_until = session.scalar(select(WebhookDelivery.locked_until).where(WebhookDelivery.id == delivery_id))
        assert locked_until is not None and again[0].run_at > locked_until

    past = utcnow() - dt.timedelta(seconds=1)
    with database.session() as session:  # the lease runs out
        session.execute(update(WebhookDelivery).values(locked_until=past))
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending).values(run_at=past))
        session.commit()
    while worker.run_pending():
        pass
    assert [r.json["id"] for r in receiver.requests] == [event_id]
    with database.session() as session:
        assert session.get(WebhookDelivery, delivery_id).status == DeliveryStatus.succeeded
    assert pending_jobs(database) == []


def test_a_finished_delivery_schedules_nothing_more(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    create_endpoint(database, orgs.a.id, receiver.url, ["lead.created"])
    emit(database, orgs.a.id, "lead.created", "lead:1", name="王妈妈")
    worker = make_worker(database, make_deliverer())
    while worker.run_pending():
        pass
    with database.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        make_deliverer().deliver(session, delivery.id)  # a duplicate job for a delivery already sent
    assert pending_jobs(database) == [] and len(receiver.requests) == 1

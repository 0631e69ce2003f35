"""The purge job: per org, deletes what is past its retention period in bounded batches.

``privacy.schedule`` (no org) runs daily: it enqueues one ``privacy.purge`` per org that has none waiting and
enqueues its own next run. A purge run commits each batch on its own (rows, files and an audit entry with the
counts together), so a run killed half-way has lost nothing and done nothing twice: the worker's lease runs out,
the job is claimed again and the next run finds only what is still past retention. A run stops after
``MAX_BATCHES`` batches per kind and re-enqueues itself at once, so a first purge of years of data never holds a
job lease (or the SQLite writer) for long. Every org's run touches that org's rows only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.db import Database, utcnow
from edudesk.orgs import service as orgs_service
from edudesk.privacy import files, retention
from edudesk.privacy.registry import PrivacyRegistry

log = structlog.get_logger(__name__)

PURGE_JOB = "privacy.purge"
SCHEDULE_JOB = "privacy.schedule"
EVERY = dt.timedelta(days=1)
MAX_BATCHES = 20
CONTINUE_AFTER = dt.timedelta(seconds=5)


class PurgeRunner:
    """The ``privacy.purge`` handler (registered by the app factory with the org-independent registry)."""

    def __init__(self, registry: PrivacyRegistry) -> None:
        self.registry = registry

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        org_id = int(payload["org_id"])
        finished = self.run(session, org_id)
        if not finished:
            jobs.enqueue(session, PURGE_JOB, {"org_id": org_id}, org_id=org_id, run_at=utcnow() + CONTINUE_AFTER)
        elif not jobs.waiting(session, PURGE_JOB, org_id=org_id):
            jobs.enqueue(session, PURGE_JOB, {"org_id": org_id}, org_id=org_id, run_at=utcnow() + EVERY)

    def run(self, session: Session, org_id: int, now: dt.datetime | None = None) -> bool:
        """Purges what is due; True when nothing past retention is left (False: stopped after MAX_BATCHES)."""
        now = now or utcnow()
        days = retention.policy(session, org_id).days
        finished = True
        actor = audit_service.Actor(org_id, label="retention")
        for purger in self.registry.purgers:
            # A purger may keep its own period (the visitor trail's is in the visitors area's settings).
            own = getattr(purger, "retention_days", None)
            keep = own(session, org_id) if own is not None else days.get(purger.kind)
            if keep is None:
                continue
            before = now - dt.timedelta(days=keep)
            for _ in range(MAX_BATCHES):
                batch = purger.purge_batch(session, org_id, before, self.registry.batch_size)
                if batch.count == 0:
                    session.rollback()
                    break
                removed = files.remove(batch.files)
                audit_service.record(session, actor, "privacy.purge", "retention", purger.kind, count=batch.count,
                                     files=removed, days=keep, before=before.isoformat(), **batch.detail)
                session.commit()
                log.info("privacy_purged", org_id=org_id, kind=purger.kind, count=batch.count)
            else:
                finished = False
        return finished


def schedule_job(session: Session, payload: dict[str, Any]) -> None:
    """``privacy.schedule``: a purge for every org without one waiting, then the next daily run of itself."""
    for org_id in orgs_service.all_org_ids(session):
        if not jobs.waiting(session, PURGE_JOB, org_id=org_id, running_too=True):
            jobs.enqueue(session, PURGE_JOB, {"org_id": org_id}, org_id=org_id)
    if not jobs.waiting(session, SCHEDULE_JOB, org_id=None):
        jobs.enqueue(session, SCHEDULE_JOB, {}, run_at=utcnow() + EVERY)


def ensure_scheduled(db: Database) -> None:
    """Starts the daily chain when no run is waiting (called when a worker starts; idempotent)."""
    with db.session() as session:
        if not jobs.waiting(session, SCHEDULE_JOB, org_id=None, running_too=True):
            jobs.enqueue(session, SCHEDULE_JOB, {})
            session.commit()


def register(registry: jobs.JobRegistry, privacy: PrivacyRegistry) -> None:
    registry.register(PURGE_JOB, PurgeRunner(privacy), background=True)
    registry.register(SCHEDULE_JOB, schedule_job, background=True)

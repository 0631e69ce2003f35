"""The recordings' retention chain: ``voice.recordings_schedule`` runs daily and enqueues one
``voice.recordings_purge`` per org that has recordings, which deletes those older than the org's
``recording_retention_days`` in committed batches, each audited as a system deletion.

The shape is the privacy purge's (privacy/jobs.py): a run that is killed half-way has lost nothing and does
nothing twice (the next run finds only what is still past retention), and a run stops after MAX_BATCHES and
re-enqueues itself, so a first purge of years of recordings never holds a job lease for long.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.db import Database, utcnow
from edudesk.settings import Settings
from edudesk.voice import org_settings, recordings
from edudesk.voice.models import Call

log = structlog.get_logger(__name__)

SCHEDULE_JOB = "voice.recordings_schedule"
PURGE_JOB = "voice.recordings_purge"
EVERY = dt.timedelta(days=1)
BATCH = 200
MAX_BATCHES = 20
CONTINUE_AFTER = dt.timedelta(seconds=5)


def purge_org(session: Session, settings: Settings, org_id: int, now: dt.datetime | None = None) -> bool:
    """Deletes the org's recordings past retention, committing each batch; True when none is left."""
    now = now or utcnow()
    days = org_settings.get_settings(session, org_id).recording_retention_days
    before = now - dt.timedelta(days=days)
    actor = audit_service.Actor(org_id, label="retention")
    for _ in range(MAX_BATCHES):
        batch = recordings.purge_batch(session, settings, org_id, before, BATCH)
        if batch.calls == 0:
            session.rollback()
            return True
        audit_service.record(
            session,
            actor,
            "voice.recordings_purge",
            "retention",
            "call_recordings",
            count=batch.calls,
            files=batch.files,
            bytes=batch.bytes,
            days=days,
            before=before.isoformat(),
        )
        session.commit()
        log.info("voice_recordings_purged", org_id=org_id, count=batch.calls)
    return False


class PurgeRunner:
    """The ``voice.recordings_purge`` handler: one org's run, then its next one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        org_id = int(payload["org_id"])
        if not purge_org(session, self.settings, org_id):
            jobs.enqueue(session, PURGE_JOB, {"org_id": org_id}, org_id=org_id, run_at=utcnow() + CONTINUE_AFTER)


def schedule_job(session: Session, payload: dict[str, Any]) -> None:
    """A purge for every org with recordings and no purge waiting, then the next daily run of itself."""
    org_ids = session.scalars(select(Call.org_id).where(Call.recording_key.is_not(None)).distinct())
    for org_id in sorted(set(org_ids)):
        if not jobs.waiting(session, PURGE_JOB, org_id=org_id, running_too=True):
            jobs.enqueue(session, PURGE_JOB, {"org_id": org_id}, org_id=org_id)
    if not jobs.waiting(session, SCHEDULE_JOB, org_id=None):
        jobs.enqueue(session, SCHEDULE_JOB, {}, run_at=utcnow() + EVERY)


def ensure_scheduled(db: Database) -> None:
    """Starts the daily chain when no run is waiting (called wherever jobs run; idempotent)."""
    with db.session() as session:
        if not jobs.waiting(session, SCHEDULE_JOB, org_id=None, running_too=True):
            jobs.enqueue(session, SCHEDULE_JOB, {})
            session.commit()


def register(registry: jobs.JobRegistry, settings: Settings) -> None:
    registry.register(SCHEDULE_JOB, schedule_job, background=True)
    registry.register(PURGE_JOB, PurgeRunner(settings), background=True)

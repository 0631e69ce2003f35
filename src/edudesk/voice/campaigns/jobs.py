"""The campaigns' jobs: the dialer's tick (one self-rescheduling chain, no org) and the handler of every ended
call (``voice.call_ended``, enqueued by the core in the transaction that ends the call)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.db import Database, utcnow
from edudesk.voice import service as voice_service
from edudesk.voice.campaigns import dialer, outcomes

TICK_JOB = "voice.campaigns.tick"
# How often the dialer looks for due targets: a freed line is used again within this.
TICK_EVERY = dt.timedelta(seconds=15)


def tick_job(session: Session, payload: dict[str, Any]) -> None:
    dialer.tick(session)
    if not jobs.waiting(session, TICK_JOB):
        jobs.enqueue(session, TICK_JOB, {}, run_at=utcnow() + TICK_EVERY, max_attempts=3)


def ensure_scheduled(db: Database) -> None:
    """Starts the tick chain when no run is waiting (called where jobs run; idempotent)."""
    with db.session() as session:
        if not jobs.waiting(session, TICK_JOB, running_too=True):
            jobs.enqueue(session, TICK_JOB, {}, max_attempts=3)
        session.commit()


def register(registry: jobs.JobRegistry) -> None:
    registry.register(TICK_JOB, tick_job)
    registry.register(voice_service.CALL_ENDED_JOB, outcomes.call_ended_job)

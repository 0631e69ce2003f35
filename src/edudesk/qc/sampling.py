"""Sampling for manual review: each day's inspected conversations, by rule and at random, into the review queue.

For one local day (Asia/Shanghai) of closed conversations, every result that is not yet in the queue is picked when
it has a severe hit, a complaint, or a score below the org's threshold (each switchable), and otherwise with the
org's random percentage. The random pick is a hash of (org, conversation, day), not a dice roll: sampling a day
again picks the same conversations (nothing is added twice, and raising the percentage adds to the earlier picks).

``qc.sample_schedule`` (no org) runs daily shortly after midnight: it enqueues ``qc.sample`` for yesterday for every
org and its own next run. A supervisor can also sample any day at once from the review queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.db import Database, org_query, utcnow
from edudesk.localtime import local_midnight, local_today, utc_bounds
from edudesk.orgs import service as orgs_service
from edudesk.qc import ruleset
from edudesk.qc.models import QcInspection, QcReview, QcSettings, ReviewState

SAMPLE_JOB = "qc.sample"
SCHEDULE_JOB = "qc.sample_schedule"
RUN_AFTER_MIDNIGHT = dt.timedelta(minutes=30)
MAX_PER_DAY = 5000


def random_pick(org_id: int, conversation_id: int, day: dt.date, percent: int) -> bool:
    digest = hashlib.sha256(f"{org_id}:{conversation_id}:{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10000 < percent * 100


def reason_for(row: QcInspection, settings: QcSettings, day: dt.date) -> str | None:
    if settings.all_severe and row.severe:
        return "severe"
    if settings.all_complaints and row.complaint:
        return "complaint"
    if row.score < settings.below_score:
        return "low_score"
    if random_pick(row.org_id, row.conversation_id, day, settings.random_percent):
        return "random"
    return None


def sample_day(session: Session, org_id: int, day: dt.date, actor: audit_service.Actor | None = None) -> int:
    """Adds the day's picks to the review queue; returns how many were added."""
    settings = ruleset.settings(session, org_id)
    start, end = utc_bounds(day, day)
    queued = select(QcReview.conversation_id).where(QcReview.org_id == org_id)
    rows = session.scalars(org_query(QcInspection, org_id).where(
        QcInspection.closed_at >= start, QcInspection.closed_at < end,
        QcInspection.conversation_id.not_in(queued)).order_by(QcInspection.id).limit(MAX_PER_DAY))
    added = 0
    for row in rows:
        reason = reason_for(row, settings, day)
        if reason is None:
            continue
        session.add(QcReview(org_id=org_id, conversation_id=row.conversation_id, inspection_id=row.id,
                             agent_id=row.agent_id, state=ReviewState.pending, reason=reason, sample_day=day))
        added += 1
    session.flush()
    audit_service.record(session, actor or audit_service.Actor(org_id, label="qc.sampling"), "qc.sample",
                         "qc_day", day.isoformat(), added=added)
    return added


def sample_job(session: Session, payload: dict[str, Any]) -> None:
    sample_day(session, int(payload["org_id"]), dt.date.fromisoformat(str(payload["day"])))


def next_run(now: dt.datetime) -> dt.datetime:
    return local_midnight(local_today(now) + dt.timedelta(days=1)) + RUN_AFTER_MIDNIGHT


def schedule_job(session: Session, payload: dict[str, Any]) -> None:
    """``qc.sample_schedule``: yesterday's sample for every org, then the next night's run of itself."""
    now = utcnow()
    yesterday = local_today(now) - dt.timedelta(days=1)
    for org_id in orgs_service.all_org_ids(session):
        jobs.enqueue(session, SAMPLE_JOB, {"org_id": org_id, "day": yesterday.isoformat()}, org_id=org_id)
    others = select(jobs.Job.id).where(jobs.Job.kind == SCHEDULE_JOB, jobs.Job.status == jobs.JobStatus.pending)
    if session.scalars(others.limit(1)).first() is None:
        jobs.enqueue(session, SCHEDULE_JOB, {}, run_at=next_run(now))


def ensure_scheduled(db: Database) -> None:
    """Starts the nightly chain when no run is waiting (called when a worker starts; idempotent)."""
    with db.session() as session:
        if not jobs.waiting(session, SCHEDULE_JOB, running_too=True):
            jobs.enqueue(session, SCHEDULE_JOB, {}, run_at=next_run(utcnow()))
            session.commit()


def register(registry: jobs.JobRegistry) -> None:
    registry.register(SAMPLE_JOB, sample_job, background=True)
    registry.register(SCHEDULE_JOB, schedule_job, background=True)

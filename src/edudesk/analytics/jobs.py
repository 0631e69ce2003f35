"""The jobs that keep the roll-ups current (docs/metrics.md, "Freshness").

- ``analytics.refresh`` (one chain, no org): every ``REFRESH_EVERY`` recomputes the days marked dirty (oldest mark
  first, each day its own transaction, at most ``MAX_DAYS`` per run — then it runs again at once), and marks today
  for orgs whose agents have a status stretch open or whose visitor trail grew since today was computed (rows that
  no ORM flush marks).
- ``analytics.repair`` (one chain, no org): daily, marks the last ``REPAIR_DAYS`` days of every org, so whatever
  was changed without a mark (a bulk UPDATE, an erasure, a restored backup) is right again by the next morning;
  an org never rolled up (the first run after installing) has its whole history marked (up to ``BACKFILL_DAYS``).

Both chains are started by ``ensure_scheduled`` when a worker (or ``serve`` with in-process jobs) starts; any number
of workers may run them, because recomputing a day is idempotent and serialised by the day's lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.analytics import rollups
from edudesk.analytics.marks import local_day
from edudesk.analytics.models import DirtyDay, RollupDay
from edudesk.conversations.models import Conversation
from edudesk.db import Database, utcnow
from edudesk.leads.models import Lead
from edudesk.localtime import local_midnight, local_today
from edudesk.orgs import service as orgs_service
from edudesk.routing.models import AgentStatusInterval
from edudesk.visitors.models import Visit

log = structlog.get_logger(__name__)

REFRESH_JOB = "analytics.refresh"
REPAIR_JOB = "analytics.repair"
REFRESH_EVERY = dt.timedelta(seconds=60)
REPAIR_EVERY = dt.timedelta(days=1)
REPAIR_DAYS = 35
# An org never rolled up gets its history rolled up this far back (a dashboard covers at most a year).
BACKFILL_DAYS = 400
MAX_DAYS = 200
# Today is recomputed for open status stretches and new visits at most this often.
TODAY_EVERY = dt.timedelta(minutes=5)


def mark(session: Session, org_id: int, days: list[dt.date]) -> None:
    if days:
        session.execute(insert(DirtyDay), [{"org_id": org_id, "day": d} for d in days])


def mark_today(session: Session, now: dt.datetime) -> int:
    """Marks today for the orgs whose today moved without an ORM flush: open status stretches (their time grows)
    and visits begun since today was computed. Returns how many orgs were marked."""
    today = local_today(now)
    computed = dict(session.execute(select(RollupDay.org_id, RollupDay.computed_at).where(
        RollupDay.day == today)).all())
    stale_before = now - TODAY_EVERY
    open_orgs = set(session.scalars(select(AgentStatusInterval.org_id).where(
        AgentStatusInterval.ended_at.is_(None)).distinct()))
    marked = 0
    for org_id in orgs_service.all_org_ids(session):
        at = computed.get(org_id)
        if at is not None and at > stale_before:
            continue
        since = at or local_midnight(today)
        visited = session.scalars(select(Visit.id).where(Visit.org_id == org_id, Visit.started_at >= since)
                                  .limit(1)).first() is not None
        if org_id in open_orgs or visited:
            mark(session, org_id, [today])
            marked += 1
    return marked


def refresh(session: Session, *, now: dt.datetime | None = None, limit: int = MAX_DAYS) -> int:
    """Recomputes up to ``limit`` dirty days (each committed on its own); returns how many."""
    now = now or utcnow()
    mark_today(session, now)
    session.commit()
    pending = session.execute(select(DirtyDay.org_id, DirtyDay.day, func.min(DirtyDay.id).label("first"))
                              .group_by(DirtyDay.org_id, DirtyDay.day).order_by("first").limit(limit)).all()
    for org_id, day, _ in pending:
        rollups.recompute_day(session, org_id, day, now=now)
        session.commit()
    if pending:
        log.info("analytics_refreshed", days=len(pending))
    return len(pending)


def refresh_job(session: Session, payload: dict[str, Any]) -> None:
    done = refresh(session)
    if not jobs.waiting(session, REFRESH_JOB):
        later = utcnow() + (dt.timedelta(seconds=1) if done >= MAX_DAYS else REFRESH_EVERY)
        jobs.enqueue(session, REFRESH_JOB, {}, run_at=later)


def first_day(session: Session, org_id: int) -> dt.date | None:
    """The local day of the org's first conversation or lead (where a first roll-up starts)."""
    starts = [session.scalar(select(func.min(model.created_at)).where(model.org_id == org_id))
              for model in (Conversation, Lead)]
    known = [s for s in starts if s is not None]
    return local_day(min(known)) if known else None


def repair(session: Session, *, now: dt.datetime | None = None, days: int = REPAIR_DAYS) -> int:
    """Marks the last ``days`` local days of every org for recomputation — and, for an org never rolled up (the
    first run after installing, or an org imported with its history), every day since its first conversation, up
    to ``BACKFILL_DAYS``; returns how many marks."""
    today = local_today(now or utcnow())
    marked = 0
    for org_id in orgs_service.all_org_ids(session):
        span = days
        if session.scalar(select(RollupDay.id).where(RollupDay.org_id == org_id).limit(1)) is None:
            first = first_day(session, org_id)
            if first is not None:
                span = max(span, min(BACKFILL_DAYS, (today - first).days + 1))
        recent = [today - dt.timedelta(days=n) for n in range(span)]
        mark(session, org_id, recent)
        marked += len(recent)
    return marked


def repair_job(session: Session, payload: dict[str, Any]) -> None:
    repair(session)
    if not jobs.waiting(session, REPAIR_JOB):
        jobs.enqueue(session, REPAIR_JOB, {}, run_at=utcnow() + REPAIR_EVERY)


def ensure_scheduled(db: Database) -> None:
    """Starts both chains when no run is waiting (called when a worker starts; idempotent)."""
    with db.session() as session:
        for kind in (REFRESH_JOB, REPAIR_JOB):
            if not jobs.waiting(session, kind, running_too=True):
                jobs.enqueue(session, kind, {})
        session.commit()


def register(registry: jobs.JobRegistry) -> None:
    registry.register(REFRESH_JOB, refresh_job, background=True)
    registry.register(REPAIR_JOB, repair_job, background=True)

"""Durable jobs (the outbox): enqueued in the same transaction as the change that causes them.

Workers claim due jobs with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of ``edudesk worker``
processes share the table without running a job twice; on SQLite the single writer lock gives the same guarantee.
A failing job is retried with exponential backoff and kept, with its last error, after the final attempt.

A claim is a lease (``locked_until``) that the worker renews while it holds the job. A worker killed with
``kill -9`` renews nothing: its jobs are claimed again by any worker once the lease runs out, and run then. The
handler's writes and the job's ``done`` commit in one transaction, so a job whose work was committed is never run
again; one whose worker died before that commit runs again from the start (a handler's effects outside the
database, such as a webhook POST, are therefore at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import functools
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Iterator
from typing import Any

import anyio
import structlog
from sqlalchemy import JSON, Enum, Integer, String, Text, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from edudesk.db import Base, Database, UTCDateTime, utcnow

log = structlog.get_logger(__name__)


class JobStatus(enum.StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), default=JobStatus.pending, index=True
    )
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


JobHandler = Callable[[Session, dict[str, Any]], None]


class JobRegistry:
    """Maps a job kind to its handler; areas register their handlers in the app factory."""

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}
        self._background: set[str] = set()

    def register(self, kind: str, handler: JobHandler, *, background: bool = False) -> None:
        """``background``: nobody waits for the job (derived data kept current: classification, roll-ups,
        sampling); a serving process runs such jobs on a loop of their own that steps aside while visitors are
        answered (foreground.py)."""
        if kind in self._handlers:
            raise ValueError(f"job kind {kind!r} registered twice")
        self._handlers[kind] = handler
        if background:
            self._background.add(kind)

    @property
    def background_kinds(self) -> frozenset[str]:
        return frozenset(self._background)

    def get(self, kind: str) -> JobHandler | None:
        return self._handlers.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    org_id: int | None = None,
    run_at: dt.datetime | None = None,
    max_attempts: int = 10,
) -> Job:
    if run_at is None or run_at <= utcnow():  # a job due later needs no loop woken now
        session.info[ENQUEUED_KEY] = True
    job = Job(
        kind=kind,
        payload=payload,
        org_id=org_id,
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
        status=JobStatus.pending,
    )
    session.add(job)
    return job


ENQUEUED_KEY = "edudesk_jobs_enqueued"
# ``waiting``'s default: jobs of any org (or of none).
ANY_ORG: Any = object()


def waiting(session: Session, kind: str, *, org_id: int | None = ANY_ORG, running_too: bool = False) -> bool:
    """Whether a job of ``kind`` is pending (with ``running_too``, also running): what a self-rescheduling chain
    asks before it enqueues its next run, so that it never runs twice. ``org_id``: only that org's jobs (None: only
    jobs of no org)."""
    statuses = [JobStatus.pending, JobStatus.running] if running_too else [JobStatus.pending]
    stmt = select(Job.id).where(Job.kind == kind, Job.status.in_(statuses))
    if org_id is not ANY_ORG:
        stmt = stmt.where(Job.org_id.is_(None) if org_id is None else Job.org_id == org_id)
    return session.scalars(stmt.limit(1)).first() is not None


class Wakeup:
    """Wakes this process's job loop as soon as a transaction that enqueued a job commits, instead of at its next
    poll: a WeChat reply waits in the outbox for milliseconds, not for the poll interval. Other processes' workers
    still find the job at their next poll."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def set(self) -> None:
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def wait(self, seconds: float) -> None:
        event = self._event
        if event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
        event.clear()

    def attach(self, factory: sessionmaker[Session]) -> None:
        @sa_event.listens_for(factory, "after_commit")
        def _after_commit(session: Session) -> None:
            if session.in_nested_transaction():
                return
            if session.info.pop(ENQUEUED_KEY, False):
                self.set()

        @sa_event.listens_for(factory, "after_soft_rollback")
        def _after_rollback(session: Session, previous_transaction: object) -> None:
            if not session.in_transaction():
                session.info.pop(ENQUEUED_KEY, None)


def backoff_seconds(attempt: int) -> float:
    return float(min(3600, 2 ** min(attempt, 12)))


DEFAULT_LEASE_SECONDS = 60
# After a failed round (database unreachable) the worker waits this long, doubling up to the cap, then tries again.
FAILED_ROUND_FIRST_SECONDS = 1.0
FAILED_ROUND_MAX_SECONDS = 30.0


class Worker:
    def __init__(self, db: Database, registry: JobRegistry, *, worker_id: str,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, kinds: Collection[str] | None = None,
                 excluded_kinds: Collection[str] = ()) -> None:
        """``kinds``: claim only jobs of these kinds; ``excluded_kinds``: never these (a serving process's
        foreground and background loops split the kinds between them)."""
        self.db = db
        self.registry = registry
        self.worker_id = worker_id
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.kinds = sorted(kinds) if kinds is not None else None
        self.excluded_kinds = sorted(excluded_kinds)

    def renew_leases(self, job_ids: list[int]) -> int:
        """Extends the lease of the jobs this worker still holds; returns how many it still holds."""
        if not job_ids:
            return 0
        with self.db.session() as session:
            renewed = session.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.locked_by == self.worker_id, Job.status == JobStatus.running)
                .values(locked_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False))
            session.commit()
            return int(renewed.rowcount)  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def _leases_kept(self, job_ids: list[int]) -> Iterator[None]:
        """Renews the leases of ``job_ids`` every third of the lease while the batch runs, so that a slow job is not
        taken by a second worker while this one still runs it, and a short lease can be used: the jobs of a killed
        worker wait at most one lease before someone else runs them."""
        done = threading.Event()
        period = max(0.05, self.lease.total_seconds() / 3)

        def keep() -> None:
            while not done.wait(period):
                try:
                    self.renew_leases(job_ids)
                except Exception as exc:  # the database is away; the lease may lapse and the job run again
                    log.warning("job_lease_renewal_failed", worker_id=self.worker_id, error=str(exc)[:300])

        keeper = threading.Thread(target=keep, name=f"lease-{self.worker_id}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def claim(self, limit: int = 20) -> list[int]:
        now = utcnow()
        due = ((Job.status == JobStatus.pending) & (Job.run_at <= now)) | (
            (Job.status == JobStatus.running) & (Job.locked_until < now)
        )
        with self.db.session() as session:
            stmt = select(Job.id).where(due).order_by(Job.run_at, Job.id).limit(limit)
            if self.kinds is not None:
                stmt = stmt.where(Job.kind.in_(self.kinds))
            if self.excluded_kinds:
                stmt = stmt.where(Job.kind.not_in(self.excluded_kinds))
            if self.db.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list(session.scalars(stmt))
            if not ids:
                return []
            # The UPDATE checks again that each row is still due and reports the rows it took: on SQLite the SELECT
            # above locks nothing, so another worker may have claimed (or even finished) some of them meanwhile.
            claimed = set(
                session.scalars(
                    update(Job)
                    .where(Job.id.in_(ids), due)
                    .values(status=JobStatus.running, locked_by=self.worker_id, locked_until=now + self.lease)
                    .returning(Job.id)
                )
            )
            session.commit()
            return [i for i in ids if i in claimed]

    def run_one(self, job_id: int) -> JobStatus:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.locked_by != self.worker_id or job.status != JobStatus.running:
                return JobStatus.pending
            kind, payload = job.kind, dict(job.payload)
            handler = self.registry.get(kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {kind!r}")
                handler(session, payload)
                session.flush()
                job = session.get(Job, job_id)
                assert job is not None
                job.status = JobStatus.done
                job.finished_at = utcnow()
                job.attempts += 1
                job.locked_by = None
                session.commit()
                return JobStatus.done
            except Exception as exc:
                session.rollback()
                log.warning("job_failed", job_id=job_id, kind=kind, error=str(exc))
                err = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        with self.db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.attempts += 1
            job.last_error = err
            job.locked_by = None
            if job.attempts >= job.max_attempts:
                job.status = JobStatus.failed
                job.finished_at = utcnow()
            else:
                job.status = JobStatus.pending
                job.run_at = utcnow() + dt.timedelta(seconds=backoff_seconds(job.attempts))
            session.commit()
            return job.status

    def run_pending(self, limit: int = 20) -> int:
        """Runs what is due now; returns how many jobs were attempted."""
        ids = self.claim(limit)
        if ids:
            with self._leases_kept(ids):
                for job_id in ids:
                    self.run_one(job_id)
        return len(ids)

    def run_forever(self, poll_seconds: float = 1.0, stop: Callable[[], bool] = lambda: False,
                    sleep: Callable[[float], None] = time.sleep) -> None:
        """Polls until ``stop()``. A round that fails (the database restarting) is logged once, retried with
        backoff and logged again when a round succeeds: the worker outlives a database outage."""
        log.info("worker_started", worker_id=self.worker_id, kinds=self.registry.kinds)
        failures = 0
        while not stop():
            try:
                ran = self.run_pending()
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.error("worker_round_failed; retrying with backoff", worker_id=self.worker_id,
                              error=f"{type(exc).__name__}: {exc}"[:500])
                sleep(min(FAILED_ROUND_MAX_SECONDS, FAILED_ROUND_FIRST_SECONDS * 2 ** (failures - 1)))
                continue
            if failures:
                log.info("worker_recovered", worker_id=self.worker_id, failed_rounds=failures)
                failures = 0
            if ran == 0:
                sleep(poll_seconds)


# Jobs one in-process loop claims at a time: small, so that a burst spreads over the loops.
JOBS_PER_CLAIM = 4


async def run_in_process(worker: Worker, poll_seconds: float, wakeup: Wakeup, *, per_claim: int = JOBS_PER_CLAIM,
                         before_claim: Callable[[], Awaitable[object]] | None = None) -> None:
    """A serving process's job loop (``jobs_in_process``): claims and runs in a worker thread, and waits for the
    next enqueue's commit or ``poll_seconds`` when nothing was due. ``before_claim`` is awaited before each claim
    (the background loop's pause for visitors, foreground.py)."""
    while True:
        if before_claim is not None:
            await before_claim()
        try:
            ran = await anyio.to_thread.run_sync(functools.partial(worker.run_pending, limit=per_claim))
        except Exception:
            log.exception("in_process_jobs_failed")
            ran = 0
        if not ran:
            await wakeup.wait(poll_seconds)

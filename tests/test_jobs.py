"""The durable job outbox and its worker, on SQLite and PostgreSQL, including the real close-resolved job."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, utcnow
from edudesk.events import DomainEvent
from edudesk.jobs import Job, JobRegistry, JobStatus, Worker
from edudesk.orgs import service as orgs_service
from tests.conftest import TwoOrgs, clean


@pytest.fixture
def org_id(database: Database) -> int:
    with database.session() as session:
        org = orgs_service.create_org(session, slug="jobs", name="任务学校")
        session.commit()
        return org.id


def get_job(database: Database, job_id: int) -> Job:
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def make_due(database: Database, job_id: int | None = None) -> None:
    """Moves run_at into the past, as if the backoff or delay had elapsed."""
    stmt = update(Job).values(run_at=utcnow() - dt.timedelta(seconds=1))
    if job_id is not None:
        stmt = stmt.where(Job.id == job_id)
    with database.session() as session:
        session.execute(stmt)
        session.commit()


def add_job(database: Database, kind: str, payload: dict[str, Any], **kw: Any) -> int:
    with database.session() as session:
        job = jobs.enqueue(session, kind, payload, **kw)
        session.commit()
        return job.id


def audit_count(database: Database, org_id: int, action: str) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.org_id == org_id, AuditEntry.action == action)) or 0)


def test_enqueue_run_and_done(database: Database, org_id: int) -> None:
    seen: list[dict[str, Any]] = []

    def handler(session: Session, payload: dict[str, Any]) -> None:
        seen.append(payload)
        # The handler's writes commit together with the job being marked done.
        audit_service.record(session, Actor(org_id, label="job"), "test.ran", "job", payload["n"])

    registry = JobRegistry()
    registry.register("test.echo", handler)
    with pytest.raises(ValueError, match="twice"):
        registry.register("test.echo", handler)
    worker = Worker(database, registry, worker_id="w1")
    assert worker.run_pending() == 0

    first = add_job(database, "test.echo", {"n": 1, "text": "你好"}, org_id=org_id)
    second = add_job(database, "test.echo", {"n": 2})
    later = add_job(database, "test.echo", {"n": 3}, run_at=utcnow() + dt.timedelta(hours=1))
    assert get_job(database, first).status == JobStatus.pending

    assert worker.run_pending() == 2
    assert seen == [{"n": 1, "text": "你好"}, {"n": 2}]  # in run_at order, payload round-trips JSON
    for job_id in (first, second):
        job = get_job(database, job_id)
        assert (job.status, job.attempts, job.locked_by, job.last_error) == (JobStatus.done, 1, None, None)
        assert job.finished_at is not None and job.finished_at.tzinfo is not None
    assert audit_count(database, org_id, "test.ran") == 2
    # Done jobs never run again; the future job waits for its time.
    assert worker.run_pending() == 0
    assert get_job(database, later).status == JobStatus.pending
    make_due(database, later)
    assert worker.run_pending() == 1
    assert [p["n"] for p in seen] == [1, 2, 3]


def test_failing_job_retried_with_backoff_then_failed(database: Database, org_id: int) -> None:
    calls: list[int] = []

    def handler(session: Session, payload: dict[str, Any]) -> None:
        calls.append(len(calls) + 1)
        audit_service.record(session, Actor(org_id, label="job"), "test.partial", "job", 1)
        session.flush()
        raise RuntimeError(f"smtp down (try {len(calls)})")

    registry = JobRegistry()
    registry.register("test.flaky", handler)
    worker = Worker(database, registry, worker_id="w1")
    job_id = add_job(database, "test.flaky", {}, max_attempts=3)

    for attempt in (1, 2):
        before = utcnow()
        assert worker.run_pending() == 1
        job = get_job(database, job_id)
        assert job.status == JobStatus.pending
        assert job.attempts == attempt
        assert job.last_error is not None and f"RuntimeError: smtp down (try {attempt})" in job.last_error
        assert job.locked_by is None
        delay = (job.run_at - before).total_seconds()
        assert jobs.backoff_seconds(attempt) - 1 <= delay <= jobs.backoff_seconds(attempt) + 5, delay
        assert worker.run_pending() == 0, "retried before its backoff elapsed"
        make_due(database, job_id)

    assert worker.run_pending() == 1
    job = get_job(database, job_id)
    assert (job.status, job.attempts) == (JobStatus.failed, 3)
    assert "try 3" in (job.last_error or "") and job.finished_at is not None
    make_due(database, job_id)
    assert worker.run_pending() == 0
    assert calls == [1, 2, 3]
    # What the failing handler wrote was rolled back every time.
    assert audit_count(database, org_id, "test.partial") == 0


def test_backoff_grows_and_is_capped() -> None:
    delays = [jobs.backoff_seconds(n) for n in range(1, 20)]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert delays == sorted(delays)
    assert max(delays) == 3600.0


def test_unknown_kind_fails_cleanly_and_others_still_run(database: Database) -> None:
    ran: list[str] = []
    registry = JobRegistry()
    registry.register("test.ok", lambda session, payload: ran.append(payload["id"]))
    worker = Worker(database, registry, worker_id="w1")
    unknown = add_job(database, "no.such.kind", {"x": 1}, max_attempts=1)
    retried = add_job(database, "also.unknown", {})
    ok = add_job(database, "test.ok", {"id": "after-the-unknown-ones"})

    assert worker.run_pending() == 3
    assert ran == ["after-the-unknown-ones"]
    assert get_job(database, ok).status == JobStatus.done
    job = get_job(database, unknown)
    assert (job.status, job.attempts) == (JobStatus.failed, 1)
    assert "no handler for job kind 'no.such.kind'" in (job.last_error or "")
    job = get_job(database, retried)  # default max_attempts: kept for a later deploy that knows the kind
    assert (job.status, job.attempts) == (JobStatus.pending, 1)
    assert job.run_at > utcnow()


def test_job_enqueued_in_rolled_back_transaction_never_runs(database: Database, org_id: int) -> None:
    ran: list[Any] = []
    registry = JobRegistry()
    registry.register("test.ok", lambda session, payload: ran.append(payload))
    worker = Worker(database, registry, worker_id="w1")

    with database.session() as session:
        jobs.enqueue(session, "test.ok", {"n": 1})
        session.flush()
        session.rollback()
    with pytest.raises(RuntimeError), database.session() as session:
        audit_service.record(session, Actor(org_id, label="t"), "test.change", "x", 1)
        jobs.enqueue(session, "test.ok", {"n": 2})
        session.flush()
        raise RuntimeError("the change failed half-way")
    with database.session() as session:
        jobs.enqueue(session, "test.ok", {"n": 3})
        # never committed: the session closes without commit

    make_due(database)
    assert worker.run_pending() == 0
    assert ran == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_expired_lease_is_reclaimed(database: Database) -> None:
    ran: list[int] = []
    registry = JobRegistry()
    registry.register("test.ok", lambda session, payload: ran.append(payload["n"]))
    stale = add_job(database, "test.ok", {"n": 1})
    fresh = add_job(database, "test.ok", {"n": 2})
    now = utcnow()
    with database.session() as session:
        # A worker that died mid-job (lease over), and one that is still busy (lease running).
        session.execute(update(Job).where(Job.id == stale).values(
            status=JobStatus.running, locked_by="dead-worker", locked_until=now - dt.timedelta(seconds=5)))
        session.execute(update(Job).where(Job.id == fresh).values(
            status=JobStatus.running, locked_by="busy-worker", locked_until=now + dt.timedelta(minutes=5)))
        session.commit()

    worker = Worker(database, registry, worker_id="rescuer")
    assert worker.run_pending() == 1
    assert ran == [1]
    assert get_job(database, stale).status == JobStatus.done
    job = get_job(database, fresh)
    assert (job.status, job.locked_by) == (JobStatus.running, "busy-worker")


def test_worker_does_not_run_a_job_another_worker_holds(database: Database) -> None:
    """A claimed job is run only by the worker whose name is on it."""
    ran: list[str] = []
    registry = JobRegistry()
    registry.register("test.ok", lambda session, payload: ran.append("ran"))
    job_id = add_job(database, "test.ok", {})
    first, second = Worker(database, registry, worker_id="first"), Worker(database, registry, worker_id="second")
    assert first.claim() == [job_id]
    assert second.claim() == []
    assert second.run_one(job_id) == JobStatus.pending  # not its job: refused
    assert ran == []
    assert first.run_one(job_id) == JobStatus.done
    assert ran == ["ran"]


RUNS = Table("test_job_runs", MetaData(), Column("n", Integer, primary_key=True), Column("worker", String(32)))


def scratch_database(url: str) -> Iterator[Database]:
    db = Database(url)
    clean(db)
    RUNS.drop(db.engine, checkfirst=True)
    RUNS.create(db.engine)
    yield db
    RUNS.drop(db.engine, checkfirst=True)
    db.dispose()


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[Database]:
    yield from scratch_database(pg_url)


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    yield from scratch_database(sqlite_url)


def run_concurrently(database: Database, n_jobs: int, n_workers: int) -> tuple[Counter[int], Counter[str]]:
    per_job: Counter[int] = Counter()
    per_worker: Counter[str] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def handler(session: Session, payload: dict[str, Any]) -> None:
        with lock:
            per_job[payload["n"]] += 1
            per_worker[local.name] += 1
        # A second run of the same job would also break this primary key.
        session.execute(insert(RUNS).values(n=payload["n"], worker=local.name))

    registry = JobRegistry()
    registry.register("test.once", handler)
    with database.session() as session:
        for n in range(n_jobs):
            jobs.enqueue(session, "test.once", {"n": n})
        session.commit()

    barrier = threading.Barrier(n_workers)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        local.name = name
        worker = Worker(database, registry, worker_id=name)
        try:
            barrier.wait(timeout=10)
            while worker.run_pending(limit=7):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return per_job, per_worker


def test_concurrent_workers_run_each_job_once_postgresql(pg_database: Database) -> None:
    per_job, per_worker = run_concurrently(pg_database, n_jobs=200, n_workers=4)
    assert per_job == Counter(range(200)), {n: c for n, c in per_job.items() if c != 1}
    assert sum(per_worker.values()) == 200
    assert len(per_worker) >= 2, f"only {per_worker} did any work: the test did not exercise concurrency"
    with pg_database.session() as session:
        assert session.scalar(select(func.count()).select_from(RUNS)) == 200
        statuses = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        assert statuses == {JobStatus.done: 200}


def test_concurrent_workers_run_each_job_once_sqlite(sqlite_database: Database) -> None:
    """Embedded mode: the serve process's in-process runner and an ``edudesk worker`` may share one SQLite file."""
    per_job, per_worker = run_concurrently(sqlite_database, n_jobs=120, n_workers=3)
    assert per_job == Counter(range(120)), {n: c for n, c in per_job.items() if c != 1}
    assert sum(per_worker.values()) == 120


# --- the real job: closing resolved conversations -----------------------------------------------------------------

def test_close_resolved_job(app: FastAPI, database: Database, orgs: TwoOrgs) -> None:
    ctx = app.state.ctx
    published: list[DomainEvent] = []
    ctx.bus.subscribe(published.append)
    # The app factory registered the real handler; the worker uses the app's registry and database.
    assert conversations_service.CLOSE_RESOLVED_JOB in ctx.jobs.kinds
    worker = Worker(ctx.db, ctx.jobs, worker_id="test-worker")
    agent = orgs.a.users["agent"]

    conv_ids = []
    with ctx.db.session() as session:
        for visitor in ("visitor-left", "visitor-came-back"):
            contact = contacts_service.find_or_create(session, orgs.a.id, "web", visitor)
            conv = conversations_service.open_conversation(session, contact, "web")
            session.flush()
            conversations_service.accept(session, agent, conv.id)
            conversations_service.resolve(session, agent, conv.id, close_after_seconds=1800)
            conv_ids.append(conv.id)
        session.commit()
    left, came_back = conv_ids

    with ctx.db.session() as session:
        queued = list(session.scalars(select(Job).where(Job.kind == conversations_service.CLOSE_RESOLVED_JOB)))
        assert sorted(j.payload["conversation_id"] for j in queued) == sorted(conv_ids)
        assert all(j.org_id == orgs.a.id for j in queued)
        # Due in about 30 minutes, not now.
        assert all(dt.timedelta(minutes=29) < j.run_at - utcnow() <= dt.timedelta(minutes=30) for j in queued)
    assert worker.run_pending() == 0

    with ctx.db.session() as session:  # the visitor writes again: the conversation is open again
        conv = conversations_service.get(session, orgs.a.id, came_back)
        conversations_service.reopen_by_visitor(session, conv)
        session.commit()

    published.clear()
    make_due(database)
    assert worker.run_pending() == 2
    with ctx.db.session() as session:
        closed = session.get(Conversation, left)
        reopened = session.get(Conversation, came_back)
        assert closed is not None and reopened is not None
        assert closed.state == ConversationState.closed and closed.closed_at is not None
        assert reopened.state == ConversationState.assigned and reopened.closed_at is None
        statuses = {j.status for j in session.scalars(select(Job).where(Job.kind != "qc.inspect"))}
        assert statuses == {JobStatus.done}
        # The close enqueued its quality inspection in the same transaction (docs/qc.md).
        inspections = session.scalars(select(Job).where(Job.kind == "qc.inspect"))
        assert [j.payload["conversation_id"] for j in inspections] == [left]
    assert [(e.type, e.data["conversation"]["id"]) for e in published] == [("conversation.closed", left)]
    assert published[0].org_id == orgs.a.id


def test_the_commit_of_an_enqueue_wakes_the_job_loop_at_once(database: Database) -> None:
    """A reply waiting in the outbox is sent when its transaction commits, not at the loop's next poll."""
    wakeup = jobs.Wakeup()
    wakeup.attach(database.sessionmaker)

    def rolled_back() -> None:
        with database.session() as session:
            jobs.enqueue(session, "noop", {})
            session.rollback()

    def committed() -> None:
        with database.session() as session:
            jobs.enqueue(session, "noop", {})
            session.commit()

    async def main() -> tuple[bool, bool]:
        wakeup.bind_loop(asyncio.get_running_loop())
        await asyncio.to_thread(rolled_back)
        waiter = asyncio.create_task(wakeup.wait(3600))
        await asyncio.sleep(0.2)
        woken_by_rollback = waiter.done()
        await asyncio.to_thread(committed)
        await asyncio.wait_for(waiter, 60)  # an hour's poll, ended by the commit
        return woken_by_rollback, waiter.done()

    # In a thread of its own: a test that ran earlier in this process may have left an event loop running here.
    results: list[tuple[bool, bool]] = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(main())))
    runner.start()
    runner.join(120)
    assert results == [(False, True)]


def test_a_worker_claims_only_its_kinds(database: Database) -> None:
    """A serving process splits the kinds: its foreground loops never take a background job, its background loop
    takes nothing else (app.py); a worker with neither restriction (``edudesk worker``) takes everything."""
    ran: list[str] = []
    registry = JobRegistry()
    registry.register("reply.send", lambda _s, p: ran.append("reply"))
    registry.register("profile.classify", lambda _s, p: ran.append("classify"), background=True)
    registry.register("rollup.refresh", lambda _s, p: ran.append("rollup"), background=True)
    assert registry.background_kinds == {"profile.classify", "rollup.refresh"}
    for kind in ("profile.classify", "reply.send", "rollup.refresh", "reply.send"):
        add_job(database, kind, {})
    foreground = Worker(database, registry, worker_id="fg", excluded_kinds=registry.background_kinds)
    background = Worker(database, registry, worker_id="bg", kinds=registry.background_kinds)
    assert foreground.run_pending() == 2 and ran == ["reply", "reply"]
    assert foreground.run_pending() == 0
    assert background.run_pending(limit=1) == 1 and ran[-1] == "classify"
    assert background.run_pending() == 1 and ran[-1] == "rollup"
    add_job(database, "reply.send", {})
    assert background.run_pending() == 0, "the background loop leaves a reply to the foreground"
    assert Worker(database, registry, worker_id="all").run_pending() == 1
    assert Worker(database, registry, worker_id="none", kinds=[]).run_pending() == 0


def test_the_in_process_loop_waits_before_each_claim(database: Database) -> None:
    """The background loop's ``before_claim`` (its pause for visitors) is awaited before every claim, and the loop
    claims ``per_claim`` jobs at a time."""
    ran: list[int] = []
    all_ran = threading.Event()

    def handler(_session: Session, payload: dict[str, Any]) -> None:
        ran.append(payload["n"])
        if len(ran) == 3:
            all_ran.set()

    registry = JobRegistry()
    registry.register("test.bg", handler, background=True)
    for n in range(3):
        add_job(database, "test.bg", {"n": n})
    worker = Worker(database, registry, worker_id="bg", kinds=registry.background_kinds)
    waits: list[int] = []

    async def before_claim() -> None:
        waits.append(len(ran))

    async def main() -> None:
        wakeup = jobs.Wakeup()
        wakeup.bind_loop(asyncio.get_running_loop())
        loop = asyncio.create_task(jobs.run_in_process(worker, 0.05, wakeup, per_claim=1, before_claim=before_claim))
        try:
            await asyncio.to_thread(all_ran.wait, 60)
        finally:
            loop.cancel()

    results: list[None] = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(main())))
    runner.start()
    runner.join(120)
    assert results == [None] and ran == [0, 1, 2]
    assert waits[:3] == [0, 1, 2], "one wait before each job, each job claimed alone"

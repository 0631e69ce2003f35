"""Jobs outlive the death of the worker that claimed them: a real worker process killed with SIGKILL mid-job
leaves its job to be claimed again and run exactly once; a live worker keeps its lease for as long as it works;
and the worker loop outlives a database outage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.audit import service as audit_service
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.jobs import Job, JobRegistry, JobStatus, Worker
from tests.test_jobs import add_job, get_job, org_id  # noqa: F401 (fixture)

SRC = str(Path(jobs.__file__).resolve().parents[1])

# A worker process that claims the job, records in a file that it started, and hangs in the handler until killed.
DOOMED_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from edudesk.db import Database
    from edudesk.jobs import JobRegistry, Worker

    url, started = sys.argv[1], Path(sys.argv[2])
    def handler(session, payload):
        started.write_text("running")
        time.sleep(600)
    registry = JobRegistry()
    registry.register("test.audited", handler)
    Worker(Database(url), registry, worker_id="doomed", lease_seconds=1).run_pending()
""")


def audited(session: Session, payload: dict[str, Any]) -> None:
    audit_service.record(session, Actor(payload["org"], label="job"), "job.ran", "job", payload["n"])


def runs(database: Database) -> int:
    with database.session() as session:
        return len(list(session.scalars(select(AuditEntry).where(AuditEntry.action == "job.ran"))))


def test_job_of_a_killed_worker_runs_once_elsewhere(database: Database, org_id: int,  # noqa: F811
                                                    tmp_path: Path) -> None:
    job_id = add_job(database, "test.audited", {"org": org_id, "n": 1})
    started = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", DOOMED_WORKER, str(database.engine.url.render_as_string(
        hide_password=False)), str(started)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, "the doomed worker exited early"
            assert time.monotonic() < deadline, "the doomed worker never started the job"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    job = get_job(database, job_id)
    assert (job.status, job.locked_by) == (JobStatus.running, "doomed")

    registry = JobRegistry()
    registry.register("test.audited", audited)
    rescuer = Worker(database, registry, worker_id="rescuer", lease_seconds=1)
    deadline = time.monotonic() + 30  # the dead worker's lease (1 s) must run out first
    while rescuer.run_pending() == 0:
        assert time.monotonic() < deadline, "the dead worker's job was never claimed again"
        time.sleep(0.1)
    assert (get_job(database, job_id).status, runs(database)) == (JobStatus.done, 1)
    assert rescuer.run_pending() == 0 and runs(database) == 1, "run twice"


def test_a_live_worker_keeps_its_lease_while_it_works(database: Database, org_id: int) -> None:  # noqa: F811
    """The job takes several times its lease; another worker polling all the while never gets it."""
    job_id = add_job(database, "test.slow", {"org": org_id, "n": 1})
    release = threading.Event()

    def slow(session: Session, payload: dict[str, Any]) -> None:
        release.wait(30)
        audited(session, payload)

    slow_registry, other_registry = JobRegistry(), JobRegistry()
    slow_registry.register("test.slow", slow)
    other_registry.register("test.slow", audited)
    # Renewal comes every third of the lease; on a loaded two-core CI machine a thread can stall for more than
    # 0.4 s, so the lease leaves 1.3 s of slack while still running out several times during the polls.
    busy = Worker(database, slow_registry, worker_id="busy", lease_seconds=2.0)
    other = Worker(database, other_registry, worker_id="other", lease_seconds=2.0)
    thread = threading.Thread(target=busy.run_pending)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while get_job(database, job_id).locked_by != "busy":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        polls_end = time.monotonic() + 6.5  # more than three leases
        while time.monotonic() < polls_end:
            assert other.run_pending() == 0, "a job still being worked on was taken by a second worker"
            time.sleep(0.1)
    finally:
        release.set()
        thread.join(timeout=30)
    assert (get_job(database, job_id).status, runs(database)) == (JobStatus.done, 1)


def test_worker_loop_outlives_failing_rounds(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = Worker(database, JobRegistry(), worker_id="w")
    outcomes: list[int | Exception] = [sa_exc.OperationalError("SELECT", {}, Exception("server closed")),
                                       sa_exc.OperationalError("SELECT", {}, Exception("connection refused")),
                                       0, 3, 0]
    sleeps: list[float] = []

    def round_(limit: int = 20) -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(worker, "run_pending", round_)
    worker.run_forever(poll_seconds=0.5, stop=lambda: not outcomes, sleep=sleeps.append)
    # Backoff after each failed round (1 s, 2 s), the poll interval after an empty round, none after a busy one.
    assert sleeps == [1.0, 2.0, 0.5, 0.5]


def test_renewal_touches_only_jobs_this_worker_holds(database: Database) -> None:
    registry = JobRegistry()
    registry.register("test.ok", lambda session, payload: None)
    mine = add_job(database, "test.ok", {})
    theirs = add_job(database, "test.ok", {})
    me, them = Worker(database, registry, worker_id="me"), Worker(database, registry, worker_id="them")
    assert me.claim(limit=1) == [mine] and them.claim(limit=1) == [theirs]
    before = get_job(database, theirs).locked_until
    assert me.renew_leases([mine, theirs]) == 1
    assert get_job(database, theirs).locked_until == before
    with database.session() as session:
        assert session.scalar(select(Job.locked_by).where(Job.id == mine)) == "me"

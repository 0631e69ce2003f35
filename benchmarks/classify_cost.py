"""CPU and statements of one ``visitors.classify`` job (issue 17), measured in-process on a fresh database.

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/classify_cost.py --contacts 200
    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/classify_cost.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Each contact writes two bench questions through ``inbound_service.receive`` (a lead with signals, a conversation with
bot replies) and has a visit of a few pages, as a widget visitor of the ``connections`` scenario would; then every
enqueued classify job is run by a ``jobs.Worker`` and the job's thread CPU (``time.thread_time`` around
``classify_job``) and the statements it sent are counted. It also counts the jobs the inbound path enqueued, first
and when each contact writes two more questions after being classified.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update

from edudesk import jobs, migrate
from edudesk.channels.base import InboundMessage
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.orgs import service as orgs_service
from edudesk.visitors import service as visitors_service
from edudesk.visitors.models import PageView, Visit

TEXTS = ("请问学费是多少？", "试听课怎么预约", "周末的上课时间是什么时候", "价格可以优惠吗")


def seed(db: Database, contacts: int) -> int:
    with db.session() as session:
        org = orgs_service.create_org(session, slug=f"cc-{secrets.token_hex(4)}", name="分类压测")
        session.commit()
        org_id = org.id
    now = dt.datetime.now(dt.UTC)
    for i in range(contacts):
        with db.session() as session:
            for j in range(2):
                msg = InboundMessage(org_id, "web", f"v{i}", f"m{i}-{j}", text=TEXTS[(i + j) % len(TEXTS)])
                result = inbound_service.receive(session, msg, agents_online=True)
            visit = Visit(org_id=org_id, visitor_key=f"v{i}", contact_id=result.conversation.contact_id,
                          started_at=now, last_seen_at=now, page_views=3, landing_url="https://s.example/",
                          referrer="", current_url="https://s.example/price", current_title="",
                          source={"utm_campaign": "spring"}, source_kind="ad", campaign="spring", is_bot=False)
            session.add(visit)
            session.flush()
            for k, url in enumerate(("https://s.example/", "https://s.example/courses", "https://s.example/price")):
                session.add(PageView(org_id=org_id, visit_id=visit.id, view_key=f"pv{k}", url=url, title="",
                                     referrer="", viewed_at=now, seconds=None))
            session.commit()
    return org_id


def later_messages(db: Database, org_id: int, contacts: int) -> int:
    """Every contact, classified once, writes two more questions: how many classify jobs that enqueues (a new
    signal or FAQ category no rule reads enqueues none since issue 17)."""
    with db.session() as session:
        before = session.scalar(select(func.count(jobs.Job.id)).where(
            jobs.Job.kind == visitors_service.CLASSIFY_JOB, jobs.Job.org_id == org_id)) or 0
    for i in range(contacts):
        with db.session() as session:
            for j in range(2, 4):
                msg = InboundMessage(org_id, "web", f"v{i}", f"m{i}-{j}", text=TEXTS[(i + j) % len(TEXTS)])
                inbound_service.receive(session, msg, agents_online=True)
            session.commit()
    with db.session() as session:
        after = session.scalar(select(func.count(jobs.Job.id)).where(
            jobs.Job.kind == visitors_service.CLASSIFY_JOB, jobs.Job.org_id == org_id)) or 0
    return after - before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=200)
    ap.add_argument("--database-url", help="default: a temporary SQLite file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'cc.db'}"
        migrate.upgrade(url)
        db = Database(url)
        try:
            org_id = seed(db, args.contacts)
            with db.session() as session:
                enqueued = session.scalar(select(func.count(jobs.Job.id)).where(
                    jobs.Job.kind == visitors_service.CLASSIFY_JOB, jobs.Job.org_id == org_id)) or 0
                session.execute(update(jobs.Job).where(jobs.Job.kind == visitors_service.CLASSIFY_JOB)
                                .values(run_at=jobs.utcnow() - dt.timedelta(seconds=1)))
                session.commit()
            cpu: list[float] = []
            counts: list[int] = []
            seen: list[int] = [0]

            def record(*_a: Any) -> None:
                seen[0] += 1

            def timed(session: Any, payload: dict[str, Any]) -> None:
                seen[0] = 0
                t0 = time.thread_time()
                visitors_service.classify_job(session, payload)
                session.flush()
                cpu.append(time.thread_time() - t0)
                counts.append(seen[0])

            registry = jobs.JobRegistry()
            registry.register(visitors_service.CLASSIFY_JOB, timed)
            event.listen(db.engine, "before_cursor_execute", record)
            worker = jobs.Worker(db, registry, worker_id="cc")
            t0 = time.thread_time()
            while worker.run_pending(limit=50):
                pass
            runner = time.thread_time() - t0
            event.remove(db.engine, "before_cursor_execute", record)
            again = later_messages(db, org_id, args.contacts)
        finally:
            db.dispose()
    print(f"{url.split(':')[0]}: {args.contacts} contacts, {enqueued} classify jobs enqueued by 2 messages each, "
          f"{len(cpu)} run")
    if cpu:
        print(f"per job: {statistics.mean(cpu) * 1000:.2f} ms thread CPU (median "
              f"{statistics.median(cpu) * 1000:.2f}), {statistics.mean(counts):.1f} statements "
              f"(min {min(counts)}, max {max(counts)}); with the job runner's claim and commit "
              f"{runner / len(cpu) * 1000:.2f} ms")
    print(f"then 2 more messages each: {again} classify jobs enqueued for {args.contacts} contacts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

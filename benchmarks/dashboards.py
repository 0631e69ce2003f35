"""How fast the four management dashboards answer on a large history (issue 15, item 3: ≤ 500 ms p95 with 1,000,000
messages in 100,000 conversations on PostgreSQL).

Creates the database when missing, migrates it, adds an org with 20 agents, seeds the history with COPY
(``dashboards_seed.py``), rolls every day up with the job's own code (``analytics.rollups``: the time this takes is
printed too — it is what the refresh and repair jobs cost), then calls ``analytics.service.dashboard`` for each
dashboard under several filter bars, ``drill`` for a first page and ``live_wall``, ``--repeat`` times each, and
prints p50 / p95 / max in milliseconds next to the target.

    .venv/bin/python benchmarks/dashboards.py --conversations 10000              # 100k messages
    .venv/bin/python benchmarks/dashboards.py --conversations 100000             # 1M messages (minutes to seed)
    .venv/bin/python benchmarks/dashboards.py --reuse                            # measure again, no new seeding
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboards_seed import Plan, seed

from edudesk import migrate
from edudesk.analytics import rollups, service
from edudesk.analytics.shapes import Drill, Filters
from edudesk.audit.service import Actor
from edudesk.auth import service as auth_service
from edudesk.auth.models import User
from edudesk.db import Database
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org

TARGET_MS = 500.0
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/edudesk_dashboards"
SLUG = "dashboards-bench"


def ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(db: Database, url: str, conversations: int, days: int, reuse: bool) -> tuple[int, list[int], bool]:
    """(org id, agent ids, whether rows were seeded now)."""
    with db.session() as session:
        org = session.scalars(select(Org).where(Org.slug == SLUG)).first()
        if org is not None and reuse:
            agents = list(session.scalars(select(User.id).where(User.org_id == org.id, User.role == "agent")))
            return org.id, agents, False
        if org is not None:
            raise SystemExit(f"org {SLUG!r} exists: pass --reuse, or drop the database to seed again")
        org = orgs_service.create_org(session, slug=SLUG, name="看板压测学校")
        actor = Actor(org.id, label="bench")
        agents = [auth_service.create_user(session, actor, username=f"agent{i}", password="bench-password-1",  # noqa: S106
                                           display_name=f"老师{i}", role="agent").id for i in range(20)]
        session.commit()
        org_id = org.id
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        started = time.perf_counter()
        counts = seed(conn, Plan(org_id, agents, conversations=conversations, days=days))
        print(f"seeded in {time.perf_counter() - started:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in
                                                                              counts.items()), flush=True)
    return org_id, agents, True


def roll_up(db: Database, org_id: int, days: int) -> float:
    end = dt.date.today()
    start = end - dt.timedelta(days=days + 1)
    began = time.perf_counter()
    with db.session() as session:
        rollups.recompute_range(session, org_id, start, end)
    return time.perf_counter() - began


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm the caches once, as a page view after another would find them
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def measure(db: Database, org_id: int, agents: list[int], repeat: int) -> list[dict[str, Any]]:
    today = dt.date.today()
    last = today - dt.timedelta(days=1)
    bars = {
        "7 days": Filters(last - dt.timedelta(days=6), last),
        "30 days": Filters(last - dt.timedelta(days=29), last),
        "365 days": Filters(last - dt.timedelta(days=364), last),
        "30 days, wechat": replace(Filters(last - dt.timedelta(days=29), last), channel="wechat"),
        "30 days, one agent": replace(Filters(last - dt.timedelta(days=29), last), agent_id=agents[0]),
    }
    results = []
    with db.session() as session:
        for bar, filters in bars.items():
            for key in ("people", "data", "process", "outcome"):
                ms = timed(lambda key=key, filters=filters: service.dashboard(session, org_id, key, filters), repeat)
                results.append({"call": f"dashboard {key}", "filters": bar, "p50": statistics.median(ms),
                                "p95": percentile(ms, 0.95), "max": max(ms)})
                session.rollback()
        for bar in ("30 days", "365 days"):
            ms = timed(lambda bar=bar: service.drill(session, org_id, Drill("conversations", {"metric": "valid"}),
                                                     bars[bar]), repeat)
            results.append({"call": "drill conversations p.1", "filters": bar, "p50": statistics.median(ms),
                            "p95": percentile(ms, 0.95), "max": max(ms)})
        ms = timed(lambda: service.live_wall(session, org_id), repeat)
        results.append({"call": "live_wall", "filters": "now", "p50": statistics.median(ms),
                        "p95": percentile(ms, 0.95), "max": max(ms)})
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=DEFAULT_URL, help="PostgreSQL (created when missing)")
    ap.add_argument("--conversations", type=int, default=10_000, help="about ten messages each")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--reuse", action="store_true", help="measure the org seeded by an earlier run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    ensure_database(args.database_url)
    migrate.upgrade(args.database_url)
    db = Database(args.database_url)
    try:
        org_id, agents, fresh = prepare(db, args.database_url, args.conversations, args.days, args.reuse)
        if fresh:
            seconds = roll_up(db, org_id, args.days)
            per_day = seconds / (args.days + 2) * 1000
            print(f"rolled up {args.days + 2} days in {seconds:.1f} s ({per_day:.0f} ms a day)", flush=True)
        with psycopg.connect(args.database_url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            messages = conn.execute("SELECT count(*) FROM messages WHERE org_id = %s", (org_id,)).fetchone()[0]  # type: ignore[index]
            facts = conn.execute("SELECT count(*) FROM analytics_conversations WHERE org_id = %s",
                                 (org_id,)).fetchone()[0]  # type: ignore[index]
        results = measure(db, org_id, agents, args.repeat)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"messages": messages, "conversations": facts, "results": results}, ensure_ascii=False))
        return 0
    print(f"\n{messages:,} messages, {facts:,} rolled-up conversations; {args.repeat} calls each (ms)")
    print(f"{'call':<26}{'filters':<20}{'p50':>8}{'p95':>8}{'max':>8}")
    worst = 0.0
    for r in results:
        worst = max(worst, r["p95"])
        print(f"{r['call']:<26}{r['filters']:<20}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['max']:>8.1f}")
    verdict = "meets" if worst <= TARGET_MS else "MISSES"
    print(f"\nworst p95 {worst:.1f} ms — {verdict} the target of {TARGET_MS:.0f} ms")
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())

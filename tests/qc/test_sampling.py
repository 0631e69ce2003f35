"""Daily sampling: rule-based picks (severe, complaint, low score), a stable random share, nothing twice."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from sqlalchemy import select

from edudesk import jobs
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.db import Database, utcnow
from edudesk.localtime import local_today
from edudesk.qc import ruleset, sampling
from edudesk.qc.models import QcInspection, QcReview
from tests.conftest import TwoOrgs


def add(db: Database, org_id: int, conv_ids: list[int], **values: object) -> None:
    with db.session() as session:
        for conv_id in conv_ids:
            fields: dict[str, object] = {"score": 90, **values}
            session.add(QcInspection(org_id=org_id, conversation_id=conv_id, revision=1, closed_at=utcnow(),
                                     **fields))
        session.commit()


def picked(db: Database, org_id: int) -> dict[int, str]:
    with db.session() as session:
        return {r.conversation_id: r.reason for r in session.scalars(select(QcReview).where(QcReview.org_id == org_id))}


def conversations(db: Database, org_id: int, n: int) -> list[int]:
    with db.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", f"s-{org_id}")
        ids = [conversations_service.open_conversation(session, contact, "web").id for _ in range(n)]
        session.commit()
    return ids


def test_rule_based_and_random_picks(app: FastAPI, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    ids = conversations(db, orgs.a.id, 60)
    add(db, orgs.a.id, ids[:1], severe=True)
    add(db, orgs.a.id, ids[1:2], complaint=True)
    add(db, orgs.a.id, ids[2:3], score=40)
    add(db, orgs.a.id, ids[3:])
    with db.session() as session:
        ruleset.settings(session, orgs.a.id).random_percent = 20
        added = sampling.sample_day(session, orgs.a.id, local_today())
        session.commit()
    got = picked(db, orgs.a.id)
    assert got[ids[0]] == "severe" and got[ids[1]] == "complaint" and got[ids[2]] == "low_score"
    randoms = [c for c, why in got.items() if why == "random"]
    assert 2 <= len(randoms) <= 25 and added == len(got)
    expected = {c for c in ids[3:] if sampling.random_pick(orgs.a.id, c, local_today(), 20)}
    assert set(randoms) == expected
    with db.session() as session:  # the same day again adds nothing
        assert sampling.sample_day(session, orgs.a.id, local_today()) == 0
        session.commit()
    with db.session() as session:  # yesterday had nothing
        assert sampling.sample_day(session, orgs.a.id, local_today() - dt.timedelta(days=1)) == 0
    assert picked(db, orgs.b.id) == {}


def test_switches_turn_rule_based_picks_off(app: FastAPI, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    ids = conversations(db, orgs.a.id, 2)
    add(db, orgs.a.id, ids[:1], severe=True, score=95)
    add(db, orgs.a.id, ids[1:], complaint=True, score=95)
    with db.session() as session:
        s = ruleset.settings(session, orgs.a.id)
        s.random_percent, s.all_severe, s.all_complaints, s.below_score = 0, False, False, 0
        assert sampling.sample_day(session, orgs.a.id, local_today()) == 0


def test_the_nightly_chain(app: FastAPI, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    sampling.ensure_scheduled(db)
    sampling.ensure_scheduled(db)
    with db.session() as session:
        waiting = list(session.scalars(select(jobs.Job).where(jobs.Job.kind == sampling.SCHEDULE_JOB)))
        assert len(waiting) == 1 and waiting[0].run_at > utcnow()
        sampling.schedule_job(session, {})
        session.commit()
        days = {j.payload["org_id"]: j.payload["day"] for j in session.scalars(
            select(jobs.Job).where(jobs.Job.kind == sampling.SAMPLE_JOB))}
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    assert days == {orgs.a.id: yesterday, orgs.b.id: yesterday}

"""Inspection on close: the job is enqueued in the closing transaction (by the app's session hook), runs through
the worker, stores one result per conversation and replaces it when run again. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.db import Database, utcnow
from edudesk.hours import service as hours_service
from edudesk.qc import ruleset
from edudesk.qc.inspection import INSPECT_JOB
from edudesk.qc.models import QcHit, QcInspection
from tests.conftest import TwoOrgs, csrf_from, login
from tests.qc.conftest import Serve, conversation, pending, run_jobs


def inspections(db: Database, conv_id: int) -> list[QcInspection]:
    with db.session() as session:
        return list(session.scalars(select(QcInspection).where(QcInspection.conversation_id == conv_id)))


def hits(db: Database, conv_id: int) -> list[QcHit]:
    with db.session() as session:
        return list(session.scalars(select(QcHit).join(QcInspection, QcInspection.id == QcHit.inspection_id)
                                    .where(QcInspection.conversation_id == conv_id).order_by(QcHit.id)))


def test_closing_enqueues_the_inspection_in_the_same_transaction(app: FastAPI, served: Serve) -> None:
    db: Database = app.state.ctx.db
    open_id = served([("a", "您好"), ("c", "多少钱")], close=False)
    assert pending(db, INSPECT_JOB) == []  # nothing for a conversation still open
    closed_id = served([("a", "您好，放心，我们保证提分"), ("c", "好的谢谢")], visitor="v2")
    assert [j.payload["conversation_id"] for j in pending(db, INSPECT_JOB)] == [closed_id]
    assert open_id != closed_id


def test_a_rolled_back_close_enqueues_nothing(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好")], close=False)
    with db.session() as session:
        conversations_service.resolve(session, orgs.a.users["agent"], conv_id, close_after_seconds=0)
        session.commit()
    with db.session() as session:
        conv = conversation(db, conv_id)
        conversations_service.rate(session, orgs.a.id, conv.contact_id, 4, None)
        session.flush()
        session.rollback()
    assert pending(db, INSPECT_JOB) == []


def test_the_worker_inspects_and_stores_hits_with_their_message(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好，放心，我们保证提分"), ("c", "你们太差了，我要投诉"), ("a", "好的")])
    run_jobs(app)
    [row] = inspections(db, conv_id)
    assert row.agent_id == orgs.a.users["agent"].id and row.revision == 1
    found = hits(db, conv_id)
    kinds = {h.kind for h in found}
    assert {"forbidden", "complaint"} <= kinds
    promise = next(h for h in found if h.kind == "forbidden")
    with db.session() as session:
        message = session.get(Message, promise.message_id)
        assert message is not None and message.sender == SenderKind.agent
        assert message.text[promise.start:promise.end] == "保证提分" == promise.matched
    assert row.complaint and row.severe and row.hit_count == len(found)
    assert row.score == 100 - sum({h.rule_key: h.points for h in found}.values())


def test_inspecting_again_replaces_the_result(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好，放心，保证提分"), ("c", "好")])
    run_jobs(app)
    first = hits(db, conv_id)
    inspector = app.state.ctx.jobs.get(INSPECT_JOB)
    with db.session() as session:  # the job delivered twice (at-least-once): the same single result
        inspector(session, {"org_id": orgs.a.id, "conversation_id": conv_id})
        session.commit()
    assert len(inspections(db, conv_id)) == 1
    assert [(h.rule_key, h.start) for h in hits(db, conv_id)] == [(h.rule_key, h.start) for h in first]
    with db.session() as session:  # the promise rule switched off: a new revision, the hit disappears
        rules = [dict(r) for r in ruleset.current(session, orgs.a.id).rules]
        for r in rules:
            r["enabled"] = r["key"] != "promise"
        ruleset.save(session, Actor(orgs.a.id, label="t"), rules, what="t")
        inspector(session, {"org_id": orgs.a.id, "conversation_id": conv_id})
        session.commit()
    [row] = inspections(db, conv_id)
    assert row.revision == 2
    assert "promise" not in {h.rule_key for h in hits(db, conv_id)}
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(QcInspection)) == 1


def test_open_conversations_are_not_inspected(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好，保证提分")], close=False)
    with db.session() as session:
        app.state.ctx.jobs.get(INSPECT_JOB)(session, {"org_id": orgs.a.id, "conversation_id": conv_id})
        session.commit()
    assert inspections(db, conv_id) == []


def test_bot_only_conversations_are_not_inspected(app: FastAPI, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    with db.session() as session:
        contact = contacts_service.find_or_create(session, orgs.a.id, "web", "bot-only")
        conv = conversations_service.open_conversation(session, contact, "web")
        conversations_service.post_message(session, conv, SenderKind.visitor, "你们太差了")
        conversations_service.post_message(session, conv, SenderKind.bot, "抱歉")
        conv.state = conversations_service.S.closed
        conv.closed_at = utcnow()
        session.commit()
        conv_id = conv.id
    assert [j.payload["conversation_id"] for j in pending(db, INSPECT_JOB)] == [conv_id]
    run_jobs(app)
    assert inspections(db, conv_id) == []


def test_the_auto_close_job_is_a_close_too(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好")], close=False)
    with db.session() as session:
        conversations_service.resolve(session, orgs.a.users["agent"], conv_id, close_after_seconds=0)
        session.commit()
    run_jobs(app)  # runs the close job, whose close enqueues the inspection, which runs in the same loop
    [row] = inspections(db, conv_id)
    assert row.score <= 100


def test_a_purged_transcript_keeps_its_score_but_not_its_words(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    conv_id = served([("a", "您好，保证提分"), ("c", "好")])
    run_jobs(app)
    score = inspections(db, conv_id)[0].score
    with db.session() as session:
        conversations_service.strip_content(session, orgs.a.id, [conv_id], utcnow())
        session.commit()
    run_jobs(app)
    assert inspections(db, conv_id)[0].score == score
    assert all(h.matched == "" and "保证提分" not in h.reason for h in hits(db, conv_id))


def _delay_agent_replies(db: Database, conv_id: int, seconds: int) -> None:
    """Moves the agent's messages ``seconds`` after the assignment, as if they had answered late."""
    with db.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None and conv.assigned_at is not None
        for m in session.scalars(select(Message).where(Message.conversation_id == conv_id)):
            if m.sender == SenderKind.agent:
                m.created_at = conv.assigned_at + dt.timedelta(seconds=seconds)
        session.commit()


def test_response_times_count_business_hours_of_the_group(app: FastAPI, served: Serve, orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    late = served([("a", "您好")])
    _delay_agent_replies(db, late, 3600)
    inspector = app.state.ctx.jobs.get(INSPECT_JOB)
    with db.session() as session:  # no hours set: always open, an hour's wait is late
        inspector(session, {"org_id": orgs.a.id, "conversation_id": late})
        session.commit()
    assert "first_response" in inspections(db, late)[0].rule_keys
    with db.session() as session:  # closed all week: the wait happened outside business hours
        hours_service.save(session, Actor(orgs.a.id, label="t"), group_id=None, spec={"weekly": {}}, enabled=True,
                           closed_message="")
        session.commit()
    with db.session() as session:
        inspector(session, {"org_id": orgs.a.id, "conversation_id": late})
        session.commit()
    assert "first_response" not in inspections(db, late)[0].rule_keys


def test_results_of_an_older_revision_are_inspected_again_on_request(app: FastAPI, served: Serve,
                                                                     orgs: TwoOrgs) -> None:
    db: Database = app.state.ctx.db
    old = served([("a", "您好，保证提分"), ("c", "好")])
    run_jobs(app)
    with db.session() as session:
        ruleset.reset(session, Actor(orgs.a.id, label="t"))  # revision 2, same rules
        session.commit()
    with TestClient(app) as client:
        login(client, "alpha", "supervisor")
        token = csrf_from(client.get("/admin/qc").text)
        resp = client.post("/admin/qc/reinspect", data={"since": "", "until": "", "csrf_token": token})
        assert resp.status_code == 200 and "重新质检 1 个会话" in resp.text
        run_jobs(app)
        assert inspections(db, old)[0].revision == 2
        resp = client.post("/admin/qc/reinspect", data={"since": "", "until": "", "csrf_token": token})
        assert "重新质检 0 个会话" in resp.text

"""Keeping the roll-ups current: the flush hook marks the days a transaction changes (in that transaction), the
refresh job recomputes exactly those, the repair job re-marks the recent past, recomputing is idempotent and safe
when two workers do the same day at once, and the app registers the jobs."""

from __future__ import annotations

import datetime as dt
import threading

from fastapi import FastAPI
from sqlalchemy import func, select

from edudesk import jobs
from edudesk.analytics import jobs as analytics_jobs
from edudesk.analytics import marks, rollups
from edudesk.analytics.models import ConversationFact, DirtyDay, LeadFact, RollupDay
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.db import Database
from edudesk.leads.models import Lead, LeadValue, ValueSource
from edudesk.routing.models import AgentStatusInterval
from tests.analytics.seed import DAY, NEXT, Seeded, at
from tests.conftest import TwoOrgs

NOW = at(DAY + dt.timedelta(days=10), "12:00")


def _marked(database: Database) -> set[tuple[int, dt.date]]:
    with database.session() as session:
        return {(o, d) for o, d in session.execute(select(DirtyDay.org_id, DirtyDay.day))}


def _clear(database: Database) -> None:
    with database.session() as session:
        session.execute(DirtyDay.__table__.delete())
        session.commit()


def test_changes_mark_their_days_in_the_same_transaction(database: Database, orgs: TwoOrgs) -> None:
    marks.attach(database.sessionmaker)
    org = orgs.a.id
    with database.session() as session:
        contact = Contact(org_id=org)
        session.add(contact)
        session.flush()
        conv = Conversation(org_id=org, contact_id=contact.id, channel="web", created_at=at(DAY, "23:30"))
        session.add(conv)
        session.flush()
        conv_id, contact_id = conv.id, contact.id
        session.rollback()  # rolled back: no mark survives either
    assert _marked(database) == set()
    with database.session() as session:
        contact = Contact(org_id=org)
        session.add(contact)
        session.flush()
        conv = Conversation(org_id=org, contact_id=contact.id, channel="web", created_at=at(DAY, "23:30"))
        session.add(conv)
        session.commit()
        conv_id, contact_id = conv.id, contact.id
    assert _marked(database) == {(org, DAY)}
    _clear(database)
    with database.session() as session:  # a message alone (its conversation not loaded) marks the conversation's day
        session.add(Message(org_id=org, conversation_id=conv_id, sender=SenderKind.visitor, text="hi",
                            created_at=at(NEXT, "09:00")))
        session.commit()
    assert _marked(database) == {(org, DAY)}
    _clear(database)
    with database.session() as session:  # a phone taken in that conversation onto a lead created the next day
        lead = Lead(org_id=org, contact_id=contact_id, created_at=at(NEXT, "08:00"))
        session.add(lead)
        session.flush()
        session.add(LeadValue(org_id=org, lead_id=lead.id, key="phone", value="1", value_text="1",
                              source=ValueSource.visitor, conversation_id=conv_id))
        session.commit()
    assert _marked(database) == {(org, DAY), (org, NEXT)}
    _clear(database)
    with database.session() as session:  # a status stretch marks every day it covers
        session.add(AgentStatusInterval(org_id=org, user_id=orgs.a.users["agent"].id, status="online",
                                        started_at=at(DAY, "22:00"), ended_at=at(DAY + dt.timedelta(days=2), "01:00")))
        session.commit()
    assert _marked(database) == {(org, DAY), (org, NEXT), (org, DAY + dt.timedelta(days=2))}


def test_refresh_recomputes_the_marked_days_once(database: Database, seeded: Seeded) -> None:
    with database.session() as session:
        for model in (ConversationFact, LeadFact):
            session.execute(model.__table__.delete())
        analytics_jobs.mark(session, seeded.org_id, [DAY, DAY])
        session.commit()
        assert analytics_jobs.refresh(session, now=NOW) == 1
        assert session.scalar(select(func.count()).select_from(ConversationFact)) == 5
        assert session.scalar(select(func.count()).select_from(LeadFact)) == 4
        assert analytics_jobs.refresh(session, now=NOW) == 0
        assert session.scalar(select(func.count()).select_from(DirtyDay)) == 0


def test_recomputing_is_idempotent(database: Database, seeded: Seeded) -> None:
    def snapshot() -> list[tuple[object, ...]]:
        with database.session() as session:
            return [tuple(getattr(r, c.key) for c in ConversationFact.__table__.columns if c.key != "id")
                    for r in session.scalars(select(ConversationFact).order_by(ConversationFact.conversation_id))]

    before = snapshot()
    with database.session() as session:
        rollups.recompute_day(session, seeded.org_id, DAY, now=NOW)
        rollups.recompute_day(session, seeded.org_id, DAY, now=NOW)
        session.commit()
    assert snapshot() == before


def test_two_workers_on_the_same_day_leave_one_set_of_rows(database: Database, seeded: Seeded) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        try:
            with database.session() as session:
                barrier.wait()
                rollups.recompute_day(session, seeded.org_id, DAY, now=NOW)
                session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ConversationFact).where(
            ConversationFact.org_id == seeded.org_id, ConversationFact.day == DAY)) == 5
        assert session.scalar(select(func.count()).select_from(RollupDay).where(RollupDay.day == DAY,
                                                                               RollupDay.org_id == seeded.org_id)) == 1


def test_repair_marks_the_recent_past_of_every_org(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        assert analytics_jobs.repair(session, now=NOW, days=3) == 6
        session.commit()
    today = at(DAY + dt.timedelta(days=10), "12:00").date()
    assert {d for _, d in _marked(database)} == {today - dt.timedelta(days=n) for n in range(3)}


def test_the_first_repair_rolls_up_an_orgs_whole_history(database: Database, seeded: Seeded) -> None:
    """Installed on an org with history: its first repair marks every day since its first conversation."""
    with database.session() as session:
        session.execute(RollupDay.__table__.delete().where(RollupDay.org_id == seeded.org_id))
        session.commit()
        analytics_jobs.repair(session, now=NOW, days=3)
        session.commit()
    days = {d for o, d in _marked(database) if o == seeded.org_id}
    today = (NOW + dt.timedelta(hours=8)).date()
    assert min(days) == DAY and max(days) == today and len(days) == (today - DAY).days + 1


def test_today_is_marked_for_open_status_stretches_and_new_visits(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        session.add(AgentStatusInterval(org_id=orgs.a.id, user_id=orgs.a.users["agent"].id, status="online",
                                        started_at=NOW - dt.timedelta(hours=1)))
        session.commit()
        assert analytics_jobs.mark_today(session, NOW) == 1
        session.commit()
    assert _marked(database) == {(orgs.a.id, (NOW + dt.timedelta(hours=8)).date())}


def test_the_chains_run_once_each(database: Database) -> None:
    analytics_jobs.ensure_scheduled(database)
    analytics_jobs.ensure_scheduled(database)
    with database.session() as session:
        kinds = sorted(session.scalars(select(jobs.Job.kind).where(jobs.Job.kind.like("analytics.%"))))
        assert kinds == [analytics_jobs.REFRESH_JOB, analytics_jobs.REPAIR_JOB]
        analytics_jobs.refresh_job(session, {})
        analytics_jobs.repair_job(session, {})
        session.commit()
        pending = session.scalars(select(jobs.Job.kind).where(jobs.Job.status == jobs.JobStatus.pending))
        assert sorted(pending) == [analytics_jobs.REFRESH_JOB, analytics_jobs.REPAIR_JOB]


def test_the_app_registers_the_jobs(app: FastAPI) -> None:
    kinds = app.state.ctx.jobs.kinds
    assert analytics_jobs.REFRESH_JOB in kinds and analytics_jobs.REPAIR_JOB in kinds


def test_an_ordinary_bot_turn_marks_nothing_but_what_counts_does(database: Database, orgs: TwoOrgs) -> None:
    """The bot's turn is the hot path: the visitor's first message marks (the conversation becomes valid), later
    bot turns do not; an agent's reply while serving does (response times), and so does a state change."""
    from edudesk.audit.service import Actor
    from edudesk.auth.models import User
    from edudesk.bot import service as bot_service
    from edudesk.channels.base import InboundMessage
    from edudesk.conversations import service as conversations_service
    from edudesk.inbound import service as inbound_service
    from edudesk.kb import service as kb_service
    from edudesk.kb.schemas import EntryInput

    with database.session() as session:
        kb_service.create_entry(session, Actor(orgs.a.id, label="test"), EntryInput(
            question="校区在哪里", similar=["地址在哪"], answer="西湖区文三路 88 号。"))
        session.commit()
    marks.attach(database.sessionmaker)
    bots = bot_service.make_runtime(database, poll_seconds=3600)

    def visitor_says(client_id: str, text: str) -> int:
        msg = InboundMessage(org_id=orgs.a.id, channel="web", external_user_id="v1", client_message_id=client_id,
                             text=text)
        with database.session() as session:
            result = inbound_service.receive(session, msg, agents_online=False, bots=bots)
            session.commit()
            return int(result.conversation.id)

    conv_id = visitor_says("c1", "你好")
    assert len(_marked(database)) == 1
    _clear(database)
    visitor_says("c2", "校区在哪里？")
    visitor_says("c3", "地址在哪")
    assert _marked(database) == set()
    visitor_says("c4", "能不能退费")  # nothing matches: an unanswered question counts
    assert len(_marked(database)) == 1
    _clear(database)
    with database.session() as session:
        agent = session.get(User, orgs.a.users["agent"].id)
        assert agent is not None
        conversations_service.accept(session, agent, conv_id)
        session.commit()
        assert len(_marked(database)) == 1
        _clear(database)
        conversations_service.send_agent_message(session, agent, conv_id, "您好")
        session.commit()
        assert len(_marked(database)) == 1
        _clear(database)
        conversations_service.send_agent_message(session, agent, conv_id, "还有什么问题吗")
        session.commit()
    assert len(_marked(database)) == 1

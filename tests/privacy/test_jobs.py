"""The purge job: what is past retention goes in batches, per org, never what is still in use, and a run killed
half-way resumes without losing count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from edudesk import jobs
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Attachment, Conversation, Message
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, utcnow
from edudesk.leads.models import Lead, LeadNote, LeadStatus, LeadValue
from edudesk.privacy import files, retention
from edudesk.privacy import jobs as privacy_jobs
from edudesk.privacy import service as privacy_service
from edudesk.settings import Settings
from edudesk.tickets.models import Ticket, TicketStatus
from edudesk.trials.models import TrialBooking
from tests.conftest import TwoOrgs
from tests.privacy.factories import Person, seed_person

OLD = dt.timedelta(days=400)


def age(database: Database, person: Person, *, state: ConversationState = ConversationState.closed,
        ticket: TicketStatus = TicketStatus.closed, keep_booking: bool = False) -> None:
    """Moves everything of the person 400 days into the past."""
    past = utcnow() - OLD
    with database.session() as session:
        session.execute(update(Conversation).where(Conversation.contact_id == person.contact_id)
                        .values(state=state, last_message_at=past, created_at=past))
        session.execute(update(Attachment).where(Attachment.contact_id == person.contact_id).values(created_at=past))
        session.execute(update(Contact).where(Contact.id == person.contact_id).values(last_seen_at=past))
        session.execute(update(Lead).where(Lead.id == person.lead_id).values(updated_at=past))
        session.execute(update(LeadNote).where(LeadNote.lead_id == person.lead_id).values(created_at=past))
        session.execute(update(Ticket).where(Ticket.id == person.ticket_id).values(status=ticket))
        if not keep_booking:  # the factory booked a trial; without it the lead never got that far
            session.execute(TrialBooking.__table__.delete().where(TrialBooking.id == person.booking_id))
            session.execute(update(Lead).where(Lead.id == person.lead_id).values(status=LeadStatus.contacted))
        session.commit()


def run(database: Database, settings: Settings, org_id: int, batch: int = 200) -> bool:
    runner = privacy_jobs.PurgeRunner(privacy_service.make_registry(settings.upload_dir, batch))
    with database.session() as session:
        done = runner.run(session, org_id)
        session.commit()
    return done


def lead_values(database: Database, lead_id: int) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(LeadValue).where(LeadValue.lead_id == lead_id))
                   or 0)


def test_old_data_is_purged_in_its_own_org_and_recent_data_stays(database: Database, orgs: TwoOrgs,
                                                                  settings: Settings) -> None:
    up = settings.upload_dir
    old = seed_person(database, orgs.a.id, up, visitor="old", phone="13900000001", name="王", secret="旧的秘密")
    new = seed_person(database, orgs.a.id, up, visitor="new", phone="13900000002", name="赵", secret="新的秘密")
    other = seed_person(database, orgs.b.id, up, visitor="old", phone="13900000001", name="王", secret="乙的旧秘密")
    age(database, old)
    age(database, other)
    with database.session() as session:  # org B keeps everything for ever, by an explicit choice
        retention.save(session, Actor(orgs.b.id, label="admin"), dict.fromkeys(retention.KINDS))
        session.commit()

    assert run(database, settings, orgs.a.id)
    assert run(database, settings, orgs.b.id)

    assert not old.file.exists() and new.file.exists() and other.file.exists()
    assert lead_values(database, old.lead_id) == 0, "an unconverted lead idle past retention is erased"
    assert lead_values(database, new.lead_id) > 0 and lead_values(database, other.lead_id) > 0
    with database.session() as session:
        texts = {m.conversation_id: m.text for m in session.scalars(select(Message).where(Message.text != ""))}
        assert old.conv_id not in texts and new.conv_id in texts and other.conv_id in texts
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge")).all()
        assert {e.org_id for e in entries} == {orgs.a.id}
        # The old transcript's attachment went with it, so the attachments purger found nothing of its own.
        assert {e.target_id: e.detail["count"] for e in entries} == {"conversations": 1, "leads": 1}
        contact = session.get(Contact, old.contact_id)
        assert contact is not None and contact.erased_at is not None


def test_what_is_still_in_use_is_never_purged(database: Database, orgs: TwoOrgs, settings: Settings) -> None:
    up = settings.upload_dir
    serving = seed_person(database, orgs.a.id, up, visitor="a", phone="13900000003", name="钱", secret="接待中")
    ticketed = seed_person(database, orgs.a.id, up, visitor="b", phone="13900000004", name="孙", secret="有工单")
    trialled = seed_person(database, orgs.a.id, up, visitor="c", phone="13900000005", name="周", secret="试听过")
    enrolled = seed_person(database, orgs.a.id, up, visitor="d", phone="13900000006", name="吴", secret="已报名")
    age(database, serving, state=ConversationState.assigned)
    age(database, ticketed, ticket=TicketStatus.pending)
    age(database, trialled, keep_booking=True)
    age(database, enrolled)
    with database.session() as session:
        session.execute(update(Lead).where(Lead.id == enrolled.lead_id).values(status=LeadStatus.enrolled))
        session.commit()

    assert run(database, settings, orgs.a.id)

    assert serving.file.exists(), "an attachment in a conversation someone serves stays"
    for person in (serving, ticketed, trialled, enrolled):
        assert lead_values(database, person.lead_id) > 0, person.secret
    with database.session() as session:
        kept = {c.id: c.content_purged_at for c in session.scalars(select(Conversation))}
        assert kept[serving.conv_id] is None and kept[ticketed.conv_id] is None
        assert kept[trialled.conv_id] is not None and kept[enrolled.conv_id] is not None, "closed transcripts go"


def test_keep_forever_purges_nothing(database: Database, orgs: TwoOrgs, settings: Settings) -> None:
    person = seed_person(database, orgs.a.id, settings.upload_dir, visitor="x", phone="13900000007", name="郑",
                         secret="永久")
    age(database, person)
    with database.session() as session:
        retention.save(session, Actor(orgs.a.id, label="admin"), dict.fromkeys(retention.KINDS))
        session.commit()
    assert run(database, settings, orgs.a.id)
    assert person.file.exists() and lead_values(database, person.lead_id) > 0


def test_a_purge_killed_half_way_resumes(database: Database, orgs: TwoOrgs, settings: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    people = [seed_person(database, orgs.a.id, settings.upload_dir, visitor=f"k{i}", phone=f"1390000001{i}",
                          name="冯", secret=f"批次{i}") for i in range(3)]
    for p in people:
        age(database, p, keep_booking=True)  # a booked trial keeps the lead: only transcripts are purged here
    real_remove = files.remove
    calls = {"n": 0}

    def dying_remove(paths: list[Path]) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("kill -9")  # the process dies in the second batch, before its commit
        return real_remove(paths)

    monkeypatch.setattr(files, "remove", dying_remove)
    with pytest.raises(SystemExit):
        run(database, settings, orgs.a.id, batch=1)
    with database.session() as session:
        purged = session.scalars(select(Conversation.id).where(Conversation.content_purged_at.is_not(None))).all()
        assert len(purged) == 1, "the first batch was committed, the second rolled back"
    monkeypatch.setattr(files, "remove", real_remove)

    assert run(database, settings, orgs.a.id, batch=1)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.content_purged_at.is_(None))) == 0
        counts = [e.detail["count"] for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "privacy.purge", AuditEntry.target_id == "conversations"))]
        assert sum(counts) == 3, "each conversation counted once, across the killed run and the resumed one"


def test_a_long_purge_continues_in_a_new_job(database: Database, orgs: TwoOrgs, settings: Settings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privacy_jobs, "MAX_BATCHES", 1)
    for i in range(2):
        age(database, seed_person(database, orgs.a.id, settings.upload_dir, visitor=f"l{i}",
                                  phone=f"1390000002{i}", name="陈", secret=f"长{i}"), keep_booking=True)
    runner = privacy_jobs.PurgeRunner(privacy_service.make_registry(settings.upload_dir, 1))
    with database.session() as session:
        runner(session, {"org_id": orgs.a.id})
        session.commit()
        waiting = session.scalars(select(jobs.Job).where(jobs.Job.kind == privacy_jobs.PURGE_JOB)).all()
        assert len(waiting) == 1 and waiting[0].run_at < utcnow() + dt.timedelta(minutes=1)


def test_the_schedule_starts_one_purge_per_org_and_itself_again(database: Database, orgs: TwoOrgs) -> None:
    privacy_jobs.ensure_scheduled(database)
    privacy_jobs.ensure_scheduled(database)
    with database.session() as session:
        assert len(session.scalars(select(jobs.Job).where(jobs.Job.kind == privacy_jobs.SCHEDULE_JOB)).all()) == 1
        privacy_jobs.schedule_job(session, {})
        privacy_jobs.schedule_job(session, {})
        session.commit()
        purges = session.scalars(select(jobs.Job).where(jobs.Job.kind == privacy_jobs.PURGE_JOB)).all()
        assert sorted(j.org_id for j in purges) == [orgs.a.id, orgs.b.id]
        assert all(j.payload == {"org_id": j.org_id} for j in purges)

"""Erasing one person: everything about them goes or is anonymised, in their org only, and the CRM is told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import Attachment, Conversation, Message
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, NotFoundError
from edudesk.kb.models import KbMiss
from edudesk.leads.models import Lead, LeadNote, LeadValue
from edudesk.privacy import service as privacy_service
from edudesk.settings import Settings
from edudesk.tickets.models import Ticket, TicketComment, TicketStatus
from edudesk.trials.models import BookingStatus, TrialBooking
from edudesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from tests.conftest import TwoOrgs
from tests.privacy.factories import Person, add_endpoint, seed_person


@pytest.fixture
def people(database: Database, orgs: TwoOrgs, settings: Settings) -> dict[str, Person]:
    for org in (orgs.a, orgs.b):
        add_endpoint(database, org.id)
    up = settings.upload_dir
    return {
        "target": seed_person(database, orgs.a.id, up, visitor="v-target", phone="13912345678", name="张",
                              secret="甲的秘密"),
        "neighbour": seed_person(database, orgs.a.id, up, visitor="v-neighbour", phone="13800001111", name="李",
                                 secret="邻居的秘密"),
        "other_org": seed_person(database, orgs.b.id, up, visitor="v-target", phone="13912345678", name="张",
                                 secret="乙机构的秘密"),
    }


def _dump(database: Database, org_id: int) -> str:
    """Every text column of the org's personal-data tables, as one string to search."""
    out = []
    with database.session() as session:
        for model in (Contact, ContactIdentity, Conversation, Message, Attachment, Lead, LeadValue, LeadNote, Ticket,
                      TicketComment, TrialBooking, KbMiss, WebhookEvent, AuditEntry):
            for row in session.scalars(select(model).where(model.org_id == org_id)):
                out.append(json.dumps({k: str(v) for k, v in vars(row).items() if not k.startswith("_")},
                                      ensure_ascii=False))
    return "\n".join(out)


def test_erasure_removes_the_person_everywhere_and_only_them(database: Database, orgs: TwoOrgs,
                                                               settings: Settings, people: dict[str, Person]) -> None:
    target, neighbour, other = people["target"], people["neighbour"], people["other_org"]
    registry = privacy_service.make_registry(settings.upload_dir)
    before_b = _dump(database, orgs.b.id)
    assert target.secret in _dump(database, orgs.a.id)
    with database.session() as session:
        report = privacy_service.erase_contact(session, registry, Actor(orgs.a.id, user_id=orgs.a.users["admin"].id,
                                                                        label="admin"), target.contact_id)
        session.commit()
    assert report.counts["attachments"] == 1 and report.counts["files"] == 1
    assert report.lead_ids == [target.lead_id] and report.ticket_ids == [target.ticket_id]

    dump_a = _dump(database, orgs.a.id)
    assert target.secret not in dump_a
    assert "13912345678" not in dump_a and "8613912345678" not in dump_a
    assert "v-target" not in dump_a, "the channel identity is deleted"
    assert neighbour.secret in dump_a and "13800001111" in dump_a, "the neighbour in the same org is untouched"
    assert _dump(database, orgs.b.id) == before_b, "the other org is untouched"
    assert not target.file.exists()
    assert neighbour.file.exists() and other.file.exists()

    with database.session() as session:
        contact = session.get(Contact, target.contact_id)
        assert contact is not None and contact.erased_at is not None
        assert contact.name is None and contact.phone is None and contact.wechat_id is None
        conv = session.get(Conversation, target.conv_id)
        assert conv is not None and conv.state == ConversationState.closed and conv.content_purged_at is not None
        msgs = list(session.scalars(select(Message).where(Message.conversation_id == target.conv_id)))
        assert msgs and all(m.text == "" and m.attachment_id is None for m in msgs), "rows stay, content goes"
        lead = session.get(Lead, target.lead_id)
        assert lead is not None and lead.phone_e164 is None and lead.has_contact, "the funnel still counts it"
        ticket = session.get(Ticket, target.ticket_id)
        assert ticket is not None and ticket.status == TicketStatus.closed
        booking = session.get(TrialBooking, target.booking_id)
        assert booking is not None and booking.status == BookingStatus.cancelled and booking.child_name == ""
        # Webhooks: nothing about the person can be (re)sent, and the CRM is told to delete too.
        pending = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.org_id == orgs.a.id, WebhookDelivery.subject_key == f"lead:{target.lead_id}")).all()
        assert pending and all(d.status == DeliveryStatus.dead for d in pending)
        erased = session.scalars(select(WebhookEvent).where(WebhookEvent.org_id == orgs.a.id,
                                                            WebhookEvent.type == "contact.erased")).one()
        assert erased.payload["contact_id"] == target.contact_id and erased.payload["lead_ids"] == [target.lead_id]
        assert session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == erased.id)).one()
        neighbour_events = session.scalars(select(WebhookEvent).where(
            WebhookEvent.subject_key == f"lead:{neighbour.lead_id}", WebhookEvent.org_id == orgs.a.id)).all()
        assert neighbour_events and all(e.payload != {"erased": True} for e in neighbour_events)
        # The audit entry says who, which contact and how much; never the data.
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase")).one()
        assert entry.org_id == orgs.a.id and entry.target_id == str(target.contact_id)
        assert entry.actor_user_id == orgs.a.users["admin"].id and entry.detail["reason"] == "request"


def test_erasing_twice_is_harmless_and_another_orgs_contact_is_not_found(
        database: Database, orgs: TwoOrgs, settings: Settings, people: dict[str, Person]) -> None:
    target, other = people["target"], people["other_org"]
    registry = privacy_service.make_registry(settings.upload_dir)
    actor = Actor(orgs.a.id, label="admin")
    with database.session() as session:
        privacy_service.erase_contact(session, registry, actor, target.contact_id)
        session.commit()
    with database.session() as session:
        again = privacy_service.erase_contact(session, registry, actor, target.contact_id)
        session.commit()
    assert again.counts["messages"] > 0 and again.counts["files"] == 0
    with database.session() as session, pytest.raises(NotFoundError):
        privacy_service.erase_contact(session, registry, actor, other.contact_id)


def test_a_returning_visitor_is_a_new_contact(database: Database, orgs: TwoOrgs, settings: Settings,
                                              people: dict[str, Person]) -> None:
    from edudesk.contacts import service as contacts_service

    target = people["target"]
    with database.session() as session:
        privacy_service.erase_contact(session, privacy_service.make_registry(settings.upload_dir),
                                      Actor(orgs.a.id, label="admin"), target.contact_id)
        session.commit()
        again = contacts_service.find_or_create(session, orgs.a.id, "web", "v-target")
        assert again.id != target.contact_id


def test_a_replay_of_an_erased_event_is_refused(database: Database, orgs: TwoOrgs, settings: Settings,
                                                people: dict[str, Person]) -> None:
    from edudesk.webhooks import service as webhooks_service

    target = people["target"]
    with database.session() as session:
        privacy_service.erase_contact(session, privacy_service.make_registry(settings.upload_dir),
                                      Actor(orgs.a.id, label="admin"), target.contact_id)
        session.commit()
        delivery = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.subject_key == f"lead:{target.lead_id}")).first()
        assert delivery is not None
        with pytest.raises(webhooks_service.WebhookError):
            webhooks_service.replay(session, Actor(orgs.a.id, label="admin"), delivery.endpoint_id, delivery.id)


def test_files_are_kept_under_the_upload_dir(tmp_path: Path) -> None:
    from edudesk.privacy import files

    assert files.attachment_path(tmp_path, 1, "../../etc/passwd") is None
    assert files.attachment_path(tmp_path, 1, "") is None
    assert files.attachment_path(tmp_path, 1, "abc_DEF-12") == tmp_path / "1" / "abc_DEF-12"

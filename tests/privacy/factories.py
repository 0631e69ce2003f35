"""A person with data in every area (contact, identity, conversation, messages, attachment file, lead card, note,
ticket, trial booking, unanswered question, webhook events), for export, erasure and purge tests."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.catalog import service as catalog_service
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.db import Database, utcnow
from edudesk.inbound import service as inbound_service
from edudesk.kb import service as kb_service
from edudesk.leads import service as leads_service
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import TicketSource
from edudesk.trials import service as trials_service
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import WebhookEndpoint
from edudesk.webhooks.urls import UrlPolicy

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Person:
    org_id: int
    contact_id: int
    conv_id: int
    lead_id: int
    ticket_id: int
    booking_id: int
    attachment_id: int
    file: Path
    phone: str
    secret: str


def add_endpoint(database: Database, org_id: int) -> int:
    """A CRM endpoint subscribed to lead events and contact.erased (never reachable: deliveries stay pending)."""
    with database.session() as session:
        existing = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.org_id == org_id)).first()
        if existing is not None:
            return existing.id
        endpoint, _ = webhooks_service.create_endpoint(
            session, Actor(org_id, label="t"), webhooks_service.secret_box("test-secret-" + "x" * 20),
            UrlPolicy(allow_private=True), webhooks_service.EndpointInput(
                "http://127.0.0.1:9/crm", ["lead.created", "lead.updated", "trial.booked", "contact.erased"]))
        session.commit()
        return endpoint.id


def seed_person(database: Database, org_id: int, upload_dir: Path, *, visitor: str, phone: str, name: str,
                secret: str) -> Person:
    key = secrets.token_urlsafe(16)
    path = upload_dir / str(org_id) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG)
    actor = Actor(org_id, label="t")
    with database.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        att = conversations_service.add_attachment(session, org_id, contact.id, storage_key=key,
                                                   content_type="image/png", size=len(PNG), name=f"{name}作业.png")
        first = inbound_service.receive(session, InboundMessage(
            org_id, "web", visitor, f"{visitor}-1", text=f"我姓{name}，孩子三年级，电话{phone}，{secret}",
            page_url=f"https://school.example/landing?who={secret}"), agents_online=False)
        inbound_service.receive(session, InboundMessage(org_id, "web", visitor, f"{visitor}-2",
                                                        attachment_id=att.id), agents_online=False)
        session.flush()
        lead = leads_service.lead_for_contact(session, org_id, contact.id)
        assert lead is not None, "the message with a phone number makes a lead"
        leads_service.add_note(session, actor, lead.id, f"电话沟通过 {secret}")
        ticket = tickets_service.create_ticket(
            session, org_id=org_id, source=TicketSource.agent, subject=f"{name}家长退费 {secret}",
            contact_id=contact.id, conversation_id=first.conversation.id, description=f"退费原因 {secret}")
        course = catalog_service.add_course(session, actor, name=f"数学{secrets.token_hex(2)}", subject="数学")
        trial = trials_service.create_session(session, actor, trials_service.SessionInput(
            course_id=course.id, campus_id=None, starts_at=utcnow() + dt.timedelta(days=3), capacity=5))
        booking = trials_service.book(session, org_id, trial.id, lead.id)
        kb_service.record_miss(session, org_id, f"学费多少 {secret}", "unanswered",
                               conversation_id=first.conversation.id)
        session.commit()
        return Person(org_id, contact.id, first.conversation.id, lead.id, ticket.id, booking.id, att.id, path,
                      phone, secret)

"""Factories for the trial tests: a course and a campus, leads with a card, sessions."""

from __future__ import annotations

import datetime as dt
import zlib

from edudesk.audit.service import Actor
from edudesk.catalog import service as catalog_service
from edudesk.contacts import service as contacts_service
from edudesk.db import Database, utcnow
from edudesk.leads import service as leads_service
from edudesk.leads.models import ValueSource
from edudesk.trials import service as trials_service
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.urls import UrlPolicy


def actor(org_id: int) -> Actor:
    return Actor(org_id, label="test")


def catalog(database: Database, org_id: int, *, course: str = "少儿英语", subject: str = "英语",
            campus: str | None = "西湖校区") -> tuple[int, int | None]:
    with database.session() as session:
        c = catalog_service.add_course(session, actor(org_id), name=course, subject=subject)
        p = catalog_service.add_campus(session, actor(org_id), name=campus) if campus else None
        session.commit()
        return c.id, p.id if p else None


def phone_of(visitor: str) -> str:
    """A distinct mobile number per visitor: leads with the same number are merged as one person."""
    return f"138{zlib.crc32(visitor.encode()) % 10**8:08d}"


def lead(database: Database, org_id: int, visitor: str, *, child: str = "小明", grade: str = "三年级") -> int:
    with database.session() as session:
        contact = contacts_service.find_or_create(session, org_id, "web", visitor)
        capture = leads_service.record_values(
            session, contact, [("phone", phone_of(visitor), ""), ("child_name", child, ""), ("grade", grade, "")],
            source=ValueSource.agent, channel="web", conversation_id=None, message_id=None)
        assert capture.lead is not None
        session.commit()
        return capture.lead.id


def trial(database: Database, org_id: int, course_id: int, campus_id: int | None = None, *, capacity: int = 5,
          starts_in: dt.timedelta = dt.timedelta(days=2)) -> int:
    with database.session() as session:
        ts = trials_service.create_session(session, actor(org_id), trials_service.SessionInput(
            course_id=course_id, campus_id=campus_id, starts_at=utcnow() + starts_in, capacity=capacity,
            teacher="Amy"))
        session.commit()
        return ts.id


def subscribe(database: Database, org_id: int, event_types: list[str]) -> None:
    with database.session() as session:
        webhooks_service.create_endpoint(
            session, actor(org_id), webhooks_service.secret_box("s" * 32), UrlPolicy(allow_private=True),
            webhooks_service.EndpointInput("http://127.0.0.1:9/crm", event_types, "CRM"))
        session.commit()

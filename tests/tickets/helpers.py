"""Factories for ticket tests: a visitor's conversation, an org's business hours, SLA policies, tickets, events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from edudesk.audit.service import Actor
from edudesk.channels.base import InboundMessage
from edudesk.db import Database
from edudesk.events import DomainEvent, EventBus
from edudesk.hours.models import BusinessHoursRecord
from edudesk.hours.schedule import BusinessHours
from edudesk.inbound import service as inbound_service
from edudesk.tickets import config
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import Ticket, TicketPriority, TicketSource

SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKDAY = [["09:00", "12:00"], ["13:00", "18:00"]]  # 8 hours, lunch 12:00–13:00
# Weekdays with a lunch break, weekends closed, and Wednesday 4 March 2026 a holiday (a school's own day off).
SCHOOL = BusinessHours.from_dict({
    "timezone": "Asia/Shanghai",
    "weekly": {day: WORKDAY for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-03-04"],
})


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    """A Shanghai wall-clock instant in March 2026 (2 March is a Monday), as UTC."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


def say(database: Database, org_id: int, text: str, client_id: str, visitor: str = "parent-1",
        channel: str = "web") -> inbound_service.InboundResult:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id=org_id, channel=channel, external_user_id=visitor, client_message_id=client_id, text=text),
            agents_online=False)
        session.commit()
        return result


def set_hours(database: Database, org_id: int, hours: BusinessHours = SCHOOL, group_id: int | None = None) -> None:
    with database.session() as session:
        session.add(BusinessHoursRecord(org_id=org_id, group_id=group_id, enabled=True, spec=hours.to_dict()))
        session.commit()


def add_policy(database: Database, org_id: int, name: str = "标准", *, first_response: int = 60,
               resolution: int = 480, priority: str = "", group_id: int | None = None, position: int = 0,
               warn: int = 80) -> int:
    with database.session() as session:
        policy = config.save_policy(session, Actor(org_id, label="test"), config.PolicyInput(
            name=name, first_response_minutes=first_response, resolution_minutes=resolution, priority=priority,
            group_id=group_id, warn_percent=warn, position=position))
        session.commit()
        return policy.id


def make_ticket(database: Database, org_id: int, *, contact_id: int | None = None,
                conversation_id: int | None = None, now: dt.datetime | None = None, subject: str = "退费咨询",
                priority: TicketPriority = TicketPriority.normal, description: str = "想问一下退费流程",
                source: TicketSource = TicketSource.off_hours, **kwargs: Any) -> int:
    with database.session() as session:
        ticket = tickets_service.create_ticket(
            session, org_id=org_id, source=source, subject=subject, contact_id=contact_id,
            conversation_id=conversation_id, priority=priority, description=description, now=now, **kwargs)
        session.commit()
        return ticket.id


def load(database: Database, org_id: int, ticket_id: int) -> Ticket:
    with database.session() as session:
        ticket = tickets_service.get(session, org_id, ticket_id)
        session.expunge(ticket)
        return ticket


@contextmanager
def published(database: Database) -> Iterator[list[DomainEvent]]:
    """The domain events committed while the block runs (a bus attached to the test's sessions)."""
    bus = EventBus()
    bus.attach(database.sessionmaker)
    seen: list[DomainEvent] = []
    bus.subscribe(seen.append)
    yield seen

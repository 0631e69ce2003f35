"""One parent's story across channels, written with real service calls and then dated: the contact page's tests
read it back as a timeline (tests/visitors/test_timeline.py, test_console_views.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.catalog import service as catalog_service
from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation, SenderKind
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead
from edudesk.tickets.models import Ticket, TicketSource
from edudesk.trials import service as trials_service
from edudesk.trials.models import TrialBooking
from tests.visitors.factories import add_visit

T0 = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
PHONE = "13912345678"


@dataclass(frozen=True)
class Story:
    contact_id: int
    web_conv: int
    wechat_conv: int
    ticket: int
    lead: int
    booking: int
    first_visit: int
    last_visit: int


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def write_story(database: Database, org_id: int, *, visitor: str = "v_story") -> Story:
    """Visit (Baidu search) → web chat with the phone number → lead → WeChat chat → ticket → lead status change →
    trial booking → a second visit (an exam-prep ad), at increasing times."""
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(org_id, "web", visitor, f"{visitor}-1",
                                                                 text=f"三年级数学怎么收费，电话 {PHONE}"),
                                         agents_online=True)
        conv = result.conversation
        contact = contacts_service.get(session, org_id, conv.contact_id)
        first = add_visit(session, org_id, visitor_key=visitor, contact_id=contact.id, started_at=at(-0.5),
                          pages=[("https://school.example/math?wd=x", "三年级数学"),
                                 ("https://school.example/price", "价格")],
                          source={"search_engine": "baidu", "search_keyword": "小学数学辅导",
                                  "landing_page": "https://school.example/math?wd=x", "device": "mobile",
                                  "os": "iOS", "browser": "WeChat", "province": "广东", "city": "深圳"},
                          source_kind="search", device="mobile", os="iOS", browser="WeChat", province="广东",
                          city="深圳")
        wechat = conversations_service.open_conversation(session, contact, "wechat")
        conversations_service.post_message(session, wechat, SenderKind.visitor, "微信上再问一下试听时间")
        lead = leads_service.lead_for_contact(session, org_id, contact.id)
        assert lead is not None
        ticket = Ticket(org_id=org_id, subject="回电：试听时间", source=TicketSource.callback, channel="wechat",
                        contact_id=contact.id, lead_id=lead.id, created_at=at(25), updated_at=at(25))
        session.add(ticket)
        leads_service.set_status(session, Actor(org_id, label="王老师"), lead.id, "contacted")
        course = catalog_service.add_course(session, Actor(org_id, label="t"), name="三年级数学思维", subject="数学")
        trial = trials_service.create_session(session, Actor(org_id, label="t"), trials_service.SessionInput(
            course_id=course.id, starts_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5), capacity=5))
        booking = trials_service.book(session, org_id, trial.id, lead.id)
        last = add_visit(session, org_id, visitor_key=visitor, contact_id=contact.id, started_at=at(96),
                         pages=[("https://school.example/exam", "考研冲刺")],
                         source={"utm_source": "toutiao", "utm_medium": "cpc", "utm_campaign": "kaoyan",
                                 "click_id_kind": "clickid"}, source_kind="ad", campaign="kaoyan")
        session.flush()
        session.execute(update(Conversation).where(Conversation.id == conv.id)
                        .values(created_at=at(1), last_message_at=at(1.5)))
        session.execute(update(Lead).where(Lead.id == lead.id).values(created_at=at(2)))
        session.execute(update(Conversation).where(Conversation.id == wechat.id)
                        .values(created_at=at(24), last_message_at=at(24)))
        entry = session.scalars(select(AuditEntry).where(AuditEntry.org_id == org_id,
                                                         AuditEntry.action == "lead.status")).one()
        entry.created_at = at(48)
        session.execute(update(TrialBooking).where(TrialBooking.id == booking.id).values(created_at=at(72)))
        session.commit()
        return Story(contact.id, conv.id, wechat.id, ticket.id, lead.id, booking.id, first.id, last.id)

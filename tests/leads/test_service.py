"""Capturing what visitors say into the lead card, with provenance, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from edudesk.channels.base import InboundMessage
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.events import DomainEvent, EventBus
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead, LeadValue, ValueSource
from tests.conftest import TwoOrgs


def say(database: Database, org_id: int, text: str, n: int, visitor: str = "v1") -> inbound_service.InboundResult:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id=org_id, channel="web", external_user_id=visitor, client_message_id=f"m{n}", text=text,
            page_url="https://school.example/math"), agents_online=False)
        session.commit()
        return result


def card(database: Database, org_id: int, visitor: str = "v1", *, show_phone: bool = True) -> dict[str, Any]:
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == org_id)).first()
        assert contact is not None
        fields = leads_service.card(session, org_id, contact.id, show_phone=show_phone) or []
        session.commit()
        return {f.key: (f.value, f.source, f.evidence) for f in fields if f.value}


def test_facts_from_any_message_land_on_the_card_with_their_words(database: Database, orgs: TwoOrgs) -> None:
    reply = say(database, orgs.a.id, "你好，孩子三年级，数学有点跟不上", 1).replies[0]
    assert reply.extra["kind"] == "facts_noted" and "年级：三年级" in reply.text
    say(database, orgs.a.id, "我姓王，电话 138-0013-8000", 2)
    got = card(database, orgs.a.id)
    assert got["grade"] == ("三年级", "visitor", "三年级")
    assert got["subject"][0] == "数学"
    assert got["phone"][0] == "13800138000" and "138-0013-8000" in got["phone"][2]
    assert got["name"][0] == "王"
    with database.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.has_contact and lead.phone_e164 == "+8613800138000"
        assert lead.source_channel == "web" and lead.landing_page == "https://school.example/math"
        contact = session.get(Contact, lead.contact_id)
        assert contact is not None and contact.phone == "13800138000" and contact.name == "王"


def test_phone_is_masked_for_who_may_not_see_it(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "电话13800138000", 1)
    assert card(database, orgs.a.id, show_phone=False)["phone"][0] == "138****8000"


def test_restating_replaces_subjects_accumulate_and_agents_win(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级，想学数学", 1)
    say(database, orgs.a.id, "说错了，是四年级，英语也想学", 2)
    got = card(database, orgs.a.id)
    assert got["grade"][0] == "四年级"
    assert got["subject"][0] == "数学、英语"
    with database.session() as session:
        value = session.scalars(select(LeadValue).where(LeadValue.key == "grade")).one()
        value.value, value.source = "五年级", ValueSource.agent
        session.commit()
    say(database, orgs.a.id, "孩子六年级了", 3)
    assert card(database, orgs.a.id)["grade"][:2] == ("五年级", "agent")


def test_messages_without_facts_create_no_lead(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "你们周末上课吗", 1)
    with database.session() as session:
        assert session.scalars(select(Lead)).first() is None


def test_leads_stay_in_their_org(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级", 1, visitor="same-id")
    say(database, orgs.b.id, "孩子五岁", 1, visitor="same-id")
    with database.session() as session:
        leads = {lead.org_id: lead for lead in session.scalars(select(Lead))}
        assert set(leads) == {orgs.a.id, orgs.b.id}
        assert leads_service.lead_for_contact(session, orgs.b.id, leads[orgs.a.id].contact_id) is None
        values = {(v.org_id, v.key) for v in session.scalars(select(LeadValue))}
        assert values == {(orgs.a.id, "grade"), (orgs.b.id, "child_age")}


def test_a_change_is_announced_to_the_consoles(database: Database, orgs: TwoOrgs) -> None:
    seen: list[DomainEvent] = []
    bus = EventBus()  # a bus for this test's sessions only
    bus.attach(database.sessionmaker)
    bus.subscribe(seen.append)
    say(database, orgs.a.id, "孩子三年级", 1)
    leads = [e for e in seen if e.type == "lead.updated"]
    assert len(leads) == 1 and leads[0].data["fields"] == ["grade"] and leads[0].data["created"]
    assert leads[0].topics == (f"org:{orgs.a.id}:agents",)
    assert "三年级" not in str(leads[0].data)  # ids only: consoles fetch the card with their own masking

"""The course catalogue as the org's own subject lexicon: read per org, rebuilt with the bot, used on every visitor
message (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.catalog import service as catalog_service
from edudesk.channels.base import InboundMessage
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.leads import service as leads_service
from edudesk.nlp.extract import extract
from edudesk.orgs import service as orgs_service
from tests.conftest import TwoOrgs


def add(database: Database, org_id: int, name: str, subject: str) -> None:
    with database.session() as session:
        catalog_service.add_course(session, Actor(org_id, label="t"), name=name, subject=subject)
        session.commit()


def test_terms_are_the_orgs_own_active_courses(database: Database, orgs: TwoOrgs) -> None:
    add(database, orgs.a.id, "茶艺入门班", "茶艺")
    add(database, orgs.b.id, "尤克里里弹唱课", "")
    with database.session() as session:
        assert catalog_service.subject_terms(session, orgs.a.id) == [("茶艺入门班", "茶艺")]
        assert catalog_service.subject_terms(session, orgs.b.id) == [("尤克里里弹唱课", "")]


def test_adding_a_course_bumps_the_bot_version(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        before = orgs_service.bot_version(session, orgs.a.id)
    add(database, orgs.a.id, "茶艺入门班", "茶艺")
    with database.session() as session:
        assert orgs_service.bot_version(session, orgs.a.id) == before + 1
        assert orgs_service.bot_version(session, orgs.b.id) == 0


def test_the_org_bot_carries_its_catalogue_and_no_other(database: Database, orgs: TwoOrgs) -> None:
    add(database, orgs.a.id, "茶艺入门班", "茶艺")
    with database.session() as session:
        bot_a = bot_service.load_org_bot(session, orgs.a.id)
        bot_b = bot_service.load_org_bot(session, orgs.b.id)
    assert extract("想了解下茶艺，周末有课吗", lexicon=bot_a.lexicon).subject == "茶艺"
    assert extract("想了解下茶艺，周末有课吗", lexicon=bot_b.lexicon).subject is None
    assert extract("一建有周末班吗", lexicon=bot_b.lexicon).subject == "一级建造师"  # built-ins stay


def card(database: Database, org_id: int) -> dict[str, Any]:
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == org_id)).one()
        fields = leads_service.card(session, org_id, contact.id, show_phone=True) or []
        return {f.key: f.value for f in fields if f.value}


def test_a_visitor_naming_a_catalogue_course_fills_the_lead_subject(database: Database, orgs: TwoOrgs) -> None:
    add(database, orgs.a.id, "茶艺入门班", "茶艺")
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(
            org_id=orgs.a.id, channel="web", external_user_id="v1", client_message_id="m1",
            text="茶艺入门班还有名额吗"), agents_online=False)
        session.commit()
    assert card(database, orgs.a.id)["subject"] == "茶艺"

"""Every place that shows a full phone number leaves one audit entry per response, listing the contacts; the
console's refreshes of the same view within the window add none; masked views add none."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from edudesk.apitokens import service as apitokens_service
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from edudesk.privacy import service as privacy_service
from edudesk.settings import Settings
from tests.conftest import TwoOrgs, login
from tests.privacy.factories import Person, seed_person


@pytest.fixture
def people(database: Database, orgs: TwoOrgs, settings: Settings) -> list[Person]:
    return [seed_person(database, orgs.a.id, settings.upload_dir, visitor=f"p{i}", phone=f"1391234567{i}",
                        name="张", secret=f"秘密{i}") for i in range(2)]


def views(database: Database, where: str | None = None) -> list[AuditEntry]:
    with database.session() as session:
        stmt = select(AuditEntry).where(AuditEntry.action == privacy_service.PHONE_ACTION).order_by(AuditEntry.id)
        return [e for e in session.scalars(stmt) if where is None or e.detail["where"] == where]


def test_the_throttle_window() -> None:
    audit = privacy_service.PhoneAccessAudit(600)
    assert audit.due((1, 2, "x", (3,))) and not audit.due((1, 2, "x", (3,)))
    assert audit.due((1, 2, "x", (3, 4))) and audit.due((1, 5, "x", (3,)))
    assert privacy_service.PhoneAccessAudit(0).due(("k",)) and privacy_service.PhoneAccessAudit(0).due(("k",))


def test_leads_list_is_one_entry_per_page(client: TestClient, orgs: TwoOrgs, database: Database,
                                          people: list[Person]) -> None:
    login(client, "alpha", "supervisor")
    page = client.get("/leads")
    assert page.status_code == 200 and "13912345670" in page.text
    entries = views(database, "leads.list")
    assert len(entries) == 1 and entries[0].detail["contact_ids"] == sorted(p.contact_id for p in people)
    assert entries[0].actor_user_id == orgs.a.users["supervisor"].id and entries[0].org_id == orgs.a.id
    client.get("/leads")
    assert len(views(database, "leads.list")) == 1, "the same page again within the window adds nothing"
    client.get("/leads?phone=13912345671")
    assert len(views(database, "leads.list")) == 2, "another set of numbers is another entry"


def test_masked_lists_are_not_audited(client: TestClient, orgs: TwoOrgs, database: Database,
                                      people: list[Person]) -> None:
    login(client, "alpha", "agent")
    page = client.get("/leads")
    assert page.status_code == 200 and "13912345670" not in page.text
    assert views(database) == []


def test_console_chat_and_card_of_a_served_conversation(client: TestClient, orgs: TwoOrgs, database: Database,
                                                        people: list[Person]) -> None:
    person = people[0]
    agent = orgs.a.users["agent"]
    with database.session() as session:
        session.execute(update(Conversation).where(Conversation.id == person.conv_id).values(
            state=ConversationState.assigned, assignee_id=agent.id))
        session.commit()
    login(client, "alpha", "agent")
    chat = client.get(f"/console/c/{person.conv_id}", headers={"hx-request": "true"})
    assert chat.status_code == 200 and "13912345670" in chat.text
    for _ in range(3):
        assert client.get(f"/console/c/{person.conv_id}/lead", headers={"hx-request": "true"}).status_code == 200
    assert [e.detail["contact_ids"] for e in views(database, "console.chat")] == [[person.contact_id]]
    assert len(views(database, "console.lead_card")) == 1, "hot refreshes of the card are one entry"
    other = people[1]  # not served by this agent: masked, not audited
    client.get(f"/console/c/{other.conv_id}", headers={"hx-request": "true"})
    assert all(e.detail["contact_ids"] == [person.contact_id] for e in views(database))


def test_api_and_ticket_page_and_export(client: TestClient, orgs: TwoOrgs, database: Database,
                                        people: list[Person]) -> None:
    with database.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(orgs.a.id, label="t"), name="crm",
                                                scopes=["leads:read"])
        session.commit()
    listed = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {raw}"})
    assert listed.status_code == 200
    one = client.get(f"/api/v1/leads/{people[0].lead_id}", headers={"Authorization": f"Bearer {raw}"})
    assert one.status_code == 200
    api = views(database, "api.leads")
    assert [e.detail["contact_ids"] for e in api] == [sorted(p.contact_id for p in people), [people[0].contact_id]]
    assert api[0].actor_label.startswith("api:")

    login(client, "alpha", "supervisor")
    assert client.get(f"/tickets/{people[0].ticket_id}").status_code == 200
    assert [e.detail["contact_ids"] for e in views(database, "tickets.detail")] == [[people[0].contact_id]]
    assert client.get("/leads/export?format=csv").status_code == 200
    with database.session() as session:
        export = session.scalars(select(AuditEntry).where(AuditEntry.action == "leads.export")).one()
    assert sorted(export.detail["contact_ids"]) == sorted(p.contact_id for p in people)

"""CSAT settings (validated, audited) and rating on the org's scale through ``conversations.service.rate``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.auth.models import User
from edudesk.channels.base import InboundMessage
from edudesk.conversations import service as conversations_service
from edudesk.conversations.states import ConversationState
from edudesk.csat import service as csat_service
from edudesk.db import Database
from edudesk.errors import DomainError
from edudesk.events import DomainEvent, EventBus
from edudesk.inbound import service as inbound_service
from tests.conftest import TwoOrgs


def actor(orgs: TwoOrgs) -> Actor:
    return Actor(org_id=orgs.a.id, user_id=orgs.a.users["admin"].id, label="admin")


def set_scale(database: Database, orgs: TwoOrgs, scale: int, question: str = "老师讲得清楚吗？") -> None:
    with database.session() as session:
        csat_service.save_settings(session, actor(orgs), question=question, scale=scale)
        session.commit()


def resolved_contact(database: Database, org_id: int, agent: User, visitor: str = "v1") -> tuple[int, int]:
    """A conversation handed over, served and resolved: (conversation id, contact id)."""
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(org_id=org_id, channel="web",
                                                                 external_user_id=visitor, client_message_id="h",
                                                                 text="转人工"), agents_online=True)
        session.commit()
        conv_id, contact_id = result.conversation.id, result.conversation.contact_id
    with database.session() as session:
        conversations_service.resolve(session, agent, conv_id, close_after_seconds=3600)
        session.commit()
    return conv_id, contact_id


def test_defaults_and_saving_settings(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        assert csat_service.get_settings(session, orgs.a.id) == csat_service.CsatSettings("您对本次服务满意吗？", 5)
    set_scale(database, orgs, 3, question="  老师讲得\n清楚吗？ ")
    with database.session() as session:
        settings = csat_service.get_settings(session, orgs.a.id)
        assert settings.as_widget() == {"question": "老师讲得 清楚吗？", "scale": 3}
        assert csat_service.get_settings(session, orgs.b.id).scale == 5
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "csat.settings")).one()
        assert entry.org_id == orgs.a.id and entry.detail["after"] == {"question": "老师讲得 清楚吗？", "scale": 3}
        assert entry.detail["before"]["scale"] == 5


@pytest.mark.parametrize(("question", "scale", "field"), [
    ("", 5, "question"), ("   ", 5, "question"), ("问" * 201, 5, "question"),
    ("满意吗？", 4, "scale"), ("满意吗？", 10, "scale"), ("满意吗？", True, "scale"),
])
def test_bad_settings(database: Database, orgs: TwoOrgs, question: str, scale: int, field: str) -> None:
    with database.session() as session, pytest.raises(DomainError) as exc:
        csat_service.save_settings(session, actor(orgs), question=question, scale=scale)
    assert exc.value.field == field
    with database.session() as session:
        assert csat_service.get_settings(session, orgs.a.id).scale == 5


@pytest.mark.parametrize(("scale", "good", "bad"), [
    (2, [1, 2], [0, 3, 5]),
    (3, [1, 2, 3], [0, 4, 5]),
    (5, [1, 3, 5], [0, 6]),
])
def test_rate_on_the_org_scale(database: Database, orgs: TwoOrgs, scale: int, good: list[int],
                               bad: list[int]) -> None:
    set_scale(database, orgs, scale)
    bus = EventBus()
    bus.attach(database.sessionmaker)
    published: list[DomainEvent] = []
    bus.subscribe(published.append)
    agent = orgs.a.users["agent"]
    for i, score in enumerate(good):
        conv_id, contact_id = resolved_contact(database, orgs.a.id, agent, visitor=f"good-{i}")
        for wrong in bad:
            with database.session() as session, pytest.raises(DomainError) as exc:
                conversations_service.rate(session, orgs.a.id, contact_id, wrong, None)
            assert exc.value.code == "bad_score" and f"1–{scale}" in exc.value.message
        with database.session() as session:
            conv = conversations_service.rate(session, orgs.a.id, contact_id, score, " 好 ")
            session.commit()
            assert (conv.csat_score, conv.csat_scale, conv.csat_comment) == (score, scale, "好")
            assert conv.state == ConversationState.closed and conv.id == conv_id
        rated = [e for e in published if e.type == "conversation.rated"][-1]
        assert (rated.data["score"], rated.data["scale"], rated.data["comment"]) == (score, scale, "好")


def test_a_changed_scale_applies_to_the_next_rating(database: Database, orgs: TwoOrgs) -> None:
    agent = orgs.a.users["agent"]
    _, first = resolved_contact(database, orgs.a.id, agent, visitor="first")
    with database.session() as session:
        conversations_service.rate(session, orgs.a.id, first, 4, None)
        session.commit()
    set_scale(database, orgs, 2)
    _, second = resolved_contact(database, orgs.a.id, agent, visitor="second")
    with database.session() as session, pytest.raises(DomainError):
        conversations_service.rate(session, orgs.a.id, second, 4, None)
    with database.session() as session:
        conv = conversations_service.rate(session, orgs.a.id, second, 2, None)
        session.commit()
        assert (conv.csat_score, conv.csat_scale) == (2, 2)
        old = conversations_service.history_for_contact(session, orgs.a.id, first)[0]
        assert (old.csat_score, old.csat_scale) == (4, 5)

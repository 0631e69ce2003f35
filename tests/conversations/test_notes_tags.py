"""Internal notes stay with staff; conversation tags are cleaned, bounded and audited."""

from __future__ import annotations

import pytest

from edudesk.channels.base import InboundMessage
from edudesk.channels.web.routes import visitor_renderer
from edudesk.conversations import service as conversations_service
from edudesk.db import Database, NotFoundError
from edudesk.errors import DomainError
from edudesk.events import DomainEvent, EventBus
from edudesk.inbound import service as inbound_service
from tests.conftest import TwoOrgs


def start(database: Database, org_id: int) -> int:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(
            org_id=org_id, channel="web", external_user_id="v-notes", client_message_id="n1", text="你好"),
            agents_online=True)
        session.commit()
        return result.conversation.id


def test_internal_note_never_reaches_the_visitor(database: Database, orgs: TwoOrgs) -> None:
    conv_id = start(database, orgs.a.id)
    bus = EventBus()
    bus.attach(database.sessionmaker)
    published: list[DomainEvent] = []
    bus.subscribe(published.append)
    with database.session() as session:
        before = conversations_service.get(session, orgs.a.id, conv_id).last_message_text
        note = conversations_service.post_internal_note(session, orgs.a.users["agent"], conv_id,
                                                        "  家长上周投诉过退费，语气注意 <b>x</b> ")
        session.commit()
        assert note.internal and note.text == "家长上周投诉过退费，语气注意 <b>x</b>"
        conv = conversations_service.get(session, orgs.a.id, conv_id)
        assert conv.last_message_text == before  # the list preview shows what the visitor saw
        staff = conversations_service.messages_as_dicts(session, orgs.a.id, conv_id)
        visitor = conversations_service.messages_as_dicts(session, orgs.a.id, conv_id, include_internal=False)
    assert staff[-1]["internal"] is True
    assert all(not m.get("internal") for m in visitor) and len(visitor) == len(staff) - 1
    event = next(e for e in published if e.type == "message.created")
    assert event.topics == (conversations_service.agents_topic(orgs.a.id),)
    assert visitor_renderer(event) is None  # even if it reached a visitor socket


@pytest.mark.parametrize("text", ["", "   ", "长" * 2001])
def test_bad_notes_are_refused(database: Database, orgs: TwoOrgs, text: str) -> None:
    conv_id = start(database, orgs.a.id)
    with database.session() as session, pytest.raises(DomainError):
        conversations_service.post_internal_note(session, orgs.a.users["agent"], conv_id, text)


def test_notes_and_tags_are_org_scoped(database: Database, orgs: TwoOrgs) -> None:
    conv_id = start(database, orgs.a.id)
    with database.session() as session:
        with pytest.raises(NotFoundError):
            conversations_service.post_internal_note(session, orgs.b.users["agent"], conv_id, "看看")
        with pytest.raises(NotFoundError):
            conversations_service.set_tags(session, orgs.b.users["admin"], conv_id, ["x"])


def test_tags_are_cleaned_and_audited(database: Database, orgs: TwoOrgs) -> None:
    conv_id = start(database, orgs.a.id)
    with database.session() as session:
        raw = "#意向强，价格敏感、 意向强  暑假班"
        conv = conversations_service.set_tags(session, orgs.a.users["agent"], conv_id, raw)
        session.commit()
        assert conv.tags == ["意向强", "价格敏感", "暑假班"]
    with database.session() as session:
        assert conversations_service.get(session, orgs.a.id, conv_id).tags == ["意向强", "价格敏感", "暑假班"]


@pytest.mark.parametrize("tags", [["长" * 21], [str(i) for i in range(11)]])
def test_bad_tags_leave_the_old_ones(database: Database, orgs: TwoOrgs, tags: list[str]) -> None:
    conv_id = start(database, orgs.a.id)
    with database.session() as session:
        conversations_service.set_tags(session, orgs.a.users["agent"], conv_id, ["老客户"])
        session.commit()
    with database.session() as session:
        with pytest.raises(DomainError):
            conversations_service.set_tags(session, orgs.a.users["agent"], conv_id, tags)
        session.rollback()
        assert conversations_service.get(session, orgs.a.id, conv_id).tags == ["老客户"]

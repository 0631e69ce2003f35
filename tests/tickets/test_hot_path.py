"""What the inbound hook costs on every visitor message: one indexed SELECT when the contact has no open ticket."""

from __future__ import annotations

import pytest

from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Message
from edudesk.db import Database
from edudesk.tickets import service as tickets_service
from tests.conftest import TwoOrgs
from tests.inbound.test_hot_path import capturing
from tests.tickets.helpers import make_ticket, say

# The budget tests/inbound/test_hot_path.py allows the hook within a bot turn.
HOOK_STATEMENTS = 1


def test_no_ticket_costs_one_select_and_flushes_nothing(database: Database, orgs: TwoOrgs) -> None:
    make_ticket(database, orgs.a.id)  # another contact's ticket, and one without a contact
    chat = say(database, orgs.a.id, "你好", "m1")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, chat.conversation.id)
        msg = session.get(Message, chat.message.id)
        assert msg is not None
        conv.last_message_text = "pending preview"  # the turn's pending change must not be flushed by the hook
        with capturing(database) as statements:
            assert tickets_service.on_visitor_message(session, conv, msg) is None
        session.rollback()
    assert len(statements) == HOOK_STATEMENTS, statements
    assert statements[0][0].lstrip().upper().startswith("SELECT")


def test_a_bot_message_costs_nothing(database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "学费多少", "m1")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, chat.conversation.id)
        replies = [session.get(Message, m.id) for m in chat.replies]
        with capturing(database) as statements:
            for reply in replies:
                assert reply is not None and tickets_service.on_visitor_message(session, conv, reply) is None
    assert statements == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL plans from statistics instead
def test_the_lookup_uses_the_contact_index(database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "你好", "m1")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, chat.conversation.id)
        msg = session.get(Message, chat.message.id)
        assert msg is not None
        with capturing(database) as statements:
            tickets_service.on_visitor_message(session, conv, msg)
    [(sql, params)] = statements
    with database.engine.connect() as conn:
        plan = " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert "ix_tickets_contact_id" in plan, plan

"""The hot path of every visitor message: how many SQL statements it costs, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.channels.base import InboundMessage
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from tests.conftest import TwoOrgs


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def send(db: Database, org_id: int, cid: str, text: str) -> inbound_service.InboundResult:
    with db.session() as session:
        result = inbound_service.receive(session, InboundMessage(org_id, "web", "v1", cid, text=text),
                                         agents_online=True)
        session.commit()
        return result


def test_a_bot_answered_message_costs_a_bounded_number_of_queries(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="t"), keywords="价格", reply="3600 元一期")
        session.commit()
    send(database, orgs.a.id, "warm-up", "你好")  # opens the conversation
    with count_queries(database) as statements:
        result = send(database, orgs.a.id, "c1", "价格多少")
    assert [m.text for m in result.replies] == ["3600 元一期"]
    writes = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    # contact, visitor message + conversation, bot state, bot message + conversation — and nothing else.
    assert len(writes) <= 7, writes
    assert len(statements) <= 13, statements


def test_a_retried_message_only_reads(database: Database, orgs: TwoOrgs) -> None:
    send(database, orgs.a.id, "c1", "你好")
    with count_queries(database) as statements:
        again = send(database, orgs.a.id, "c1", "你好")
    assert not again.created
    assert all(s.lstrip().upper().startswith(("SELECT", "BEGIN", "COMMIT", "ROLLBACK")) for s in statements), statements
    assert len(statements) <= 3, statements

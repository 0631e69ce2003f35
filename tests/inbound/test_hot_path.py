"""The statements one visitor turn costs: the bot's reply round trip is made of these (see docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from edudesk.audit.service import Actor
from edudesk.bot import service as bot_service
from edudesk.bot.runtime import BotRuntime
from edudesk.channels.base import InboundMessage
from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.kb import service as kb_service
from edudesk.kb.schemas import EntryInput
from tests.conftest import TwoOrgs

# A later turn of a bot conversation: contact, conversation, duplicate check, rate limit, bot state (5 reads; the
# org's bot — settings, rules, knowledge base — is in memory); the visitor's and the bot's message (2 inserts); the
# conversation preview twice (2 updates; the contact's last_seen_at moves once a minute). An answer from the
# knowledge base adds one UPDATE of the entry's ask count. Lower is welcome; higher needs a reason in
# docs/performance.md.
TURN_STATEMENTS = 9


@contextmanager
def capturing(db: Database) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_args: object) -> None:
        statements.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    kinds: list[str] = []
    with capturing(db) as statements:
        yield kinds
    kinds.extend(sql.split(None, 1)[0].upper() for sql, _ in statements)


def turn(db: Database, org_id: int, client_id: str, text: str,
         bots: BotRuntime | None = None) -> inbound_service.InboundResult:
    msg = InboundMessage(org_id=org_id, channel="web", external_user_id="v_hot_path", client_message_id=client_id,
                         text=text)
    with db.session() as session:
        result = inbound_service.receive(session, msg, agents_online=False, bots=bots)
        session.commit()
    return result


def runtime(db: Database) -> BotRuntime:
    return bot_service.make_runtime(db, poll_seconds=3600)


def test_a_bot_turn_costs_at_most_nine_statements(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        bot_service.save_rule(session, Actor(orgs.a.id, label="test"), keywords="学费", reply="学费按课时计算。")
        session.commit()
    bots = runtime(database)
    turn(database, orgs.a.id, "c1", "想问问学费", bots)  # opens the conversation and builds the org's bot
    with counting(database) as statements:
        result = turn(database, orgs.a.id, "c2", "学费多少？", bots)
    assert [m.text for m in result.replies] == ["学费按课时计算。"]
    assert len(statements) <= TURN_STATEMENTS, statements
    with counting(database) as statements:
        again = turn(database, orgs.a.id, "c2", "学费多少？", bots)  # a resend: found, nothing stored
    assert not again.created
    assert all(s == "SELECT" for s in statements), statements


def test_a_knowledge_base_answer_adds_only_the_ask_count(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        kb_service.create_entry(session, Actor(orgs.a.id, label="test"), EntryInput(
            question="一年级数学一期多少钱", similar=["数学课学费多少", "数学班收费标准"], answer="每期 3600 元。"))
        session.commit()
    bots = runtime(database)
    turn(database, orgs.a.id, "c1", "你好", bots)
    with counting(database) as statements:
        result = turn(database, orgs.a.id, "c2", "一年级数学一期多少钱？", bots)
    assert [m.text for m in result.replies] == ["每期 3600 元。"]
    assert len(statements) <= TURN_STATEMENTS + 1, statements


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL plans from statistics instead
def test_no_hot_read_walks_all_of_an_orgs_messages(database: Database, orgs: TwoOrgs) -> None:
    """SQLite keeps no statistics: given ``messages.org_id = ?`` it picks ix_messages_org_id and reads every message
    of the org, so a turn grows slower as the institution's history grows. The hot reads must avoid that."""
    first = turn(database, orgs.a.id, "c1", "你好")
    with capturing(database) as statements:
        turn(database, orgs.a.id, "c2", "你好吗")
        with database.session() as session:
            conversations_service.messages(session, orgs.a.id, first.conversation.id)
    reads = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")
             and "FROM messages" in sql]
    assert len(reads) >= 3  # duplicate check, rate limit, conversation history
    with database.engine.connect() as conn:
        for sql, params in reads:
            plan = " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            assert "ix_messages_org_id" not in plan, f"{sql}\n→ {plan}"

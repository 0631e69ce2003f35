"""The database helpers: the SQLite write gate, and ``get_in_org`` answering from the session without a query."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text

from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database, NotFoundError, SQLiteWriteGate, get_in_org, in_constants, make_engine
from tests.conftest import TwoOrgs

WAIT = 10  # seconds; every wait below is bounded


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    yield engine
    engine.dispose()


def test_concurrent_read_modify_write_transactions_all_land(sqlite_engine: Engine) -> None:
    errors: list[BaseException] = []

    def bump(times: int) -> None:
        try:
            for _ in range(times):
                with sqlite_engine.connect() as conn:
                    conn.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
                    conn.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                    conn.commit()
        except BaseException as exc:  # collected and re-raised by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one() == 200


def _second_writer_waits_until(sqlite_engine: Engine, end_first: str) -> None:
    """A second thread's write waits while the first transaction is open and proceeds once it ends."""
    started, done = threading.Event(), threading.Event()

    def second() -> None:
        started.set()
        with sqlite_engine.connect() as conn:
            conn.execute(text("UPDATE counter SET n = n + 10 WHERE id = 1"))
            conn.commit()
        done.set()

    with sqlite_engine.connect() as first:
        if end_first == "release":
            first.exec_driver_sql("SAVEPOINT outer_sp")
        first.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        worker = threading.Thread(target=second)
        worker.start()
        assert started.wait(WAIT)
        assert not done.wait(0.3), "a second writer got in while the first transaction was open"
        if end_first == "commit":
            first.commit()
        elif end_first == "rollback":
            first.rollback()
        elif end_first == "release":
            first.exec_driver_sql("RELEASE SAVEPOINT outer_sp")  # SQLite commits an outermost savepoint's release
    # "close": leaving the block returns the connection with its transaction open; the pool rolls it back.
    assert done.wait(WAIT), f"the second writer still waits after {end_first}"
    worker.join(WAIT)


@pytest.mark.parametrize("end_first", ["commit", "rollback", "release", "close"])
def test_gate_is_left_when_the_transaction_ends(sqlite_engine: Engine, end_first: str) -> None:
    _second_writer_waits_until(sqlite_engine, end_first)


def test_a_savepoint_block_that_reads_then_writes_does_not_fail_on_a_stale_snapshot(sqlite_engine: Engine) -> None:
    """A block opened by ``begin_nested()`` outside a transaction reads, another connection commits meanwhile, then
    the block writes: with a deferred BEGIN the write failed at once ("database is locked", a stale WAL snapshot);
    the block now holds the write lock from its start and the other writer waits for it."""
    read_done, other_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            read_done.wait(WAIT)
            with sqlite_engine.connect() as conn:
                conn.execute(text("UPDATE counter SET n = n + 10 WHERE id = 1"))
                conn.commit()
        except BaseException as exc:  # re-raised by the test thread
            errors.append(exc)
        finally:
            other_done.set()

    writer = threading.Thread(target=other_writer)
    writer.start()
    with sqlite_engine.connect() as conn:
        with conn.begin_nested():
            n = conn.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
            read_done.set()
            other_done.wait(0.5)  # the other writer waits for this block (before the fix it committed here)
            conn.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
        conn.commit()
    writer.join(WAIT)
    assert not errors
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one() == 11


def test_gate_serves_writers_in_arrival_order() -> None:
    gate = SQLiteWriteGate(timeout=WAIT)
    assert gate.enter()
    order: list[int] = []

    def writer(n: int) -> None:
        assert gate.enter()
        order.append(n)
        gate.leave()

    threads = []
    for n in range(5):
        t = threading.Thread(target=writer, args=(n,))
        t.start()
        threads.append(t)
        # Wait (bounded) until this writer is queued before starting the next, so arrival order is known.
        for _ in range(1000):
            if len(gate._waiters) == n + 1:
                break
            threading.Event().wait(0.005)
    gate.leave()
    for t in threads:
        t.join(WAIT)
    assert order == [0, 1, 2, 3, 4]


def test_gate_does_not_deadlock_a_thread_against_itself_and_times_out() -> None:
    gate = SQLiteWriteGate(timeout=0.2)
    assert gate.enter()
    assert gate.enter() is False  # same thread, second connection: left to SQLite as before the gate
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(gate.enter()))
    t.start()
    t.join(WAIT)
    assert result == [False]  # a stuck writer makes others fall back to SQLite's busy handling, not hang
    gate.leave()
    assert gate.enter()
    gate.leave()


def test_get_in_org_answers_from_the_session_without_a_query(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = Contact(org_id=orgs.a.id)
        session.add(contact)
        session.commit()
        statements: list[str] = []

        def record(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
            statements.append(sql)

        event.listen(database.engine, "before_cursor_execute", record)
        try:
            assert get_in_org(session, Contact, contact.id, orgs.a.id) is contact
            assert statements == []
            with pytest.raises(NotFoundError):  # loaded in this session, but another org's caller still gets nothing
                get_in_org(session, Contact, contact.id, orgs.b.id)
            assert get_in_org(session, Contact, contact.id, orgs.a.id, for_update=True) is contact
            assert len(statements) >= 2  # the other org's lookup and the locking read both went to the database
            session.expire(contact)
            statements.clear()
            assert get_in_org(session, Contact, contact.id, orgs.a.id) is contact
            assert len(statements) == 1  # an expired row is read again
        finally:
            event.remove(database.engine, "before_cursor_execute", record)


def test_in_constants_binds_each_value_and_needs_no_rewrite_per_execution(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        contact = Contact(org_id=orgs.a.id)
        session.add(contact)
        session.commit()
        stmt = select(Contact.id).where(Contact.id == contact.id,
                                        in_constants(Contact.org_id, (orgs.a.id, orgs.b.id)))
        compiled = stmt.compile(dialect=database.engine.dialect)
        assert not compiled.literal_execute_params and not compiled.post_compile_params
        assert session.scalars(stmt).all() == [contact.id]
        assert session.scalars(select(Contact.id).where(
            in_constants(Contact.org_id, (orgs.b.id,)))).all() == []
        # An enum column: the values go through the column's own type, as with ``in_``.
        open_states = in_constants(Conversation.state, (ConversationState.bot, ConversationState.queued))
        assert session.scalars(select(Conversation.id).where(open_states)).all() == []

"""The PostgreSQL pool pings only connections that sat idle, and still replaces a dead one before handing it out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text

from edudesk import db as db_module
from edudesk.db import Database


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()


def _pings(database: Database) -> list[str]:
    pings: list[str] = []
    real = database.engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        pings.append("ping")
        return real(dbapi_conn)

    database.engine.dialect.do_ping = counting  # type: ignore[method-assign]
    return pings


def test_a_busy_connection_is_not_pinged_an_idle_one_is(pg: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(pg)
    for _ in range(3):
        with pg.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    assert pings == []  # handed straight back out: no round trip before each session
    monkeypatch.setattr(db_module, "PING_IDLE_AFTER", 0.0)
    with pg.session() as session:
        session.execute(text("SELECT 1"))
    assert pings == ["ping"]


def test_a_connection_killed_while_idle_is_replaced(pg: Database, pg_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pg.session() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
    # The database drops the pooled connection (a restart, an idle timeout) while nobody uses it.
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    monkeypatch.setattr(db_module, "PING_IDLE_AFTER", 0.0)
    with pg.session() as session:
        assert session.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def test_checkout_refuses_a_connection_psycopg_knows_is_closed(pg: Database) -> None:
    with pg.session() as session:
        dbapi_conn = session.connection().connection.dbapi_connection
    assert isinstance(dbapi_conn, psycopg.Connection)
    dbapi_conn.close()  # closed client-side: recognised without a round trip
    seen: list[object] = []
    event.listen(pg.engine, "connect", lambda conn, _rec: seen.append(conn))
    with pg.session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    assert seen, "a new connection should have replaced the closed one"

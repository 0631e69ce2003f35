"""The PostgreSQL pool pings only connections that sat idle, still replaces a dead one before handing it out, and
keeps what a burst opened instead of closing and reopening connections on every burst."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text

from edudesk import db as db_module
from edudesk.app import create_app
from edudesk.db import Database
from edudesk.settings import POOL_EXTRA_CONNECTIONS, Settings


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


def _burst(database: Database, width: int) -> None:
    """``width`` threads each hold a session at the same moment, as worker threads do under a burst of messages."""
    barrier = threading.Barrier(width)

    def hold() -> None:
        with database.session() as session:
            session.execute(text("SELECT 1"))
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=hold) for _ in range(width)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)


def test_bursts_as_wide_as_the_worker_threads_reuse_their_connections(db_url: str, tmp_path: Path) -> None:
    # With the pool smaller than the threads, every burst closed its overflow connections and the next one
    # reopened them: a PostgreSQL backend forked per message under load (on SQLite, four PRAGMAs per reopening).
    settings = Settings(database_url=db_url, worker_threads=12, data_dir=tmp_path, secret_key="p" * 40)
    assert settings.pool_size == 12 + POOL_EXTRA_CONNECTIONS
    database = create_app(settings).state.ctx.db
    opened: list[object] = []
    event.listen(database.engine, "connect", lambda conn, _rec: opened.append(conn))
    try:
        _burst(database, 12)
        assert len(opened) == 12
        for _ in range(3):
            _burst(database, 12)
        assert len(opened) == 12, "a later burst opened connections again"
    finally:
        database.dispose()


def test_the_pool_size_can_be_set(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=pg_url, database_pool_size=3, database_max_overflow=0, data_dir=tmp_path,
                        secret_key="p" * 40)
    database = create_app(settings).state.ctx.db
    try:
        assert settings.pool_size == 3
        assert database.engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        database.dispose()

"""Engine, sessions, the declarative Base and the org (tenant) scoping helpers.

Every row that belongs to an institution carries ``org_id``; area services read and write such rows only through
``org_query``/``get_in_org`` so that a caller can never see another org's data by passing a foreign id.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

from sqlalchemy import (
    BinaryExpression,
    ColumnElement,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Select,
    bindparam,
    create_engine,
    event,
    exc,
    inspect,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, QueryableAttribute, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def in_constants(column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
                 ) -> BinaryExpression[bool]:
    """``column IN (…)`` over a fixed set of values, one bound parameter each.

    ``column.in_(values)`` binds the list as one "expanding" parameter, and SQLAlchemy then rewrites the cached SQL
    string for every execution (``_process_parameters_for_postcompile``) — CPU on each visitor message for lists
    that never change (open conversation states, active ticket statuses). Separate parameters keep the cached SQL
    as it is."""
    return column.in_([bindparam(None, value, type_=column.type) for value in values])


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC and always hands back aware datetimes, on SQLite (which has no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrgScoped:
    """Mixin for rows owned by one institution."""

    org_id: Mapped[int] = mapped_column(Integer, ForeignKey("orgs.id", ondelete="CASCADE"), index=True)


class NotFoundError(LookupError):
    """Raised when a row does not exist *in the caller's org* (another org's row is indistinguishable)."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what = what
        self.ident = ident


M = TypeVar("M", bound=OrgScoped)


def org_query(model: type[M], org_id: int) -> Select[M]:
    return select(model).where(model.org_id == org_id)


def _loaded_in_org(session: Session, model: type[M], ident: int, org_id: int) -> M | None:
    """The row if this session already holds it, fully loaded and not being deleted, and it is in ``org_id``."""
    # The mapper's own key function: ``Session.identity_key`` validates its arguments first, at 5× the cost, and this
    # runs for every row a turn asks for (the contact behind each of its messages).
    row = session.identity_map.get(inspect(model).identity_key_from_primary_key((ident,)))
    if row is None:
        return None
    state = inspect(row)
    if state.expired or state.deleted or "org_id" not in state.dict or row in session.deleted:
        return None
    return row if row.org_id == org_id else None


def get_in_org(session: Session, model: type[M], ident: int, org_id: int, *, for_update: bool = False) -> M:
    if not for_update:
        # Hot paths ask for the same row several times in one session (the contact behind every message of a
        # turn); one the session already holds needs no query. Another org's row is never returned from here.
        cached = _loaded_in_org(session, model, ident, org_id)
        if cached is not None:
            return cached
    stmt = org_query(model, org_id).where(model.id == ident)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFoundError(model.__name__, ident)
    return row


# Statements that never take SQLite's write lock by themselves; anything else may write.
_SQLITE_NON_WRITING = frozenset({"SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "END",
                                 "EXPLAIN"})


class SQLiteWriteGate:
    """Lets one connection of this process write to a SQLite file at a time, first come first served.

    SQLite has a single writer; a second writer waits in SQLite's busy handler, which sleeps and retries
    (1, 2, 5 … 100 ms) instead of queueing, so under concurrent writes the lock is handed over late and unfairly and
    some transactions wait for seconds. Taking this gate right before a transaction's first write and leaving it
    when the transaction ends keeps exactly the scope of SQLite's own lock, but hands it to the next writer in line
    at once. Other processes on the same file (``edudesk worker``, the CLI) still meet SQLite's busy handler.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._busy = False
        self._owner: int | None = None

    def enter(self) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                # This thread already writes through another connection: waiting here would deadlock; let SQLite
                # decide, as it did before the gate existed.
                return False
            if not self._busy:
                self._busy, self._owner = True, me
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        handed_over = turn.acquire(timeout=self.timeout)
        with self._mutex:
            if not handed_over:
                try:
                    self._waiters.remove(turn)
                except ValueError:
                    handed_over = True  # handed over just as the wait timed out: the gate is ours after all
                else:
                    return False  # a stuck writer: fall back to SQLite's own busy handling rather than fail here
            self._owner = me
        return True

    def leave(self) -> None:
        with self._mutex:
            self._owner = None
            if self._waiters:
                self._waiters.popleft().release()  # straight to the next in line; the gate stays busy
            else:
                self._busy = False


def _gated_sqlite_connection(gate: SQLiteWriteGate) -> type[sqlite3.Connection]:
    """A sqlite3 connection class whose transactions take ``gate`` before their first write."""

    class GatedCursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Self:
            conn: GatedConnection = self.connection  # type: ignore[assignment]
            conn.before_statement(sql)
            try:
                return super().execute(sql, parameters)
            finally:
                conn.after_statement()

        def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
            conn: GatedConnection = self.connection  # type: ignore[assignment]
            conn.before_statement(sql)
            try:
                return super().executemany(sql, seq_of_parameters)
            finally:
                conn.after_statement()

    class GatedConnection(sqlite3.Connection):
        holds_gate = False

        def cursor(self, factory: Any = GatedCursor) -> Any:
            return super().cursor(factory)

        def before_statement(self, sql: str) -> None:
            words = sql.lstrip()[:10].split(None, 1)
            if words and words[0].upper() == "SAVEPOINT" and not self.in_transaction:
                # sqlite3 begins its implicit transaction only before INSERT/UPDATE/DELETE, so a session whose
                # first write is inside ``begin_nested()`` sent SAVEPOINT outside any transaction — and SQLite
                # then commits at its RELEASE. A failure later in the same request left that half written (a
                # contact without its lead). BEGIN first, so the savepoint nests in the session's transaction.
                # IMMEDIATE, with the gate: a deferred BEGIN read under a snapshot, and the block's first write
                # then failed at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy wait) whenever
                # another connection had committed meanwhile — under load most classification jobs did.
                if not self.holds_gate:
                    self.holds_gate = gate.enter()
                sqlite3.Connection.execute(self, "BEGIN IMMEDIATE")
            if self.holds_gate:
                return
            if words and words[0].upper() not in _SQLITE_NON_WRITING:
                self.holds_gate = gate.enter()

        def after_statement(self) -> None:
            # Also covers RELEASE of an outermost SAVEPOINT, which commits in SQLite.
            if self.holds_gate and not self.in_transaction:
                self.holds_gate = False
                gate.leave()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.after_statement()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.after_statement()

        def close(self) -> None:
            try:
                super().close()
            finally:
                if self.holds_gate:
                    self.holds_gate = False
                    gate.leave()

    return GatedConnection


def _in_memory(url: str) -> bool:
    return make_url(url).database in (None, "", ":memory:")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    if url.startswith("sqlite"):
        busy_seconds = 30
        gate = SQLiteWriteGate(timeout=busy_seconds)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_seconds,
                                                  "factory": _gated_sqlite_connection(gate)},
                               # An in-memory database lives in one connection per thread: no pool to size.
                               **({} if _in_memory(url) else {"pool_size": pool_size, "max_overflow": max_overflow}))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the console read while the bot writes; foreign keys are off by default in SQLite.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_seconds * 1000}")
            cur.close()

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    _ping_idle_connections(engine)
    return engine


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_IDLE_AFTER = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` on every checkout: one more round trip for each session,
    i.e. for every visitor message. A connection that went stale (database restarted, idle connection dropped by a
    firewall) has almost always been idle, so only those are pinged; a busy connection is handed out as is, and the
    rare one that breaks mid-use is still recognised as a disconnect by SQLAlchemy, which then replaces the whole
    pool. A failed ping makes the pool try another connection, as ``pool_pre_ping`` does."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["edudesk_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False):
            raise exc.DisconnectionError("connection closed")
        idle_since = record.info.get("edudesk_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as err:
            raise exc.DisconnectionError(f"idle connection failed its ping: {err}") from err


class Database:
    """One engine plus its session factory; created by the app factory or the CLI, never at import time."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


# Errors that say the database cannot be reached or cannot take the request now (server restarting, connection cut,
# pool exhausted, SQLite locked too long) rather than that the request is wrong: the client should try again soon.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)

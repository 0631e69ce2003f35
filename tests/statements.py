"""Recording the SQL a piece of code sends, for the tests that bound a hot path's statements (house style: assert
the number of queries a path makes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from edudesk.db import Database


@contextmanager
def recorded_sql(database: Database) -> Iterator[list[str]]:
    """Every statement sent on ``database``'s engine inside the block, in order."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        seen.append(sql)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)

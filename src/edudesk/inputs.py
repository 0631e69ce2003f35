"""Input rules shared by every edge (HTTP API, staff forms, WebSockets, importers).

Two kinds of input reached the database or the driver and came back as a 500 or a dropped socket: integers that do
not fit the id columns (``99999999999999999999`` as an id) and text that no database can store — a lone UTF-16
surrogate (``"a\\ud800"``, which a browser's ``JSON.stringify`` can produce) or a NUL character (accepted by SQLite,
refused by PostgreSQL). Every edge checks both with these helpers, so the answer is a specific 4xx or an error
frame and the same input behaves the same on both databases.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

# Primary keys are INTEGER columns: 32-bit on PostgreSQL, so a larger id names no row and must not reach the driver
# (psycopg refuses to bind it to an integer comparison and the request would end in a 500).
MAX_DB_ID = 2**31 - 1

# NUL and the C0 controls other than tab, line feed and carriage return, plus DEL: no visitor types them, PostgreSQL
# refuses NUL, and the rest only break CSV exports and terminals.
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, as a short Chinese sentence, or None when it can."""
    if _SURROGATE.search(value):
        return "包含无法识别的字符（不成对的 UTF-16 代理项）"
    if "\x00" in value:
        return "包含空字符（NUL）"
    if _FORBIDDEN_CONTROL.search(value):
        return "包含控制字符"
    return None


def check_text(value: str) -> str:
    """Pydantic validator form of ``text_problem``: raises ``ValueError`` with the reason."""
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def fits_db_id(value: int) -> bool:
    return 1 <= value <= MAX_DB_ID


# Use these instead of a bare ``int``/``str`` at the edges.
CleanStr = Annotated[str, AfterValidator(check_text)]
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
QueryId = Annotated[int, Query(ge=1, le=MAX_DB_ID)]

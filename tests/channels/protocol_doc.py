"""The tables of docs/protocol.md, read so that tests can hold the code to what the document says."""

from __future__ import annotations

import functools
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

Row = dict[str, str]


def _cell(text: str) -> str:
    return text.strip().replace("`", "")


@functools.cache
def table(heading: str) -> tuple[Row, ...]:
    """The first table under the heading ``heading`` (without its #), one dict per row keyed by the header cells."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"#+ " + re.escape(heading), line.strip()))
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([_cell(c) for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, _separator, *body = rows
    return tuple(dict(zip(header, cells, strict=True)) for cells in body)


def names(cell: str) -> set[str]:
    """``a``, ``b`` in a cell → {"a", "b"}."""
    return {part.strip() for part in cell.split(",") if part.strip()}


def column(heading: str, name: str) -> list[str]:
    return [row[name] for row in table(heading)]


def visitor_error_codes() -> set[str]:
    return set(column("Visitor error codes", "code"))


def agent_error_codes() -> set[str]:
    return set(column("Agent error codes", "code"))

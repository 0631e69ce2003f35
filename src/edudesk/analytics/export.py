"""A panel's table or a drill-down list as a CSV or XLSX file: the same columns and rows the page shows.

CSV is UTF-8 with a BOM (Excel and WPS detect the encoding), a percent written ``25.3%`` (which Excel reads back
as a percentage) and a duration in whole seconds (the header says so); XLSX keeps numbers numeric with a number
format. Every text cell that would start a formula (=, +, -, @) gets a leading ``'`` — a visitor's question or a
campaign name is typed by strangers (``spreadsheets.escape_cell``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edudesk import spreadsheets
from edudesk.analytics import display, present
from edudesk.analytics.shapes import Cell, Column, Row

__all__ = ["FORMATS", "ExportFile", "table_file"]

FORMATS = ("csv", "xlsx")
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ExportFile:
    data: bytes
    media_type: str
    filename: str


def safe_name(text: str, limit: int = 40) -> str:
    """A file or sheet name from a key: ASCII letters, digits, ``-`` and ``_`` only (no header injection)."""
    return _UNSAFE_NAME.sub("-", text).strip("-")[:limit] or "export"


def _header(column: Column, gettext: Callable[[str], str]) -> str:
    label = gettext(column.label)
    return label + gettext("（秒）") if column.kind == "seconds" else label


def _csv_cell(value: Cell, column: Column) -> object:
    exported = display.export_value(value, column.kind)
    if column.kind == "percent" and isinstance(exported, float):
        return f"{exported * 100:.1f}%"
    return "" if exported is None else exported


def table_file(columns: Sequence[Column], rows: Sequence[Row], fmt: str, name: str,
               gettext: Callable[[str], str], *, with_links: str | None = None) -> ExportFile:
    """``with_links``: the base URL (``https://host``) to add each row's ``href`` as a last column (drill-downs)."""
    header = [_header(c, gettext) for c in columns]
    if with_links is not None:
        header.append(gettext("链接"))
    if fmt == "csv":
        body: list[list[object]] = [[_csv_cell(r.cells.get(c.key), c) for c in columns] for r in rows]
    else:
        body = [[display.export_value(r.cells.get(c.key), c.kind) for c in columns] for r in rows]
    if with_links is not None:
        for out, row in zip(body, rows, strict=True):
            href = present.safe_href(row.href)
            out.append(with_links + href if href else "")
    filename = f"{safe_name(name, 80)}.{fmt}"
    if fmt == "csv":
        return ExportFile(spreadsheets.to_csv(header, body), MEDIA["csv"], filename)
    formats = [display.number_format(c.kind) for c in columns] + ([None] if with_links is not None else [])
    return ExportFile(spreadsheets.to_xlsx(header, body, safe_name(name, 31), number_formats=formats),
                      MEDIA["xlsx"], filename)

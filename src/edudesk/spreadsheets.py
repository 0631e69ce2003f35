"""Writing CSV and XLSX exports that Excel and WPS open correctly and safely.

Shared by every export (knowledge base, leads): UTF-8 with a BOM so Excel detects the encoding, and a leading "'"
on any cell that would otherwise run as a formula (CSV/formula injection: a visitor can type "=HYPERLINK(…)").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([escape_cell(c) for c in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[object]], sheet_name: str) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append(list(header))
    for row in rows:
        # Control characters are not allowed in XLSX XML; they carry nothing a reader of the sheet needs.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", escape_cell(c)) for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

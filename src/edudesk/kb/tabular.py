"""Reading the knowledge-base file format (``question,similar_questions,answer,category``) from CSV or XLSX bytes.

Only parsing here: bytes in, rows of strings out, or an ``ImportFileError`` when the file as a whole cannot be read
(nothing is imported then). Whether a row is acceptable is decided by kb.importing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from edudesk import spreadsheets
from edudesk.kb.text import KbError

COLUMNS = ("question", "similar_questions", "answer", "category")
REQUIRED = ("question", "answer")
# Chinese headers as people type them in Excel are accepted too.
ALIASES = {
    "question": "question", "标准问": "question", "标准问题": "question", "问题": "question",
    "similar_questions": "similar_questions", "similar": "similar_questions", "相似问": "similar_questions",
    "相似问题": "similar_questions",
    "answer": "answer", "答案": "answer", "回答": "answer",
    "category": "category", "分类": "category", "类别": "category",
}
MAX_ROWS = 20_000
# A cell starting with one of these is a formula to Excel; exports escape it with a leading "'".
FORMULA_PREFIXES = spreadsheets.FORMULA_PREFIXES
# Undecodable bytes are decoded with ``errors="surrogateescape"``, which puts a lone surrogate U+DC80..U+DCFF where
# each bad byte was: a row containing one is rejected, not imported. (Not U+FFFD, ``errors="replace"``'s marker: a
# knowledge base may legitimately hold that character, and its export must import again.)
_BAD_BYTE = re.compile("[\udc80-\udcff]")
CSV_DELIMITERS = (",", "\t", ";")


class ImportFileError(KbError):
    """The file as a whole is unreadable (encoding, format, header, size): nothing is imported."""


@dataclass(frozen=True)
class RawRow:
    # The row number a person sees in Excel: the header is row 1.
    line: int
    cells: dict[str, str]

    @property
    def bad_encoding(self) -> bool:
        return any(_BAD_BYTE.search(v) for v in self.cells.values())


@dataclass(frozen=True)
class Table:
    rows: list[RawRow]
    columns: frozenset[str]
    format: str
    encoding: str | None = None


# After a leading "'", these characters mean the "'" is the export's escape, not part of the text.
_ESCAPED = "=+-@'"


def unescape_cell(value: str) -> str:
    """Trims and undoes the export's escape ("'=x" → "=x", "''=x" → "'=x"); a formula-looking cell stays plain
    text."""
    value = value.strip()
    if value.startswith("'") and value[1:2] and value[1] in _ESCAPED:
        return value[1:]
    return value


def escape_cell(value: str) -> str:
    """What the knowledge-base exporter writes: a leading "'" keeps Excel and WPS from running a cell as a formula
    (as ``spreadsheets.escape_cell``), and a text that itself starts with "'=" gets one more "'", so that
    :func:`unescape_cell` gives it back unchanged on import (an entry "'=1" used to come back as "=1")."""
    if value.startswith("'") and value[1:2] and value[1] in _ESCAPED:
        return "'" + value
    return spreadsheets.escape_cell(value)


def _header_key(value: str) -> str:
    return unicodedata.normalize("NFKC", value).replace("\ufeff", "").strip().lower().replace(" ", "_")


def _build(lines: Iterable[tuple[int, list[str]]], fmt: str, encoding: str | None = None) -> Table:
    header: dict[int, str] | None = None
    rows: list[RawRow] = []
    for line, cells in lines:
        if not any(c.strip() for c in cells):
            continue  # blank rows are skipped, as Excel users leave them between groups of questions
        if header is None:
            header = {}
            for index, cell in enumerate(cells):
                name = ALIASES.get(_header_key(cell))
                if name and name not in header.values():
                    header[index] = name
            missing = [c for c in REQUIRED if c not in header.values()]
            if missing:
                raise ImportFileError("bad_header", f"第 {line} 行不是有效的表头，缺少列：{'、'.join(missing)}"
                                      f"（表头应为 {','.join(COLUMNS)}）", "file")
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError("too_many_rows", f"文件超过 {MAX_ROWS} 行数据，请拆成几个文件再导入", "file")
        rows.append(RawRow(line, {name: unescape_cell(cells[i]) if i < len(cells) else ""
                                  for i, name in header.items()}))
    if header is None:
        raise ImportFileError("empty", "文件是空的", "file")
    if not rows:
        raise ImportFileError("no_rows", "文件里只有表头，没有数据行", "file")
    return Table(rows, frozenset(header.values()), fmt, encoding)


def _xlsx_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _broken_xlsx(exc: Exception) -> ImportFileError:
    return ImportFileError("bad_xlsx", f"XLSX 文件已损坏或不完整，无法读取（{type(exc).__name__}）", "file")


def read_xlsx(data: bytes, limits: spreadsheets.XlsxLimits | None = None) -> Table:
    """The first worksheet; formulas come back as their text (data_only=False), never evaluated. The file is
    checked against ``limits`` (decompressed size, compression ratio, cells) before openpyxl sees it."""
    try:
        spreadsheets.check_xlsx(data, limits or spreadsheets.XlsxLimits())
    except spreadsheets.SpreadsheetRejected as exc:
        raise ImportFileError(exc.code, exc.message, "file") from None
    try:
        book = spreadsheets.load_workbook(data)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, XML errors …: openpyxl has many ways to say "broken"
        raise _broken_xlsx(exc) from None
    try:
        if not book.worksheets:
            raise ImportFileError("empty", "XLSX 文件里没有工作表", "file")
        sheet = book.worksheets[0]
        reset = getattr(sheet, "reset_dimensions", None)
        if reset is not None:
            reset()  # the stored dimension is often wrong in files written by other tools: read every row

        def lines() -> Iterator[tuple[int, list[str]]]:
            for number, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
                yield number, [_xlsx_value(v) for v in row]

        return _build(lines(), "xlsx")
    except ImportFileError:
        raise
    except Exception as exc:  # a sheet that breaks half-way (truncated XML) is as unreadable as a broken zip
        raise _broken_xlsx(exc) from None
    finally:
        book.close()


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK, what Excel in Chinese saves as "CSV").

    A UTF-8 file with a few broken bytes must not be read as GB18030 (that turns every Chinese line into
    mojibake and imports it): when lines with non-ASCII text are mostly valid UTF-8, it is UTF-8 and the broken
    bytes become escaped surrogates, which reject just their rows.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    good = bad = 0
    for raw_line in data.splitlines():
        if raw_line.isascii():
            continue
        try:
            raw_line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    if good > bad:
        return data.decode("utf-8-sig", errors="surrogateescape"), "utf-8"
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="surrogateescape"), "gb18030"


def read_csv(data: bytes) -> Table:
    if b"\x00" in data:
        raise ImportFileError("binary", "这不是文本格式的 CSV 文件（含有二进制内容）", "file")
    text, encoding = decode(data)
    first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
    # Excel writes commas; some tools write tabs or semicolons. The header says which one the file uses.
    delimiter = max(CSV_DELIMITERS, key=lambda d: sum(
        1 for c in first_line.split(d) if ALIASES.get(_header_key(c.strip('"')))))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def lines() -> Iterator[tuple[int, list[str]]]:
        number = 0
        try:
            for number, row in enumerate(reader, start=1):
                yield number, row
        except csv.Error as exc:
            raise ImportFileError("bad_csv", f"第 {number + 1} 行附近的 CSV 格式有误：{exc}", "file") from None

    return _build(lines(), "csv", encoding)


def read_table(data: bytes, filename: str = "", xlsx_limits: spreadsheets.XlsxLimits | None = None) -> Table:
    """CSV or XLSX by content (a zip is XLSX), else by the file name; old binary .xls is refused clearly."""
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportFileError("empty", "文件是空的", "file")
    name = filename.lower()
    if data[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return read_xlsx(data, xlsx_limits)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or name.endswith(".xls"):
        raise ImportFileError("xls", "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV", "file")
    return read_csv(data)

"""Writing CSV and XLSX exports that Excel and WPS open correctly and safely, and checking an uploaded XLSX
before anything parses it.

Shared by every export (knowledge base, leads): UTF-8 with a BOM so Excel detects the encoding, and a leading "'"
on any cell that would otherwise run as a formula (CSV/formula injection: a visitor can type "=HYPERLINK(…)").

An XLSX is a zip of XML files, and a 1 MB zip can hold a 1 GiB cell: openpyxl would inflate it into memory.
``check_xlsx`` looks first — the members' declared sizes and compression ratios (from the zip's directory, nothing
inflated), the sheet's declared dimension, then one bounded streaming pass that counts the bytes really inflated
(CRC-checked, so a directory that lies is caught) and the cells — and refuses the file before it is parsed.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edudesk.settings import Settings

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MB = 1024 * 1024
# Below this size a member's compression ratio says nothing (a small, repetitive styles.xml compresses 50:1).
RATIO_FLOOR_BYTES = 1 * MB
MAX_MEMBERS = 1000
CHUNK = 64 * 1024
CELL_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
DIMENSION_RE = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref=\"([A-Za-z]{1,3}\d{1,7}(?::[A-Za-z]{1,3}\d{1,7})?)\"")


@dataclass(frozen=True)
class XlsxLimits:
    max_unzipped_bytes: int = 64 * MB
    max_ratio: int = 200
    max_cells: int = 500_000

    @classmethod
    def from_settings(cls, settings: Settings) -> XlsxLimits:
        return cls(settings.xlsx_max_unzipped_bytes, settings.xlsx_max_ratio, settings.xlsx_max_cells)


class SpreadsheetRejected(ValueError):
    """The file is over a limit (or its zip is inconsistent); ``code`` and ``message`` are for the person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def check_xlsx(data: bytes, limits: XlsxLimits) -> None:
    """Raises SpreadsheetRejected when ``data`` would inflate past the limits; memory use stays near one chunk.

    A file that is not a zip at all is left to the parser, which reports it as broken."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        return
    with book:
        members = book.infolist()
        if len(members) > MAX_MEMBERS:
            raise SpreadsheetRejected("xlsx_too_many_parts",
                                      f"XLSX 文件包含过多部件（{len(members)} 个），不像正常的表格")
        declared = sum(m.file_size for m in members)
        if declared > limits.max_unzipped_bytes:
            raise _too_big(declared, limits)
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
                raise SpreadsheetRejected("xlsx_bomb", f"XLSX 文件中的 {member.filename[:60]} 压缩比异常"
                                          f"（{ratio:.0f}:1，上限 {limits.max_ratio}:1），疑似压缩炸弹，已拒绝")
        sheets = [m for m in members if m.filename.startswith("xl/worksheets/") and m.filename.endswith(".xml")]
        for sheet in sheets:
            _check_dimension(book, sheet, limits)
        inflated = cells = 0
        for member in members:
            inflated, cells = _stream(book, member, member in sheets, inflated, cells, limits)


def _too_big(size: int, limits: XlsxLimits) -> SpreadsheetRejected:
    return SpreadsheetRejected("xlsx_too_large", f"XLSX 文件解压后约 {size / MB:.0f} MB，超过上限 "
                               f"{limits.max_unzipped_bytes // MB} MB，请删去不需要的内容或拆成几个文件")


def _too_many_cells(cells: int, limits: XlsxLimits) -> SpreadsheetRejected:
    return SpreadsheetRejected("xlsx_too_many_cells", f"XLSX 工作表的单元格超过 {limits.max_cells} 个"
                               f"（至少 {cells} 个），请拆成几个文件再导入")


def _check_dimension(book: zipfile.ZipFile, sheet: zipfile.ZipInfo, limits: XlsxLimits) -> None:
    """The sheet's own claim of its size (``<dimension ref="A1:D20"/>``), read from its first 64 KB."""
    try:
        with book.open(sheet) as stream:
            head = stream.read(CHUNK)
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, RuntimeError):
        raise SpreadsheetRejected("bad_xlsx", "XLSX 文件已损坏或不完整，无法读取") from None
    match = DIMENSION_RE.search(head)
    if match is None:
        return
    from openpyxl.utils.cell import range_boundaries  # openpyxl (~17 MB) is imported by the first spreadsheet

    try:
        min_col, min_row, max_col, max_row = range_boundaries(match.group(1).decode("ascii"))
    except (ValueError, TypeError):
        return
    if min_col and min_row and max_col and max_row:
        declared = (max_col - min_col + 1) * (max_row - min_row + 1)
        if declared > limits.max_cells:
            raise _too_many_cells(declared, limits)


def _stream(book: zipfile.ZipFile, member: zipfile.ZipInfo, is_sheet: bool, inflated: int, cells: int,
            limits: XlsxLimits) -> tuple[int, int]:
    """Inflates one member chunk by chunk, counting bytes (and cells in a sheet); zipfile checks its CRC."""
    tail = b""
    try:
        with book.open(member) as stream:
            while chunk := stream.read(CHUNK):
                inflated += len(chunk)
                if inflated > limits.max_unzipped_bytes:
                    raise _too_big(inflated, limits)
                if is_sheet:
                    window = tail + chunk
                    # A tag split across two chunks is counted once: only matches ending in this chunk count.
                    cells += sum(1 for m in CELL_RE.finditer(window) if m.end() > len(tail))
                    if cells > limits.max_cells:
                        raise _too_many_cells(cells, limits)
                    tail = window[-16:]
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, RuntimeError, ValueError) as exc:
        if isinstance(exc, SpreadsheetRejected):
            raise
        raise SpreadsheetRejected("bad_xlsx", f"XLSX 文件已损坏或不完整，无法读取（{type(exc).__name__}）") from None
    return inflated, cells


def escape_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([escape_cell(c) for c in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def load_workbook(data: bytes) -> Any:
    """openpyxl's read-only workbook of ``data`` (formulas as text, never evaluated). Call :func:`check_xlsx`
    first. openpyxl (~17 MB) is imported here, by the first spreadsheet, not by every process at start-up."""
    import openpyxl

    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[object]], sheet_name: str,
            number_formats: Sequence[str | None] | None = None) -> bytes:
    """With ``number_formats`` (one per column, None for text), numbers stay numeric cells in that format (a
    dashboard's 0.253 shown as 25.3%); a number cannot carry a formula. Without it every cell is text, as before."""
    if number_formats is not None:
        return _typed_xlsx(header, rows, sheet_name, number_formats)
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append(list(header))
    for row in rows:
        # Control characters are not allowed in XLSX XML; they carry nothing a reader of the sheet needs.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", escape_cell(c)) for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _typed_xlsx(header: Sequence[str], rows: Iterable[Sequence[object]], sheet_name: str,
                number_formats: Sequence[str | None]) -> bytes:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", escape_cell(c)) for c in header])
    for row in rows:
        cells: list[object] = []
        for n, value in enumerate(row):
            fmt = number_formats[n] if n < len(number_formats) else None
            if fmt is not None and isinstance(value, int | float) and not isinstance(value, bool):
                cell = WriteOnlyCell(sheet, value)
                cell.number_format = fmt
                cells.append(cell)
            else:
                cells.append(ILLEGAL_CHARACTERS_RE.sub("", escape_cell(value)))
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

"""An XLSX is refused before parsing when it would inflate past the limits (the 1 MB file whose one cell expands to
1 GiB): in the import service, the admin upload and ``edudesk kb import``, without ever inflating the bomb."""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from edudesk import cli
from edudesk.db import Database
from edudesk.kb import importing
from edudesk.kb.tabular import ImportFileError
from edudesk.spreadsheets import SpreadsheetRejected, XlsxLimits, check_xlsx
from tests.conftest import TwoOrgs, login
from tests.kb.conftest import actor, stored

GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024
SHEET = "xl/worksheets/sheet1.xml"
SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
              b'<row r="1"><c r="A1" t="inlineStr"><is><t>question</t></is></c>'
              b'<c r="B1" t="inlineStr"><is><t>answer</t></is></c></row>'
              b'<row r="2"><c r="A2" t="inlineStr"><is><t>huge</t></is></c><c r="B2" t="inlineStr"><is><t>')
SHEET_TAIL = b"</t></is></c></row></sheetData></worksheet>"


def workbook(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def bomb(cell_bytes: int) -> bytes:
    """A real workbook whose first sheet's one answer cell holds ``cell_bytes`` of "A", written in 1 MiB pieces so
    building it needs no more memory than that; deflate makes it about a thousandth of the size on disk."""
    plain = zipfile.ZipFile(io.BytesIO(workbook([["question", "answer"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in plain.infolist():
            if info.filename != SHEET:
                z.writestr(info.filename, plain.read(info.filename))
        with z.open(SHEET, "w", force_zip64=cell_bytes > 2 * GIB) as sheet:
            sheet.write(SHEET_HEAD)
            piece = b"A" * MIB
            for _ in range(cell_bytes // MIB):
                sheet.write(piece)
            sheet.write(SHEET_TAIL)
    return out.getvalue()


@pytest.fixture(scope="module")
def gib_bomb() -> bytes:
    return bomb(GIB)


def test_a_gib_bomb_is_refused_without_inflating_it(gib_bomb: bytes, database: Database, orgs: TwoOrgs) -> None:
    assert len(gib_bomb) < 2 * MIB  # small on disk, 1 GiB inside
    tracemalloc.start()
    try:
        with database.session() as session, pytest.raises(ImportFileError) as caught:
            importing.import_entries(session, actor(orgs.a.id), gib_bomb, "bomb.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "xlsx_too_large" and caught.value.field == "file"
    assert "解压后约 1024 MB，超过上限 64 MB" in caught.value.message
    # The refusal needed a few MB at most: nowhere near the 1 GiB (or even the 64 MB limit) it would inflate to.
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert stored(database, orgs.a.id) == {}


def test_admin_upload_and_cli_name_the_refusal(gib_bomb: bytes, client: TestClient, database: Database,
                                               orgs: TwoOrgs, db_url: str, tmp_path: Path) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/kb/import", files={"file": ("炸弹.xlsx", gib_bomb, "application/zip")},
                       data={"csrf_token": csrf})
    assert resp.status_code == 422 and "超过上限 64 MB" in resp.text
    file = tmp_path / "bomb.xlsx"
    file.write_bytes(gib_bomb)
    result = CliRunner().invoke(cli.app, ["kb", "import", str(file), "--org", "alpha", "--database-url", db_url])
    assert result.exit_code == 1
    assert result.stderr.startswith("edudesk: XLSX 文件解压后约 1024 MB") and "Traceback" not in result.stderr
    assert stored(database, orgs.a.id) == {}


def test_a_highly_compressed_part_is_refused_even_under_the_size_limit() -> None:
    with pytest.raises(SpreadsheetRejected) as caught:
        check_xlsx(bomb(16 * MIB), XlsxLimits())
    assert caught.value.code == "xlsx_bomb" and SHEET in caught.value.message


def _lie_about_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrites the member's uncompressed size in its local header and the central directory."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    while local != -1:
        name_len = struct.unpack_from("<H", out, local + 26)[0]
        if out[local + 30: local + 30 + name_len] == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", out, central + 28)[0]
        if out[central + 46: central + 46 + name_len] == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_a_directory_that_lies_about_sizes_is_caught_by_the_bounded_read() -> None:
    honest = bomb(4 * MIB)
    lying = _lie_about_sizes(honest, SHEET.encode(), 2000)
    with zipfile.ZipFile(io.BytesIO(lying)) as z:
        assert z.getinfo(SHEET).file_size == 2000  # the directory now claims a tiny, harmless sheet
    tracemalloc.start()
    try:
        with pytest.raises(SpreadsheetRejected) as caught:
            check_xlsx(lying, XlsxLimits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "bad_xlsx"
    assert peak < 4 * MIB


def test_cells_are_counted_from_the_dimension_and_from_the_sheet() -> None:
    rows = [["question", "answer"], *([f"问题{i}", f"答案{i}"] for i in range(30))]
    data = workbook(rows)
    check_xlsx(data, XlsxLimits(max_cells=62))
    with pytest.raises(SpreadsheetRejected) as caught:
        check_xlsx(data, XlsxLimits(max_cells=61))
    assert caught.value.code == "xlsx_too_many_cells"
    # A sheet that claims a huge range is refused from its <dimension> before the cells are read.
    claimed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(claimed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == SHEET:
                body = re.sub(rb'<dimension ref="A1:B31"\s*/>', b'<dimension ref="A1:XFD1048576"/>', body)
                assert b"XFD1048576" in body
            dst.writestr(info.filename, body)
    with pytest.raises(SpreadsheetRejected) as caught:
        check_xlsx(claimed.getvalue(), XlsxLimits())
    assert caught.value.code == "xlsx_too_many_cells"


def test_an_ordinary_workbook_passes_and_imports(database: Database, orgs: TwoOrgs) -> None:
    data = workbook([["question", "answer"], ["学费多少？", "每节课 200 元"]])
    check_xlsx(data, XlsxLimits())
    check_xlsx(b"not a zip at all", XlsxLimits())  # left to the parser, which reports it as broken
    with database.session() as session:
        report = importing.import_entries(session, actor(orgs.a.id), data, "kb.xlsx")
        session.commit()
    assert report.created == 1

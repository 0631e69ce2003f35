"""Importing and exporting the knowledge-base file on SQLite and PostgreSQL: encodings, XLSX, broken files,
row-by-row rejections, dry runs, upserts, and nothing half-written when something fails."""

from __future__ import annotations

import csv
import io
import random

import openpyxl
import pytest
from sqlalchemy import func, select

from edudesk.audit import service as audit_service
from edudesk.db import Database
from edudesk.kb import exporting, importing
from edudesk.kb.models import KbCategory, KbEntry, KbSimilarQuestion
from edudesk.kb.tabular import MAX_ROWS, ImportFileError
from tests.conftest import TwoOrgs
from tests.kb.conftest import HEADER, INJECTION, ROWS, SCHOOL_FAQ, SchoolKb, actor, csv_bytes, stored


def xlsx_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def run(database: Database, org_id: int, data: bytes, filename: str = "kb.csv", *,
        dry_run: bool = False) -> importing.ImportReport:
    with database.session() as session:
        report = importing.import_entries(session, actor(org_id), data, filename, dry_run=dry_run)
        session.commit()
    return report


def counts(database: Database) -> tuple[int, int, int]:
    with database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(m))  # type: ignore[return-value]
                     for m in (KbEntry, KbSimilarQuestion, KbCategory))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_excel_writes(database: Database, orgs: TwoOrgs, encoding: str) -> None:
    report = run(database, orgs.a.id, csv_bytes(ROWS, encoding))
    assert (report.created, report.updated, report.rejected, report.format) == (3, 0, [], "csv")
    assert sorted(report.categories_created) == ["艺术/钢琴", "英语", "课程/寒假"]
    assert stored(database, orgs.a.id)["钢琴课一节多少钱？"] == (
        "钢琴一对一 300 元/节（45 分钟），10 节起报。", ["钢琴课价格", "钢琴怎么收费"], "艺术/钢琴")
    assert stored(database, orgs.b.id) == {}


def test_xlsx_with_numbers_formulas_and_chinese_headers(database: Database, orgs: TwoOrgs) -> None:
    data = xlsx_bytes([*ROWS, [INJECTION, None, 200, None], ["  ", None, None, None],
                       ["学费可以分期吗", "", "可以分 3 期", ""]], header=["标准问", "相似问", "答案", "分类"])
    report = run(database, orgs.a.id, data, "知识库.xlsx")
    assert (report.created, report.format, report.rejected) == (5, "xlsx", [])
    kb = stored(database, orgs.a.id)
    assert kb[INJECTION] == ("200", [], "")  # the formula is kept as text, the number as "200"
    assert kb["学费可以分期吗"] == ("可以分 3 期", [], "")


def test_rejected_rows_are_reported_with_their_excel_row(database: Database, orgs: TwoOrgs,
                                                         school: SchoolKb) -> None:
    rows = [
        ROWS[0],                                              # row 2: fine
        ["", "没有标准问", "答案", ""],                          # row 3
        ["只有问题", "", "   ", ""],                              # row 4
        ["答案太长", "", "长" * 2001, ""],                         # row 5
        ["班课价格", "一对一价格", "另一个答案", ""],                # row 6: similar of a stored entry
        ["钢琴考级", "钢琴课价格", "x", ""],                       # row 7: similar of row 2
        ["钢琴课一节多少钱？", "", "重复", ""],                      # row 8: same question as row 2
        ["分类太深", "", "x", "a/b/c/d/e/f"],                    # row 9
        ["多行\n答案", "", "第一行\n第二行", ""],                   # row 10: one Excel row, two text lines
        [INJECTION, "", "公式当文本", ""],                          # row 11: fine
    ]
    report = run(database, orgs.a.id, csv_bytes(rows))
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "标准问不能为空"),
        (4, "答案不能为空"),
        (5, "答案不能超过 2000 个字"),
        (6, f"相似问“一对一价格”已属于词条 #{school.entries['一对一辅导怎么收费？']}“一对一辅导怎么收费？”"),
        (7, "相似问“钢琴课价格”与第 2 行重复"),
        (8, "标准问“钢琴课一节多少钱？”与第 2 行重复"),
        (9, "分类最多 5 层"),
    ]
    assert (report.rows, report.created, report.updated) == (10, 3, 0)
    kb = stored(database, orgs.a.id)
    assert kb["多行 答案"][0] == "第一行\n第二行" and kb[INJECTION][0] == "公式当文本"
    assert kb["一对一辅导怎么收费？"][1] == ["一对一多少钱", "一对一价格", "一对一课时费"]


BROKEN = {
    "empty": (b"", "kb.csv", "文件是空的"),
    "bom only": (b"\xef\xbb\xbf\r\n", "kb.csv", "文件是空的"),
    "header only": (b"question,similar_questions,answer,category\r\n", "kb.csv", "没有数据行"),
    "missing header": (csv_bytes(ROWS, header=None), "kb.csv", "不是有效的表头"),
    "missing answer column": (csv_bytes([["q", "s"]], header=["question", "similar_questions"]), "kb.csv",
                              "缺少列：answer"),
    "binary garbage": (bytes(range(256)) * 20, "kb.csv", "二进制"),
    "random bytes": (random.Random(7).randbytes(4096).replace(b"\x00", b"\x01"), "kb.csv", "表头"),
    "truncated xlsx": (xlsx_bytes(ROWS)[:700], "kb.xlsx", "XLSX 文件已损坏"),
    "zip that is not xlsx": (b"PK\x03\x04" + b"\x00" * 100, "kb.xlsx", "XLSX 文件已损坏"),
    "old xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "kb.xls", ".xls"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_imports_nothing(database: Database, orgs: TwoOrgs, school: SchoolKb, case: str) -> None:
    data, name, fragment = BROKEN[case]
    before = (counts(database), stored(database, orgs.a.id))
    with pytest.raises(ImportFileError) as caught:
        run(database, orgs.a.id, data, name)
    assert fragment in caught.value.message
    assert (counts(database), stored(database, orgs.a.id)) == before


def test_too_many_rows_imports_nothing(database: Database, orgs: TwoOrgs) -> None:
    rows = [[f"问题{i}", "", f"答案{i}", ""] for i in range(MAX_ROWS + 1)]
    with pytest.raises(ImportFileError, match="20000"):
        run(database, orgs.a.id, csv_bytes(rows))
    assert counts(database) == (0, 0, 0)


def test_dry_run_writes_nothing_and_reports_the_same(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    rows = [*ROWS, [SCHOOL_FAQ[0][1], "一对一多少钱", "新价格", "课程/价格"], ["", "", "", "x"]]
    before = (counts(database), stored(database, orgs.a.id))
    with database.session() as session:
        preview = importing.import_entries(session, actor(orgs.a.id), csv_bytes(rows), dry_run=True)
        session.commit()
        assert audit_service.recent(session, orgs.a.id, limit=1)[0].action != "kb.import"
    assert (counts(database), stored(database, orgs.a.id)) == before
    assert (preview.dry_run, preview.created, preview.updated, len(preview.rejected)) == (True, 3, 1, 1)
    real = run(database, orgs.a.id, csv_bytes(rows))
    assert (real.created, real.updated, real.rejected, real.categories_created) == (
        preview.created, preview.updated, preview.rejected, preview.categories_created)


def test_reimport_upserts_by_standard_question(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    price, trial = SCHOOL_FAQ[0], SCHOOL_FAQ[1]
    rows = [
        # Same question in another width and case: an update; similar questions replaced by the file's.
        [price[1].replace("？", "?"), "一对一多少钱|一节一对一多少钱", "小学一对一 220 元/课时。", "课程/价格"],
        # Moves "有试听课吗" away from the trial entry, which the same file rewrites without it.
        ["试听课怎么预约？", "有试听课吗", "在公众号菜单“预约试听”里填写。", "课程/试听"],
        [trial[1], "试听要钱吗", trial[3], "课程/试听"],
    ]
    report = run(database, orgs.a.id, csv_bytes(rows))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (1, 2, 0, [])
    kb = stored(database, orgs.a.id)
    assert kb[price[1].replace("？", "?")] == ("小学一对一 220 元/课时。", ["一对一多少钱", "一节一对一多少钱"],
                                              "课程/价格")
    assert kb["试听课怎么预约？"][1] == ["有试听课吗"] and kb[trial[1]][1] == ["试听要钱吗"]
    assert len(kb) == len(SCHOOL_FAQ) + 1
    again = run(database, orgs.a.id, csv_bytes(rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_a_rejected_row_keeps_its_entrys_texts(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    """Row 3 would release "有试听课吗" but is rejected; then row 2 may not take it."""
    rows = [["试听课怎么预约？", "有试听课吗", "在公众号里预约。", ""],
            [SCHOOL_FAQ[1][1], "试听要钱吗", "", ""]]
    report = run(database, orgs.a.id, csv_bytes(rows))
    assert [r.line for r in report.rejected] == [2, 3]
    assert report.rejected[0].reason.startswith("相似问“有试听课吗”已属于词条")
    assert report.rejected[1].reason == "答案不能为空"
    assert stored(database, orgs.a.id)[SCHOOL_FAQ[1][1]][1] == SCHOOL_FAQ[1][2]


def test_broken_bytes_reject_only_their_row(database: Database, orgs: TwoOrgs) -> None:
    good = csv_bytes(ROWS)
    lines = good.split(b"\r\n")
    lines[2] = lines[2].replace("几岁".encode(), b"\xff\xfe")  # row 3 damaged in a UTF-8 file
    report = run(database, orgs.a.id, b"\r\n".join(lines))
    assert [r.line for r in report.rejected] == [3] and report.rejected[0].reason.startswith("编码错误")
    assert report.created == 2


def test_export_round_trip_and_formula_escape(database: Database, orgs: TwoOrgs, school: SchoolKb) -> None:
    run(database, orgs.a.id, csv_bytes([[INJECTION, "+1 开头|@提及", "-5 分", "课程"], ROWS[0]]))
    with database.session() as session:
        csv_export = exporting.export_entries(session, actor(orgs.a.id, "boss"), "csv")
        xlsx_export = exporting.export_entries(session, actor(orgs.a.id), "xlsx")
        only_course = exporting.export_rows(session, orgs.a.id, school.categories["课程"])
        session.commit()
        audit = audit_service.recent(session, orgs.a.id, limit=2)
        assert [(e.action, e.detail["format"], e.detail["entries"]) for e in audit] == [
            ("kb.export", "xlsx", 8), ("kb.export", "csv", 8)]
    assert csv_export.data.startswith(b"\xef\xbb\xbf") and csv_export.entries == 8
    text = csv_export.data.decode("utf-8-sig")
    assert text.splitlines()[0] == "question,similar_questions,answer,category"
    assert "'=cmd|' /C calc'!A0" in text and "'+1 开头|@提及" in text and "'-5 分" in text
    assert not [c for row in csv.reader(io.StringIO(text)) for c in row if c.startswith(("=", "+", "-", "@"))]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_export.data)).worksheets[0]
    cells = [c.value for row in sheet.iter_rows() for c in row]
    assert "'=cmd|' /C calc'!A0" in cells and not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    assert {r[0] for r in only_course} == {"一对一辅导怎么收费？", "可以免费试听吗？", "周末几点上课？", INJECTION}
    before = stored(database, orgs.a.id)
    for data, name in ((csv_export.data, "export.csv"), (xlsx_export.data, "export.xlsx")):
        report = run(database, orgs.a.id, data, name)
        assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 0, 8, [])
    assert stored(database, orgs.a.id) == before
    run(database, orgs.b.id, csv_export.data)  # another org can start from this org's export
    assert stored(database, orgs.b.id) == before


def test_a_failing_import_leaves_everything_as_it_was(database: Database, orgs: TwoOrgs, school: SchoolKb,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    before = (counts(database), stored(database, orgs.a.id))
    rows = [*ROWS, [SCHOOL_FAQ[0][1], "", "改过的答案", "课程/价格"]]

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")  # after every entry and category has been written

    monkeypatch.setattr(importing.audit_service, "record", broken_audit)
    with pytest.raises(RuntimeError), database.session() as session:
        importing.import_entries(session, actor(orgs.a.id), csv_bytes(rows))
        session.commit()
    assert (counts(database), stored(database, orgs.a.id)) == before

"""``edudesk kb import|export`` on SQLite and PostgreSQL: the report, exit codes and the one-line error contract."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from typer.testing import CliRunner, Result

from edudesk import cli
from edudesk.db import Database
from tests.conftest import TwoOrgs
from tests.kb.conftest import ROWS, SCHOOL_FAQ, SchoolKb, csv_bytes, stored


def kb(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["kb", *args, "--database-url", db_url])


def one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edudesk: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_import_reports_rows_and_writes(database: Database, db_url: str, orgs: TwoOrgs, tmp_path: Path) -> None:
    file = tmp_path / "学校知识库.csv"
    file.write_bytes(csv_bytes([*ROWS, ["", "", "没有问题", ""]], "gbk"))
    preview = kb(db_url, "import", str(file), "--org", "alpha", "--dry-run")
    assert preview.exit_code == 0 and preview.stderr == ""
    assert "预览（未写入）：共 4 行，新建 3，更新 0，无变化 0，拒绝 1" in preview.stdout
    assert "第 5 行：标准问不能为空" in preview.stdout
    assert stored(database, orgs.a.id) == {}
    result = kb(db_url, "import", str(file), "--org", "alpha")
    assert result.exit_code == 0 and result.stderr == ""
    assert "导入完成：共 4 行，新建 3" in result.stdout and "新分类：" in result.stdout
    assert set(stored(database, orgs.a.id)) == {r[0] for r in ROWS}
    assert stored(database, orgs.b.id) == {}


def test_export_then_import_again(database: Database, db_url: str, orgs: TwoOrgs, school: SchoolKb,
                                  tmp_path: Path) -> None:
    for name, fmt in (("kb.csv", None), ("kb.xlsx", None), ("kb.data", "xlsx")):
        target = tmp_path / name
        args = ["export", str(target), "--org", "alpha", *(["--format", fmt] if fmt else [])]
        result = kb(db_url, *args)
        assert result.exit_code == 0 and result.stderr == "", result.stderr
        assert f"已导出 {len(SCHOOL_FAQ)} 个词条" in result.stdout
    assert (tmp_path / "kb.csv").read_bytes().startswith(b"\xef\xbb\xbfquestion,similar_questions,answer,category")
    sheet = openpyxl.load_workbook(tmp_path / "kb.xlsx").worksheets[0]
    assert sheet.max_row == len(SCHOOL_FAQ) + 1
    assert not list(tmp_path.glob(".kb-export-*")), "temporary file left behind"
    before = stored(database, orgs.a.id)
    again = kb(db_url, "import", str(tmp_path / "kb.xlsx"), "--org", "alpha")
    assert again.exit_code == 0 and f"无变化 {len(SCHOOL_FAQ)}，拒绝 0" in again.stdout
    assert stored(database, orgs.a.id) == before


def test_failures_are_one_line_and_change_nothing(database: Database, db_url: str, orgs: TwoOrgs,
                                                  school: SchoolKb, tmp_path: Path) -> None:
    before = stored(database, orgs.a.id)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    no_header = tmp_path / "no-header.csv"
    no_header.write_bytes(csv_bytes(ROWS, header=None))
    all_bad = tmp_path / "all-bad.csv"
    all_bad.write_bytes(csv_bytes([["", "", "答案", ""], ["问题", "", "", ""]]))
    one_line_error(kb(db_url, "import", str(tmp_path / "missing.csv"), "--org", "alpha"), "找不到文件")
    one_line_error(kb(db_url, "import", str(broken), "--org", "alpha"), "XLSX 文件已损坏")
    one_line_error(kb(db_url, "import", str(no_header), "--org", "alpha"), "缺少列")
    one_line_error(kb(db_url, "import", str(no_header), "--org", "nope"), "找不到机构 nope")
    result = kb(db_url, "import", str(all_bad), "--org", "alpha")
    one_line_error(result, "所有行都被拒绝")
    assert "第 2 行：标准问不能为空" in result.stdout and "第 3 行：答案不能为空" in result.stdout
    one_line_error(kb(db_url, "export", str(tmp_path / "x.csv"), "--org", "alpha", "--format", "pdf"), "csv 或 xlsx")
    one_line_error(kb(db_url, "export", str(tmp_path / "no" / "x.csv"), "--org", "alpha"), "目录不存在")
    one_line_error(kb(db_url, "export", str(tmp_path / "x.csv"), "--org", "nope"), "找不到机构 nope")
    assert stored(database, orgs.a.id) == before
    assert not (tmp_path / "x.csv").exists()

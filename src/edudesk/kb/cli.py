"""``edudesk kb import|export``: the knowledge-base file format from the command line.

Same contract as the rest of the CLI (``edudesk.cli_support``): a failure is one ``edudesk: …`` line on stderr and a
non-zero exit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from edudesk.audit.service import Actor
from edudesk.cli_support import clean_errors, database, fail, settings_from_env
from edudesk.kb import exporting, importing
from edudesk.orgs import service as orgs_service
from edudesk.spreadsheets import XlsxLimits

kb_app = typer.Typer(help="知识库：导入、导出（CSV / XLSX）", no_args_is_help=True)
# The web upload is capped at 5 MB; from the command line a full 20,000-row file with long answers must fit.
MAX_FILE_BYTES = 64 * 1024 * 1024

OrgOption = Annotated[str, typer.Option("--org", help="机构标识")]
DbOption = Annotated[str | None, typer.Option("--database-url", help="覆盖 EDUDESK_DATABASE_URL")]


@contextmanager
def _session(database_url: str | None) -> Iterator[Session]:
    with database(database_url) as db, db.session() as session:
        yield session


def _read(path: Path) -> bytes:
    if not path.is_file():
        fail(f"找不到文件 {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        fail(f"文件太大（超过 {MAX_FILE_BYTES // (1024 * 1024)} MB）：{path}")
    return path.read_bytes()


@kb_app.command("import")
@clean_errors
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV 或 XLSX 文件：question,similar_questions,answer,category")],
    org: OrgOption,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查，不写入")] = False,
    database_url: DbOption = None,
) -> None:
    """导入知识库：按标准问新建或更新词条，报告每一行被拒绝的原因。"""
    data = _read(file)
    limits = XlsxLimits.from_settings(settings_from_env(database_url))
    with _session(database_url) as session:
        org_row = orgs_service.get_by_slug(session, org.strip().lower())
        report = importing.import_entries(session, Actor(org_row.id, label="cli"), data, file.name,
                                          dry_run=dry_run, xlsx_limits=limits)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    head = "预览（未写入）" if dry_run else "导入完成"
    print(f"{head}：共 {report.rows} 行，新建 {report.created}，更新 {report.updated}，无变化 {report.unchanged}，"
          f"拒绝 {len(report.rejected)}")
    if report.categories_created:
        print(f"新分类：{'，'.join(report.categories_created)}")
    for row in report.rejected:
        print(f"第 {row.line} 行：{row.reason}")
    if report.all_rejected:
        fail("所有行都被拒绝，没有导入任何词条")


@kb_app.command("export")
@clean_errors
def export_cmd(
    file: Annotated[Path, typer.Argument(help="要写入的文件")],
    org: OrgOption,
    fmt: Annotated[str | None, typer.Option("--format", help="csv 或 xlsx；不填时按文件扩展名，默认 csv")] = None,
    database_url: DbOption = None,
) -> None:
    """导出机构的全部词条（不含已删除的），可以再导入。"""
    fmt = (fmt or (file.suffix.lstrip(".").lower() if file.suffix.lower() in (".csv", ".xlsx") else "csv")).lower()
    if fmt not in exporting.FORMATS:
        fail("--format 只能是 csv 或 xlsx")
    if not file.parent.is_dir():
        fail(f"目录不存在：{file.parent}")
    with _session(database_url) as session:
        org_row = orgs_service.get_by_slug(session, org.strip().lower())
        export = exporting.export_entries(session, Actor(org_row.id, label="cli"), fmt)
        # Written next to the target and renamed: an interrupted export never leaves half a file behind.
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".kb-export-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(export.data)
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        session.commit()
    print(f"已导出 {export.entries} 个词条到 {file}")

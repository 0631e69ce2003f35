"""``edudesk privacy export|erase``: one person's data on request, from the command line (audited as "cli").

Same contract as the rest of the CLI: a failure is one ``edudesk: …`` line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from edudesk.audit.service import Actor
from edudesk.cli_support import clean_errors, database, fail, settings_from_env
from edudesk.inputs import MAX_DB_ID
from edudesk.orgs import service as orgs_service
from edudesk.privacy import service as privacy_service
from edudesk.settings import Settings

privacy_app = typer.Typer(help="个人信息：导出、删除（家长申请时）", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="机构标识")]
ContactOption = Annotated[int, typer.Option("--contact", help="联系人编号", min=1, max=MAX_DB_ID)]
DbOption = Annotated[str | None, typer.Option("--database-url", help="覆盖 EDUDESK_DATABASE_URL")]


def _registry(ctx: typer.Context, settings: Settings) -> privacy_service.PrivacyRegistry:
    """Every area's holders, as the app has them, when the ``edudesk`` command passed its builder (areas above
    this one, such as voice, add theirs there); the built-in purgers alone otherwise."""
    build = ctx.obj.get("privacy_registry") if isinstance(ctx.obj, dict) else None
    if callable(build):
        return build(settings)  # type: ignore[no-any-return]
    return privacy_service.make_registry(settings.upload_dir, settings.privacy_purge_batch)


@privacy_app.command("export")
@clean_errors
def export_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="要写入的 ZIP 文件")],
    org: OrgOption,
    contact: ContactOption,
    database_url: DbOption = None,
) -> None:
    """导出一个联系人的全部个人信息（data.json + 附件）到 ZIP 文件。"""
    if out.exists() and out.is_dir():
        fail(f"{out} 是目录，请给出 ZIP 文件名")
    if not out.parent.is_dir():
        fail(f"目录不存在：{out.parent}")
    settings = settings_from_env(database_url)
    registry = _registry(ctx, settings)
    with database(database_url) as db, db.session() as session:
        org_row = orgs_service.get_by_slug(session, org.strip().lower())
        export = privacy_service.prepare_export(session, registry, Actor(org_row.id, label="cli"), contact)
        session.commit()
    # Written next to the target and renamed: an interrupted export never leaves half a file behind.
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".contact-export-")
    try:
        with os.fdopen(fd, "wb") as fh:
            privacy_service.write_export(fh, export)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"已导出联系人 {contact} 的个人信息到 {out}（{len(export.files)} 个附件）")


@privacy_app.command("erase")
@clean_errors
def erase_cmd(
    ctx: typer.Context,
    org: OrgOption,
    contact: ContactOption,
    yes: Annotated[bool, typer.Option("--yes", help="确认删除（不可恢复）")] = False,
    database_url: DbOption = None,
) -> None:
    """删除一个联系人的全部个人信息（不可恢复；保留不含内容的统计记录）。"""
    if not yes:
        fail("删除不可恢复：确认无误后加 --yes 再运行")
    settings = settings_from_env(database_url)
    registry = _registry(ctx, settings)
    with database(database_url) as db, db.session() as session:
        org_row = orgs_service.get_by_slug(session, org.strip().lower())
        report = privacy_service.erase_contact(session, registry, Actor(org_row.id, label="cli"), contact)
        session.commit()
    done = "，".join(f"{k} {v}" for k, v in report.counts.items() if v)
    print(f"已删除联系人 {contact} 的个人信息（{done or '没有其他数据'}）")

"""Admin pages for working on the knowledge base as a whole: import, export, and unanswered questions (misses).

Mounted by kb.views under ``/admin/kb``; same rules: supervisors and admins only, CSRF on every form.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.forms import STALE, Rejected, submit
from edudesk.kb import categories as kb_categories
from edudesk.kb import exporting, importing, misses
from edudesk.kb import service as kb_service
from edudesk.kb.text import shanghai_time, today_in_shanghai
from edudesk.nlp.cluster import group_similar
from edudesk.nlp.embedding import shared_embedder
from edudesk.spreadsheets import XlsxLimits
from edudesk.web import csrf_ok
from edudesk.web import page as render

router = APIRouter()
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
MAX_IDS_FIELD = 100_000


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """``web.page`` plus what every knowledge-base page shows: times in Asia/Shanghai."""
    return render(request, name, status_code=status_code, fmt_time=shanghai_time, **context)


# --- import / export -------------------------------------------------------------------------------------------------

def _import_page(request: Request, user: User, *, report: importing.ImportReport | None = None,
                 error: str | None = None, dry_run: bool = True, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        tree = kb_categories.tree(session, user.org_id)
    return page(request, "admin/kb_import.html", status_code=code, user=user, report=report, error=error,
                dry_run=dry_run, tree=tree, max_mb=get_ctx(request).settings.max_import_bytes // (1024 * 1024))


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request, user: Supervisor) -> Response:
    return _import_page(request, user)


@router.post("/import", response_class=HTMLResponse)
def import_file(request: Request, user: Supervisor, file: Annotated[UploadFile | None, File()] = None,
                dry_run: Annotated[str, Form(max_length=10)] = "", csrf_token: CsrfField = "") -> Response:
    preview = bool(dry_run)
    if not csrf_ok(request, csrf_token):
        return _import_page(request, user, error=STALE, dry_run=preview, code=400)
    if file is None or not file.filename:
        return _import_page(request, user, error="请选择要导入的 CSV 或 XLSX 文件", dry_run=preview, code=422)
    settings = get_ctx(request).settings
    limit = settings.max_import_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        return _import_page(request, user, error=f"文件不能超过 {limit // (1024 * 1024)} MB", dry_run=preview,
                            code=413)
    with get_ctx(request).db.session() as session:
        try:
            report = importing.import_entries(session, actor_of(request, user), data, file.filename,
                                              dry_run=preview, xlsx_limits=XlsxLimits.from_settings(settings))
        except DomainError as exc:
            session.rollback()
            return _import_page(request, user, error=exc.message, dry_run=preview, code=422)
        if preview:
            session.rollback()
        else:
            session.commit()
    return _import_page(request, user, report=report, dry_run=preview)


@router.get("/export")
def export_file(request: Request, user: Supervisor,
                fmt: Annotated[str, Query(alias="format", max_length=10)] = "csv",
                category: Annotated[str, Query(max_length=20)] = "") -> Response:
    category_id = int(category) if category.strip().isdigit() else None
    with get_ctx(request).db.session() as session:
        try:
            export = exporting.export_entries(session, actor_of(request, user), fmt, category_id)
        except DomainError as exc:
            session.rollback()
            return _import_page(request, user, error=exc.message, code=422)
        session.commit()
    filename = f"knowledge-base-{today_in_shanghai().strftime('%Y%m%d')}.{fmt}"
    return Response(export.data, media_type=exporting.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


# --- unanswered questions ---------------------------------------------------------------------------------------

def _misses_page(request: Request, user: User, *, errors: dict[str, str] | None = None,
                 forms: dict[str, dict[str, str]] | None = None, notice: str | None = None,
                 code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        groups = misses.miss_groups(session, user.org_id, grouper=_similar_questions)
        total = misses.unresolved_count(session, user.org_id)
        choices = kb_service.entry_choices(session, user.org_id)
        tree = kb_categories.tree(session, user.org_id)
    return page(request, "admin/kb_misses.html", status_code=code, user=user, groups=groups, total=total,
                choices=choices, tree=tree, errors=errors or {}, forms=forms or {}, notice=notice)


def _similar_questions(texts: list[str]) -> list[list[int]]:
    """Groups misses by meaning with the sentence embedding (by shared words when the model is missing)."""
    return group_similar(texts, shared_embedder())


def _ids(raw: str) -> list[int]:
    return [int(p) for p in raw.split(",") if p.strip().isdigit()][:misses.MAX_PER_ACTION]


@router.get("/misses", response_class=HTMLResponse)
def misses_list(request: Request, user: Supervisor) -> Response:
    return _misses_page(request, user)


def _act(request: Request, user: User, miss_ids: str, csrf: str, form: dict[str, str], action: str) -> Response:
    ids = _ids(miss_ids)
    key = str(ids[0]) if ids else "0"

    def write(session: Session) -> str:
        actor = actor_of(request, user)
        if action == "similar":
            entry_id = form["entry_id"].strip().lstrip("#")
            if not entry_id.isdigit():
                raise DomainError("no_entry", "请选择要加到哪个词条", "entry_id")
            entry = misses.resolve_misses_as_similar(session, actor, ids, int(entry_id))
            return f"已加为词条 #{entry.id} 的相似问"
        if action == "new":
            category_id = int(form["category_id"]) if form["category_id"].isdigit() else None
            entry = misses.create_entry_from_misses(session, actor, ids, form["answer"], category_id)
            return f"已新建词条 #{entry.id}"
        misses.dismiss_misses(session, actor, ids)
        return "已忽略"

    notice = submit(request, csrf, write)
    if isinstance(notice, Rejected):
        return _misses_page(request, user, errors={key: notice.message}, forms={key: form}, code=notice.status)
    return _misses_page(request, user, notice=notice)


@router.post("/misses/similar", response_class=HTMLResponse)
def misses_to_similar(request: Request, user: Supervisor,
                      miss_ids: Annotated[str, Form(max_length=MAX_IDS_FIELD)] = "",
                      entry_id: Annotated[str, Form(max_length=20)] = "", csrf_token: CsrfField = "") -> Response:
    return _act(request, user, miss_ids, csrf_token, {"entry_id": entry_id}, "similar")


@router.post("/misses/new-entry", response_class=HTMLResponse)
def misses_to_entry(request: Request, user: Supervisor,
                    miss_ids: Annotated[str, Form(max_length=MAX_IDS_FIELD)] = "",
                    answer: Annotated[str, Form(max_length=20_000)] = "",
                    category_id: Annotated[str, Form(max_length=20)] = "", csrf_token: CsrfField = "") -> Response:
    return _act(request, user, miss_ids, csrf_token, {"answer": answer, "category_id": category_id}, "new")


@router.post("/misses/dismiss", response_class=HTMLResponse)
def misses_dismiss(request: Request, user: Supervisor,
                   miss_ids: Annotated[str, Form(max_length=MAX_IDS_FIELD)] = "",
                   csrf_token: CsrfField = "") -> Response:
    return _act(request, user, miss_ids, csrf_token, {}, "dismiss")


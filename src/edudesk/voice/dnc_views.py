"""The do-not-call list's page (免打扰名单): search, add one number, import a CSV/XLSX file, export, remove.

Supervisors and admins manage the list (it only ever stops calls). Numbers are shown in full to the roles that
see phone numbers elsewhere (leads), masked otherwise; the export carries full numbers and is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk import spreadsheets
from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.forms import Rejected, as_raised, submit
from edudesk.localtime import local_today
from edudesk.voice import dnc
from edudesk.web import error_response, page

router = APIRouter(prefix="/admin/voice/dnc", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
PER_PAGE = 50
CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sees_phones(user: User) -> bool:
    return user.role in (Role.admin, Role.supervisor)


def shown(user: User, phone: str) -> str:
    return phone if sees_phones(user) else (contacts_service.mask_phone(phone) or "")


def _page(
    request: Request,
    user: User,
    *,
    q: str = "",
    page_no: int = 1,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        result = dnc.search(session, user.org_id, phone=q, page=page_no, per_page=PER_PAGE)
        rows = [
            {
                "phone": r.phone_e164,
                "shown": shown(user, r.phone_e164),
                "reason": r.reason,
                "source": dnc.SOURCE_LABELS.get(r.source, r.source),
                "created_at": r.created_at,
                "created_by": r.created_by,
            }
            for r in result.rows
        ]
    pages = max(1, (result.total + PER_PAGE - 1) // PER_PAGE)
    return page(
        request,
        "admin/voice_dnc.html",
        status_code=code,
        user=user,
        rows=rows,
        total=result.total,
        page_no=result.page,
        pages=pages,
        q=q,
        form=form or {"phone": "", "reason": ""},
        errors=errors or {},
        notice=notice,
        max_mb=get_ctx(request).settings.max_import_bytes // (1024 * 1024),
    )


@router.get("", response_class=HTMLResponse)
def dnc_page(
    request: Request,
    user: Supervisor,
    phone: Annotated[str, Query(max_length=40)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    return _page(request, user, q=phone, page_no=page_no)


@router.post("", response_class=HTMLResponse)
def add_number(
    request: Request,
    user: Supervisor,
    phone: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    form = {"phone": phone, "reason": reason}

    def write(session: Session) -> str:
        return dnc.add(session, actor_of(request, user), phone, reason=reason).phone_e164

    added = submit(request, csrf_token, write)
    if isinstance(added, Rejected):
        return _page(request, user, form=form, errors=added.beside("form"), code=added.status)
    return _page(request, user, notice=f"已加入免打扰名单：{shown(user, added)}")


@router.post("/remove", response_class=HTMLResponse)
def remove_number(
    request: Request, user: Supervisor, phone: Annotated[str, Form(max_length=40)] = "", csrf_token: CsrfField = ""
) -> Response:
    def write(session: Session) -> None:
        dnc.remove(session, actor_of(request, user), phone)

    done = submit(request, csrf_token, write, status=as_raised)
    if isinstance(done, Rejected):
        return _page(request, user, errors=done.beside("form"), code=done.status)
    return _page(request, user, notice="已移出免打扰名单")


@router.post("/import", response_class=HTMLResponse)
def import_numbers(
    request: Request, user: Supervisor, file: Annotated[UploadFile | None, File()] = None, csrf_token: CsrfField = ""
) -> Response:
    settings = get_ctx(request).settings
    if file is None or not file.filename:
        return _page(request, user, errors={"file": "请选择要导入的 CSV 或 XLSX 文件"}, code=422)
    limit = settings.max_import_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        return _page(request, user, errors={"file": f"文件不能超过 {limit // (1024 * 1024)} MB"}, code=413)
    name = file.filename[:200]

    def write(session: Session) -> dnc.ImportResult:
        return dnc.import_file(
            session, actor_of(request, user), data, name, spreadsheets.XlsxLimits.from_settings(settings)
        )

    result = submit(request, csrf_token, write)
    if isinstance(result, Rejected):
        return _page(request, user, errors=result.beside("file"), code=result.status)
    return _page(request, user, notice=f"导入完成：新增 {result.added} 个号码，{result.already} 个已在名单中")


@router.get("/export")
def export_numbers(
    request: Request, user: Supervisor, fmt: Annotated[str, Query(alias="format", max_length=10)] = "csv"
) -> Response:
    if fmt not in ("csv", "xlsx"):
        return error_response(422, "bad_format", "导出格式只能是 csv 或 xlsx", "format")
    with get_ctx(request).db.session() as session:
        rows = dnc.export_rows(session, actor_of(request, user), fmt)
        session.commit()
    data = (
        spreadsheets.to_csv(dnc.EXPORT_COLUMNS, rows)
        if fmt == "csv"
        else spreadsheets.to_xlsx(dnc.EXPORT_COLUMNS, rows, "do-not-call")
    )
    name = f"do-not-call-{local_today().strftime('%Y%m%d')}.{fmt}"
    return Response(
        data,
        media_type=CSV_MEDIA if fmt == "csv" else XLSX_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )

"""Admin pages for minors' data rights: the retention periods, and one contact's export (导出个人信息) and erasure
(删除个人信息). Admins only: supervisors and agents get 403 on every route here. Every form carries the CSRF token;
the erasure also asks the admin to type the contact's number, so it cannot be clicked by mistake.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.inputs import MAX_DB_ID, PathId
from edudesk.localtime import LOCAL_TZ
from edudesk.privacy import retention
from edudesk.privacy import service as privacy_service
from edudesk.web import page

router = APIRouter(prefix="/admin/privacy", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
DayField = Annotated[str, Form(max_length=10)]
FlagField = Annotated[str, Form(max_length=10)]
CHUNK = 64 * 1024


def _retention_page(request: Request, user: User, *, form: dict[str, Any] | None = None,
                    errors: dict[str, str] | None = None, notice: str | None = None, status_code: int = 200,
                    lookup_error: str | None = None) -> Response:
    ctx = get_ctx(request)
    registry = privacy_service.registry_of(request)
    with ctx.db.session() as session:
        current = retention.policy(session, user.org_id)
    if form is None:
        form = {k: {"days": "" if v is None else str(v), "forever": v is None} for k, v in current.days.items()}
    response: Response = page(
                request, "admin/privacy.html", status_code=status_code, user=user, form=form, errors=errors or {},
                notice=notice, kinds=retention.KINDS, labels=retention.LABELS, defaults=retention.DEFAULTS,
                saved=current.saved, min_days=retention.MIN_DAYS, max_days=retention.MAX_DAYS,
                purged_kinds={k for k in retention.KINDS if registry.purges(k)}, lookup_error=lookup_error)
    return response


@router.get("", response_class=HTMLResponse)
def privacy_page(request: Request, user: Admin) -> Response:
    return _retention_page(request, user)


@router.post("/retention", response_class=HTMLResponse)
def save_retention(request: Request, user: Admin, csrf_token: CsrfField = "",
                   conversations_days: DayField = "", conversations_forever: FlagField = "",
                   attachments_days: DayField = "", attachments_forever: FlagField = "",
                   recordings_days: DayField = "", recordings_forever: FlagField = "",
                   leads_days: DayField = "", leads_forever: FlagField = "") -> Response:
    raw = {"conversations": (conversations_days, conversations_forever),
           "attachments": (attachments_days, attachments_forever),
           "recordings": (recordings_days, recordings_forever), "leads": (leads_days, leads_forever)}
    form = {k: {"days": d, "forever": bool(f)} for k, (d, f) in raw.items()}
    days: dict[str, int | None] = {}
    errors: dict[str, str] = {}
    for kind, (d, f) in raw.items():
        try:
            days[kind] = retention.parse_days(kind, d, bool(f))
        except DomainError as exc:
            errors[kind] = exc.message
    if errors:
        return _retention_page(request, user, form=form, errors=errors, status_code=422)
    done = submit(request, csrf_token, lambda session: retention.save(session, actor_of(request, user), days))
    if isinstance(done, Rejected):
        return _retention_page(request, user, form=form, errors=done.beside("form"), status_code=done.status)
    return _retention_page(request, user, notice="已保存，下次清理时按新的期限执行")


@router.get("/contacts", response_class=HTMLResponse)
def find_contact(request: Request, user: Admin, contact: Annotated[str, Query(max_length=20)] = "") -> Response:
    text = contact.strip().lstrip("#")
    if not text.isdigit() or not 0 < int(text) <= MAX_DB_ID:
        return _retention_page(request, user, lookup_error="请输入联系人编号（数字）", status_code=422)
    return RedirectResponse(f"/admin/privacy/contacts/{int(text)}", status_code=303)


def _contact_page(request: Request, user: User, contact_id: int, *, error: str | None = None,
                  report: privacy_service.ErasureReport | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        summary = privacy_service.contact_summary(session, user.org_id, contact_id)
    response: Response = page(request, "admin/privacy_contact.html", status_code=status_code, user=user,
                              c=summary, error=error, report=report)
    return response


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_page(request: Request, user: Admin, contact_id: PathId) -> Response:
    return _contact_page(request, user, contact_id)


def _stream(fh: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := fh.read(CHUNK):
            yield chunk
    finally:
        fh.close()


@router.post("/contacts/{contact_id}/export")
def export_contact(request: Request, user: Admin, contact_id: PathId, csrf_token: CsrfField = "") -> Response:
    """导出个人信息: a zip of data.json and the attachments, audited (and committed) before it is sent."""
    registry = privacy_service.registry_of(request)
    export = submit(request, csrf_token, lambda session: privacy_service.prepare_export(
        session, registry, actor_of(request, user), contact_id))
    if isinstance(export, Rejected):
        return _contact_page(request, user, contact_id, error=export.message, status_code=export.status)
    # Spooled: a person with many pictures goes to a temporary file, not into memory.
    fh = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (closed by _stream)
    privacy_service.write_export(fh, export)
    size = fh.tell()
    fh.seek(0)
    name = f"contact-{contact_id}-{dt.datetime.now(LOCAL_TZ).strftime('%Y%m%d')}.zip"
    return StreamingResponse(_stream(fh), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(size),
        "Cache-Control": "no-store"})


@router.post("/contacts/{contact_id}/erase", response_class=HTMLResponse)
def erase_contact(request: Request, user: Admin, contact_id: PathId, csrf_token: CsrfField = "",
                  confirm: Annotated[str, Form(max_length=30)] = "") -> Response:
    """删除个人信息: only when the admin typed the contact's number; the result page lists what was done."""
    if confirm.strip().lstrip("#") != str(contact_id):
        return _contact_page(request, user, contact_id, status_code=422,
                             error=f"请在确认框中输入联系人编号 {contact_id}，再点删除")
    registry = privacy_service.registry_of(request)
    report = submit(request, csrf_token, lambda session: privacy_service.erase_contact(
        session, registry, actor_of(request, user), contact_id))
    if isinstance(report, Rejected):
        return _contact_page(request, user, contact_id, error=report.message, status_code=report.status)
    return _contact_page(request, user, contact_id, report=report)

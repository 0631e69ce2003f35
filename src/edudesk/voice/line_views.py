"""Voice line pages (线路): the list, a new line of a chosen kind, edit, delete.

The settings form is drawn from the kind's config model with the channel pages' helpers (``inboxes.views``):
secret fields are password inputs that say whether a value is stored and keep it when left empty. Admins change
lines; supervisors may look.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.db import NotFoundError
from edudesk.forms import Rejected, submit
from edudesk.inboxes.views import fields_of, posted_values
from edudesk.inputs import PathId
from edudesk.voice import lines
from edudesk.voice.models import LineKind, VoiceLine
from edudesk.voice.telephony.configs import KIND_LABELS
from edudesk.web import page

router = APIRouter(prefix="/admin/voice/lines", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
FIELD_MAX = 4000


def _admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden()


def _kind(raw: str) -> LineKind:
    try:
        return LineKind(raw)
    except ValueError:
        raise NotFoundError("line kind", raw[:20]) from None


@router.get("", response_class=HTMLResponse)
def line_list(request: Request, user: Supervisor) -> Response:
    with get_ctx(request).db.session() as session:
        rows = lines.list_lines(session, user.org_id)
        session.expunge_all()
    return page(
        request, "admin/voice_lines.html", user=user, rows=rows, kinds=KIND_LABELS, can_edit=user.role == Role.admin
    )


def _form_page(
    request: Request,
    user: User,
    kind: LineKind,
    line: VoiceLine | None,
    *,
    form: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    code: int = 200,
) -> Response:
    box = lines.secret_box(get_ctx(request).settings.secret_key)
    model = lines.config_model(kind)
    stored: set[str] = set()
    if line is not None:
        stored = lines.stored_secrets(line, box)
        if values is None:
            values = lines.config_of(line, box).model_dump()
        if form is None:
            form = {
                "name": line.name,
                "caller_numbers": "\n".join(line.caller_numbers),
                "max_concurrent": line.max_concurrent,
                "enabled": line.enabled,
            }
    form = form or {"name": "", "caller_numbers": "", "max_concurrent": 10, "enabled": True}
    return page(
        request,
        "admin/voice_line_form.html",
        status_code=code,
        user=user,
        kind=kind.value,
        kind_label=KIND_LABELS[kind.value],
        line=line,
        form=form,
        fields=fields_of(model, values or {}, stored),
        errors=errors or {},
        notice=notice,
        can_edit=user.role == Role.admin,
    )


def _posted(form: Any) -> dict[str, Any]:
    return {
        "name": str(form.get("name") or "")[:200],
        "caller_numbers": str(form.get("caller_numbers") or "")[:FIELD_MAX],
        "max_concurrent": str(form.get("max_concurrent") or "")[:20],
        "enabled": bool(form.get("enabled")),
    }


@router.get("/new", response_class=HTMLResponse)
def new_line(request: Request, user: Supervisor, kind: Annotated[str, Query(max_length=20)] = "sip") -> Response:
    _admin(user)
    return _form_page(request, user, _kind(kind), None)


@router.post("/new", response_class=HTMLResponse)
async def create_line(request: Request, user: Supervisor) -> Response:
    _admin(user)
    form = await request.form()
    kind = _kind(str(form.get("kind") or "")[:20])
    posted = _posted(form)
    values = posted_values(lines.config_model(kind), form)
    box = lines.secret_box(get_ctx(request).settings.secret_key)

    def write(session: Session) -> int:
        return lines.create_line(session, actor_of(request, user), box, kind=kind.value, data=values, **posted).id

    created = submit(request, str(form.get("csrf_token") or "")[:100], write)
    if isinstance(created, Rejected):
        return _form_page(
            request, user, kind, None, form=posted, values=values, errors=created.beside("form"), code=created.status
        )
    return RedirectResponse(f"/admin/voice/lines/{created}?saved=1", status_code=303)


def _load(request: Request, user: User, line_id: int) -> VoiceLine:
    with get_ctx(request).db.session() as session:
        line = lines.get_line(session, user.org_id, line_id)
        session.expunge(line)
    return line


@router.get("/{line_id}", response_class=HTMLResponse)
def edit_line(
    request: Request, user: Supervisor, line_id: PathId, saved: Annotated[str, Query(max_length=2)] = ""
) -> Response:
    line = _load(request, user, line_id)
    return _form_page(request, user, line.kind, line, notice="已保存" if saved else None)


@router.post("/{line_id}", response_class=HTMLResponse)
async def update_line(request: Request, user: Supervisor, line_id: PathId) -> Response:
    _admin(user)
    line = _load(request, user, line_id)
    form = await request.form()
    posted = _posted(form)
    values = posted_values(lines.config_model(line.kind), form)
    box = lines.secret_box(get_ctx(request).settings.secret_key)

    def write(session: Session) -> None:
        row = lines.get_line(session, user.org_id, line_id, for_update=True)
        lines.update_line(session, actor_of(request, user), row, box, data=values, **posted)

    done = submit(request, str(form.get("csrf_token") or "")[:100], write)
    if isinstance(done, Rejected):
        return _form_page(
            request, user, line.kind, line, form=posted, values=values, errors=done.beside("form"), code=done.status
        )
    return _form_page(request, user, line.kind, _load(request, user, line_id), notice="已保存")


@router.post("/{line_id}/delete", response_class=HTMLResponse)
async def delete_line(request: Request, user: Supervisor, line_id: PathId) -> Response:
    _admin(user)
    line = _load(request, user, line_id)
    form = await request.form()

    def write(session: Session) -> None:
        lines.delete_line(
            session, actor_of(request, user), lines.get_line(session, user.org_id, line_id, for_update=True)
        )

    done = submit(request, str(form.get("csrf_token") or "")[:100], write)
    if isinstance(done, Rejected):
        return _form_page(request, user, line.kind, line, errors=done.beside("form"), code=done.status)
    return RedirectResponse("/admin/voice/lines", status_code=303)

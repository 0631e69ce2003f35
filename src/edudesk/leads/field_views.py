"""Admin page for the lead card's fields (名片字段): the built-ins and the org's own, add, edit, switch off and on.

Admins only: a field is part of what every agent sees and of what bot scripts, grading rules and the CRM refer
to. Every form carries the CSRF token; a refused change is shown beside its input with what was typed kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.leads import field_rules, fields
from edudesk.web import page

router = APIRouter(prefix="/admin/lead-fields", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=100)]
Options = Annotated[str, Form(max_length=5000)]
EMPTY_FORM = {"key": "", "label": "", "type": "text", "options": "", "position": ""}


def _list_page(request: Request, user: User, *, form: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, done: tuple[str, str] | None = None, code: int = 200
               ) -> Response:
    """``done``: (what happened, the field's label) for the confirmation line the template words."""
    with get_ctx(request).db.session() as session:
        rows = fields.list_fields(session, user.org_id)
        session.commit()  # the built-ins are written the first time an org's fields are listed
    return page(request, "admin/lead_fields.html", status_code=code, user=user, rows=rows,
                form=form or EMPTY_FORM, errors=errors or {}, done=done, always_enabled=field_rules.ALWAYS_ENABLED)


@router.get("", response_class=HTMLResponse)
def fields_page(request: Request, user: Admin) -> Response:
    return _list_page(request, user)


@router.post("", response_class=HTMLResponse)
def create_field(request: Request, user: Admin, key: Short = "", label: Short = "", type: Short = "",
                 options: Options = "", position: Short = "", csrf_token: CsrfField = "") -> Response:
    form = {"key": key, "label": label, "type": type, "options": options, "position": position}
    d = submit(request, csrf_token, lambda session: fields.create_field(
        session, actor_of(request, user),
        fields.FieldInput(label=label, options=options, position=position, key=key, type=type)))
    if isinstance(d, Rejected):
        return _list_page(request, user, form=form, errors=d.beside("form"), code=d.status)
    return _list_page(request, user, done=("added", d.label))


def _edit_page(request: Request, user: User, field_id: int, *, form: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, saved: bool = False, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        d = fields.get_field(session, user.org_id, field_id)
        current = form or {"label": d.label, "options": "\n".join(d.options or []), "position": str(d.position)}
        return page(request, "admin/lead_fields_edit.html", status_code=code, user=user, field=d, form=current,
                    errors=errors or {}, saved=saved, selectable=d.type in field_rules.SELECT_TYPES,
                    can_disable=d.key not in field_rules.ALWAYS_ENABLED)


@router.get("/{field_id}", response_class=HTMLResponse)
def edit_page(request: Request, user: Admin, field_id: PathId) -> Response:
    return _edit_page(request, user, field_id)


@router.post("/{field_id}", response_class=HTMLResponse)
def update_field(request: Request, user: Admin, field_id: PathId, label: Short = "", options: Options = "",
                 position: Short = "", csrf_token: CsrfField = "") -> Response:
    form = {"label": label, "options": options, "position": position}
    done = submit(request, csrf_token, lambda session: fields.update_field(
        session, actor_of(request, user), field_id, fields.FieldInput(label=label, options=options, position=position)))
    if isinstance(done, Rejected):
        return _edit_page(request, user, field_id, form=form, errors=done.beside("form"), code=done.status)
    return _edit_page(request, user, field_id, saved=True)


@router.post("/{field_id}/enabled", response_class=HTMLResponse)
def set_enabled(request: Request, user: Admin, field_id: PathId, enabled: Annotated[str, Form(max_length=1)] = "",
                csrf_token: CsrfField = "") -> Response:
    if enabled not in ("0", "1"):
        return _list_page(request, user, errors={"form": "请求不正确，请刷新后重试"}, code=422)
    d = submit(request, csrf_token,
               lambda session: fields.set_enabled(session, actor_of(request, user), field_id, enabled == "1"))
    if isinstance(d, Rejected):
        return _list_page(request, user, errors={"form" if d.stale else f"field-{field_id}": d.message}, code=d.status)
    return _list_page(request, user, done=("enabled" if enabled == "1" else "disabled", d.label))

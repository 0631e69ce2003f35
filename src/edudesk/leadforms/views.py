"""Admin pages of landing-page lead forms (表单): the list, the builder, the embed code and the submissions.

Admins build and change forms; supervisors look at everything (the builder's inputs are shown disabled); agents
may read a form's submissions with phone numbers masked, as on the leads list. Posts go through
``edudesk.forms.submit`` (CSRF, one transaction, the refusal beside its input). No script on these pages: the
builder is a plain table of the card's fields with checkboxes and order numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from edudesk.auth.deps import Forbidden, actor_of, current_user, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.leadforms import service as leadforms_service
from edudesk.leadforms.models import LeadForm
from edudesk.leadforms.rules import PHONE, FieldChoice, FormInput
from edudesk.privacy import service as privacy_service
from edudesk.web import page

router = APIRouter(prefix="/admin/forms", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CurrentUser = Annotated[User, Depends(current_user)]
MAX_POSTED = 2000
MAX_ROWS = 200


def _require_admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden()


def sees_phones(user: User) -> bool:
    return user.role in (Role.admin, Role.supervisor)


def _base(request: Request) -> str:
    return get_ctx(request).settings.base_url.rstrip("/")


def embed_code(request: Request, form: LeadForm) -> str:
    """What the institution pastes into its landing page (the div says where the form goes; without it the form
    appears where the script tag is)."""
    base = _base(request)
    return (f'<div data-edudesk-form="{form.public_id}"></div>\n'
            f'<script src="{base}/f/{form.public_id}.js" async></script>')


def _text(form: FormData, name: str, limit: int = MAX_POSTED) -> str:
    value = form.get(name)
    return str(value)[:limit] if isinstance(value, str) else ""


def posted_input(form: FormData) -> FormInput:
    """The builder as posted: one hidden ``field_keys`` per row of the card's fields, then per key ``use_<key>``,
    ``required_<key>`` (checkboxes), ``label_<key>`` and ``order_<key>``."""
    keys = [str(k)[:40] for k in form.getlist("field_keys")[:MAX_ROWS] if isinstance(k, str)]
    choices = [FieldChoice(key=k, used=bool(form.get(f"use_{k}")), required=bool(form.get(f"required_{k}")),
                           label=_text(form, f"label_{k}", 200), order=_text(form, f"order_{k}", 10))
               for k in dict.fromkeys(keys)]
    return FormInput(name=_text(form, "name", 200), title=_text(form, "title", 200), intro=_text(form, "intro"),
                     submit_text=_text(form, "submit_text", 100),
                     success_message=_text(form, "success_message", 1000), fields=choices,
                     allowed_origins=_text(form, "allowed_origins", 5000), enabled=bool(form.get("enabled")))


def _rows(card: list[leadforms_service.CardField], chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The builder's table: the form's fields first in their order, then the card's other enabled fields."""
    known = {c.key: c for c in card}
    rows: list[dict[str, Any]] = []
    for index, spec in enumerate(chosen):
        c = known.get(str(spec.get("key")))
        if c is not None:
            rows.append({"field": c, "used": True, "required": bool(spec.get("required")) or c.key == PHONE,
                         "label": spec.get("label") or "", "order": str(spec.get("order", (index + 1) * 10))})
    used = {str(spec.get("key")) for spec in chosen}
    rows += [{"field": c, "used": c.key == PHONE, "required": c.key == PHONE, "label": "", "order": ""}
             for c in card if c.key not in used and c.enabled]
    return rows


def _as_specs(data: FormInput) -> list[dict[str, Any]]:
    """What was posted, to show again after a refusal (the rows keep their ticks, labels and numbers)."""
    return [{"key": c.key, "label": c.label, "required": c.required, "order": c.order}
            for c in data.fields if c.used or c.key == PHONE]


def _form_page(request: Request, user: User, form_id: int | None, *, posted: FormInput | None = None,
               errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        card = leadforms_service.card_fields(session, user.org_id)
        form = leadforms_service.get_form(session, user.org_id, form_id) if form_id is not None else None
        session.commit()  # the card's built-ins are written the first time they are asked for
        if posted is not None:
            values = {"name": posted.name, "title": posted.title, "intro": posted.intro,
                      "submit_text": posted.submit_text, "success_message": posted.success_message,
                      "allowed_origins": posted.allowed_origins, "enabled": posted.enabled}
            chosen = _as_specs(posted)
        elif form is not None:
            values = {"name": form.name, "title": form.title, "intro": form.intro, "submit_text": form.submit_text,
                      "success_message": form.success_message,
                      "allowed_origins": "\n".join(form.allowed_origins or []), "enabled": form.enabled}
            chosen = [{**spec, "order": str((i + 1) * 10)} for i, spec in enumerate(form.fields or [])]
        else:
            values = {"name": "", "title": "", "intro": "", "submit_text": "", "success_message": "",
                      "allowed_origins": "", "enabled": True}
            chosen = []
        context = {"form": form, "values": values, "rows": _rows(card, chosen), "errors": errors or {},
                   "notice": notice, "embed": embed_code(request, form) if form is not None else "",
                   "hosted_url": f"{_base(request)}/f/{form.public_id}" if form is not None else "",
                   "is_admin": user.role == Role.admin}
        return page(request, "admin/form_edit.html", status_code=code, user=user, **context)


@router.get("", response_class=HTMLResponse)
def forms_list(request: Request, user: Supervisor) -> Response:
    with get_ctx(request).db.session() as session:
        rows = leadforms_service.list_forms(session, user.org_id)
        return page(request, "admin/forms.html", user=user, rows=rows, base=_base(request),
                    is_admin=user.role == Role.admin)


@router.get("/new", response_class=HTMLResponse)
def new_form(request: Request, user: Supervisor) -> Response:
    _require_admin(user)
    return _form_page(request, user, None)


@router.post("/new", response_class=HTMLResponse)
async def create_form(request: Request, user: Supervisor) -> Response:
    _require_admin(user)
    posted = await request.form()
    data = posted_input(posted)
    created = submit(request, _text(posted, "csrf_token", 100), lambda session: leadforms_service.create_form(
        session, actor_of(request, user), data).id)
    if isinstance(created, Rejected):
        return _form_page(request, user, None, posted=data, errors=created.beside("form"), code=created.status)
    return RedirectResponse(f"/admin/forms/{created}?created=1", status_code=303)


@router.get("/{form_id}", response_class=HTMLResponse)
def edit_form(request: Request, user: Supervisor, form_id: PathId,
              created: Annotated[str, Query(max_length=1)] = "") -> Response:
    return _form_page(request, user, form_id,
                      notice="表单已创建：把下面的嵌入代码放到落地页上，或直接使用表单页面的链接" if created else None)


@router.post("/{form_id}", response_class=HTMLResponse)
async def update_form(request: Request, user: Supervisor, form_id: PathId) -> Response:
    _require_admin(user)
    posted = await request.form()
    data = posted_input(posted)
    done = submit(request, _text(posted, "csrf_token", 100), lambda session: leadforms_service.update_form(
        session, actor_of(request, user), form_id, data).id)
    if isinstance(done, Rejected):
        return _form_page(request, user, form_id, posted=data, errors=done.beside("form"), code=done.status)
    return _form_page(request, user, form_id, notice="已保存")


@router.post("/{form_id}/delete", response_class=HTMLResponse)
async def delete_form(request: Request, user: Supervisor, form_id: PathId) -> Response:
    _require_admin(user)
    posted = await request.form()
    done = submit(request, _text(posted, "csrf_token", 100), lambda session: leadforms_service.delete_form(
        session, actor_of(request, user), form_id))
    if isinstance(done, Rejected):
        return _form_page(request, user, form_id, errors=done.beside("form"), code=done.status)
    return RedirectResponse("/admin/forms", status_code=303)


@router.get("/{form_id}/submissions", response_class=HTMLResponse)
def submissions_page(request: Request, user: CurrentUser, form_id: PathId,
                     page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1) -> Response:
    """Newest first. Agents see numbers masked; a supervisor's or admin's listing of full numbers is audited."""
    show = sees_phones(user)
    with get_ctx(request).db.session() as session:
        form = leadforms_service.get_form(session, user.org_id, form_id)
        result = leadforms_service.submissions(session, user.org_id, form_id, show_phone=show, page=page_no)
        labels = {c.key: c.label for c in leadforms_service.card_fields(session, user.org_id)}
        if show:
            privacy_service.phone_seen(request, session, actor_of(request, user), "leadforms.submissions",
                                       [r.submission.contact_id for r in result.rows
                                        if r.phone and r.submission.contact_id is not None])
        session.commit()
        return page(request, "admin/form_submissions.html", user=user, form=form, result=result, labels=labels,
                    can_manage=show, phone_key=PHONE)

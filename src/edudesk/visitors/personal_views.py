"""千人千面 admin pages (``/admin/visitors/personal``): the rules, editing one, and the click-through report.
Admins only; posts through ``forms.submit``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.visitors import service as visitors_service
from edudesk.visitors.admin_forms import Admin, Block, CsrfField, delete_then_list
from edudesk.visitors.classify import SOURCE_KINDS
from edudesk.visitors.profile_models import PersonalRule
from edudesk.web import page

router = APIRouter(prefix="/personal")
Line = Annotated[str, Form(max_length=1000)]
FIELDS = ("name", "priority", "url_pattern", "campaign", "source_kind", "utm_source", "tag", "welcome", "hot",
          "guess")


def _form_of(rule: PersonalRule | None) -> dict[str, Any]:
    if rule is None:
        return {**dict.fromkeys(FIELDS, ""), "priority": "100", "enabled": True}
    match = rule.match or {}
    return {"name": rule.name, "priority": str(rule.priority), "enabled": rule.enabled,
            **{k: match.get(k, "") for k in ("url_pattern", "campaign", "source_kind", "utm_source", "tag")},
            "welcome": rule.welcome, "hot": "\n".join(rule.hot or []), "guess": "\n".join(rule.guess or [])}


def _page(request: Request, user: User, *, editing: int | None = None, form: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        rows = visitors_service.report(session, user.org_id)
        if form is None:
            form = _form_of(visitors_service.get_personal_rule(session, user.org_id, editing)
                            if editing is not None else None)
    return page(request, "admin/visitors_personal.html", status_code=code, user=user, rows=rows, editing=editing,
                form=form, errors=errors or {}, notice=notice, source_kinds=SOURCE_KINDS)


@router.get("", response_class=HTMLResponse)
def personal_page(request: Request, user: Admin) -> Response:
    return _page(request, user)


@router.get("/report", response_class=HTMLResponse)
def personal_report(request: Request, user: Admin) -> Response:
    """Each rule's sessions shown, suggestion clicks and click-through rate."""
    with get_ctx(request).db.session() as session:
        rows = visitors_service.report(session, user.org_id)
    return page(request, "admin/visitors_report.html", user=user, rows=rows)


@router.get("/{rule_id}", response_class=HTMLResponse)
def personal_edit_page(request: Request, user: Admin, rule_id: PathId) -> Response:
    return _page(request, user, editing=rule_id)


def _save(request: Request, user: User, rule_id: int | None, form: dict[str, Any], csrf: str) -> Response:
    data = visitors_service.PersonalInput(**{k: form[k] for k in FIELDS}, enabled=form["enabled"])
    saved = submit(request, csrf, lambda session: visitors_service.save_personal_rule(
        session, actor_of(request, user), rule_id, data).name)
    if isinstance(saved, Rejected):
        return _page(request, user, editing=rule_id, form=form, errors=saved.beside("form"),
                     code=saved.status)
    return _page(request, user, notice=f"已保存规则「{saved}」")


def _form(name: str, priority: str, enabled: str, url_pattern: str, campaign: str, source_kind: str,
          utm_source: str, tag: str, welcome: str, hot: str, guess: str) -> dict[str, Any]:
    return {"name": name, "priority": priority, "enabled": enabled == "1", "url_pattern": url_pattern,
            "campaign": campaign, "source_kind": source_kind, "utm_source": utm_source, "tag": tag,
            "welcome": welcome, "hot": hot, "guess": guess}


@router.post("", response_class=HTMLResponse)
def personal_create(request: Request, user: Admin, name: Line = "", priority: Line = "100",
                    enabled: Annotated[str, Form(max_length=5)] = "", url_pattern: Line = "", campaign: Line = "",
                    source_kind: Line = "", utm_source: Line = "", tag: Line = "", welcome: Block = "",
                    hot: Block = "", guess: Block = "", csrf_token: CsrfField = "") -> Response:
    form = _form(name, priority, enabled, url_pattern, campaign, source_kind, utm_source, tag, welcome, hot, guess)
    return _save(request, user, None, form, csrf_token)


@router.post("/{rule_id}", response_class=HTMLResponse)
def personal_update(request: Request, user: Admin, rule_id: PathId, name: Line = "", priority: Line = "100",
                    enabled: Annotated[str, Form(max_length=5)] = "", url_pattern: Line = "", campaign: Line = "",
                    source_kind: Line = "", utm_source: Line = "", tag: Line = "", welcome: Block = "",
                    hot: Block = "", guess: Block = "", csrf_token: CsrfField = "") -> Response:
    with get_ctx(request).db.session() as session:
        visitors_service.get_personal_rule(session, user.org_id, rule_id)  # another org's: 404 before anything
    form = _form(name, priority, enabled, url_pattern, campaign, source_kind, utm_source, tag, welcome, hot, guess)
    return _save(request, user, rule_id, form, csrf_token)


@router.post("/{rule_id}/delete", response_class=HTMLResponse)
def personal_delete(request: Request, user: Admin, rule_id: PathId, csrf_token: CsrfField = "") -> Response:
    return delete_then_list(
        request, csrf_token, lambda session: visitors_service.delete_personal_rule(session, actor_of(request, user),
                                                                                   rule_id),
        lambda message, code: _page(request, user, errors={"form": message}, code=code), "/admin/visitors/personal")

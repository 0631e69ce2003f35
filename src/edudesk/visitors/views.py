"""Admin pages of profiles and classification: classification rules (``/admin/visitors/rules``) and course pages
(``/admin/visitors/courses``). Admins only; every post goes through ``forms.submit`` (CSRF, one transaction, the
error beside its field). The 千人千面 pages are ``personal_views`` (included here)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.db import NotFoundError
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.visitors import classify, personal_views
from edudesk.visitors import service as visitors_service
from edudesk.visitors.admin_forms import Admin, Block, CsrfField, delete_then_list
from edudesk.visitors.profile_models import ClassifyRule
from edudesk.web import page

router = APIRouter(prefix="/admin/visitors", include_in_schema=False)
router.include_router(personal_views.router)
Line = Annotated[str, Form(max_length=500)]
EMPTY_RULE = {"tag": "", "conditions": "", "points": "0", "label": "", "enabled": True}


def _rule_form(rule: ClassifyRule) -> dict[str, Any]:
    return {"tag": rule.tag, "conditions": classify.conditions_text(rule.conditions or []),
            "points": str(rule.points), "label": rule.label, "enabled": rule.enabled}


def _rules_page(request: Request, user: User, *, editing: int | None = None, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        rules = visitors_service.list_rules(session, user.org_id)
        session.commit()  # the default rules, seeded on first sight
        rows = [{"id": r.id, "tag": r.tag, "conditions": classify.conditions_text(r.conditions or []),
                 "points": r.points, "label": r.label, "enabled": r.enabled} for r in rules]
        if form is None:
            current = next((r for r in rules if r.id == editing), None)
            form = _rule_form(current) if current is not None else dict(EMPTY_RULE)
    return page(request, "admin/visitors_rules.html", status_code=code, user=user, rules=rows, editing=editing,
                form=form, errors=errors or {}, notice=notice, signals=visitors_service.SIGNALS,
                kinds=classify.KINDS, source_kinds=classify.SOURCE_KINDS)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: Admin) -> Response:
    return _rules_page(request, user)


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_edit_page(request: Request, user: Admin, rule_id: PathId) -> Response:
    with get_ctx(request).db.session() as session:
        if all(r.id != rule_id for r in visitors_service.list_rules(session, user.org_id)):
            raise NotFoundError("ClassifyRule", rule_id)
    return _rules_page(request, user, editing=rule_id)


def _save(request: Request, user: User, rule_id: int | None, form: dict[str, Any], csrf: str) -> Response:
    saved = submit(request, csrf, lambda session: visitors_service.save_rule(
        session, actor_of(request, user), rule_id, tag=form["tag"], conditions=form["conditions"],
        points=form["points"], label=form["label"], enabled=form["enabled"]).tag)
    if isinstance(saved, Rejected):
        return _rules_page(request, user, editing=rule_id, form=form, errors=saved.beside("form"),
                           code=saved.status)
    return _rules_page(request, user, notice=f"已保存规则「{saved}」")


@router.post("/rules", response_class=HTMLResponse)
def rule_create(request: Request, user: Admin, tag: Line = "", conditions: Block = "", points: Line = "0",
                label: Line = "", enabled: Annotated[str, Form(max_length=5)] = "",
                csrf_token: CsrfField = "") -> Response:
    form = {"tag": tag, "conditions": conditions, "points": points, "label": label, "enabled": enabled == "1"}
    return _save(request, user, None, form, csrf_token)


@router.post("/rules/{rule_id}", response_class=HTMLResponse)
def rule_update(request: Request, user: Admin, rule_id: PathId, tag: Line = "", conditions: Block = "",
                points: Line = "0", label: Line = "", enabled: Annotated[str, Form(max_length=5)] = "",
                csrf_token: CsrfField = "") -> Response:
    form = {"tag": tag, "conditions": conditions, "points": points, "label": label, "enabled": enabled == "1"}
    return _save(request, user, rule_id, form, csrf_token)


@router.post("/rules/{rule_id}/delete", response_class=HTMLResponse)
def rule_delete(request: Request, user: Admin, rule_id: PathId, csrf_token: CsrfField = "") -> Response:
    return delete_then_list(
        request, csrf_token, lambda session: visitors_service.delete_rule(session, actor_of(request, user), rule_id),
        lambda message, code: _rules_page(request, user, errors={"form": message}, code=code), "/admin/visitors/rules")


# --- course pages -----------------------------------------------------------------------------------------------

def _courses_page(request: Request, user: User, *, form: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        rows = [{"id": p.id, "pattern": p.pattern, "course": p.course_name, "linked": p.course_id is not None}
                for p in visitors_service.list_patterns(session, user.org_id)]
        courses = visitors_service.course_names(session, user.org_id)
    return page(request, "admin/visitors_courses.html", status_code=code, user=user, rows=rows, courses=courses,
                form=form or {"pattern": "", "course_id": "", "course_name": ""}, errors=errors or {},
                notice=notice)


@router.get("/courses", response_class=HTMLResponse)
def courses_page(request: Request, user: Admin) -> Response:
    return _courses_page(request, user)


@router.post("/courses", response_class=HTMLResponse)
def course_create(request: Request, user: Admin, pattern: Line = "", course_id: Line = "", course_name: Line = "",
                  csrf_token: CsrfField = "") -> Response:
    form = {"pattern": pattern, "course_id": course_id, "course_name": course_name}
    picked = int(course_id) if course_id.isdigit() and len(course_id) < 10 else None
    if course_id.strip() and picked is None:
        return _courses_page(request, user, form=form, errors={"course_id": "请选择本机构的课程"}, code=422)
    saved = submit(request, csrf_token, lambda session: visitors_service.add_pattern(
        session, actor_of(request, user), pattern=pattern, course_id=picked, course_name=course_name).pattern)
    if isinstance(saved, Rejected):
        return _courses_page(request, user, form=form, errors=saved.beside("form"), code=saved.status)
    return _courses_page(request, user, notice=f"已添加 {saved}")


@router.post("/courses/{pattern_id}/delete", response_class=HTMLResponse)
def course_delete(request: Request, user: Admin, pattern_id: PathId, csrf_token: CsrfField = "") -> Response:
    return delete_then_list(
        request, csrf_token, lambda session: visitors_service.delete_pattern(session, actor_of(request, user),
                                                                             pattern_id),
        lambda message, code: _courses_page(request, user, errors={"form": message}, code=code),
        "/admin/visitors/courses")

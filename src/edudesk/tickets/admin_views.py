"""Admin page for tickets (``/admin/tickets``): the org's own ticket fields and its SLA policies.

Supervisors and admins may look; admins change (like webhooks: a policy is a promise the school makes).
Every form shows its error beside the field it concerns and keeps what was typed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, admin, supervisor
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, as_raised, submit
from edudesk.inputs import PathId
from edudesk.routing import service as routing_service
from edudesk.tickets import config, fields
from edudesk.tickets.core import TicketError
from edudesk.tickets.states import PRIORITY_LABELS
from edudesk.tickets.views import render

router = APIRouter(prefix="/admin/tickets", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=200)]


def settings_page(request: Request, user: User, *, notice: str | None = None,
                  errors: dict[str, str] | None = None, form: dict[str, Any] | None = None,
                  editing: str | None = None, status_code: int = 200) -> Response:
    """``editing`` names the form the errors and ``form`` belong to: "field-new", "field-3", "sla-new", "sla-2"."""
    with get_ctx(request).db.session() as session:
        defs = config.list_fields(session, user.org_id)
        policies = config.list_policies(session, user.org_id)
        groups = routing_service.list_groups(session, user.org_id)
    return render(request, "tickets/settings.html", status_code=status_code, user=user, defs=defs,
                  policies=policies, groups=groups, group_names={g.id: g.name for g in groups},
                  kinds=fields.KINDS, priorities=PRIORITY_LABELS, notice=notice, errors=errors or {},
                  form=form or {}, editing=editing, is_admin=user.role.value == "admin")


@router.get("", response_class=HTMLResponse)
def show(request: Request, user: Supervisor) -> Response:
    return settings_page(request, user)


def _number(raw: str, field: str, label: str) -> int:
    raw = raw.strip()
    if not raw.lstrip("-").isdigit() or len(raw) > 9:
        raise TicketError("bad_number", f"{label}须是整数", field)
    return int(raw)


def _save(request: Request, user: User, csrf_token: str, form: dict[str, Any], editing: str, action: Any,
          notice: str) -> Response:
    done = submit(request, csrf_token, action, status=as_raised)
    if isinstance(done, Rejected):
        return settings_page(request, user, errors=done.beside("form"), form=form, editing=editing,
                             status_code=done.status)
    return settings_page(request, user, notice=notice)


# --- fields ------------------------------------------------------------------------------------------------------

def _field_input(key: str, label: str, kind: str, options: str, required: str, enabled: str, position: str
                 ) -> config.FieldInput:
    return config.FieldInput(key=key, label=label, kind=kind,
                             options=tuple(options.replace("，", ",").replace("\n", ",").split(",")),
                             required=required == "1", enabled=enabled == "1",
                             position=_number(position or "0", "position", "排序"))


@router.post("/fields", response_class=HTMLResponse)
def create_field(request: Request, user: Admin, key: Short = "", label: Short = "", kind: Short = "text",
                 options: Annotated[str, Form(max_length=5000)] = "", required: Short = "", enabled: Short = "",
                 position: Short = "0", csrf_token: CsrfField = "") -> Response:
    form = {"key": key, "label": label, "kind": kind, "options": options, "required": required == "1",
            "enabled": enabled == "1", "position": position}
    return _save(request, user, csrf_token, form, "field-new", lambda s: config.save_field(
        s, actor_of(request, user), _field_input(key, label, kind, options, required, enabled, position)),
        "字段已添加")


@router.post("/fields/{field_id}", response_class=HTMLResponse)
def update_field(request: Request, user: Admin, field_id: PathId, label: Short = "", kind: Short = "text",
                 options: Annotated[str, Form(max_length=5000)] = "", required: Short = "", enabled: Short = "",
                 position: Short = "0", csrf_token: CsrfField = "") -> Response:
    form = {"label": label, "kind": kind, "options": options, "required": required == "1",
            "enabled": enabled == "1", "position": position}
    return _save(request, user, csrf_token, form, f"field-{field_id}", lambda s: config.save_field(
        s, actor_of(request, user), _field_input("", label, kind, options, required, enabled, position), field_id),
        "字段已保存")


@router.post("/fields/{field_id}/delete", response_class=HTMLResponse)
def delete_field(request: Request, user: Admin, field_id: PathId, csrf_token: CsrfField = "") -> Response:
    return _save(request, user, csrf_token, {}, f"field-{field_id}",
                 lambda s: config.delete_field(s, actor_of(request, user), field_id), "字段已删除")


# --- SLA policies ------------------------------------------------------------------------------------------------

def _policy_input(name: str, priority: str, group_id: str, first_response_minutes: str, resolution_minutes: str,
                  warn_percent: str, position: str, enabled: str) -> config.PolicyInput:
    return config.PolicyInput(
        name=name, priority=priority.strip(),
        group_id=_number(group_id, "group_id", "技能组") if group_id.strip() else None,
        first_response_minutes=_number(first_response_minutes, "first_response_minutes", "首次响应时限"),
        resolution_minutes=_number(resolution_minutes, "resolution_minutes", "解决时限"),
        warn_percent=_number(warn_percent or "80", "warn_percent", "预警比例"),
        position=_number(position or "0", "position", "排序"), enabled=enabled == "1")


@router.post("/sla", response_class=HTMLResponse)
def create_policy(request: Request, user: Admin, name: Short = "", priority: Short = "", group_id: Short = "",
                  first_response_minutes: Short = "", resolution_minutes: Short = "", warn_percent: Short = "80",
                  position: Short = "0", enabled: Short = "", csrf_token: CsrfField = "") -> Response:
    form = {"name": name, "priority": priority, "group_id": group_id, "first_response_minutes":
            first_response_minutes, "resolution_minutes": resolution_minutes, "warn_percent": warn_percent,
            "position": position, "enabled": enabled == "1"}
    return _save(request, user, csrf_token, form, "sla-new", lambda s: config.save_policy(
        s, actor_of(request, user), _policy_input(name, priority, group_id, first_response_minutes,
                                                  resolution_minutes, warn_percent, position, enabled)),
        "SLA 策略已添加")


@router.post("/sla/{policy_id}", response_class=HTMLResponse)
def update_policy(request: Request, user: Admin, policy_id: PathId, name: Short = "", priority: Short = "",
                  group_id: Short = "", first_response_minutes: Short = "", resolution_minutes: Short = "",
                  warn_percent: Short = "80", position: Short = "0", enabled: Short = "",
                  csrf_token: CsrfField = "") -> Response:
    form = {"name": name, "priority": priority, "group_id": group_id, "first_response_minutes":
            first_response_minutes, "resolution_minutes": resolution_minutes, "warn_percent": warn_percent,
            "position": position, "enabled": enabled == "1"}
    return _save(request, user, csrf_token, form, f"sla-{policy_id}", lambda s: config.save_policy(
        s, actor_of(request, user), _policy_input(name, priority, group_id, first_response_minutes,
                                                  resolution_minutes, warn_percent, position, enabled), policy_id),
        "SLA 策略已保存")


@router.post("/sla/{policy_id}/delete", response_class=HTMLResponse)
def delete_policy(request: Request, user: Admin, policy_id: PathId, csrf_token: CsrfField = "") -> Response:
    return _save(request, user, csrf_token, {}, f"sla-{policy_id}",
                 lambda s: config.delete_policy(s, actor_of(request, user), policy_id), "SLA 策略已删除")

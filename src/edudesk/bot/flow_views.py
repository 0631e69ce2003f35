"""Admin pages for bot scripts (话术流程): the list, the editor, enable/disable, delete, export, and the demo
scripts as starting points.

The editor is a form (``static/flow_editor.js``) laid over the JSON textarea: the script serialises the form into
the textarea on submit, so every save — form or raw JSON, with or without JavaScript — goes through one POST and
one validation (``scripts.save_flow`` → ``load_flow``). The page hands the form its data as one JSON block: the flow
as submitted or stored, the org's lead-card fields for the field selects, and every problem of a refused save with
its path (``steps[2].options[1].goto``) so the form can mark the input it concerns.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.bot import scripts
from edudesk.bot.flows import FlowError, load_flow
from edudesk.bot.flows.spec import AskFieldStep, HandoverStep, OfferTrialStep, TurnsWithoutContactTrigger
from edudesk.bot.flows.templates import EXAM_PREP_FLOW, K12_FLOW, OFF_HOURS_FLOW
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.leads import service as leads_service
from edudesk.web import page

router = APIRouter(prefix="/admin/bot/flows", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
TEMPLATES = {"k12": K12_FLOW, "exam": EXAM_PREP_FLOW, "off_hours": OFF_HOURS_FLOW}
Problem = dict[str, str]
# What the form shows for an empty input (an empty input is left out of the JSON, so the flow's default applies).
DEFAULTS = {
    "ask_retries": AskFieldStep.model_fields["max_retries"].default,
    "max_length": AskFieldStep.model_fields["max_length"].default,
    "trial_retries": OfferTrialStep.model_fields["max_retries"].default,
    "turns": TurnsWithoutContactTrigger.model_fields["turns"].default,
    "handover_reason": HandoverStep.model_fields["reason"].default,
    "handover_text": HandoverStep.model_fields["text"].default,  # a new handover step starts with it filled in
}


def field_choices(session: Session, org_id: int) -> list[dict[str, Any]]:
    """The org's lead-card fields as the editor's field selects list them (built-ins first, then the org's own)."""
    return [{"key": d.key, "label": d.label, "builtin": d.builtin, "enabled": d.enabled}
            for d in leads_service.field_defs(session, org_id)]


def all_problems(session: Session, org_id: int, raw: str, exc: Rejected) -> list[Problem]:
    """Every problem of a refused definition. The service stops at the first; the form marks them all, so an
    invalid flow is validated once more here — by the same ``load_flow`` with the same lead-card keys."""
    if exc.code == "invalid_flow":
        keys = {d.key for d in leads_service.field_defs(session, org_id)}
        try:
            load_flow(json.loads(raw), field_keys=keys)
        except FlowError as err:
            return [{"path": p.path, "message": p.message} for p in err.problems]
        except ValueError:
            pass
    path = exc.field if exc.field and exc.field != "definition" else ""
    return [{"path": path, "message": exc.message}]


def _parsed(definition: str) -> Any:
    try:
        return json.loads(definition) if definition.strip() else None
    except ValueError:
        return None  # the form cannot show it: the page opens on the JSON tab with the problem


def _page(request: Request, user: User, *, definition: str = "", problems: list[Problem] | None = None,
          notice: str | None = None, current: int | None = None, status_code: int = 200) -> Response:
    problems = problems or []
    with get_ctx(request).db.session() as session:
        flows = scripts.list_flows(session, user.org_id)
        editor = {"flow": _parsed(definition), "fields": field_choices(session, user.org_id), "problems": problems}
    editing = next((f for f in flows if f.id == current), None)
    return page(request, "admin/bot_flows.html", status_code=status_code, user=user, flows=flows,
                definition=definition, problems=problems, notice=notice, editing=editing, editor=editor,
                defaults=DEFAULTS)


@router.get("", response_class=HTMLResponse)
def flows_page(request: Request, user: Supervisor, template: str = "") -> Response:
    start = TEMPLATES.get(template)
    return _page(request, user, definition=json.dumps(start, ensure_ascii=False, indent=2) if start else "")


@router.get("/{flow_id}", response_class=HTMLResponse)
def edit_flow(request: Request, user: Supervisor, flow_id: PathId) -> Response:
    with get_ctx(request).db.session() as session:
        definition = scripts.export_json(session, user.org_id, flow_id)
    return _page(request, user, definition=definition, current=flow_id)


@router.post("", response_class=HTMLResponse)
def save_flow(request: Request, user: Supervisor, definition: Annotated[str, Form(max_length=300_000)] = "",
              csrf_token: CsrfField = "") -> Response:
    def write(session: Session) -> tuple[str, int, int, str]:
        row = scripts.save_flow(session, actor_of(request, user), definition)
        session.flush()  # the new version's id and number, for the page that shows it
        return row.name, row.version, row.id, scripts.export_json(session, user.org_id, row.id)

    saved = submit(request, csrf_token, write)
    if isinstance(saved, Rejected):
        with get_ctx(request).db.session() as session:
            problems = all_problems(session, user.org_id, definition, saved)
        return _page(request, user, definition=definition, problems=problems, status_code=saved.status)
    name, version, flow_id, stored = saved
    return _page(request, user, definition=stored, current=flow_id, notice=f"已保存“{name}”（第 {version} 版）")


@router.post("/{flow_id}/{action}", response_class=HTMLResponse)
def flow_action(request: Request, user: Supervisor, flow_id: PathId, action: str,
                csrf_token: CsrfField = "") -> Response:
    if action not in ("enable", "disable", "delete"):
        return _page(request, user, problems=[{"path": "", "message": "未知操作"}], status_code=404)

    def write(session: Session) -> None:
        actor = actor_of(request, user)
        if action == "delete":
            scripts.delete_flow(session, actor, flow_id)
        else:
            scripts.set_enabled(session, actor, flow_id, action == "enable")

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _page(request, user, problems=[{"path": "", "message": done.message}], status_code=done.status)
    return _page(request, user, notice={"enable": "已启用", "disable": "已停用", "delete": "已删除"}[action])


@router.get("/{flow_id}/export")
def export_flow(request: Request, user: Supervisor, flow_id: PathId) -> Response:
    with get_ctx(request).db.session() as session:
        data = scripts.export_json(session, user.org_id, flow_id)
        audit_service.record(session, actor_of(request, user), "bot.flow.export", "bot_flow", flow_id)
        session.commit()
    return Response(data.encode("utf-8"), media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="flow-{flow_id}.json"'})

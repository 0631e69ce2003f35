"""Admin pages for bot scripts (话术流程): the list, a JSON editor with the error shown beside it, enable/disable,
delete, export, and the two demo scripts as starting points."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.bot import scripts
from edudesk.context import get_ctx
from edudesk.demo_flows import EXAM_PREP_FLOW, K12_FLOW
from edudesk.errors import DomainError
from edudesk.web import csrf_ok, page

router = APIRouter(prefix="/admin/bot/flows", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
STALE = "页面已过期，请刷新后重试"
TEMPLATES = {"k12": K12_FLOW, "exam": EXAM_PREP_FLOW}


def _page(request: Request, user: User, *, definition: str = "", error: str | None = None,
          error_path: str | None = None, notice: str | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        flows = scripts.list_flows(session, user.org_id)
    return page(request, "admin/bot_flows.html", status_code=status_code, user=user, flows=flows,
                definition=definition, error=error, error_path=error_path, notice=notice)


@router.get("", response_class=HTMLResponse)
def flows_page(request: Request, user: Supervisor, template: str = "") -> Response:
    start = TEMPLATES.get(template)
    return _page(request, user, definition=json.dumps(start, ensure_ascii=False, indent=2) if start else "")


@router.get("/{flow_id}", response_class=HTMLResponse)
def edit_flow(request: Request, user: Supervisor, flow_id: int) -> Response:
    with get_ctx(request).db.session() as session:
        definition = scripts.export_json(session, user.org_id, flow_id)
    return _page(request, user, definition=definition)


@router.post("", response_class=HTMLResponse)
def save_flow(request: Request, user: Supervisor, definition: Annotated[str, Form(max_length=300_000)] = "",
              csrf_token: CsrfField = "") -> Response:
    if not csrf_ok(request, csrf_token):
        return _page(request, user, definition=definition, error=STALE, status_code=400)
    with get_ctx(request).db.session() as session:
        try:
            row = scripts.save_flow(session, actor_of(request, user), definition)
            session.commit()
        except DomainError as exc:
            session.rollback()
            return _page(request, user, definition=definition, error=exc.message, error_path=exc.field,
                         status_code=422)
        name, version = row.name, row.version
    return _page(request, user, notice=f"已保存“{name}”（第 {version} 版）")


@router.post("/{flow_id}/{action}", response_class=HTMLResponse)
def flow_action(request: Request, user: Supervisor, flow_id: int, action: str, csrf_token: CsrfField = "") -> Response:
    if action not in ("enable", "disable", "delete"):
        return _page(request, user, error="未知操作", status_code=404)
    if not csrf_ok(request, csrf_token):
        return _page(request, user, error=STALE, status_code=400)
    with get_ctx(request).db.session() as session:
        actor = actor_of(request, user)
        if action == "delete":
            scripts.delete_flow(session, actor, flow_id)
        else:
            scripts.set_enabled(session, actor, flow_id, action == "enable")
        session.commit()
    return _page(request, user, notice={"enable": "已启用", "disable": "已停用", "delete": "已删除"}[action])


@router.get("/{flow_id}/export")
def export_flow(request: Request, user: Supervisor, flow_id: int) -> Response:
    with get_ctx(request).db.session() as session:
        data = scripts.export_json(session, user.org_id, flow_id)
    return Response(data.encode("utf-8"), media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="flow-{flow_id}.json"'})

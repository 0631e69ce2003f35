"""Console endpoints of routing: the agent's status switch, transfer, supervisor take-over, the supervisor's live
board, and a contact's VIP flag and tags (routing facts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, current_user, supervisor
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.conversations.states import STATE_LABELS, ConversationState
from edudesk.db import utcnow
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.routing import presence
from edudesk.routing import service as routing_service
from edudesk.routing.models import STATUS_LABELS, AgentState, AgentStatus
from edudesk.web import csrf_ok, domain_error_response, error_response, page

router = APIRouter(prefix="/console", include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
STALE_CSRF = ("csrf", "页面已过期，请刷新后重试")


def _status_payload(row: AgentState) -> dict[str, Any]:
    effective = presence.effective_status(row)
    return {"status": row.status.value, "label": STATUS_LABELS[row.status], "effective": effective.value,
            "effective_label": STATUS_LABELS[effective], "max_concurrent": row.max_concurrent}


@router.get("/status")
def my_status(request: Request, user: CurrentUser) -> Response:
    with get_ctx(request).db.session() as session:
        row = presence.state_for(session, user)
        payload = _status_payload(row)
        session.commit()
    return JSONResponse(payload)


@router.post("/status")
def set_status(request: Request, user: CurrentUser, status: Annotated[str, Form(max_length=16)] = "",
               csrf_token: CsrfField = "") -> Response:
    payload = submit(request, csrf_token, lambda session: _status_payload(presence.set_status(session, user, status)))
    if isinstance(payload, Rejected):
        return payload.as_json()
    return JSONResponse(payload)


@router.get("/transfer-targets")
def transfer_targets(request: Request, user: CurrentUser) -> Response:
    """Colleagues (with status and load) and groups a conversation can be transferred to."""
    with get_ctx(request).db.session() as session:
        board = presence.board(session, user.org_id)
        groups = routing_service.list_groups(session, user.org_id)
    agents = [{"id": a.user_id, "name": a.name, "status": a.status.value, "status_label": a.status_label,
               "active": a.active, "max_concurrent": a.max_concurrent,
               "available": a.status != AgentStatus.offline and a.free > 0}
              for a in board if a.user_id != user.id]
    return JSONResponse({"agents": agents, "groups": [{"id": g.id, "name": g.name} for g in groups]})


def _optional_id(raw: str, field: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise DomainError("bad_target", "转接对象不正确", field)
    return int(raw)


@router.post("/c/{conversation_id}/transfer")
def transfer(request: Request, user: CurrentUser, conversation_id: PathId,
             to_user_id: Annotated[str, Form(max_length=20)] = "",
             to_group_id: Annotated[str, Form(max_length=20)] = "",
             note: Annotated[str, Form(max_length=5000)] = "", csrf_token: CsrfField = "") -> Response:
    def write(session: Session) -> dict[str, Any]:
        conv = routing_service.transfer(
            session, user, conversation_id, to_user_id=_optional_id(to_user_id, "to_user_id"),
            to_group_id=_optional_id(to_group_id, "to_group_id"), note=note)
        return {"conversation": conversations_service.summary(session, conv)}

    payload = submit(request, csrf_token, write,
                     status=lambda exc: 409 if exc.code in ("at_capacity", "offline", "not_live") else 422)
    if isinstance(payload, Rejected):
        return payload.as_json()
    return JSONResponse(payload)


@router.post("/c/{conversation_id}/take-over")
def take_over(request: Request, user: Supervisor, conversation_id: PathId, csrf_token: CsrfField = "") -> Response:
    payload = submit(request, csrf_token, lambda session: {"conversation": conversations_service.summary(
        session, routing_service.take_over(session, user, conversation_id))}, status=lambda exc: 409)
    if isinstance(payload, Rejected):
        return payload.as_json()
    return JSONResponse(payload)


@router.post("/contacts/{contact_id}/routing")
def contact_routing(request: Request, user: CurrentUser, contact_id: PathId,
                    tags: Annotated[str, Form(max_length=1000)] = "", vip: Annotated[str, Form(max_length=5)] = "",
                    csrf_token: CsrfField = "") -> Response:
    """A contact's tags (any staff) and VIP flag (supervisors and admins: it moves people up every queue)."""
    if not csrf_ok(request, csrf_token):
        return error_response(400, *STALE_CSRF)
    with get_ctx(request).db.session() as session:
        contact = contacts_service.get(session, user.org_id, contact_id)
        try:
            cleaned = conversations_service.clean_tags(tags)
        except DomainError as exc:
            return domain_error_response(exc, 422)
        wants_vip = vip in ("1", "on", "true")
        if wants_vip != bool(contact.vip) and user.role == Role.agent:
            return error_response(403, "forbidden", "只有主管和管理员可以设置 VIP", "vip")
        changes: dict[str, Any] = {}
        if cleaned != list(contact.tags or []):
            contact.tags = cleaned
            changes["tags"] = cleaned
        if wants_vip != bool(contact.vip):
            contact.vip = wants_vip
            changes["vip"] = wants_vip
        if changes:
            audit_service.record(session, actor_of(request, user), "contact.routing", "contact", contact.id,
                                 **changes)
        session.commit()
        return JSONResponse({"contact_id": contact.id, "tags": list(contact.tags or []), "vip": bool(contact.vip)})


def _board_context(request: Request, user: User) -> dict[str, Any]:
    now = utcnow()
    with get_ctx(request).db.session() as session:
        convs = routing_service.live_conversations(session, user.org_id)
        names = contacts_service.display_names(session, user.org_id, {c.contact_id for c in convs})
        groups = {g.id: g.name for g in routing_service.list_groups(session, user.org_id)}
        board = presence.board(session, user.org_id)
        agent_names = {a.user_id: a.name for a in board}
        rows = []
        for c in convs:
            waited = (now - c.queued_at) if c.state == ConversationState.queued and c.queued_at else None
            rows.append({
                "id": c.id, "state": c.state.value, "state_label": STATE_LABELS[c.state],
                "contact": names.get(c.contact_id, ""), "group": groups.get(c.group_id or -1, ""),
                "priority": c.priority, "agent": agent_names.get(c.assignee_id or -1, ""),
                "last_text": c.last_message_text, "channel": c.channel,
                "waited": int(waited.total_seconds() // 60) if waited is not None else None,
                "tags": list(c.tags or []),
            })
    counts = {s: sum(1 for r in rows if r["state"] == s) for s in ("bot", "queued", "assigned")}
    return {"user": user, "rows": rows, "board": board, "counts": counts}


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor_view(request: Request, user: Supervisor) -> Response:
    return page(request, "routing/supervisor.html", **_board_context(request, user))


@router.get("/supervisor/live", response_class=HTMLResponse)
def supervisor_live(request: Request, user: Supervisor) -> Response:
    return page(request, "routing/_live.html", **_board_context(request, user))

"""REST API for tickets (``/api/v1/tickets``) behind per-org API tokens with the scopes ``tickets:read`` and
``tickets:write``: list with filters, one ticket with its comments, create, update, reply or note.

A token acts with a supervisor's rights inside its org (an admin created it for an integration). Every query is
scoped by the token's org; another org's ticket is 404. Errors are ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from edudesk.apischema import API_ERRORS, error_responses, query_text
from edudesk.apitokens.deps import InsufficientScope, TokenAuth, api_token
from edudesk.audit.service import Actor
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.errors import DomainError
from edudesk.inputs import DbId, PathId
from edudesk.tickets import search
from edudesk.tickets import service as tickets_service
from edudesk.tickets.api_models import (
    CommentIn,
    CommentOut,
    ReplyIn,
    TicketIn,
    TicketPage,
    TicketPatch,
    TicketWithComments,
)
from edudesk.tickets.models import TicketPriority, TicketSource, TicketStatus
from edudesk.tickets.schemas import comment_to_dict, ticket_to_dict

_STATUS = "(new|open|pending|solved|closed|unresolved)"
STATUS_LIST = f"^({_STATUS}(,{_STATUS})*)?$"
router = APIRouter(prefix="/api/v1", tags=["tickets"], responses=error_responses(*API_ERRORS))
READ_SCOPE = "tickets:read"
WRITE_SCOPE = "tickets:write"
API_CHANNEL = "api"
_any_token = api_token()


def requires(scope: str) -> Callable[..., TokenAuth]:
    """A valid token of any org that carries ``scope``. (Checked here rather than by ``api_token(scope)`` so the
    routes load whether or not the token admin already offers the ticket scopes.)"""

    def dependency(auth: Annotated[TokenAuth, Depends(_any_token)]) -> TokenAuth:
        if scope not in auth.scopes:
            raise InsufficientScope(scope)
        return auth

    return dependency


Read = Annotated[TokenAuth, Depends(requires(READ_SCOPE))]
Write = Annotated[TokenAuth, Depends(requires(WRITE_SCOPE))]


class TicketRuleError(DomainError):
    status_code = 400


@contextmanager
def _rules() -> Iterator[None]:
    """In the API, 422 means "the request does not match the schema" and 400 "it does, but a ticket rule refuses
    it" (an assignee who is not staff of the org, a move the state machine forbids): integrators can tell a bug
    in their client from a state of the data. The staff pages keep the service's own status."""
    try:
        yield
    except DomainError as exc:
        if exc.status_code != 422:
            raise
        raise TicketRuleError(exc.code, exc.message, exc.field) from None


def _editor(auth: TokenAuth, name: str = "") -> tickets_service.Editor:
    return tickets_service.Editor.system(Actor(org_id=auth.org_id, label=f"api:{auth.prefix}"),
                                         name=name or "客服老师")


@router.get("/tickets", response_model=TicketPage, summary="工单列表")
def list_tickets(request: Request, auth: Read,
                 status: Annotated[str, query_text(100, description="逗号分隔；unresolved = 未解决",
                                                   pattern=STATUS_LIST)] = "",
                 priority: TicketPriority | None = None, source: TicketSource | None = None,
                 assignee: Annotated[str, Query(max_length=20, pattern=r"^(unassigned|\d+)?$")] = "",
                 group_id: DbId | None = None,
                 sla: Annotated[str, Query(pattern="^(breached|at_risk)?$")] = "",
                 since: Annotated[str, query_text(10, description="创建日期起 YYYY-MM-DD")] = "",
                 until: Annotated[str, query_text(10)] = "", q: Annotated[str, query_text(200)] = "",
                 sort: Annotated[str, Query(pattern="^(-updated|-created|created|due|priority)?$")] = "",
                 page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                 per_page: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    bad = [s for s in status.split(",") if s.strip() and s.strip() not in (*TicketStatus.__members__, "unresolved")]
    if bad:
        raise tickets_service.TicketError("bad_status", f"无效的状态：{bad[0][:20]}", "status")
    filters = search.parse({"status": status, "priority": priority.value if priority else "",
                            "source": source.value if source else "", "assignee": assignee,
                            "group": str(group_id) if group_id is not None else "", "sla": sla, "since": since,
                            "until": until, "q": q, "sort": sort})
    with get_ctx(request).db.session() as session:
        result = search.search(session, auth.org_id, filters, me=None, page=page, per_page=per_page)
        items = [ticket_to_dict(t) for t in result.rows]
    return {"items": items, "total": result.total, "page": result.page, "per_page": result.per_page}


def _full(session: Any, org_id: int, ticket_id: int) -> dict[str, Any]:
    ticket = tickets_service.get(session, org_id, ticket_id)
    return {**ticket_to_dict(ticket),
            "comments": [comment_to_dict(c) for c in tickets_service.comments(session, org_id, ticket.id)]}


@router.get("/tickets/{ticket_id}", response_model=TicketWithComments, summary="一张工单及其评论")
def get_ticket(request: Request, auth: Read, ticket_id: PathId) -> dict[str, Any]:
    with get_ctx(request).db.session() as session:
        return _full(session, auth.org_id, ticket_id)


@router.post("/tickets", status_code=201, response_model=TicketWithComments, summary="新建工单")
def create_ticket(request: Request, auth: Write, body: TicketIn) -> dict[str, Any]:
    with _rules(), get_ctx(request).db.session() as session:
        contact_id, channel = body.contact_id, API_CHANNEL
        if contact_id is not None:
            # Replies go where the visitor last talked to the school.
            contact = contacts_service.get(session, auth.org_id, contact_id)
            latest = conversations_service.history_for_contact(session, auth.org_id, contact.id, limit=1)
            channel = latest[0].channel if latest else API_CHANNEL
        elif body.external_id:
            contact_id = contacts_service.find_or_create(session, auth.org_id, API_CHANNEL, body.external_id).id
        ticket = tickets_service.create_ticket(
            session, org_id=auth.org_id, source=TicketSource.api, subject=body.subject, contact_id=contact_id,
            conversation_id=None, channel=channel, group_id=body.group_id, priority=body.priority,
            description=body.description, custom_fields=dict(body.custom_fields) or None,
            actor=_editor(auth).actor, assignee_id=body.assignee_id)
        session.commit()
        return _full(session, auth.org_id, ticket.id)


@router.patch("/tickets/{ticket_id}", response_model=TicketWithComments,
              summary="修改工单（状态、优先级、负责人、技能组、字段）")
def update_ticket(request: Request, auth: Write, ticket_id: PathId, body: TicketPatch) -> dict[str, Any]:
    sent = body.model_fields_set
    changes: dict[str, Any] = {k: getattr(body, k) for k in ("status", "priority", "subject", "assignee_id",
                                                             "group_id") if k in sent}
    for key in ("status", "priority", "subject"):
        if key in changes and changes[key] is None:
            raise tickets_service.TicketError(f"bad_{key}", f"{key} 不能为 null", key)
    with _rules(), get_ctx(request).db.session() as session:
        tickets_service.update_ticket(session, _editor(auth), ticket_id, custom_fields=body.custom_fields,
                                      **changes)
        session.commit()
        return _full(session, auth.org_id, ticket_id)


@router.post("/tickets/{ticket_id}/comments", status_code=201, response_model=CommentOut,
             summary="回复访客或写内部备注")
def add_comment(request: Request, auth: Write, ticket_id: PathId, body: CommentIn) -> dict[str, Any]:
    editor = _editor(auth, body.author_name.strip())
    with _rules(), get_ctx(request).db.session() as session:
        if isinstance(body, ReplyIn):
            comment = tickets_service.add_reply(session, editor, ticket_id, body.text, status=body.status)
        else:
            comment = tickets_service.add_note(session, editor, ticket_id, body.text)
        session.commit()
        return comment_to_dict(comment)

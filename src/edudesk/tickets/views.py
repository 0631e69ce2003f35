"""Staff pages for tickets: the list with filters and saved views, the ticket page (header, timeline, reply box,
transcript, lead card), and "create a ticket" from a conversation in the console.

Thin: parsing and rendering only; every change is a ``tickets.service`` call. Everyone signed in sees the org's
tickets; agents change their own and unassigned ones (``service.can_edit``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypedDict
from urllib.parse import parse_qsl, urlencode

import anyio
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth import service as auth_service
from edudesk.auth.deps import current_user
from edudesk.auth.models import User
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import SenderKind
from edudesk.forms import Rejected, as_raised, submit
from edudesk.inputs import DbId, PathId
from edudesk.privacy import service as privacy_service
from edudesk.routing import service as routing_service
from edudesk.tickets import search, sla
from edudesk.tickets import service as tickets_service
from edudesk.tickets.models import Ticket, TicketPriority, TicketSource
from edudesk.tickets.states import (
    ALLOWED,
    COMMENT_LABELS,
    PRIORITY_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
)
from edudesk.web import InternalStatus, InternalText, client_ip, page

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(current_user)]
CsrfField = Annotated[str, Form(max_length=100)]
Param = Annotated[str, Query(max_length=200)]
PER_PAGE = 50


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """``page`` plus the framing guard the app adds for /console and /admin (ticket pages carry the same data)."""
    response: Response = page(request, name, status_code=status_code, status_labels=STATUS_LABELS,
                              priority_labels=PRIORITY_LABELS, source_labels=SOURCE_LABELS, **context)
    response.headers.setdefault("x-frame-options", "DENY")
    return response


def editor_of(request: Request, user: User) -> tickets_service.Editor:
    return tickets_service.Editor.of_user(user, client_ip(request))


# --- the list ----------------------------------------------------------------------------------------------------

@router.get("/tickets", response_class=HTMLResponse)
def list_page(request: Request, user: CurrentUser, view: DbId | None = None,
              status: Param = "", priority: Param = "", group: Param = "", assignee: Param = "", source: Param = "",
              sla_state: Annotated[str, Query(alias="sla", max_length=20)] = "", since: Param = "",
              until: Param = "", q: Param = "", mentioned: Param = "", sort: Param = "",
              page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
              error: InternalText = None, status_code: InternalStatus = 200) -> Response:
    params = {"status": status, "priority": priority, "group": group, "assignee": assignee, "source": source,
              "sla": sla_state, "since": since, "until": until, "q": q, "mentioned": mentioned, "sort": sort}
    with get_ctx(request).db.session() as session:
        current_view = None
        if view is not None:
            current_view = search.get_view(session, user.org_id, user.id, view)
            params = {**current_view.filters, **{k: v for k, v in params.items() if v}}
        filters = search.parse(params)
        result = search.search(session, user.org_id, filters, me=user.id, page=page_no, per_page=PER_PAGE)
        views = search.views_for(session, user.org_id, user.id)
        staff = auth_service.list_users(session, user.org_id)
        groups = routing_service.list_groups(session, user.org_id)
        names = contacts_service.display_names(session, user.org_id,
                                               {t.contact_id for t in result.rows if t.contact_id})
    kept = dict(filters.raw)

    def page_url(n: int) -> str:
        return "/tickets?" + urlencode({**kept, **({"view": current_view.id} if current_view else {}), "page": n})

    return render(request, "tickets/list.html", status_code=status_code, user=user, result=result,
                  q=filters.raw, views=views, current_view=current_view, staff=staff,
                  staff_names={u.id: u.display_name for u in staff}, groups=groups,
                  group_names={g.id: g.name for g in groups}, contact_names=names, page_url=page_url,
                  sorts=search.SORTS, sla_filters=search.SLA_FILTERS, sla_state=sla.state, error=error,
                  can_share=user.role.value in ("admin", "supervisor"), kept_query=urlencode(kept))


@router.post("/tickets/views", response_class=HTMLResponse)
def save_view(request: Request, user: CurrentUser, name: Annotated[str, Form(max_length=200)] = "",
              shared: Annotated[str, Form(max_length=5)] = "", query: Annotated[str, Form(max_length=2000)] = "",
              csrf_token: CsrfField = "") -> Response:
    """Saves the filters of the list as it is shown (``query`` is its query string) under a name."""
    params = dict(parse_qsl(query))
    saved = submit(request, csrf_token, lambda session: search.save_view(
        session, editor_of(request, user), name, params, shared=shared == "1"), status=as_raised)
    if isinstance(saved, Rejected):
        return list_page(request, user, error=saved.message, status_code=saved.status, **_list_args(params))
    return RedirectResponse(f"/tickets?view={saved.id}", status_code=303)


class _ListArgs(TypedDict):
    """The list's filters as ``list_page`` takes them (all strings, as a query string gives them)."""

    status: str
    priority: str
    group: str
    assignee: str
    source: str
    sla_state: str
    since: str
    until: str
    q: str
    mentioned: str
    sort: str


def _list_args(params: dict[str, str]) -> _ListArgs:
    def arg(key: str) -> str:
        return params.get(key, "")[:200]

    return _ListArgs(status=arg("status"), priority=arg("priority"), group=arg("group"), assignee=arg("assignee"),
                     source=arg("source"), sla_state=arg("sla"), since=arg("since"), until=arg("until"), q=arg("q"),
                     mentioned=arg("mentioned"), sort=arg("sort"))


@router.post("/tickets/views/{view_id}/delete", response_class=HTMLResponse)
def delete_view(request: Request, user: CurrentUser, view_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token, lambda session: search.delete_view(session, editor_of(request, user), view_id),
                  status=as_raised)
    if isinstance(done, Rejected):
        return list_page(request, user, error=done.message, status_code=done.status)
    return RedirectResponse("/tickets", status_code=303)


# --- one ticket --------------------------------------------------------------------------------------------------

def _detail(request: Request, user: User, ticket_id: int, *, errors: dict[str, str] | None = None,
            notice: str | None = None, form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    editor = editor_of(request, user)
    with get_ctx(request).db.session() as session:
        ticket = tickets_service.get(session, user.org_id, ticket_id)
        comments = tickets_service.comments(session, user.org_id, ticket.id)
        transcripts = tickets_service.transcripts(session, user.org_id, ticket)
        deliveries = tickets_service.reply_deliveries(session, user.org_id, comments)
        lead = tickets_service.lead_summary(session, user.org_id, ticket,
                                            show_phone=tickets_service.can_see_phone(editor, ticket))
        contact = contacts_service.get(session, user.org_id, ticket.contact_id) if ticket.contact_id else None
        staff = auth_service.list_users(session, user.org_id)
        groups = routing_service.list_groups(session, user.org_id)
        defs = [d for d in tickets_service.field_defs(session, user.org_id) if d.enabled]
        if lead is not None and ticket.contact_id is not None and tickets_service.can_see_phone(editor, ticket) \
                and any(f.key == "phone" and f.value for f in lead.fields):
            privacy_service.phone_seen(request, session, editor.actor, "tickets.detail", [ticket.contact_id])
        session.commit()  # the lead card's built-in fields are created the first time they are shown
    editable = ticket.status.value != "closed" and tickets_service.can_edit(editor, ticket)
    return render(
        request, "tickets/detail.html", status_code=status_code, user=user, ticket=ticket, comments=comments,
        deliveries=deliveries,
        transcripts=transcripts, lead=lead, contact_name=contacts_service.display_name(contact) if contact else "",
        staff=[u for u in staff if u.is_active or u.id == ticket.assignee_id],
        staff_names={u.id: u.display_name for u in staff}, groups=groups,
        group_names={g.id: g.name for g in groups}, defs=defs, comment_labels=COMMENT_LABELS,
        next_statuses=[s for s in STATUS_LABELS if s == ticket.status.value or s in ALLOWED[ticket.status]],
        sla_state=sla.state(ticket), editable=editable,
        can_take=editable and ticket.assignee_id != user.id and (ticket.assignee_id is None or editor.supervises),
        can_assign_others=editor.supervises, can_note=ticket.status.value != "closed",
        can_delete=user.role.value == "admin", errors=errors or {}, notice=notice, form=form or {},
        priorities=[p.value for p in TicketPriority],
    )


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def detail(request: Request, user: CurrentUser, ticket_id: PathId) -> Response:
    return _detail(request, user, ticket_id)


def _int_or_none(raw: str, field: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise tickets_service.TicketError(f"bad_{field}", "请选择有效的选项", field)
    return int(raw)


@router.post("/tickets/{ticket_id}", response_class=HTMLResponse)
async def update(request: Request, user: CurrentUser, ticket_id: PathId) -> Response:
    """The header form: status, priority, group, assignee, subject and the org's fields (``cf_<key>``)."""
    form = await request.form(max_fields=200, max_files=0)
    values = {k: str(v)[:5000] for k, v in form.items() if isinstance(v, str)}
    # The database work runs in a worker thread, like every sync route.
    return await anyio.to_thread.run_sync(_update_sync, request, user, ticket_id, values)


def _update_sync(request: Request, user: User, ticket_id: int, values: dict[str, str]) -> Response:
    custom = {k[3:]: v for k, v in values.items() if k.startswith("cf_") and len(k) <= 43}
    done = submit(request, values.get("csrf_token"), lambda session: tickets_service.update_ticket(
        session, editor_of(request, user), ticket_id,
        status=values.get("status") or None, priority=values.get("priority") or None,
        subject=values.get("subject", tickets_service.UNSET),
        group_id=_int_or_none(values["group_id"], "group_id") if "group_id" in values else tickets_service.UNSET,
        assignee_id=_int_or_none(values["assignee_id"], "assignee_id") if "assignee_id" in values
        else tickets_service.UNSET,
        custom_fields=custom or None), status=as_raised)
    if isinstance(done, Rejected):
        return _detail(request, user, ticket_id, errors={_error_key(done.field): done.message},
                       status_code=done.status)
    return _detail(request, user, ticket_id, notice="已保存")


def _error_key(field: str | None) -> str:
    if field and field.startswith("custom_fields."):
        return "cf_" + field.split(".", 1)[1]
    return field or "form"


@router.post("/tickets/{ticket_id}/comments", response_class=HTMLResponse)
def comment(request: Request, user: CurrentUser, ticket_id: PathId,
            text: Annotated[str, Form(max_length=20_000)] = "", kind: Annotated[str, Form(max_length=10)] = "reply",
            status: Annotated[str, Form(max_length=20)] = "", csrf_token: CsrfField = "") -> Response:
    """A reply (delivered to the visitor; may also set pending/solved) or an internal note (with @mentions)."""
    form = {"text": text, "kind": kind, "status": status}

    def write(session: Session) -> None:
        editor = editor_of(request, user)
        if kind == "note":
            tickets_service.add_note(session, editor, ticket_id, text)
        elif kind == "reply":
            tickets_service.add_reply(session, editor, ticket_id, text, status=status or None)
        else:
            raise tickets_service.TicketError("bad_kind", "请选择回复访客或内部备注", "kind")

    done = submit(request, csrf_token, write, status=as_raised)
    if isinstance(done, Rejected):
        key = done.field if done.field in ("kind", "status") else "text"
        return _detail(request, user, ticket_id, errors={key: done.message}, form=form, status_code=done.status)
    return _detail(request, user, ticket_id, notice="已发送给访客" if kind == "reply" else "备注已保存")


def _ticket_action(request: Request, user: User, ticket_id: int, csrf_token: str,
                   act: Callable[[Session, tickets_service.Editor, int], object]) -> Response | None:
    """Runs one button's action on a ticket in its own transaction: the ticket page with the error when the form
    expired or the action was refused (nothing stored), None when it was done."""
    done = submit(request, csrf_token, lambda session: act(session, editor_of(request, user), ticket_id),
                  status=as_raised)
    if isinstance(done, Rejected):
        return _detail(request, user, ticket_id, errors={"form": done.message}, status_code=done.status)
    return None


@router.post("/tickets/{ticket_id}/take", response_class=HTMLResponse)
def take(request: Request, user: CurrentUser, ticket_id: PathId, csrf_token: CsrfField = "") -> Response:
    failed = _ticket_action(request, user, ticket_id, csrf_token, tickets_service.take)
    return failed if failed is not None else _detail(request, user, ticket_id, notice="已认领")


@router.post("/tickets/{ticket_id}/delete", response_class=HTMLResponse)
def delete(request: Request, user: CurrentUser, ticket_id: PathId, csrf_token: CsrfField = "") -> Response:
    failed = _ticket_action(request, user, ticket_id, csrf_token, tickets_service.delete_ticket)
    return failed if failed is not None else RedirectResponse("/tickets", status_code=303)


# --- from the console --------------------------------------------------------------------------------------------

@router.get("/console/c/{conversation_id}/ticket", response_class=HTMLResponse)
def ticket_form(request: Request, user: CurrentUser, conversation_id: PathId) -> Response:
    """The empty "create a ticket" form for the console (``hx-get`` it into the chat pane)."""
    with get_ctx(request).db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        said = [m for m, _ in conversations_service.messages(session, user.org_id, conv.id)
                if m.sender == SenderKind.visitor and m.text]
    # The visitor's last words make a good first guess at the subject.
    subject = " ".join(said[-1].text.split())[:100] if said else ""
    return render(request, "tickets/_created.html", ticket=None, error=None, field=None,
                  form={"subject": subject}, conversation_id=conv.id)


@router.post("/console/c/{conversation_id}/ticket", response_class=HTMLResponse)
def create_from_conversation(request: Request, user: CurrentUser, conversation_id: PathId,
                             subject: Annotated[str, Form(max_length=1000)] = "",
                             priority: Annotated[str, Form(max_length=20)] = "normal",
                             note: Annotated[str, Form(max_length=20_000)] = "",
                             assign_to_me: Annotated[str, Form(max_length=5)] = "1",
                             csrf_token: CsrfField = "") -> Response:
    """An agent turns a conversation into a ticket (follow-up needed: a refund, a schedule change). With htmx it
    answers the fragment ``tickets/_created.html`` (and the ``ticket-created`` trigger); otherwise it redirects
    to the new ticket. Errors come back as the same fragment with the message, status 4xx."""
    htmx = request.headers.get("hx-request") == "true"
    form = {"subject": subject, "priority": priority, "note": note}

    def write(session: Session) -> Ticket:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        editor = editor_of(request, user)
        return tickets_service.create_ticket(
            session, org_id=user.org_id, source=TicketSource.agent, subject=subject, contact_id=conv.contact_id,
            conversation_id=conv.id, channel=conv.channel, group_id=conv.group_id,
            priority=priority,  # validated by the service
            description=note, actor=editor.actor, assignee_id=user.id if assign_to_me == "1" else None)

    ticket = submit(request, csrf_token, write, status=as_raised)
    if isinstance(ticket, Rejected):
        return render(request, "tickets/_created.html", status_code=ticket.status, error=ticket.message,
                      field=ticket.field or "form", form=form, conversation_id=conversation_id, ticket=None)
    if not htmx:
        return RedirectResponse(f"/tickets/{ticket.id}", status_code=303)
    response = render(request, "tickets/_created.html", ticket=ticket, error=None, field=None, form={},
                      conversation_id=conversation_id)
    response.headers["HX-Trigger"] = json.dumps({"ticket-created": {"id": ticket.id}})
    return response

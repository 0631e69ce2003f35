"""The agent console: conversation lists, chat pane, contact card, agent actions and the agent WebSocket."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlparse

import anyio
import structlog
from fastapi import APIRouter, Depends, Form, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, current_user, user_from_session
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.contacts.models import Contact
from edudesk.context import AppContext, get_ctx
from edudesk.conversations import agent_frames
from edudesk.conversations import service as conversations_service
from edudesk.conversations.agent_frames import AgentPing
from edudesk.conversations.models import Conversation
from edudesk.conversations.schemas import message_to_dict
from edudesk.conversations.service import can_see_phone
from edudesk.conversations.states import STATE_LABELS, ConversationState
from edudesk.db import DATABASE_UNAVAILABLE, NotFoundError
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.inputs import DbId, PathId
from edudesk.leads import service as leads_service
from edudesk.leads.models import STATUS_LABELS
from edudesk.localtime import LOCAL_TZ
from edudesk.privacy import service as privacy_service
from edudesk.realtime import Connection, receive_frame
from edudesk.trials import service as trials_service
from edudesk.web import InternalStatus, InternalText, csrf_ok, page
from edudesk.wsframes import (
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    INTERNAL_ERROR,
    FrameProblem,
)

router = APIRouter(prefix="/console", include_in_schema=False)
ws_router = APIRouter()
log = structlog.get_logger(__name__)
CurrentUser = Annotated[User, Depends(current_user)]


def _contact_view(contact: Contact, user: User, conv: Conversation | None) -> dict[str, Any]:
    visible = can_see_phone(user, conv)
    return {
        "id": contact.id,
        "name": contact.name or "",
        "display_name": contacts_service.display_name(contact),
        "phone": contact.phone if visible else contacts_service.mask_phone(contact.phone),
        "phone_visible": visible,
        "wechat_id": contact.wechat_id or "",
        "notes": contact.notes,
        "first_page_url": contact.first_page_url,
        "last_page_url": contact.last_page_url,
        "first_seen_at": contact.first_seen_at,
        "last_seen_at": contact.last_seen_at,
        "visits": contact.visits,
    }


def _phone_seen(request: Request | None, session: Any, user: User, where: str, contact_id: int,
                shown: bool) -> None:
    """Audits a full number shown (throttled per place and contact: see privacy.service.PhoneAccessAudit)."""
    if shown:
        actor = actor_of(request, user) if request is not None else audit_service.Actor(user.org_id, user.id,
                                                                                         user.username)
        privacy_service.phone_seen(request, session, actor, where, [contact_id])


def _card_phone(lead: list[leads_service.CardField] | None) -> bool:
    return any(f.key == "phone" and f.value for f in lead or [])


def _lists_context(ctx: AppContext, user: User) -> dict[str, Any]:
    with ctx.db.session() as session:
        lists = conversations_service.list_for_console(session, user)

    def rows(items: list[conversations_service.ConsoleRow]) -> list[dict[str, Any]]:
        return [{"conv": r.conv, "name": r.name, "state_label": STATE_LABELS[r.conv.state]} for r in items]

    return {"queue": rows(lists["queue"]), "mine": rows(lists["mine"]), "bot": rows(lists["bot"]),
            "unread_total": sum(r.conv.unread_count for r in lists["mine"])}


def _chat_context(ctx: AppContext, user: User, conversation_id: int, *, mark_read: bool = True,
                  error: str | None = None, request: Request | None = None) -> dict[str, Any]:
    with ctx.db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        if mark_read:
            conversations_service.mark_read(session, user, conv)
            session.commit()
        contact = contacts_service.get(session, user.org_id, conv.contact_id)
        msgs = conversations_service.messages_as_dicts(session, user.org_id, conv.id)
        history = conversations_service.history_for_contact(session, user.org_id, contact.id)
        summary = conversations_service.summary(session, conv)
        lead = leads_service.card(session, user.org_id, contact.id, show_phone=can_see_phone(user, conv))
        grade = leads_service.card_grade(session, user.org_id, contact.id)
        lead_row = leads_service.lead_for_contact(session, user.org_id, contact.id)
        notes = leads_service.notes_of(session, user.org_id, lead_row.id) if lead_row else []
        trials = trials_service.offer_buttons(session, user.org_id, fallback_to_all=True) if lead_row else []
        _phone_seen(request, session, user, "console.chat", contact.id,
                    can_see_phone(user, conv) and bool(contact.phone or _card_phone(lead)))
        session.commit()  # the lead card's built-in fields are created the first time they are shown
    return {
        "lead": lead,
        "grade": grade,
        "notes": notes,
        "trials": trials,
        "statuses": STATUS_LABELS,
        "conv": conv,
        "summary": summary,
        "state_label": STATE_LABELS[conv.state],
        "messages": msgs,
        "contact": _contact_view(contact, user, conv),
        "history": [h for h in history if h.id != conv.id],
        "state_labels": STATE_LABELS,
        "can_accept": conv.state in (ConversationState.queued, ConversationState.bot),
        "can_reply": conv.state != ConversationState.closed,
        "can_resolve": conv.state in (ConversationState.assigned, ConversationState.queued, ConversationState.bot),
        "can_release": conv.state == ConversationState.assigned and conv.assignee_id == user.id,
        # Transfer: the agent serving it (or anyone while it is unassigned); supervisors and admins always.
        "can_transfer": conv.state in (ConversationState.bot, ConversationState.queued, ConversationState.assigned)
        and (user.role != Role.agent or conv.assignee_id in (None, user.id)),
        "can_take_over": user.role != Role.agent and conv.state in (
            ConversationState.bot, ConversationState.queued, ConversationState.assigned)
        and conv.assignee_id != user.id,
        "error": error,
        "user": user,
    }


@router.get("", response_class=HTMLResponse)
def console(request: Request, user: CurrentUser, c: DbId | None = None) -> Response:
    ctx = get_ctx(request)
    chat = None
    if c is not None:
        try:
            chat = _chat_context(ctx, user, c, request=request)
        except NotFoundError:
            chat = None
    return page(request, "console/index.html", has_chat=chat is not None, **(chat or {"user": user}),
                **_lists_context(ctx, user))


@router.get("/lists", response_class=HTMLResponse)
def lists(request: Request, user: CurrentUser) -> Response:
    return page(request, "console/_lists.html", user=user, **_lists_context(get_ctx(request), user))


@router.get("/c/{conversation_id}", response_class=HTMLResponse)
def chat(request: Request, user: CurrentUser, conversation_id: PathId) -> Response:
    ctx = get_ctx(request)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/console?c={conversation_id}", status_code=303)
    return page(request, "console/_chat.html", **_chat_context(ctx, user, conversation_id, request=request))


def _action(request: Request, user: User, conversation_id: int, csrf_token: str, fn: Any) -> Response:
    ctx = get_ctx(request)
    done = submit(request, csrf_token, fn, status=lambda exc: 409)
    failed = done if isinstance(done, Rejected) else None
    return page(request, "console/_chat.html", status_code=failed.status if failed else 200,
                **_chat_context(ctx, user, conversation_id, error=failed.message if failed else None,
                                 request=request))


CsrfField = Annotated[str, Form(max_length=100)]


@router.get("/c/{conversation_id}/lead", response_class=HTMLResponse)
def lead_card(request: Request, user: CurrentUser, conversation_id: PathId, error: InternalText = None,
              status_code: InternalStatus = 200) -> Response:
    """The lead card beside the chat, re-fetched live when the visitor states something new."""
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        lead = leads_service.card(session, user.org_id, conv.contact_id, show_phone=can_see_phone(user, conv))
        grade = leads_service.card_grade(session, user.org_id, conv.contact_id)
        row = leads_service.lead_for_contact(session, user.org_id, conv.contact_id)
        notes = leads_service.notes_of(session, user.org_id, row.id) if row else []
        trials = trials_service.offer_buttons(session, user.org_id, fallback_to_all=True) if row else []
        _phone_seen(request, session, user, "console.lead_card", conv.contact_id,
                    can_see_phone(user, conv) and _card_phone(lead))
        session.commit()
    return page(request, "console/_lead.html", status_code=status_code, lead=lead, grade=grade, conv=conv,
                notes=notes, statuses=STATUS_LABELS, card_error=error, trials=trials)



@router.post("/c/{conversation_id}/lead", response_class=HTMLResponse)
def update_lead(request: Request, user: CurrentUser, conversation_id: PathId,
                status: Annotated[str, Form(max_length=20)] = "", note: Annotated[str, Form(max_length=5000)] = "",
                remind_at: Annotated[str, Form(max_length=20)] = "", trial: Annotated[str, Form(max_length=40)] = "",
                csrf_token: CsrfField = "") -> Response:
    """Pipeline status, follow-up notes (with an optional reminder) and booking a trial class, from the card
    beside the chat."""

    def write(session: Session) -> None:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        lead = leads_service.lead_for_contact(session, user.org_id, conv.contact_id)
        if lead is None:
            raise NotFoundError("Lead", conv.contact_id)
        when = None
        if remind_at.strip():
            try:
                when = dt.datetime.fromisoformat(remind_at.strip()).replace(tzinfo=LOCAL_TZ)
            except ValueError:
                raise leads_service.LeadError("bad_time", "提醒时间格式不正确", "remind_at") from None
        if status and status != lead.status.value:
            leads_service.set_status(session, actor_of(request, user), lead.id, status)
        if trial.strip():
            session_id = trials_service.picked_session(trial.strip())
            if session_id is None:
                raise leads_service.LeadError("bad_trial", "请选择一节试听课", "trial")
            trials_service.book(session, user.org_id, session_id, lead.id, by_user_id=user.id,
                                actor=actor_of(request, user))
        if note.strip() or when is not None:
            leads_service.add_note(session, actor_of(request, user), lead.id, note, remind_at=when,
                                   author=user.display_name)

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return lead_card(request, user, conversation_id, error=done.message, status_code=done.status)
    return lead_card(request, user, conversation_id)


@router.post("/c/{conversation_id}/accept", response_class=HTMLResponse)
def accept(request: Request, user: CurrentUser, conversation_id: PathId, csrf_token: CsrfField = "") -> Response:
    return _action(request, user, conversation_id, csrf_token,
                   lambda s: conversations_service.accept(s, user, conversation_id))


@router.post("/c/{conversation_id}/resolve", response_class=HTMLResponse)
def resolve(request: Request, user: CurrentUser, conversation_id: PathId, csrf_token: CsrfField = "") -> Response:
    delay = get_ctx(request).settings.close_resolved_after_seconds
    return _action(request, user, conversation_id, csrf_token,
                   lambda s: conversations_service.resolve(s, user, conversation_id, close_after_seconds=delay))


@router.post("/c/{conversation_id}/release", response_class=HTMLResponse)
def release(request: Request, user: CurrentUser, conversation_id: PathId, csrf_token: CsrfField = "") -> Response:
    return _action(request, user, conversation_id, csrf_token,
                   lambda s: conversations_service.release(s, user, conversation_id))


@router.post("/c/{conversation_id}/send", response_class=HTMLResponse)
def send(
    request: Request,
    user: CurrentUser,
    conversation_id: PathId,
    text: Annotated[str, Form(max_length=20000)] = "",
    client_id: Annotated[str, Form(max_length=64)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    ctx = get_ctx(request)
    msg = submit(request, csrf_token, lambda session: message_to_dict(conversations_service.send_agent_message(
        session, user, conversation_id, text, client_id=client_id or None, max_chars=ctx.settings.max_message_chars,
    ).message))
    if isinstance(msg, Rejected):
        return page(request, "console/_send_error.html", status_code=msg.status, error=msg.message)
    return page(request, "console/_message.html", m=msg, oob_clear=True)


@router.post("/c/{conversation_id}/note", response_class=HTMLResponse)
def note(request: Request, user: CurrentUser, conversation_id: PathId,
         text: Annotated[str, Form(max_length=20000)] = "", csrf_token: CsrfField = "") -> Response:
    """An internal note from the reply box's 内部备注 mode: shown to staff only, never sent to the visitor."""
    note_dict = submit(request, csrf_token, lambda session: message_to_dict(
        conversations_service.post_internal_note(session, user, conversation_id, text)))
    if isinstance(note_dict, Rejected):
        return page(request, "console/_send_error.html", status_code=note_dict.status, error=note_dict.message)
    return page(request, "console/_message.html", m=note_dict, oob_clear=True)


def _tags_fragment(request: Request, user: User, conversation_id: int, *, typed: str | None = None,
                   error: str | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
    return page(request, "console/_tags.html", status_code=status_code, conv=conv, tags_typed=typed,
                tags_error=error, tags_open=error is not None)


@router.post("/c/{conversation_id}/tags", response_class=HTMLResponse)
def set_tags(request: Request, user: CurrentUser, conversation_id: PathId,
             tags: Annotated[str, Form(max_length=1000)] = "", csrf_token: CsrfField = "") -> Response:
    """Replaces the conversation's tags with what was typed (comma, space or 、 separated); empty clears them."""
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        conversations_service.get(session, user.org_id, conversation_id)  # another org's: 404 before anything
    done = submit(request, csrf_token,
                  lambda session: conversations_service.set_tags(session, user, conversation_id, tags))
    if isinstance(done, Rejected):
        return _tags_fragment(request, user, conversation_id, typed=tags, error=done.message,
                              status_code=done.status)
    return _tags_fragment(request, user, conversation_id)


@router.get("/c/{conversation_id}/transcript", response_class=HTMLResponse)
def transcript(request: Request, user: CurrentUser, conversation_id: PathId) -> Response:
    """An earlier conversation of a contact, read-only (opened from the history beside the chat); notes included.
    Nothing is marked read and no action is offered."""
    with get_ctx(request).db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        summary = conversations_service.summary(session, conv)
        msgs = conversations_service.messages_as_dicts(session, user.org_id, conv.id)
    context: dict[str, Any] = {"conv": conv, "summary": summary, "messages": msgs,
                               "state_label": STATE_LABELS[conv.state],
               "user": user}
    if request.headers.get("hx-request") == "true":
        return page(request, "console/_transcript.html", **context)
    return page(request, "console/transcript.html", **context)


@router.post("/contacts/{contact_id}", response_class=HTMLResponse)
def update_contact(
    request: Request,
    user: CurrentUser,
    contact_id: PathId,
    conversation_id: Annotated[int, Form()],
    name: Annotated[str, Form(max_length=1000)] = "",
    phone: Annotated[str | None, Form(max_length=100)] = None,
    wechat_id: Annotated[str, Form(max_length=1000)] = "",
    notes: Annotated[str, Form(max_length=20000)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    ctx = get_ctx(request)
    errors: dict[str, str] = {}
    with ctx.db.session() as session:
        conv = conversations_service.get(session, user.org_id, conversation_id)
        contact = contacts_service.get(session, user.org_id, contact_id)
        if conv.contact_id != contact.id:
            raise NotFoundError("Contact", contact_id)
        if not csrf_ok(request, csrf_token):
            errors["form"] = "页面已过期，请刷新后重试"
        else:
            # A masked number shown to the agent comes back unchanged: keep the stored one.
            phone_in = phone if (phone is not None and can_see_phone(user, conv)) else None
            try:
                contacts_service.update_details(session, contact, name=name, phone=phone_in,
                                                wechat_id=wechat_id, notes=notes)
                session.commit()
            except DomainError as exc:
                session.rollback()
                errors[exc.field or "form"] = exc.message
        view = _contact_view(contacts_service.get(session, user.org_id, contact_id), user, conv)
        _phone_seen(request, session, user, "console.contact", contact_id,
                    bool(view["phone_visible"] and view["phone"]))
        session.commit()
    return page(request, "console/_contact.html", status_code=422 if errors else 200, contact=view,
                conv=conv, errors=errors, saved=not errors)


def agent_renderer(ev: events.DomainEvent) -> dict[str, Any] | None:
    data = ev.data
    if ev.type == "message.created":
        return {"type": "message", "conversation_id": data["message"]["conversation_id"],
                "message": data["message"], "conversation": data["conversation"]}
    if ev.type == "message.updated":  # e.g. how its delivery through the visitor's channel went
        return {"type": "message_updated", "conversation_id": data["message"]["conversation_id"],
                "message": data["message"]}
    if ev.type == "typing.visitor":  # ``preview``: the visitor's draft, empty when they stopped typing
        return {"type": "typing", "conversation_id": data["conversation_id"],
                "preview": data.get("draft", data.get("preview", ""))}
    if ev.type == "conversation.rated":
        return {"type": "rated", "conversation_id": data["conversation"]["id"], "score": data.get("score"),
                "comment": data.get("comment")}
    if ev.type.startswith("conversation."):
        return {"type": "conversation", "event": ev.type, "conversation": data["conversation"]}
    if ev.type.startswith("ticket."):  # a notice only (who, which ticket): the ticket page shows the rest
        ticket = data.get("ticket") or {}
        return {"type": "ticket", "event": ev.type, "ticket": {
            "id": ticket.get("id"), "subject": ticket.get("subject"), "assignee_id": ticket.get("assignee_id"),
            "status_label": ticket.get("status_label")}, "user_ids": list(data.get("user_ids") or [])}
    if ev.type == "agent.status":
        return {"type": "agent_status", "user_id": data.get("user_id"), "status": data.get("status")}
    if ev.type == "lead.updated":  # ids only: each console fetches the card with its own masking rules
        return {"type": "lead", "contact_id": data["contact_id"], "lead_id": data["lead_id"],
                "fields": data["fields"]}
    return None


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # non-browser clients send no Origin; the session cookie still has to be valid
    host = websocket.headers.get("host", "")
    return urlparse(origin).netloc == host


@ws_router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket) -> None:
    """The console's socket (docs/protocol.md). Accepted before anything is checked, so that 4401/4403 reach the
    browser as close codes rather than an HTTP 403 that browsers report as 1006."""
    ctx = get_ctx(websocket)
    await websocket.accept()
    if not _same_origin(websocket):
        await websocket.close(code=CLOSE_FORBIDDEN, reason="cross-origin")
        return
    try:
        user = await anyio.to_thread.run_sync(user_from_session, websocket)
    except DATABASE_UNAVAILABLE as exc:  # restarting or unreachable: "try again later", the console reconnects
        log.error("agent_socket_database_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="database unavailable, try again")
        return
    except Exception:  # anything else: 1011 tells the console to retry; a dropped socket says less
        log.exception("agent_socket_open_failed")
        await websocket.close(code=CLOSE_INTERNAL_ERROR, reason="server error, try again")
        return
    if user is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="login required")
        return
    conn = Connection(websocket, [conversations_service.agents_topic(user.org_id)], agent_renderer,
                      org_id=user.org_id, user_id=user.id)
    ctx.hub.add(conn)
    conn.offer({"type": "hello", "user": {"id": user.id, "name": user.display_name, "role": user.role.value}})
    try:
        while (raw := await receive_frame(websocket, ctx.settings.max_frame_bytes)) is not None:
            command = agent_frames.parse(raw)
            if isinstance(command, FrameProblem):
                conn.offer(command.as_frame())
            elif isinstance(command, AgentPing):
                conn.offer({"type": "pong"})
            else:
                try:
                    await anyio.to_thread.run_sync(_agent_typing, ctx, user, command.conversation_id,
                                                   command.is_typing)
                except Exception:
                    log.exception("agent_frame_failed", org_id=user.org_id)
                    conn.offer(FrameProblem(INTERNAL_ERROR, "服务器暂时无法处理，请稍后重试").as_frame())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await ctx.hub.remove(conn)


def _agent_typing(ctx: AppContext, user: User, conversation_id: int, is_typing: bool) -> None:
    with ctx.db.session() as session:
        try:
            conv = conversations_service.get(session, user.org_id, conversation_id)
        except NotFoundError:
            return
        contact_id = conv.contact_id
    ctx.bus.publish([events.DomainEvent(
        type="typing.agent", org_id=user.org_id, data={"conversation_id": conversation_id, "is_typing": is_typing},
        topics=(conversations_service.contact_topic(contact_id),),
    )])

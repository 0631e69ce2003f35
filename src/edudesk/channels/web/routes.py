"""HTTP and WebSocket edges of the web chat widget (see docs/protocol.md). They only parse and render; every
change goes through ``inbound.service`` / ``conversations.service``."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import structlog
from fastapi import APIRouter, File, Header, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import QueryParams
from starlette.requests import HTTPConnection

from edudesk import events
from edudesk.apischema import error_responses
from edudesk.bot import service as bot_service
from edudesk.catalog import service as catalog_service
from edudesk.channels.web import frames
from edudesk.channels.web.schemas import AttachmentOut, SessionRequest, WidgetSession
from edudesk.channels.web.uploads import clean_filename, new_storage_key, path_for, sniff_image
from edudesk.channels.web.visitor_session import CHANNEL, PageContext, VisitorSession, hello_extras
from edudesk.channels.web.visitor_token import VisitorIdentity, VisitorTokens, tokens_for
from edudesk.contacts import service as contacts_service
from edudesk.context import AppContext, get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.conversations.schemas import attachment_to_dict
from edudesk.conversations.states import ConversationState
from edudesk.csat import service as csat_service
from edudesk.db import DATABASE_UNAVAILABLE
from edudesk.inputs import PathId
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org
from edudesk.ratelimit import client_address, limiter_of
from edudesk.realtime import Connection, receive_frame
from edudesk.routing import dispatch
from edudesk.security import deny_cors, origin_allowed, own_origin
from edudesk.visitors import service as visitors_service
from edudesk.visitors.runtime import live_of
from edudesk.visitors.tracker import looks_like_crawler
from edudesk.web import error_response, page
from edudesk.wsframes import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NOT_FOUND,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    MAX_ROW_ID,
)

router = APIRouter()
log = structlog.get_logger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _tokens(ctx: AppContext) -> VisitorTokens:
    return tokens_for(ctx.settings.secret_key)


def _conversation_payload(session: Any, org_id: int, contact_id: int | None) -> dict[str, Any]:
    empty: dict[str, Any] = {"conversation_id": None, "state": None, "messages": [], "agent": None,
                             "csat_pending": False, "queue": None}
    if contact_id is None:
        return empty
    conv = conversations_service.current_for_contact(session, org_id, contact_id)
    if conv is None:
        return empty
    agent = None
    if conv.state in (ConversationState.assigned, ConversationState.resolved) and conv.assignee_id:
        summary = conversations_service.summary(session, conv)
        agent = {"name": summary["assignee_name"]}
    return {
        "conversation_id": conv.id,
        "state": conv.state.value,
        "messages": conversations_service.messages_as_dicts(session, org_id, conv.id, include_internal=False),
        "agent": agent,
        "csat_pending": conv.state == ConversationState.resolved and conv.csat_score is None,
        # A waiting visitor who reloads the page sees their place at once, not only at the next queue move.
        "queue": dispatch.queue_status(session, conv) if conv.state == ConversationState.queued else None,
    }


@router.post("/api/v1/widget/session", tags=["widget"], response_model=WidgetSession,
             responses=error_responses(400, 401, 404, 422, 429))
def widget_session(request: Request, body: SessionRequest) -> Response:
    """Identify (or newly issue) the visitor and return what the widget needs to draw itself."""
    ctx = get_ctx(request)
    tokens = _tokens(ctx)
    limiter, ip = limiter_of(request), client_address(request)
    limiter.check("widget_session", ip=ip)
    with ctx.db.session() as session:
        org = orgs_service.get_by_public_key(session, body.org_key)
        if org is None:
            return error_response(404, "unknown_org", "机构不存在或在线咨询已停用", "org_key")
        if not origin_ok(ctx, request, org):
            return origin_refused(request)
        limiter.check("widget_session", org_id=org.id)
        ident: VisitorIdentity | None
        if body.token:
            ident = tokens.read(body.token)
            if ident is None or ident.org_id != org.id:
                return error_response(401, "invalid_token", "访客凭证无效", "token")
            token = body.token
        else:
            # A new identity is where a contact can come from (at the socket's open), so it has its own, tighter
            # limit; this call itself stores nothing (contact_id stays null until the socket opens).
            limiter.check("widget_identity", ip=ip, org_id=org.id)
            token, ident = tokens.issue(org.id)
        contact = contacts_service.find_by_identity(session, org.id, CHANNEL, ident.visitor_id)
        if contact is not None and body.page_url:
            contacts_service.touch(session, contact, page_url=body.page_url)
        org_bot = ctx.bots.get(session, org.id)
        conversation = _conversation_payload(session, org.id, contact.id if contact else None)
        categories = (bot_service.conversation_categories(session, org.id, conversation["conversation_id"])
                      if conversation["conversation_id"] else [])
        # 千人千面: the org's rule for this page, source and profile may replace the welcome, hot and guess.
        personal = visitors_service.for_session(session, org.id, contact.id if contact else None,
                                                page_url=body.page_url or "", referrer=body.referrer or "",
                                                visitor_key=ident.visitor_id)
        payload = {
            "token": token,
            "contact_id": contact.id if contact else None,
            "org": {"name": org.name, "welcome": (personal and personal.welcome) or org_bot.welcome_text,
                    "color": org.widget_color},
            "max_upload_bytes": ctx.settings.max_upload_bytes,
            "hot": (personal and personal.hot) or list(org_bot.hot_questions),
            "guess": (personal and personal.guess)
            or bot_service.guesses(org_bot, page_title=body.page_title, categories=categories),
            "personal_rule_id": personal.rule_id if personal else None,
            "csat": csat_service.widget_config(org),
            **conversation,
        }
        session.commit()
    return Response(json.dumps(payload, ensure_ascii=False), media_type="application/json")


def origin_ok(ctx: AppContext, conn: HTTPConnection, org: Org) -> bool:
    """The page calling (its Origin header) is on the org's widget allow-list, or the list is empty."""
    return origin_allowed(list(org.widget_origins or ()), conn.headers.get("origin"),
                          own_origin(ctx.settings.base_url))


def origin_refused(request: Request) -> Response:
    deny_cors(request)
    return error_response(403, "origin_not_allowed", "此网站未获准使用该机构的在线咨询", "origin")


def _visitor_from_token(ctx: AppContext, token: str | None) -> tuple[VisitorIdentity, Org] | None:
    ident = _tokens(ctx).read(token)
    if ident is None:
        return None
    with ctx.db.session() as session:
        org = session.get(Org, ident.org_id)
        if org is None:
            return None
        session.expunge(org)
    return ident, org


@router.post("/api/v1/widget/attachments", tags=["widget"], status_code=201, response_model=AttachmentOut,
             responses=error_responses(400, 401, 413, 415, 422, 429))
async def upload_attachment(
    request: Request,
    file: Annotated[UploadFile, File()],
    x_visitor_token: Annotated[str | None, Header()] = None,
) -> Response:
    ctx = get_ctx(request)
    found = _visitor_from_token(ctx, x_visitor_token)
    if found is None:
        return error_response(401, "invalid_token", "访客凭证无效", "token")
    ident, org = found
    if not origin_ok(ctx, request, org):
        return origin_refused(request)
    await anyio.to_thread.run_sync(functools.partial(
        limiter_of(request).check, "upload", ip=client_address(request), org_id=org.id))
    limit = ctx.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if not data:
        return error_response(400, "empty_file", "文件为空", "file")
    if len(data) > limit:
        return error_response(413, "too_large", f"图片不能超过 {limit // (1024 * 1024)} MB", "file")
    content_type = sniff_image(data[:16])
    if content_type is None:
        return error_response(415, "bad_type", "只支持 PNG、JPEG、GIF 或 WebP 图片", "file")
    key = new_storage_key()
    target = path_for(ctx.settings.upload_dir, org.id, key)

    def store() -> dict[str, Any]:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        with ctx.db.session() as session:
            contact = contacts_service.find_or_create(session, org.id, CHANNEL, ident.visitor_id)
            att = conversations_service.add_attachment(
                session, org.id, contact.id, storage_key=key, content_type=content_type, size=len(data),
                name=clean_filename(file.filename),
            )
            session.commit()
            return attachment_to_dict(att) or {}

    return Response(json.dumps(await anyio.to_thread.run_sync(store), ensure_ascii=False),
                    media_type="application/json", status_code=201)


_IMAGE_CONTENT = {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES}


@router.get("/api/v1/attachments/{attachment_id}/{key}", tags=["widget"], response_class=FileResponse,
            responses={200: {"description": "the image", "content": _IMAGE_CONTENT}, **error_responses(404, 422)})
def get_attachment(request: Request, attachment_id: PathId, key: str) -> Response:
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        att = conversations_service.find_attachment(session, attachment_id, key)
        if att is None:
            return error_response(404, "not_found", "文件不存在")
        path = path_for(ctx.settings.upload_dir, att.org_id, att.storage_key)
        content_type = att.content_type
    if not path.exists():
        return error_response(404, "not_found", "文件不存在")
    return FileResponse(path, media_type=content_type, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline",
        "Cache-Control": "private, max-age=86400",
        "Content-Security-Policy": "default-src 'none'",
    })


def visitor_renderer(ev: events.DomainEvent, csat: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """One event as the visitor's frame; ``csat`` (the org's question and scale) rides on frames that ask for a
    rating, so the widget draws the right control."""
    data = ev.data
    if ev.type == "message.created":
        msg = data["message"]
        if msg.get("internal"):
            return None
        return {"type": "message", "message": msg}
    if ev.type == "message.updated":
        return {"type": "message_updated", "message": data["message"]}
    if ev.type == "typing.agent":
        return {"type": "typing", "who": "agent", "is_typing": bool(data.get("is_typing"))}
    if ev.type == "conversation.assigned":
        return {"type": "agent_joined", "agent": data.get("agent") or {},
                "state": data["conversation"]["state"]}
    if ev.type == "queue.position":
        return {"type": "queue", "position": data["position"], "wait_seconds": data["wait_seconds"],
                "text": data["text"]}
    if ev.type == "visitor.invited":
        return invite_frame(data)
    if ev.type == "conversation.rated":
        return {"type": "rated", "score": data.get("score")}
    if ev.type.startswith("conversation."):
        conv = data["conversation"]
        pending = conv["state"] == "resolved" and conv.get("csat_score") is None
        frame = {"type": "state", "conversation_id": conv["id"], "state": conv["state"], "csat_pending": pending}
        if pending and csat is not None:
            frame["csat"] = csat
        return frame
    return None


@functools.lru_cache(maxsize=256)
def renderer_for(question: str, scale: int) -> Callable[[events.DomainEvent], dict[str, Any] | None]:
    """The visitor renderer with an org's rating question: one per question and scale, shared by every socket of
    the orgs that ask it (a partial, its keywords and the ``csat`` object per socket were ~0.5 KB each)."""
    return functools.partial(visitor_renderer, csat={"question": question, "scale": scale})


@dataclass(frozen=True)
class VisitorConnect:
    """What a visitor socket needs once its token and query string have been checked."""

    ident: VisitorIdentity
    org: Org
    contact_id: int
    page: PageContext
    hello: dict[str, Any]


def _after(value: str) -> int | None:
    """The ``after`` query parameter: the last message id the widget has, 0 or absent for none."""
    if not value:
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) > MAX_ROW_ID:
        return None
    return int(value)


def _connect_visitor(ctx: AppContext, query: QueryParams, origin: str | None = None
                     ) -> VisitorConnect | tuple[int, str]:
    """The socket's visitor, contact and ``hello`` payload, or the close code and reason that refuse it."""
    after = _after(query.get("after", ""))
    if after is None:
        return CLOSE_BAD_REQUEST, "after must be a message id"
    ident = _tokens(ctx).read(query.get("token"))
    if ident is None:
        return CLOSE_UNAUTHORIZED, "invalid token"
    page = PageContext.from_query(query.get("page_url", ""), query.get("page_title", ""), query.get("referrer", ""))
    with ctx.db.session() as session:
        org = session.get(Org, ident.org_id)
        if org is None:
            return CLOSE_NOT_FOUND, "unknown org"
        if not origin_allowed(list(org.widget_origins or ()), origin, own_origin(ctx.settings.base_url)):
            return CLOSE_FORBIDDEN, "origin not allowed"
        contact = contacts_service.find_or_create(session, org.id, CHANNEL, ident.visitor_id, page_url=page.url)
        contacts_service.touch(session, contact, page_url=page.url)
        # The trail written before this visitor was a contact becomes theirs (and where they came from, their
        # first touch); later page views are linked by the writer.
        visitors_service.link_contact(session, org.id, ident.visitor_id, contact.id)
        session.commit()
        hello = _conversation_payload(session, org.id, contact.id)
        hello["messages"] = [m for m in hello["messages"] if m["id"] > after]
        contact_id = contact.id
        session.expunge(org)
    return VisitorConnect(ident, org, contact_id, page, hello)


@router.websocket("/ws/visitor")
async def visitor_socket(websocket: WebSocket) -> None:
    """The widget's socket (docs/protocol.md). It is accepted before anything is checked, so that a refusal reaches
    the browser as a close code (4400/4401/4403/4404) instead of an HTTP 403 that every browser reports as 1006."""
    ctx = get_ctx(websocket)
    await websocket.accept()
    try:
        opened = await anyio.to_thread.run_sync(_connect_visitor, ctx, websocket.query_params,
                                                websocket.headers.get("origin"))
    except DATABASE_UNAVAILABLE as exc:  # restarting or unreachable: "try again later", the widget reconnects
        log.error("visitor_socket_database_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        opened = CLOSE_TRY_AGAIN_LATER, "database unavailable, try again"
    except Exception:  # anything else: say so (1011) rather than drop the connection (1006)
        log.exception("visitor_socket_open_failed")
        opened = CLOSE_INTERNAL_ERROR, "server error, try again"
    if isinstance(opened, tuple):
        await websocket.close(code=opened[0], reason=opened[1])
        return
    org_id, visitor_id = opened.org.id, opened.ident.visitor_id
    trail = getattr(websocket.app.state, "trail", None)
    if trail is not None:
        trail.recent.set_contact(org_id, visitor_id, opened.contact_id)
    csat = csat_service.widget_config(opened.org)
    conn = Connection(websocket, [conversations_service.contact_topic(opened.contact_id)],
                      renderer_for(csat["question"], csat["scale"]), org_id=org_id)
    ctx.hub.add(conn)
    live = _live_visitor(websocket, opened)
    if live is not None:  # on the live list before the widget hears hello (a test, or an agent, may look at once)
        await anyio.to_thread.run_sync(live)
    conn.offer({"type": "hello", **opened.hello, "csat": csat, **hello_extras(ctx)})
    vs = VisitorSession(ctx, org_id, opened.ident, opened.contact_id, opened.page, ip=client_address(websocket),
                        offer=conn.offer)
    listed = live is not None
    # The socket may stay open all evening: it keeps what the session needs, not the org row or the hello payload.
    del opened, live
    try:
        while (raw := await receive_frame(websocket, ctx.settings.max_frame_bytes)) is not None:
            reply = await vs.handle(frames.parse(raw))
            if reply is not None:
                conn.offer(reply)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await ctx.hub.remove(conn)
        if listed:
            await anyio.to_thread.run_sync(live_of(websocket).socket_closed, org_id, visitor_id)


def invite_frame(data: dict[str, Any]) -> dict[str, Any]:
    """An agent's (or a rule's) invitation: the widget opens with it, shown as from ``agent.name``."""
    return {"type": "invite", "invitation_id": data["invitation_id"], "text": data["text"],
            "agent": {"name": (data.get("agent") or {}).get("name")}, "sent_at": data.get("sent_at")}


def _live_visitor(websocket: WebSocket, opened: VisitorConnect) -> Callable[[], None] | None:
    """What puts this socket's visitor on the live list (docs/visitors.md); None for a crawler's socket."""
    if looks_like_crawler(websocket.headers.get("user-agent")):
        return None
    return functools.partial(live_of(websocket).socket_opened, opened.org.id, opened.ident.visitor_id,
                             opened.contact_id, opened.page.url, opened.page.title)


@router.get("/demo", include_in_schema=False, response_class=HTMLResponse)
def demo_page(request: Request, org: str | None = None) -> Response:
    """A sample institution home page with the widget embedded, as a customer's site would have it."""
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        stmt = select(Org).order_by(Org.id).limit(1) if not org else select(Org).where(Org.slug == org)
        row = session.scalars(stmt).first()
        if row is None:
            return error_response(404, "unknown_org", "机构不存在", "org")
        courses = catalog_service.list_courses(session, row.id)
        campuses = catalog_service.list_campuses(session, row.id)
    return page(request, "demo.html", org=row, courses=courses, campuses=campuses)

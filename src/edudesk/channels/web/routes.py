"""HTTP and WebSocket edges of the web chat widget (see docs/protocol.md). They only parse and render; every
change goes through ``inbound.service`` / ``conversations.service``."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Header, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select

from edudesk import events
from edudesk.apischema import error_responses
from edudesk.bot import service as bot_service
from edudesk.catalog import service as catalog_service
from edudesk.channels.base import InboundMessage
from edudesk.channels.web.schemas import AttachmentOut, SessionRequest, WidgetSession
from edudesk.channels.web.uploads import clean_filename, new_storage_key, path_for, sniff_image
from edudesk.channels.web.visitor_token import VisitorIdentity, VisitorTokens
from edudesk.contacts import service as contacts_service
from edudesk.context import AppContext, get_ctx
from edudesk.conversations import service as conversations_service
from edudesk.conversations.schemas import attachment_to_dict, message_to_dict
from edudesk.conversations.states import ConversationState
from edudesk.csat import service as csat_service
from edudesk.db import NotFoundError
from edudesk.errors import DomainError
from edudesk.inbound import service as inbound_service
from edudesk.inputs import PathId
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org
from edudesk.realtime import Connection
from edudesk.routing import dispatch
from edudesk.web import error_response, page

CHANNEL = "web"
MAX_FRAME_CHARS = 16_000
MAX_CLIENT_ID = 64
MAX_TYPING_PREVIEW = 200

router = APIRouter()
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _tokens(ctx: AppContext) -> VisitorTokens:
    return VisitorTokens(ctx.settings.secret_key)


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
    with ctx.db.session() as session:
        org = orgs_service.get_by_public_key(session, body.org_key)
        if org is None:
            return error_response(404, "unknown_org", "机构不存在或在线咨询已停用", "org_key")
        ident: VisitorIdentity | None
        if body.token:
            ident = tokens.read(body.token)
            if ident is None or ident.org_id != org.id:
                return error_response(401, "invalid_token", "访客凭证无效", "token")
            token = body.token
        else:
            token, ident = tokens.issue(org.id)
        contact = contacts_service.find_by_identity(session, org.id, CHANNEL, ident.visitor_id)
        if contact is not None and body.page_url:
            contacts_service.touch(session, contact, page_url=body.page_url)
        org_bot = ctx.bots.get(session, org.id)
        conversation = _conversation_payload(session, org.id, contact.id if contact else None)
        categories = (bot_service.conversation_categories(session, org.id, conversation["conversation_id"])
                      if conversation["conversation_id"] else [])
        payload = {
            "token": token,
            "contact_id": contact.id if contact else None,
            "org": {"name": org.name, "welcome": org_bot.welcome_text, "color": org.widget_color},
            "max_upload_bytes": ctx.settings.max_upload_bytes,
            "hot": list(org_bot.hot_questions),
            "guess": bot_service.guesses(org_bot, page_title=body.page_title, categories=categories),
            "csat": csat_service.widget_config(org),
            **conversation,
        }
        session.commit()
    return Response(json.dumps(payload, ensure_ascii=False), media_type="application/json")


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


@dataclass(frozen=True)
class PageContext:
    """The page the visitor's socket was opened on: where a conversation (and a lead) came from."""

    url: str | None = None
    title: str | None = None
    referrer: str | None = None


MAX_PAYLOAD = 200


class FrameError(Exception):
    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.client_id = code, message, client_id


def _client_id(frame: dict[str, Any]) -> str:
    cid = frame.get("client_id")
    if not isinstance(cid, str) or not 1 <= len(cid) <= MAX_CLIENT_ID or not cid.isprintable():
        raise FrameError("bad_frame", "client_id 必须是 1–64 个字符的字符串")
    return cid


def _parse(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_FRAME_CHARS:
        raise FrameError("too_long", "消息过长")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise FrameError("bad_json", "无法解析的消息格式") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("bad_frame", "消息缺少 type")
    return frame


class VisitorSession:
    """One visitor socket: parses frames and calls the services in a worker thread."""

    def __init__(self, ctx: AppContext, org: Org, ident: VisitorIdentity, contact_id: int, page: PageContext
                 ) -> None:
        self.ctx, self.org, self.ident, self.contact_id, self.page = ctx, org, ident, contact_id, page

    def post(self, frame: dict[str, Any]) -> dict[str, Any]:
        cid = _client_id(frame)
        text = frame.get("text", "")
        att = frame.get("attachment_id")
        if not isinstance(text, str) or (att is not None and (not isinstance(att, int) or isinstance(att, bool))):
            raise FrameError("bad_frame", "text 必须是字符串，attachment_id 必须是整数", cid)
        payload = frame.get("payload")
        if payload is not None and (not isinstance(payload, str) or not 1 <= len(payload) <= MAX_PAYLOAD):
            raise FrameError("bad_frame", f"payload 必须是 1–{MAX_PAYLOAD} 个字符的字符串", cid)
        msg = InboundMessage(org_id=self.org.id, channel=CHANNEL, external_user_id=self.ident.visitor_id,
                             client_message_id=cid, text=text, attachment_id=att, payload=payload,
                             page_url=self.page.url,
                             page_title=self.page.title, referrer=self.page.referrer)
        ctx = self.ctx
        try:
            with ctx.db.session() as session:
                result = inbound_service.receive(
                    session, msg, agents_online=lambda: ctx.hub.presence.any_online(self.org.id),
                    max_chars=ctx.settings.max_message_chars,
                    max_per_minute=ctx.settings.visitor_messages_per_minute, bots=ctx.bots,
                    name_model=ctx.settings.name_model,
                )
                session.commit()
                att_row = (conversations_service.get_attachment(session, self.org.id, result.message.attachment_id)
                           if result.message.attachment_id else None)
                from_db = message_to_dict(result.message, att_row)
        except DomainError as exc:
            raise FrameError(exc.code, exc.message, cid) from None
        return {"type": "ack", "client_id": cid, "message": from_db}

    def rate(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        score, comment = frame.get("score"), frame.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise FrameError("bad_frame", "comment 必须是字符串")
        try:
            with self.ctx.db.session() as session:
                conversations_service.rate(session, self.org.id, self.contact_id, score, comment)  # type: ignore[arg-type]
                session.commit()
        except DomainError as exc:
            raise FrameError(exc.code, exc.message) from None
        return None

    def feedback(self, frame: dict[str, Any]) -> None:
        message_id, helpful = frame.get("message_id"), frame.get("helpful")
        if not isinstance(message_id, int) or isinstance(message_id, bool) or not isinstance(helpful, bool):
            raise FrameError("bad_frame", "message_id 必须是整数，helpful 必须是 true 或 false")
        try:
            with self.ctx.db.session() as session:
                inbound_service.feedback(session, self.org.id, self.contact_id, message_id, helpful)
                session.commit()
        except NotFoundError:
            raise FrameError("not_found", "消息不存在") from None
        except DomainError as exc:
            raise FrameError(exc.code, exc.message) from None

    def opened(self) -> None:
        """The chat window was opened: a greeting script may start (its messages arrive as usual)."""
        with self.ctx.db.session() as session:
            contact = contacts_service.get(session, self.org.id, self.contact_id)
            inbound_service.widget_opened(session, self.org.id, contact, CHANNEL, bots=self.ctx.bots,
                                          page_url=self.page.url, page_title=self.page.title)
            session.commit()

    def typing(self, frame: dict[str, Any]) -> None:
        # ``{"is_typing": bool, "draft": str}``; widgets of the previous release send the draft as ``text``.
        text = frame.get("draft", frame.get("text", ""))
        is_typing = frame.get("is_typing", True)
        if not isinstance(text, str) or not isinstance(is_typing, bool):
            raise FrameError("bad_frame", "draft 必须是字符串，is_typing 必须是 true 或 false")
        if not is_typing:
            text = ""
        with self.ctx.db.session() as session:
            conv = conversations_service.current_for_contact(session, self.org.id, self.contact_id)
            if conv is None or conv.state not in (ConversationState.queued, ConversationState.assigned):
                return
            conv_id = conv.id
        self.ctx.bus.publish([events.DomainEvent(
            type="typing.visitor", org_id=self.org.id,
            data={"conversation_id": conv_id, "draft": text[:MAX_TYPING_PREVIEW]},
            topics=(conversations_service.agents_topic(self.org.id),),
        )])


@router.websocket("/ws/visitor")
async def visitor_socket(websocket: WebSocket, token: str = "", after: int = 0, page_url: str = "",
                         page_title: str = "", referrer: str = "") -> None:
    ctx = get_ctx(websocket)
    found = await anyio.to_thread.run_sync(_visitor_from_token, ctx, token)
    if found is None:
        await websocket.close(code=4401, reason="invalid token")
        return
    ident, org = found

    page = PageContext(url=page_url[:1000] or None, title=page_title[:300] or None, referrer=referrer[:1000] or None)

    def prepare() -> tuple[int, dict[str, Any]]:
        with ctx.db.session() as session:
            contact = contacts_service.find_or_create(session, org.id, CHANNEL, ident.visitor_id, page_url=page.url)
            contacts_service.touch(session, contact, page_url=page.url)
            session.commit()
            payload = _conversation_payload(session, org.id, contact.id)
            payload["messages"] = [m for m in payload["messages"] if m["id"] > after]
            return contact.id, payload

    contact_id, hello = await anyio.to_thread.run_sync(prepare)
    await websocket.accept()
    csat = csat_service.widget_config(org)
    conn = Connection(websocket, [conversations_service.contact_topic(contact_id)],
                      functools.partial(visitor_renderer, csat=csat), org_id=org.id)
    ctx.hub.add(conn)
    conn.offer({"type": "hello", **hello, "csat": csat})
    vs = VisitorSession(ctx, org, ident, contact_id, page)
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                frame = _parse(raw)
                kind = frame["type"]
                if kind == "message":
                    conn.offer(await anyio.to_thread.run_sync(vs.post, frame))
                elif kind == "typing":
                    await anyio.to_thread.run_sync(vs.typing, frame)
                elif kind == "rate":
                    await anyio.to_thread.run_sync(vs.rate, frame)
                elif kind == "feedback":
                    await anyio.to_thread.run_sync(vs.feedback, frame)
                elif kind == "opened":
                    await anyio.to_thread.run_sync(vs.opened)
                elif kind == "ping":
                    conn.offer({"type": "pong"})
                else:
                    raise FrameError("bad_frame", f"未知的消息类型 {kind[:32]}")
            except FrameError as exc:
                err: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
                if exc.client_id:
                    err["client_id"] = exc.client_id
                conn.offer(err)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await ctx.hub.remove(conn)


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

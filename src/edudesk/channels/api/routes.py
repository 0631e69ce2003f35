"""The API channel's HTTP edge: an integrator posts its users' messages and reads their transcripts back.

Both routes take an org API token with the ``channels:write`` scope; an inbox of another org (or disabled, or
not an API inbox) is 404, like one that does not exist. Posting is idempotent on the caller's ``message_id``: a
resend answers 200 with what the first post stored and nothing is answered twice. Everything else is the inbound
orchestrator's, exactly as for a widget or WeChat message (bot, 话术, lead capture, hand-over, tickets).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk.apischema import error_responses
from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.channels.api.common import CAPABILITIES, KIND, SCOPE, absolute
from edudesk.channels.api.schemas import MessageAccepted, MessageIn, Transcript
from edudesk.channels.base import InboundMedia, InboundMessage, identity_kind
from edudesk.contacts import service as contacts_service
from edudesk.context import AppContext, get_ctx
from edudesk.conversations import schemas as conversations_schemas
from edudesk.conversations import service as conversations_service
from edudesk.db import NotFoundError
from edudesk.errors import DomainError
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.inputs import MAX_DB_ID
from edudesk.ratelimit import RateLimited, client_address, limiter_of

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/channels", tags=["channels"])
Auth = Annotated[TokenAuth, Depends(api_token(SCOPE))]
InboxId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$",
                              description="the inbox's public id (shown on its settings page)")]
UserId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
CLIENT_ID_MAX = 64  # what a stored message's client id holds
TRANSCRIPT_MAX = 200
IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
                    (b"GIF89a", "image/gif"))


class InboundRefused(DomainError):
    status_code = 400


def client_message_id(message_id: str) -> str:
    """The caller's message id as the stored client id: as posted when it fits the column, else a digest (the
    same id always gives the same digest, so resends are still recognised)."""
    if len(message_id) <= CLIENT_ID_MAX:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()[:CLIENT_ID_MAX - 7]


def _inbox(session: Session, auth: TokenAuth, public_id: str) -> Inbox:
    """The token's org's enabled API inbox; anything else is the same 404 (nothing tells another org's inbox
    from one that does not exist)."""
    inbox = inboxes_service.by_public_id(session, KIND, public_id)
    if inbox.org_id != auth.org_id:
        raise NotFoundError("inbox", public_id)
    return inbox


def sniff_image(head: bytes) -> str | None:
    for magic, content_type in IMAGE_SIGNATURES:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _media(ctx: AppContext, encoded: str | None) -> InboundMedia | None:
    if encoded is None:
        return None
    limit = ctx.settings.max_upload_bytes
    if len(encoded) > (limit + 2) // 3 * 4 + 4:
        raise _Too(f"图片不能超过 {limit // (1024 * 1024) or 1} MB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InboundRefused("bad_image", "image 不是有效的 base64", "image") from None
    if not data:
        raise InboundRefused("bad_image", "图片为空", "image")
    if len(data) > limit:
        raise _Too(f"图片不能超过 {limit // (1024 * 1024) or 1} MB")
    content_type = sniff_image(data[:16])
    if content_type is None:
        raise _Unsupported("只支持 PNG、JPEG、GIF 或 WebP 图片")
    return InboundMedia(content=data, content_type=content_type, filename="image." + content_type.split("/")[1])


class _Too(DomainError):
    status_code = 413

    def __init__(self, message: str) -> None:
        super().__init__("too_large", message, "image")


class _Unsupported(DomainError):
    status_code = 415

    def __init__(self, message: str) -> None:
        super().__init__("bad_type", message, "image")


def _check_text(ctx: AppContext, body: MessageIn) -> None:
    limit = ctx.settings.max_message_chars
    if len(body.text.strip()) > limit:
        raise InboundRefused("too_long", f"消息不能超过 {limit} 个字", "text")
    if not body.text.strip() and body.image is None:
        raise InboundRefused("empty_message", "text 和 image 不能都为空", "text")


def _receive(ctx: AppContext, session: Session, inbox: Inbox, body: MessageIn,
             media: InboundMedia | None) -> inbound_service.InboundResult:
    msg = InboundMessage(
        org_id=inbox.org_id, channel=KIND, external_user_id=body.user_id,
        client_message_id=client_message_id(body.message_id), text=body.text, payload=body.payload,
        inbox_id=inbox.id, media=media, campaign=body.campaign, attribution=dict(body.attribution),
        capabilities=CAPABILITIES)
    contact = None
    if body.user is not None and body.user.name.strip():
        contact = contacts_service.find_or_create(session, inbox.org_id, identity_kind(KIND, inbox.id), body.user_id)
        if not contact.name:  # the integrator's name is a first guess; an agent's correction stays
            contacts_service.update_details(session, contact, name=body.user.name)
    try:
        return inbound_service.receive(
            session, msg, agents_online=lambda: ctx.hub.presence.any_online(inbox.org_id),
            max_chars=ctx.settings.max_message_chars, max_per_minute=ctx.settings.visitor_messages_per_minute,
            contact=contact, bots=ctx.bots, name_model=ctx.settings.name_model, upload_dir=ctx.settings.upload_dir,
            llm=ctx.llm)
    except inbound_service.InboundError as exc:
        if exc.code == "rate_limited":  # this user's own per-minute limit (EDUDESK_VISITOR_MESSAGES_PER_MINUTE)
            raise RateLimited("visitor_message", "user", 60) from None
        raise InboundRefused(exc.code, exc.message, exc.field) from None


@router.post("/{inbox_public_id}/messages", status_code=201, response_model=MessageAccepted,
             summary="API 渠道：发送一条用户消息",
             responses={200: {"model": MessageAccepted, "description": "同一 message_id 的重发：返回第一次保存的消息"},
                        **error_responses(400, 401, 403, 404, 413, 415, 422, 429)})
def post_message(request: Request, inbox_public_id: InboxId, body: MessageIn, auth: Auth) -> Response:
    """Stores the user's message in their conversation on the inbox and lets the bot (or the agent who has the
    conversation) answer it; answers reach the inbox's callback URL as signed ``message.outbound`` webhooks."""
    ctx = get_ctx(request)
    limiter_of(request).check("api_message", ip=client_address(request), org_id=auth.org_id)
    _check_text(ctx, body)
    media = _media(ctx, body.image)
    for attempt in (1, 2):
        with ctx.db.session() as session:
            inbox = _inbox(session, auth, inbox_public_id)
            try:
                result = _receive(ctx, session, inbox, body, media)
                session.commit()
            except IntegrityError:
                # The same message_id posted twice at the same moment: the other request stored it first. Asked
                # again, the orchestrator finds that message and answers with it.
                session.rollback()
                if attempt == 2:
                    raise
                log.info("api_channel_concurrent_resend", inbox=inbox_public_id)
                continue
            out = {"id": result.message.id, "conversation_id": result.conversation.id,
                   "message_id": body.message_id}
        break
    return Response(json.dumps(out, ensure_ascii=False), media_type="application/json",
                    status_code=201 if result.created else 200)


@router.get("/{inbox_public_id}/conversations/{user_id:path}/messages", response_model=Transcript,
            summary="API 渠道：读取用户的会话消息",
            responses=error_responses(401, 403, 404, 422, 429))
def transcript(request: Request, inbox_public_id: InboxId, user_id: UserId, auth: Auth,
               after_id: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
               limit: Annotated[int, Query(ge=1, le=TRANSCRIPT_MAX)] = 100) -> dict[str, Any]:
    """The user's messages on this inbox, oldest first, after ``after_id`` (staff notes never leave the console):
    what a client that polls instead of receiving webhooks reads. An unknown user has no messages."""
    ctx = get_ctx(request)
    base_url = ctx.settings.base_url
    with ctx.db.session() as session:
        inbox = _inbox(session, auth, inbox_public_id)
        contact = contacts_service.find_by_identity(session, auth.org_id, identity_kind(KIND, inbox.id), user_id)
        rows = [] if contact is None else conversations_service.transcript_of_contact(
            session, auth.org_id, contact.id, inbox_id=inbox.id, after_id=after_id, limit=limit + 1)
        messages = [_transcript_message(m, a, base_url) for m, a in rows[:limit]]
    return {"user_id": user_id, "messages": messages, "has_more": len(rows) > limit}


def _transcript_message(msg: Any, att: Any, base_url: str) -> dict[str, Any]:
    extra = msg.extra or {}
    return {
        "id": msg.id, "conversation_id": msg.conversation_id,
        "message_id": msg.client_id if msg.sender == "visitor" else None,
        "sender": msg.sender.value, "sender_name": msg.sender_name, "text": msg.text,
        "buttons": [{"label": str(b.get("label", "")), "payload": str(b.get("payload", b.get("label", "")))}
                    for b in extra.get("buttons") or () if isinstance(b, dict)],
        "images": [absolute(base_url, str(u)) for u in extra.get("images") or ()],
        "attachment_url": absolute(base_url, conversations_schemas.attachment_url(att)) if att is not None else None,
        "created_at": msg.created_at.isoformat(),
    }

"""One callback, from the checked request to what is stored: dedupe, fetch what WeChat only names (a picture's or a
voice note's MediaId, the UnionID), then the inbound orchestrator — all before answering WeChat ``success``.

Nothing is answered in the HTTP reply (no passive reply): the bot's and agents' answers go out through the outbox
and the customer-service API, so WeChat's 5-second limit on passive replies never matters. What must happen
before the answer is only what makes the message safe: stored, or knowingly dropped.

Dedupe: a message by its MsgId, an event by sender + CreateTime + event, through an inbox receipt written in the
transaction that stores the message. A resend that arrives while the first request is still running waits on that
row (PostgreSQL) or the write lock (SQLite) and then sees it, so three deliveries of one MsgId store one message
and send one reply. HTTP calls to WeChat happen before that transaction opens: no lock is held while WeChat answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from edudesk.channels.base import IMAGES, VOICE, InboundMedia, InboundMessage, identity_kind
from edudesk.channels.wechat import callback, events, menu_actions
from edudesk.channels.wechat.api import ApiError, WeChatApi
from edudesk.channels.wechat.config import WeChatConfig
from edudesk.channels.wechat.events import Callback
from edudesk.channels.weixin.tokens import TokenError
from edudesk.contacts import service as contacts_service
from edudesk.context import AppContext
from edudesk.db import NotFoundError, utcnow
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.secretbox import SecretBoxError

log = structlog.get_logger(__name__)

KIND = "wechat"
CAPABILITIES = frozenset({IMAGES, VOICE})
UNION_KIND = "wxunion"  # the org-wide identity space of WeChat UnionIDs (Official Accounts, WeCom customer service)
MEDIA_TYPES = {"image": ("image/jpeg", "image.jpg"), "voice": ("audio/amr", "voice.amr")}
ALLOWED_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "audio/amr",
                                 "audio/mpeg", "audio/mp3", "audio/speex", "audio/x-speex", "voice/speex"})


@dataclass(frozen=True)
class Target:
    """The inbox a callback URL names, with its settings decrypted."""

    inbox_id: int
    org_id: int
    name: str
    config: WeChatConfig


def load_target(ctx: AppContext, public_id: str) -> Target:
    """Refused(404) for an unknown, disabled or other-kind inbox; Refused(503) when its settings cannot be read."""
    with ctx.db.session() as session:
        try:
            inbox = inboxes_service.columns_by_public_id(session, KIND, public_id)
        except NotFoundError:
            raise callback.Refused(404, "unknown_inbox", "no enabled WeChat inbox has this public id") from None
        try:
            config = inboxes_service.cached_config(inbox, WeChatConfig,
                                               inboxes_service.secret_box(ctx.settings.secret_key))
        except (SecretBoxError, ValidationError, ValueError) as exc:
            raise callback.Refused(503, "inbox_unusable", f"settings unreadable: {type(exc).__name__}") from None
        assert isinstance(config, WeChatConfig)
        return Target(inbox.id, inbox.org_id, inbox.name, config)


def on_callback(ctx: AppContext, public_id: str, query: callback.Query, body: bytes) -> tuple[Target, str]:
    """A POSTed callback from the URL's inbox to what is stored (``handle``); Refused when it is not handled."""
    target = load_target(ctx, public_id)
    fields = callback.open_message(target.config, query, body)
    return target, handle(ctx, target, fields)


@dataclass(frozen=True)
class Fetched:
    media: InboundMedia | None = None
    unionid: str | None = None
    note: str = ""  # what the transcript says when the file could not be fetched


def handle(ctx: AppContext, target: Target, fields: dict[str, Any]) -> str:
    """Stores what the callback means; returns what happened (for the log and the tests)."""
    try:
        cb = events.classify(fields)
    except events.BadCallback as exc:
        raise callback.Refused(400, "bad_xml", str(exc)) from None
    if cb.action == events.IGNORED:
        return "ignored"
    fetched = prefetch(ctx, target, cb)
    with ctx.db.session() as session:
        if not inboxes_service.first_receipt_of(session, target.org_id, target.inbox_id, cb.receipt_key):
            session.rollback()
            log.info("wechat_callback_duplicate", inbox_id=target.inbox_id, key=cb.receipt_key)
            return "duplicate"
        outcome = _dispatch(ctx, session, target, cb, fetched)
        session.commit()
    return outcome


def prefetch(ctx: AppContext, target: Target, cb: Callback) -> Fetched:
    """The picture or voice note (media/get) and, when asked for, the UnionID (user/info): each a failure that
    loses nothing but itself."""
    api = WeChatApi(_services(ctx), target.config)
    media: InboundMedia | None = None
    note = ""
    if cb.media_id and cb.media_kind:
        try:
            got = api.download_media(cb.media_id, ctx.settings.max_upload_bytes)
            ctype = got.content_type if got.content_type in ALLOWED_MEDIA_TYPES else MEDIA_TYPES[cb.media_kind][0]
            filename = MEDIA_TYPES[cb.media_kind][1]
            if cb.media_kind == "voice" and cb.voice_format and cb.voice_format.isalnum():
                filename = f"voice.{cb.voice_format[:8]}"
            media = InboundMedia(got.content, ctype, filename)
        except (ApiError, TokenError, httpx.HTTPError) as exc:
            log.warning("wechat_media_fetch_failed", inbox_id=target.inbox_id, kind=cb.media_kind,
                        error=f"{type(exc).__name__}: {exc}"[:200])
            note = "[图片]（未能从微信下载）" if cb.media_kind == "image" else "[语音]（未能从微信下载）"
    unionid = None
    if target.config.fetch_unionid and _wants_unionid(ctx, target, cb):
        try:
            unionid = api.unionid_of(cb.openid)
        except (ApiError, TokenError, httpx.HTTPError) as exc:
            log.warning("wechat_unionid_failed", inbox_id=target.inbox_id, error=f"{type(exc).__name__}"[:100])
    return Fetched(media=media, unionid=unionid, note=note)


def _wants_unionid(ctx: AppContext, target: Target, cb: Callback) -> bool:
    """On a follow, and on the first message of someone who followed before the account was connected: one
    user/info call per person, not per message."""
    if cb.action == events.ARRIVAL:
        return True
    if cb.action not in (events.MESSAGE, events.CLICK):
        return False
    with ctx.db.session() as session:
        known = contacts_service.find_by_identity(session, target.org_id, identity_kind(KIND, target.inbox_id),
                                                  cb.openid)
        return known is None


def _message(target: Target, cb: Callback, fetched: Fetched, *, max_chars: int) -> InboundMessage:
    text = cb.text
    if not text and fetched.media is None:
        text = fetched.note or ("[图片]" if cb.media_kind == "image" else "[语音]" if cb.media_kind else "")
    return InboundMessage(
        org_id=target.org_id, channel=KIND, external_user_id=cb.openid, client_message_id=cb.client_message_id,
        text=text[:max_chars], inbox_id=target.inbox_id, media=fetched.media, capabilities=CAPABILITIES,
        aliases=((UNION_KIND, fetched.unionid),) if fetched.unionid else (),
    )


def _dispatch(ctx: AppContext, session: Session, target: Target, cb: Callback, fetched: Fetched) -> str:
    org_id = target.org_id
    if cb.action in (events.MESSAGE, events.CLICK):
        msg = _message(target, cb, fetched, max_chars=ctx.settings.max_message_chars)
        if cb.action == events.CLICK:
            # The menu editor's action for the key (start a script, answer an FAQ, a human, a fixed text), shown in
            # the transcript as the button's name.
            click = menu_actions.resolve_menu_click(session, target.inbox_id, cb.menu_key)
            if click is not None:
                msg = replace(msg, payload=click.payload, text=click.label)
            else:
                inbox = inboxes_service.get(session, org_id, target.inbox_id)
                msg = replace(msg, payload=events.click_payload(inbox, cb.menu_key), text=cb.menu_key)
        try:
            result = inbound_service.receive(
                session, msg, agents_online=lambda: ctx.hub.presence.any_online(org_id),
                max_chars=ctx.settings.max_message_chars, max_per_minute=ctx.settings.visitor_messages_per_minute,
                bots=ctx.bots, name_model=ctx.settings.name_model, upload_dir=ctx.settings.upload_dir)
        except inbound_service.InboundError as exc:
            # Rate limited or empty: WeChat must not resend it, so the callback is answered all the same.
            session.rollback()
            log.warning("wechat_message_dropped", inbox_id=target.inbox_id, code=exc.code)
            return f"dropped:{exc.code}"
        return "stored" if result.created else "duplicate"
    if cb.action == events.ARRIVAL:
        msg = _message(target, cb, fetched, max_chars=ctx.settings.max_message_chars)
        if cb.scene:
            msg = replace(msg, campaign=cb.scene, attribution={"wechat_qr_scene": cb.scene})
        inbound_service.visitor_arrived(session, msg, bots=ctx.bots)
        _subscription(session, target, cb.openid, subscribed=True)
        return "arrived"
    if cb.action == events.UNSUBSCRIBE:
        _subscription(session, target, cb.openid, subscribed=False)
        return "unsubscribed"
    # VIEW: the parent opened a menu link; they are here, and nothing is answered.
    contact = contacts_service.find_by_identity(session, org_id, identity_kind(KIND, target.inbox_id), cb.openid)
    if contact is not None:
        contacts_service.touch(session, contact)
    log.info("wechat_menu_view", inbox_id=target.inbox_id, url=cb.url[:200])
    return "viewed"


def _subscription(session: Session, target: Target, openid: str, *, subscribed: bool) -> None:
    """Notes whether the parent follows the account; an unfollow of someone never seen creates nobody."""
    contact = contacts_service.find_by_identity(session, target.org_id, identity_kind(KIND, target.inbox_id), openid)
    if contact is None:
        return
    now = utcnow().replace(microsecond=0).astimezone(dt.UTC).isoformat()
    contacts_service.set_attributes(session, contact, wechat_subscribed=subscribed,
                                    **{"wechat_subscribed_at" if subscribed else "wechat_unsubscribed_at": now})


def _services(ctx: AppContext) -> Any:
    services = ctx.channels.services
    if services is None:
        raise RuntimeError("the channel registry has no services bound (create_app binds them)")
    return services

"""One message or event pulled with ``kf/sync_msg``, turned into what the inbound orchestrator understands.

Customer messages (origin 3) are stored and answered through ``inbound.service.receive``, deduplicated by WeCom's
msgid (a message pulled twice is stored once and answered once). Events (origin 4) are deduplicated by their msgid
through the inbox's receipts: ``enter_session`` records where the customer came from (the link's scene and
scene_param: which Douyin or Xiaohongshu profile) and greets them, keeping the event's welcome code for the first
message to them. Messages a receptionist typed in the WeCom app (origin 5) are not mirrored: answers belong in
edudesk's console.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from edudesk.channels.base import InboundMedia, InboundMessage, InboxInfo
from edudesk.channels.wecom.api import WeComApi, WeComError, WeComUnavailable
from edudesk.channels.wecom.config import CAPABILITIES, KIND, WeComConfig
from edudesk.channels.wecom.memo import Memo
from edudesk.channels.wecom.sending import WELCOME_SECONDS, note_welcome_code
from edudesk.channels.weixin.tokens import TokenError
from edudesk.context import AppContext
from edudesk.inbound import service as inbound_service
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox

log = structlog.get_logger(__name__)

FROM_CUSTOMER, FROM_SYSTEM, FROM_RECEPTIONIST = 3, 4, 5
MEDIA_TYPES = {"image": "image.jpg", "voice": "voice.amr", "video": "video.mp4", "file": "file"}
UNIONID_MEMO_SECONDS = 86_400
NO_CUSTOMER_API_SECONDS = 3_600
# A backlog pulled after an outage arrives at once; WeCom already limits what a customer can send, so the widget's
# per-minute limit must not drop part of it.
PULLED_PER_MINUTE = 1000
TYPE_NAMES = {"business_card": "名片", "channels": "视频号消息", "channels_shop_product": "视频号商品",
              "channels_shop_order": "视频号订单", "merged_msg": "聊天记录", "note": "笔记", "video": "视频",
              "file": "文件"}


@dataclass
class Puller:
    """What handling one page needs: the app, the inbox (its row for receipts, its settings), the API."""

    ctx: AppContext
    inbox: Inbox
    info: InboxInfo
    config: WeComConfig
    api: WeComApi
    memo: Memo
    aliases: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def page(self, session: Session, items: list[dict[str, Any]]) -> None:
        self.aliases = unionids(self.api, self.memo, self.config.corp_id, _customers_in(items))
        for item in items:
            try:
                self.item(session, item)
            except (WeComError, WeComUnavailable, TokenError, SQLAlchemyError, OSError):
                raise  # WeCom, the database or the disk failed: the job is tried again from the same cursor
            except Exception:
                # An item this code cannot handle would otherwise stop the account's pull for good: it is logged
                # with its msgid and skipped.
                session.rollback()
                log.exception("wecom_item_failed", inbox_id=self.info.id, msgid=str(item.get("msgid"))[:64])

    def item(self, session: Session, item: dict[str, Any]) -> None:
        msgid = str(item.get("msgid") or "")
        origin = _int(item.get("origin"))
        if not msgid:
            log.warning("wecom_item_without_msgid", inbox_id=self.info.id)
            return
        if item.get("msgtype") == "event":
            self.event(session, msgid, item)
        elif origin == FROM_CUSTOMER:
            self.customer_message(session, msgid, item)
        elif origin == FROM_RECEPTIONIST:
            log.info("wecom_receptionist_message_skipped", inbox_id=self.info.id, msgid=msgid)
        else:
            log.info("wecom_item_skipped", inbox_id=self.info.id, msgid=msgid, origin=origin)

    # --- messages ------------------------------------------------------------------------------------------------

    def customer_message(self, session: Session, msgid: str, item: dict[str, Any]) -> None:
        user = str(item.get("external_userid") or "")
        if not user or str(item.get("open_kfid") or self.config.open_kfid) != self.config.open_kfid:
            log.warning("wecom_message_not_for_inbox", inbox_id=self.info.id, msgid=msgid)
            return
        text, media = self.content(item)
        settings = self.ctx.settings
        org_id = self.info.org_id
        msg = InboundMessage(org_id=org_id, channel=KIND, external_user_id=user[:128],
                             client_message_id=f"wecom:{msgid}"[:64], text=text[:settings.max_message_chars],
                             inbox_id=self.info.id, aliases=self.aliases.get(user, ()), media=media,
                             capabilities=CAPABILITIES)
        hub = self.ctx.hub
        try:
            inbound_service.receive(session, msg, agents_online=lambda: hub.presence.any_online(org_id),
                                    max_chars=settings.max_message_chars, max_per_minute=PULLED_PER_MINUTE,
                                    bots=self.ctx.bots, name_model=settings.name_model,
                                    upload_dir=settings.upload_dir, llm=self.ctx.llm)
        except inbound_service.InboundError as exc:
            session.rollback()
            log.warning("wecom_message_refused", inbox_id=self.info.id, msgid=msgid, code=exc.code)
            return
        session.commit()

    def content(self, item: dict[str, Any]) -> tuple[str, InboundMedia | None]:
        """The message as text and an optional file. Location, link and mini-program cards become text lines."""
        msgtype = str(item.get("msgtype") or "")
        body = item.get(msgtype) if isinstance(item.get(msgtype), dict) else {}
        assert isinstance(body, dict)
        if msgtype == "text":
            return str(body.get("content") or ""), None
        if msgtype in MEDIA_TYPES:
            return self.media(msgtype, str(body.get("media_id") or ""))
        if msgtype == "location":
            place = " ".join(str(body.get(k) or "") for k in ("name", "address")).strip()
            if body.get("latitude") is not None and body.get("longitude") is not None:
                place += f" ({body['latitude']}, {body['longitude']})"
            return f"[位置] {place}".strip(), None
        if msgtype == "link":
            return f"[链接] {body.get('title') or ''}\n{body.get('desc') or ''}\n{body.get('url') or ''}", None
        if msgtype == "miniprogram":
            return f"[小程序] {body.get('title') or ''} {body.get('pagepath') or ''}".strip(), None
        return f"[{TYPE_NAMES.get(msgtype, msgtype or '未知')}，请在企业微信中查看]", None

    def media(self, msgtype: str, media_id: str) -> tuple[str, InboundMedia | None]:
        label = TYPE_NAMES.get(msgtype, {"image": "图片", "voice": "语音"}.get(msgtype, msgtype))
        if not media_id:
            return f"[{label}]", None
        try:
            got = self.api.get_media(media_id)
        except WeComError as exc:
            if exc.transient:
                raise
            # Expired (media lives three days) or too large: the message is kept as a note of what came.
            log.warning("wecom_media_unavailable", inbox_id=self.info.id, errcode=exc.errcode)
            return f"[{label}无法获取]", None
        return "", InboundMedia(content=got.content, content_type=got.content_type,
                                filename=got.filename or MEDIA_TYPES[msgtype])

    # --- events --------------------------------------------------------------------------------------------------

    def event(self, session: Session, msgid: str, item: dict[str, Any]) -> None:
        event = item.get("event") if isinstance(item.get("event"), dict) else {}
        assert isinstance(event, dict)
        kind = str(event.get("event_type") or "")
        if str(event.get("open_kfid") or self.config.open_kfid) != self.config.open_kfid:
            log.info("wecom_event_not_for_inbox", inbox_id=self.info.id, msgid=msgid)
            return
        if not inboxes_service.first_receipt(session, self.inbox, f"wecom-ev:{msgid}"):
            session.commit()
            return
        if kind == "enter_session":
            self.enter_session(session, item, event)
        elif kind == "msg_send_fail":
            # The customer refused it, the session expired …: WeCom tells after the send had succeeded.
            log.warning("wecom_msg_send_fail", inbox_id=self.info.id, fail_msgid=event.get("fail_msgid"),
                        fail_type=event.get("fail_type"))
        elif kind in ("servicer_status_change", "session_status_change"):
            log.info(f"wecom_{kind}", inbox_id=self.info.id, status=event.get("status"),
                     change_type=event.get("change_type"))
        else:
            log.info("wecom_event_ignored", inbox_id=self.info.id, event_type=kind[:40])
        session.commit()

    def enter_session(self, session: Session, item: dict[str, Any], event: dict[str, Any]) -> None:
        user = str(event.get("external_userid") or "")
        if not user:
            return
        scene = str(event.get("scene") or "")[:64]
        scene_param = urllib.parse.unquote(str(event.get("scene_param") or ""))[:128]
        # WeCom lets the account speak before the customer has written only with the event's welcome code, within
        # 20 seconds. Without one (a welcome configured in WeCom's own admin, or the customer was greeted or
        # written to in the last 48 hours) the arrival is recorded and nobody is greeted.
        code = str(event.get("welcome_code") or "")
        greet = False
        if code:
            sent_at = _int(item.get("send_time")) or int(time.time())
            left = WELCOME_SECONDS - (time.time() - sent_at)
            if left > 1:  # noted before the commit that queues the welcome, so its delivery finds the code
                note_welcome_code(self.memo, self.info.id, user, code, left)
                greet = True
            else:
                log.info("wecom_welcome_code_expired", inbox_id=self.info.id, age=round(WELCOME_SECONDS - left))
        attribution = {k: v for k, v in (("wecom_scene", scene), ("wecom_scene_param", scene_param)) if v}
        msg = InboundMessage(org_id=self.info.org_id, channel=KIND, external_user_id=user[:128],
                             client_message_id=None, inbox_id=self.info.id, aliases=self.aliases.get(user, ()),
                             campaign=(scene_param or scene or None), attribution=attribution,
                             capabilities=CAPABILITIES)
        inbound_service.visitor_arrived(session, msg, bots=self.ctx.bots, welcome=self.config.welcome_text or None,
                                        greet=greet)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _customers_in(items: list[dict[str, Any]]) -> list[str]:
    found: dict[str, None] = {}
    for item in items:
        event = item.get("event") if isinstance(item.get("event"), dict) else None
        if _int(item.get("origin")) == FROM_CUSTOMER and item.get("external_userid"):
            found[str(item["external_userid"])] = None
        elif event is not None and event.get("event_type") == "enter_session" and event.get("external_userid"):
            found[str(event["external_userid"])] = None
    return list(found)


def unionids(api: WeComApi, memo: Memo, corp_id: str, users: list[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The customers' unionids as contact aliases, so the same parent on the org's Official Account is one contact.
    WeCom gives them only to a corp that bound a WeChat developer account; answers (and their absence) are
    remembered for a day, and a corp whose app may not read customers is not asked again for an hour."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    unknown: list[str] = []
    for user in users:
        known = memo.get(f"wecom:union:{corp_id}:{user}")
        if known is None:
            unknown.append(user)
        elif known:
            out[user] = (("wxunion", known),)
    if not unknown or memo.get(f"wecom:union-off:{corp_id}"):
        return out
    for start in range(0, len(unknown), 100):
        batch = unknown[start:start + 100]
        try:
            profiles = api.customers(batch)
        except (WeComError, WeComUnavailable, TokenError) as exc:
            log.info("wecom_customer_lookup_failed", error=str(exc)[:200])
            if isinstance(exc, WeComError) and not exc.transient:
                memo.set(f"wecom:union-off:{corp_id}", "1", NO_CUSTOMER_API_SECONDS)
            return out
        for user in batch:
            union = str(profiles.get(user, {}).get("unionid") or "")[:128]
            memo.set(f"wecom:union:{corp_id}:{user}", union, UNIONID_MEMO_SECONDS)
            if union:
                out[user] = (("wxunion", union),)
    return out

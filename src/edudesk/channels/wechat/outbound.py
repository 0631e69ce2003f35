"""Sending one outbound message through the customer-service message API (客服消息), with the template-message
fallback outside the 48-hour window.

WeChat is the judge of its own window: every message is first tried as a customer-service message, even when the
outbox says the parent's last message is older than 48 hours. A follow, a QR scan or a menu click also opens the
window, and a welcome after a follow has no parent message before it at all; only WeChat's 45015 ("response out
of time limit") or 45047 (20 messages without an answer) says the window is closed. Then an agent's reply (a
ticket reply days later) goes out as the configured template message; anything else, or an agent reply without a
template, fails for good with a reason the ticket page and the console show.

Errors: token errors are mended by ``WeChatApi.call`` (refresh once, retry once); system busy, rate limits, HTTP
5xx, timeouts and network errors are retryable (the message waits in the outbox, in order); a user who
unfollowed or blocked the account, a bad openid or a bad template are permanent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import httpx
import structlog

from edudesk.channels.base import (
    ChannelSendError,
    OutboundAttachment,
    OutboundMessage,
    OutsideReplyWindow,
    SendContext,
    SendResult,
)
from edudesk.channels.wechat.api import TRANSIENT, ApiError, WeChatApi, errcode_of
from edudesk.channels.wechat.config import WeChatConfig, template_data
from edudesk.channels.wechat.memo import Memo, memo_of
from edudesk.channels.weixin.tokens import TOKEN_ERRCODES, TokenError
from edudesk.localtime import LOCAL_TZ

log = structlog.get_logger(__name__)

WINDOW_CLOSED = frozenset({45015, 45047})
OUTSIDE_TEXT = "家长超过 48 小时未与公众号互动，公众号无法送达"
TOO_MANY_TEXT = "家长未回复期间已连续发送 20 条消息，公众号暂时无法再送达"
PERMANENT = {
    43004: "家长已取消关注公众号，无法送达",
    43019: "家长已将公众号拉黑，无法送达",
    43101: "家长已拒收公众号的消息，无法送达",
    40003: "家长的 OpenID 无效（可能属于另一个公众号），无法送达",
    40037: "模板消息 ID 无效，请在渠道设置中检查",
    47003: "模板字段与模板不符，请在渠道设置中检查字段映射",
    45002: "消息内容过长，公众号无法发送",
    40008: "公众号不支持这种消息类型",
}
INVALID_MEDIA = frozenset({40007})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp"})
VOICE_TYPES = frozenset({"audio/amr", "audio/mpeg", "audio/mp3"})
MEDIA_MAX = {"image": 10 * 1024 * 1024, "voice": 2 * 1024 * 1024}
MEDIA_TTL = int(2.5 * 86400)  # WeChat keeps temporary media 3 days; re-upload half a day early
SENT_TTL = 2 * 86400


@dataclass(frozen=True)
class Part:
    kind: str  # "text", "image" or "voice"
    text: str = ""
    attachment: OutboundAttachment | None = None


def media_kind(attachment: OutboundAttachment) -> str | None:
    ctype = attachment.content_type.split(";")[0].strip().lower()
    if ctype in IMAGE_TYPES:
        return "image"
    if ctype in VOICE_TYPES:
        return "voice"
    return None


def parts_of(message: OutboundMessage) -> list[Part]:
    """The text first, then the picture or voice note; a file WeChat cannot carry is named in the text."""
    text = message.text.strip()
    att = message.attachment
    kind = media_kind(att) if att is not None else None
    if att is not None and kind is None:
        text = f"{text}\n[附件「{att.filename}」无法通过公众号发送]".strip()
    parts = [Part("text", text=text)] if text else []
    if att is not None and kind is not None:
        parts.append(Part(kind, attachment=att))
    return parts


def send(ctx: SendContext, message: OutboundMessage) -> SendResult:
    config = ctx.inbox.config
    assert isinstance(config, WeChatConfig)
    api = WeChatApi(ctx.services, config)
    try:
        return Sender(api, memo_of(ctx.services), ctx, message).run()
    except ApiError as exc:
        if exc.errcode is not None and not exc.transient and exc.errcode in PERMANENT:
            raise ChannelSendError(f"wechat_{exc.errcode}", PERMANENT[exc.errcode], retryable=False) from None
        raise ChannelSendError(f"wechat_{exc.errcode}" if exc.errcode is not None else "wechat_unavailable",
                               exc.errmsg[:200], retryable=exc.transient) from None
    except httpx.TimeoutException:
        raise ChannelSendError("wechat_timeout", "微信接口超时") from None
    except httpx.HTTPError as exc:
        raise ChannelSendError("wechat_network", f"无法连接微信接口：{type(exc).__name__}") from None
    except TokenError as exc:
        raise ChannelSendError("wechat_token", str(exc)[:200]) from None


class Sender:
    def __init__(self, api: WeChatApi, memo: Memo, ctx: SendContext, message: OutboundMessage) -> None:
        self.api = api
        self.memo = memo
        self.ctx = ctx
        self.message = message
        self.config: WeChatConfig = api.config

    def run(self) -> SendResult:
        for i, part in enumerate(parts_of(self.message)):
            done_key = f"sent:{self.config.app_id}:{self.message.delivery_key}:{i}"
            if self.message.delivery_key and self.memo.get(done_key):
                continue  # went out on an earlier try of this delivery
            answer = self.send_part(part)
            code = errcode_of(answer)
            if code in WINDOW_CLOSED:
                return self.outside_window(code)
            if code:
                raise _error(code, str(answer.get("errmsg", "")))
            if self.message.delivery_key:
                self.memo.put(done_key, "1", SENT_TTL)
        return SendResult(via="message")

    def send_part(self, part: Part) -> dict[str, object]:
        to = self.message.external_user_id
        if part.kind == "text":
            return self.api.post_json("/cgi-bin/message/custom/send", {
                "touser": to, "msgtype": "text", "text": {"content": part.text}})
        assert part.attachment is not None
        media_id = self.media_id(part.kind, part.attachment)
        answer = self.api.post_json("/cgi-bin/message/custom/send", {
            "touser": to, "msgtype": part.kind, part.kind: {"media_id": media_id}})
        if errcode_of(answer) in INVALID_MEDIA:  # expired early: upload again on the next try
            self.memo.forget(self._media_key(part.kind, part.attachment))
            raise ApiError(errcode_of(answer), "media_id expired", transient=True)
        return answer

    def _media_key(self, kind: str, att: OutboundAttachment) -> str:
        return f"media:{self.config.app_id}:{kind}:{_digest(att)}"

    def media_id(self, kind: str, att: OutboundAttachment) -> str:
        """The media_id of the file, uploaded once per three days."""
        key = self._media_key(kind, att)
        found = self.memo.get(key)
        if found:
            return found
        try:
            content = att.path.read_bytes()
        except OSError:
            raise ChannelSendError("attachment_missing", "附件文件已不存在，无法发送", retryable=False) from None
        if len(content) > MEDIA_MAX[kind]:
            raise ChannelSendError("attachment_too_large", "附件超过公众号允许的大小，无法发送", retryable=False)
        media_id = self.api.upload_media(kind, att.filename, content, att.content_type)
        self.memo.put(key, media_id, MEDIA_TTL)
        return media_id

    # --- outside the window ------------------------------------------------------------------------------------

    def outside_window(self, code: int) -> SendResult:
        if self.message.sender != "agent" or not self.config.template_on:
            log.info("wechat_outside_window", inbox_id=self.ctx.inbox.id, errcode=code,
                     template=self.config.template_on)
            raise OutsideReplyWindow(TOO_MANY_TEXT if code == 45047 else OUTSIDE_TEXT)
        return self.template()

    def template(self) -> SendResult:
        payload: dict[str, object] = {
            "touser": self.message.external_user_id,
            "template_id": self.config.template_id.strip(),
            "data": template_data(self.config, self.values()),
        }
        if self.config.template_url:
            payload["url"] = self.config.template_url
        if self.message.delivery_key:
            payload["client_msg_id"] = self.message.delivery_key[:64]  # WeChat drops a repeat within minutes
        answer = self.api.post_json("/cgi-bin/message/template/send", payload)
        code = errcode_of(answer)
        if code:
            raise _error(code, str(answer.get("errmsg", "")))
        msgid = answer.get("msgid")
        return SendResult(external_message_id=str(msgid) if msgid is not None else None, via="template")

    def values(self) -> dict[str, str]:
        created = self.message.meta.get("created_at")
        when = dt.datetime.fromisoformat(created) if isinstance(created, str) else dt.datetime.now(dt.UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return {"text": self.message.text, "sender": self.message.sender_name or "老师",
                "time": when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"), "account": self.ctx.inbox.name}


def _error(code: int, errmsg: str) -> ChannelSendError:
    if code in PERMANENT:
        return ChannelSendError(f"wechat_{code}", PERMANENT[code], retryable=False)
    if code in TRANSIENT or code in TOKEN_ERRCODES:
        # A token WeChat refused even after a refresh: the next try refreshes again.
        return ChannelSendError(f"wechat_{code}", f"微信接口暂时不可用（{code} {errmsg[:80]}）")
    # Anything else would fail the same way on every try; retrying would only hold up the messages behind it.
    log.warning("wechat_send_refused", errcode=code, errmsg=errmsg[:200])
    return ChannelSendError(f"wechat_{code}", f"公众号拒绝发送（{code} {errmsg[:80]}）", retryable=False)


def _digest(att: OutboundAttachment) -> str:
    try:
        stat = att.path.stat()
    except OSError:
        return hashlib.sha256(str(att.path).encode()).hexdigest()[:24]
    # Attachments are stored under random keys and never rewritten, so path, size and mtime name the content.
    return hashlib.sha256(f"{att.path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:24]

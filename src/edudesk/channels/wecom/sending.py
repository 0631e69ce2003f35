"""Sending one outbound message to a 微信客服 customer.

The first message after a customer opened the chat from a link (``enter_session``), while its welcome code is
still valid (20 seconds), goes through ``kf/send_msg_on_event``: before the customer has written, that is the only
way WeCom lets the account speak. Everything else goes through ``kf/send_msg`` with the delivery's key as WeCom's
msgid. A text longer than WeCom takes in one message goes out in parts; parts already sent are remembered for a
day, so a retry after a failure in the middle does not send the first part twice.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import structlog

from edudesk.channels.base import (
    ChannelSendError,
    OutboundMessage,
    OutsideReplyWindow,
    SendContext,
    SendResult,
)
from edudesk.channels.wecom.api import WeComApi, WeComError, WeComUnavailable
from edudesk.channels.wecom.config import WeComConfig
from edudesk.channels.wecom.memo import Memo, memo_of
from edudesk.channels.weixin.tokens import TokenError

log = structlog.get_logger(__name__)

TEXT_MAX_BYTES = 2048  # kf/send_msg's limit for text.content
SENT_MEMO_SECONDS = 86_400
WELCOME_SECONDS = 20  # how long WeCom accepts a welcome_code after the enter_session event
OUTSIDE_WINDOW_TEXT = "客户超过 48 小时未发消息（或还没发过消息），微信客服不允许主动发送"

# What WeCom's errcodes mean for a message that did not go out (the rest of its codes: see docs/channels-wecom.md).
OUTSIDE_WINDOW = frozenset({95002})  # more than 48 hours since the customer's last message
MESSAGE_LIMIT = frozenset({95001})  # five messages sent since the customer last wrote
SESSION_STATE = frozenset({95013, 95016, 95017, 95018})  # the session ended, or another receptionist holds it
BAD_ACCOUNT = frozenset({95000, 95004, 95011, 95012, 48002, 60020})  # and any gettoken refusal
BAD_CUSTOMER = frozenset({40096, 95003})


def welcome_key(inbox_id: int, external_userid: str) -> str:
    return f"wecom:welcome:{inbox_id}:{external_userid}"


def note_welcome_code(memo: Memo, inbox_id: int, external_userid: str, code: str, seconds_left: float) -> None:
    memo.set(welcome_key(inbox_id, external_userid), code, seconds_left)


def text_parts(text: str, limit: int = TEXT_MAX_BYTES) -> list[str]:
    """The text in pieces of at most ``limit`` UTF-8 bytes, cut at line breaks where possible."""
    parts: list[str] = []
    rest = text
    while len(rest.encode()) > limit:
        cut = len(rest.encode()[:limit].decode("utf-8", "ignore"))
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest.strip() or not parts:
        parts.append(rest)
    return [p for p in parts if p.strip()]


def send(ctx: SendContext, message: OutboundMessage) -> SendResult:
    config = ctx.inbox.config
    assert isinstance(config, WeComConfig)
    try:
        return _send(WeComApi(ctx.services, config), memo_of(ctx.services), ctx.inbox.id, message)
    except (WeComError, WeComUnavailable, TokenError) as exc:
        raise send_error(exc) from None


def _send(api: WeComApi, memo: Memo, inbox_id: int, message: OutboundMessage) -> SendResult:
    key = message.delivery_key or "edk-" + hashlib.sha1(  # noqa: S324 (an id, not a secret)
        f"{message.external_user_id}:{message.text}".encode()).hexdigest()[:24]
    to = message.external_user_id
    parts = text_parts(message.text) if message.text.strip() else []
    first: str | None = None
    if parts and message.attachment is None and len(parts) == 1:
        # A welcome code works whatever the window says: it is how WeCom lets the account speak first.
        first = _welcome(api, memo, inbox_id, to, key, parts[0])
        if first is not None:
            return SendResult(external_message_id=first)
    if message.outside_window:
        raise OutsideReplyWindow(OUTSIDE_WINDOW_TEXT)
    for number, part in enumerate(parts, start=1):
        msgid = key if number == 1 else f"{key}-{number}"
        sent = _once(memo, inbox_id, msgid, functools.partial(api.send_msg, to, msgid, "text", {"content": part}))
        first = first or sent
    if message.attachment is not None:
        att = message.attachment
        kind = "image" if att.content_type.startswith("image/") else "file"
        msgid = f"{key}-{kind[0]}"

        def send_attachment() -> str:
            media_id = api.upload_media(kind, att.filename, att.path.read_bytes(), att.content_type)
            return api.send_msg(to, msgid, kind, {"media_id": media_id})

        sent = _once(memo, inbox_id, msgid, send_attachment)
        first = first or sent
    return SendResult(external_message_id=first)


def _once(memo: Memo, inbox_id: int, msgid: str, send_part: Callable[[], str]) -> str:
    """Sends one part unless a previous try of the same delivery already did."""
    marker = f"wecom:sent:{inbox_id}:{msgid}"
    known = memo.get(marker)
    if known is not None:
        return known
    sent = str(send_part())
    memo.set(marker, sent, SENT_MEMO_SECONDS)
    return sent


def _welcome(api: WeComApi, memo: Memo, inbox_id: int, to: str, msgid: str, text: str) -> str | None:
    """Sends through the customer's welcome code when one is waiting; None when there is none (or it no longer
    works), and the message goes through kf/send_msg instead."""
    key = welcome_key(inbox_id, to)
    left = memo.ttl(key)
    code = memo.pop(key)
    if code is None:
        return None
    try:
        return api.send_msg_on_event(code, msgid, text)
    except WeComUnavailable:
        memo.set(key, code, left)  # still valid for a retry within its 20 seconds
        raise
    except WeComError as exc:
        if exc.transient:
            memo.set(key, code, left)
            raise
        log.info("wecom_welcome_code_refused", inbox_id=inbox_id, errcode=exc.errcode)
        return None


def send_error(exc: Exception) -> ChannelSendError:
    """How the outbox treats a failed send: retried later, or failed for good and shown to the agents."""
    if not isinstance(exc, WeComError):
        return ChannelSendError("unavailable", f"微信客服接口暂时无法访问（{exc}）"[:200])
    code = exc.errcode
    if code in OUTSIDE_WINDOW:
        return OutsideReplyWindow(OUTSIDE_WINDOW_TEXT)
    if code in MESSAGE_LIMIT:
        return ChannelSendError("message_limit", "客户回复前最多只能连续发送 5 条消息，请等客户回复后再发",
                                retryable=False)
    if code in SESSION_STATE:
        return ChannelSendError("session_state", "会话已结束或已由企业微信里的接待人员接管，无法通过接口发送",
                                retryable=False)
    if code in BAD_CUSTOMER:
        return ChannelSendError("bad_customer", "找不到该微信客户（可能已删除会话）", retryable=False)
    if code in BAD_ACCOUNT or (exc.during == "gettoken" and not exc.transient):
        return ChannelSendError("bad_config", f"微信客服账号配置有误（errcode {code}），请检查渠道设置",
                                retryable=False)
    if exc.transient:
        return ChannelSendError("unavailable", f"微信客服接口繁忙（errcode {code}）")
    return ChannelSendError(f"wecom_{code}", f"微信客服拒绝了这条消息（errcode {code}：{exc.errmsg[:80]}）",
                            retryable=False)

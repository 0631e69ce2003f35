"""The callback URL of a 微信客服 inbox: ``/channels/wecom/<public_id>``.

GET is WeCom's URL verification (decrypt ``echostr`` and answer it); POST is a ``kf_msg_or_event`` callback, which
carries no message, only a token for pulling. Both are checked before anything is stored: the signature over the
token, timestamp, nonce and ciphertext, then the AES body (encrypted for this CorpID), then the XML (defusedxml: no
DTD, no entities). A callback is answered "success" as soon as a ``wecom.sync`` job is queued in the same
transaction; a resent callback (WeCom retries one it thinks was lost) queues nothing more.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Annotated

import anyio
import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from edudesk.channels.wecom import sync
from edudesk.channels.wecom.config import KIND, WeComConfig
from edudesk.channels.weixin import xml
from edudesk.channels.weixin.crypto import CryptoError, MessageCrypto
from edudesk.context import AppContext, get_ctx
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.web import error_response

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)
PATH = "/channels/wecom/{public_id}"
Signature = Annotated[str, Query(max_length=128)]
Short = Annotated[str, Query(max_length=64)]


def _config(ctx: AppContext, inbox: Inbox) -> WeComConfig:
    config = inboxes_service.cached_config(inbox, WeComConfig, inboxes_service.secret_box(ctx.settings.secret_key))
    assert isinstance(config, WeComConfig)
    return config


def _crypto(config: WeComConfig) -> MessageCrypto:
    return MessageCrypto(config.token.get_secret_value(), config.encoding_aes_key.get_secret_value(), config.corp_id)


def _refused(status: int, code: str, message: str, public_id: str, reason: str) -> Response:
    log.warning("wecom_callback_refused", public_id=public_id[:40], code=code, reason=reason[:200])
    return error_response(status, code, message)


@router.get(PATH)
def verify_url(request: Request, public_id: str, msg_signature: Signature = "", timestamp: Short = "",
               nonce: Short = "", echostr: Annotated[str, Query(max_length=4096)] = "") -> Response:
    """WeCom's check of a new callback URL: the decrypted ``echostr``, as plain text, within a second."""
    ctx = get_ctx(request)
    with ctx.db.session() as session:
        config = _config(ctx, inboxes_service.by_public_id(session, KIND, public_id))
    crypto = _crypto(config)
    try:
        crypto.check(msg_signature, timestamp, nonce, echostr)
    except CryptoError as exc:
        return _refused(403, "bad_signature", "签名校验失败", public_id, str(exc))
    try:
        plain = crypto.decrypt(echostr)
    except CryptoError as exc:
        return _refused(400, "bad_request", "无法解密（EncodingAESKey 或企业ID不符）", public_id, str(exc))
    return PlainTextResponse(plain)


@router.post(PATH)
async def callback(request: Request, public_id: str, msg_signature: Signature = "", timestamp: Short = "",
                   nonce: Short = "") -> Response:
    body = await request.body()
    ctx = get_ctx(request)
    return await anyio.to_thread.run_sync(functools.partial(
        _callback, ctx, public_id, body, msg_signature, timestamp, nonce))


def _callback(ctx: AppContext, public_id: str, body: bytes, signature: str, timestamp: str, nonce: str) -> Response:
    try:
        outer = xml.parse(body)
    except xml.XmlError as exc:
        status, code = (413, "too_large") if "too large" in str(exc) else (400, "bad_request")
        return _refused(status, code, "回调内容不合法", public_id, str(exc))
    ciphertext = outer.get("Encrypt")
    if not isinstance(ciphertext, str) or not ciphertext:
        return _refused(400, "bad_request", "回调缺少加密内容", public_id, "no Encrypt")
    with ctx.db.session() as session:
        inbox = inboxes_service.by_public_id(session, KIND, public_id)
        config = _config(ctx, inbox)
        crypto = _crypto(config)
        try:
            crypto.check(signature, timestamp, nonce, ciphertext)
        except CryptoError as exc:
            return _refused(403, "bad_signature", "签名校验失败", public_id, str(exc))
        try:
            event = xml.parse(crypto.decrypt(ciphertext))
        except (CryptoError, xml.XmlError) as exc:
            return _refused(400, "bad_request", "无法解密或解析回调内容", public_id, str(exc))
        if event.get("MsgType") != "event" or event.get("Event") != "kf_msg_or_event":
            log.info("wecom_callback_ignored", inbox_id=inbox.id, msg_type=str(event.get("MsgType"))[:20],
                     event_name=str(event.get("Event"))[:40])
            return PlainTextResponse("success")
        queue_pull(session, ctx, inbox, config, event)
        session.commit()
    return PlainTextResponse("success")


def queue_pull(session: Session, ctx: AppContext, inbox: Inbox, config: WeComConfig, event: dict[str, object]
               ) -> None:
    """Queues the pull of the account the event names, once per callback."""
    token = str(event.get("Token") or "")
    open_kfid = str(event.get("OpenKfId") or config.open_kfid)
    target = _inbox_of_account(session, ctx, inbox, config, open_kfid)
    if target is None:
        log.warning("wecom_callback_for_unknown_account", inbox_id=inbox.id, open_kfid=open_kfid[:64])
        return
    seen = token or f"{event.get('CreateTime')}:{open_kfid}"
    key = "wecom-cb:" + hashlib.sha256(seen.encode()).hexdigest()
    if not inboxes_service.first_receipt(session, target, key):
        log.info("wecom_callback_repeated", inbox_id=target.id)
        return
    sync.enqueue(session, target, token)


def _inbox_of_account(session: Session, ctx: AppContext, inbox: Inbox, config: WeComConfig, open_kfid: str
                      ) -> Inbox | None:
    """WeCom calls one URL per corp, for every 客服账号 handed to the API: an org with several accounts of the same
    corp has one inbox each, and the callback of one reaches the inbox whose URL was entered."""
    if open_kfid == config.open_kfid:
        return inbox
    for other in inboxes_service.list_for_org(session, inbox.org_id, KIND):
        if other.id == inbox.id or not other.enabled:
            continue
        theirs = _config(ctx, other)
        if theirs.corp_id == config.corp_id and theirs.open_kfid == open_kfid:
            return other
    return None

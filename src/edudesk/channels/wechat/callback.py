"""Checking and opening WeChat's callback requests: no database, no HTTP, only the inbox's settings and the request.

Every request carries ``signature`` = SHA-1 over the sorted Token, timestamp and nonce; encrypted ones (safe and
compatible mode, ``encrypt_type=aes``) also ``msg_signature``, which covers the ciphertext, and the ciphertext names
the AppID it was encrypted for. The plaintext signature does not cover the body, so a captured request could be
replayed with another body: requests whose timestamp is more than ``REPLAY_WINDOW`` from now are refused. WeChat
resends an unanswered message three times within about 15 seconds (same MsgId; deduplicated later), so five
minutes leaves room for clock drift and none for a replay next hour.

Safe mode refuses unencrypted messages (no downgrade); plaintext mode still opens an encrypted one when the key is
set (the admin switched WeChat to safe mode first). Compatible mode carries both; the encrypted copy is used.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from edudesk.channels.wechat.config import WeChatConfig
from edudesk.channels.weixin import xml
from edudesk.channels.weixin.crypto import CryptoError, MessageCrypto, check_signature

REPLAY_WINDOW = 300  # seconds
MAX_BODY = xml.MAX_XML_BYTES
ECHO = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
NONCE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class Refused(Exception):
    """A callback that is not handled: the HTTP status, a short machine code and the reason for the log."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Query:
    signature: str = ""
    timestamp: str = ""
    nonce: str = ""
    echostr: str = ""
    encrypt_type: str = ""
    msg_signature: str = ""

    @classmethod
    def of(cls, params: Any) -> Query:
        def get(name: str) -> str:
            return str(params.get(name) or "")[:256]

        return cls(signature=get("signature"), timestamp=get("timestamp"), nonce=get("nonce"),
                   echostr=get("echostr"), encrypt_type=get("encrypt_type").lower(),
                   msg_signature=get("msg_signature"))


def check_request(config: WeChatConfig, query: Query, *, now: float | None = None) -> None:
    """The plaintext signature and the replay window (403 when either fails)."""
    if not query.timestamp.isdigit() or not NONCE.match(query.nonce):
        raise Refused(403, "bad_signature", "missing or malformed timestamp/nonce")
    try:
        check_signature(query.signature, config.token.get_secret_value(), query.timestamp, query.nonce)
    except CryptoError:
        raise Refused(403, "bad_signature", "signature mismatch") from None
    skew = abs((time.time() if now is None else now) - int(query.timestamp))
    if skew > REPLAY_WINDOW:
        raise Refused(403, "stale_request", f"timestamp {int(skew)}s away from now")


def echo(config: WeChatConfig, query: Query, *, now: float | None = None) -> str:
    """URL verification (the GET WeChat sends when the admin saves the server settings): the echostr, once the
    signature is right. It goes back verbatim, so only the characters WeChat uses are accepted."""
    check_request(config, query, now=now)
    if not ECHO.match(query.echostr):
        raise Refused(400, "bad_echostr", "echostr missing or not alphanumeric")
    return query.echostr


def open_message(config: WeChatConfig, query: Query, body: bytes, *, now: float | None = None) -> dict[str, Any]:
    """The message's fields, once signature, replay window, decryption and XML are all right."""
    if len(body) > MAX_BODY:
        raise Refused(413, "too_large", f"body of {len(body)} bytes")
    check_request(config, query, now=now)
    outer = _parse(body, "body")
    encrypted = query.encrypt_type == "aes"
    if not encrypted:
        if config.message_mode == "safe":
            raise Refused(400, "plaintext_refused", "unencrypted message while the inbox is in safe mode")
        return outer
    key = config.encoding_aes_key.get_secret_value()
    if not key:
        raise Refused(400, "no_aes_key", "encrypted message but no EncodingAESKey is set")
    ciphertext = outer.get("Encrypt")
    if not isinstance(ciphertext, str) or not ciphertext:
        raise Refused(400, "bad_xml", "encrypted message without <Encrypt>")
    crypto = MessageCrypto(config.token.get_secret_value(), key, config.app_id)
    try:
        crypto.check(query.msg_signature, query.timestamp, query.nonce, ciphertext)
    except CryptoError:
        raise Refused(403, "bad_signature", "msg_signature mismatch") from None
    try:
        plain = crypto.decrypt(ciphertext)
    except CryptoError as exc:
        raise Refused(400, "bad_ciphertext", f"cannot decrypt: {exc}") from None
    return _parse(plain.encode(), "decrypted body")


def _parse(raw: bytes, what: str) -> dict[str, Any]:
    try:
        return xml.parse(raw)
    except xml.XmlError as exc:
        if "too large" in str(exc):
            raise Refused(413, "too_large", f"{what} too large") from None
        raise Refused(400, "bad_xml", f"{what}: {exc}") from None

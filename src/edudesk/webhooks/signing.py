"""The webhook signature scheme (documented for receivers in docs/webhooks.md).

``X-Edudesk-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` with the endpoint's whole
``whsec_…`` secret (UTF-8) as the key and the unix-seconds timestamp of ``X-Edudesk-Timestamp``. Signing the
timestamp with the body lets receivers refuse old requests replayed by someone who captured one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature, compared in constant time."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)

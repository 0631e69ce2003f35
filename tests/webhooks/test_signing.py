"""The signature scheme, checked with the verification code published in docs/webhooks.md."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edudesk.webhooks import signing

DOC = Path(__file__).resolve().parents[2] / "docs/webhooks.md"


def documented_verifier() -> Callable[..., bool]:
    """Executes the Python block of docs/webhooks.md, so the documentation cannot drift from the code."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    code = next(b for b in blocks if "def verify_edudesk_signature" in b)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["verify_edudesk_signature"]  # type: ignore[no-any-return]


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    secret, body, ts = "whsec_abc", '{"id":"evt_1","data":{"name":"王妈妈"}}'.encode(), 1767225600
    expected = hmac.new(secret.encode(), b"1767225600." + body, hashlib.sha256).hexdigest()
    assert signing.sign(secret, ts, body) == "sha256=" + expected


def test_documented_verifier_accepts_fresh_and_refuses_forged_or_stale() -> None:
    verify = documented_verifier()
    secret, body, ts = signing.new_secret(), b'{"id":"evt_1"}', int(time.time())
    headers = {"x-edudesk-timestamp": str(ts), "x-edudesk-signature": signing.sign(secret, ts, body)}
    assert verify(secret, headers, body)
    assert not verify("whsec_other", headers, body)
    assert not verify(secret, headers, body + b" ")
    stale = ts - 3600
    assert not verify(secret, {"x-edudesk-timestamp": str(stale),
                               "x-edudesk-signature": signing.sign(secret, stale, body)}, body)
    assert not verify(secret, {"x-edudesk-timestamp": "abc", "x-edudesk-signature": "sha256=00"}, body)
    assert signing.verify(secret, str(ts), body, headers["x-edudesk-signature"])
    assert not signing.verify(secret, str(stale), body, signing.sign(secret, stale, body))


def test_new_secrets_are_random_and_prefixed() -> None:
    a, b = signing.new_secret(), signing.new_secret()
    assert a.startswith("whsec_") and a != b and len(a) > 40

"""Encryption at rest for secrets that edudesk must be able to read back (webhook signing secrets, channel keys).

A password can be hashed; a secret that signs outgoing requests cannot, so it is stored encrypted with Fernet
(AES-128-CBC + HMAC-SHA256, from the audited ``cryptography`` package) under a key derived from the app secret
with HKDF and a per-purpose label, so one leaked derived key opens only one kind of secret. Changing
``EDUDESK_SECRET_KEY`` makes the stored secrets unreadable: they must then be rotated (see docs/webhooks.md).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBoxError(ValueError):
    """The stored value was not encrypted with this app secret (or was altered)."""


class SecretBox:
    def __init__(self, app_secret: str, purpose: str) -> None:
        if not app_secret:
            raise ValueError("an app secret is required to encrypt secrets at rest")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=f"edudesk:{purpose}".encode()).derive(app_secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretBoxError("secret cannot be decrypted with the current app secret") from exc

"""Signed visitor tokens: the widget's proof of which visitor of which org it is, kept in localStorage."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "edudesk.visitor.v1"


@dataclass(frozen=True)
class VisitorIdentity:
    org_id: int
    visitor_id: str


class VisitorTokens:
    def __init__(self, secret_key: str) -> None:
        self._s = URLSafeSerializer(secret_key, salt=SALT)

    def issue(self, org_id: int, visitor_id: str | None = None) -> tuple[str, VisitorIdentity]:
        ident = VisitorIdentity(org_id, visitor_id or "v_" + secrets.token_urlsafe(16))
        return self._s.dumps({"o": ident.org_id, "v": ident.visitor_id}), ident

    def read(self, token: str | None) -> VisitorIdentity | None:
        if not token or len(token) > 500:
            return None
        try:
            data = self._s.loads(token)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        org_id, visitor_id = data.get("o"), data.get("v")
        if not isinstance(org_id, int) or not isinstance(visitor_id, str) or not visitor_id:
            return None
        return VisitorIdentity(org_id, visitor_id)


@functools.lru_cache(maxsize=8)
def tokens_for(secret_key: str) -> VisitorTokens:
    """One reader per secret key (the process has one): building the serializer costs as much as a beacon's
    attribution, for every page view."""
    return VisitorTokens(secret_key)

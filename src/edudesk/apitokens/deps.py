"""The FastAPI dependency that guards ``/api/v1`` routes: ``Authorization: Bearer edk_…`` with a scope.

Usage: ``auth: Annotated[TokenAuth, Depends(api_token("leads:read"))]``. Every query the route makes must be
scoped by ``auth.org_id``. Failures use the API's error format: 401 ``invalid_token`` (missing, unknown, revoked)
and 403 ``insufficient_scope``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edudesk.apitokens import service as apitokens_service
from edudesk.context import get_ctx
from edudesk.errors import DomainError


class InvalidToken(DomainError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__("invalid_token", "缺少有效的 API 令牌（Authorization: Bearer edk_…）")


class InsufficientScope(DomainError):
    status_code = 403

    def __init__(self, scope: str) -> None:
        super().__init__("insufficient_scope", f"这个 API 令牌没有 {scope} 权限")


@dataclass(frozen=True)
class TokenAuth:
    org_id: int
    token_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]


# auto_error=False: a missing header must answer with our error format, not FastAPI's {"detail": …}.
bearer = HTTPBearer(auto_error=False, description="API 令牌 edk_…（在 管理 → 数据推送 → API 令牌 中创建）")


def api_token(scope: str | None = None) -> Callable[..., TokenAuth]:
    if scope is not None and scope not in apitokens_service.SCOPES:
        raise ValueError(f"unknown API scope {scope!r}")

    def dependency(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> TokenAuth:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise InvalidToken()
        with get_ctx(request).db.session() as session:
            token = apitokens_service.authenticate(session, credentials.credentials.strip())
            if token is None:
                raise InvalidToken()
            auth = TokenAuth(org_id=token.org_id, token_id=token.id, name=token.name, prefix=token.prefix,
                             scopes=tuple(token.scopes))
            session.commit()
        if scope is not None and scope not in auth.scopes:
            raise InsufficientScope(scope)
        return auth

    return dependency

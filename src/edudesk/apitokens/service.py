"""API tokens: created by an admin (shown once as ``edk_…``), checked on every API request, revoked at will."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.apitokens.models import ApiToken
from edudesk.audit import service as audit_service
from edudesk.audit.service import Actor
from edudesk.db import get_in_org, org_query, utcnow
from edudesk.errors import DomainError

TOKEN_PREFIX = "edk_"  # noqa: S105 (a prefix, not a secret)
# The small fixed list an admin picks from; an API route names the one scope it needs.
SCOPES: tuple[str, ...] = ("leads:read", "leads:write", "tickets:read", "tickets:write", "channels:write",
                           "voice:read", "voice:write")
# What each scope allows, as the admin page shows it (Chinese first; the template translates).
SCOPE_LABELS: dict[str, str] = {
    "leads:read": "读取线索",
    "leads:write": "写入线索",
    "tickets:read": "读取工单",
    "tickets:write": "创建和处理工单",
    "channels:write": "API 渠道：代用户发消息、读取会话消息",
    "voice:read": "读取外呼数据和免打扰名单",
    "voice:write": "管理免打扰名单",
}
# last_used_at is written at most this often per token, so a busy integration does not write on every request.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


class ApiTokenError(DomainError):
    pass


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def list_tokens(session: Session, org_id: int) -> list[ApiToken]:
    return list(session.scalars(org_query(ApiToken, org_id).order_by(ApiToken.revoked_at.is_not(None),
                                                                     ApiToken.id.desc())))


def create_token(session: Session, actor: Actor, *, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
    """Returns the token row and the token itself, which is shown to the admin this once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiTokenError("bad_name", "请填写不超过 100 个字符的名称", "name")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ApiTokenError("unknown_scope", f"未知的权限：{', '.join(unknown)}", "scopes")
    if not scopes:
        raise ApiTokenError("no_scopes", "请至少选择一项权限", "scopes")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(org_id=actor.org_id, name=name, prefix=raw[:12], token_hash=hash_token(raw),
                     scopes=[s for s in SCOPES if s in scopes], created_by=actor.label, created_at=utcnow())
    session.add(token)
    session.flush()
    audit_service.record(session, actor, "api_token.create", "api_token", token.id, name=name, scopes=token.scopes)
    return token, raw


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = get_in_org(session, ApiToken, token_id, actor.org_id, for_update=True)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit_service.record(session, actor, "api_token.revoke", "api_token", token.id, name=token.name)
    return token


def authenticate(session: Session, raw: str) -> ApiToken | None:
    """The live token with this value, or None; notes when it was last used."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(raw))).first()
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
    return token

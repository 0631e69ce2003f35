"""Users, roles, password hashing and login throttling."""

from __future__ import annotations

import datetime as dt
import functools
import re

from pwdlib import PasswordHash
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import LoginAttempt, Role, User
from edudesk.db import get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.ratelimit import Rate

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 8
_hasher = PasswordHash.recommended()


class AuthError(DomainError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError("weak_password", f"密码至少 {MIN_PASSWORD} 位", "password")
    if len(password) > 256:
        raise AuthError("bad_password", "密码过长", "password")


def create_user(
    session: Session,
    actor: audit_service.Actor,
    *,
    username: str,
    password: str,
    display_name: str,
    role: Role | str = Role.agent,
) -> User:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise AuthError("bad_username", "用户名需为 2–64 位字母、数字或 _.@-", "username")
    display_name = display_name.strip()
    if not display_name or len(display_name) > 100:
        raise AuthError("bad_display_name", "显示名称不能为空，且不超过 100 个字符", "display_name")
    try:
        role = Role(role)
    except ValueError:
        raise AuthError("bad_role", "角色只能是 admin、supervisor 或 agent", "role") from None
    validate_password(password)
    exists = session.scalars(org_query(User, actor.org_id).where(User.username == username)).first()
    if exists is not None:
        raise AuthError("duplicate_username", f"用户名 {username} 已存在", "username")
    user = User(
        org_id=actor.org_id,
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
    )
    session.add(user)
    session.flush()
    audit_service.record(session, actor, "user.create", "user", user.id, username=username, role=role.value)
    return user


def list_users(session: Session, org_id: int) -> list[User]:
    return list(session.scalars(org_query(User, org_id).order_by(User.id)))


def get_user(session: Session, org_id: int, user_id: int) -> User:
    return get_in_org(session, User, user_id, org_id)


def find_user(session: Session, org_id: int, username: str) -> User | None:
    return session.scalars(org_query(User, org_id).where(User.username == username)).first()


def set_active(session: Session, actor: audit_service.Actor, user: User, active: bool) -> None:
    if user.org_id != actor.org_id:
        raise AuthError("not_found", "用户不存在")
    if not active and actor.user_id == user.id:
        raise AuthError("self_disable", "不能停用自己的账号")
    user.is_active = active
    user.session_epoch += 1
    audit_service.record(session, actor, "user.enable" if active else "user.disable", "user", user.id)


def set_role(session: Session, actor: audit_service.Actor, user: User, role: str) -> None:
    try:
        new_role = Role(role)
    except ValueError:
        raise AuthError("bad_role", "角色只能是 admin、supervisor 或 agent", "role") from None
    if actor.user_id == user.id and new_role != Role.admin:
        raise AuthError("self_demote", "不能降低自己的角色")
    user.role = new_role
    user.session_epoch += 1
    audit_service.record(session, actor, "user.role", "user", user.id, role=new_role.value)


def set_password(session: Session, actor: audit_service.Actor, user: User, password: str) -> None:
    validate_password(password)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    audit_service.record(session, actor, "user.password", "user", user.id)


def _throttle_keys(org_slug: str, username: str, ip: str | None) -> list[str]:
    # Normalised as ``authenticate`` looks the user up, so " agent " cannot dodge the per-account limit.
    keys = [f"user:{org_slug}:{username.strip().lower()}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


def login_blocked(session: Session, org_slug: str, username: str, ip: str | None, per_account: Rate,
                  per_ip: Rate) -> bool:
    """Too many failed logins for this account or from this address within the rule's window (docs/limits.md).

    Counted in the database, not the rate limiter: failures must survive restarts and are rare enough to be rows."""
    for key in _throttle_keys(org_slug, username, ip):
        rule = per_ip if key.startswith("ip:") else per_account
        since = utcnow() - dt.timedelta(seconds=rule.window_seconds)
        count = session.scalar(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.at >= since)
        )
        if (count or 0) >= rule.limit:
            return True
    return False


def authenticate(session: Session, org_id: int, org_slug: str, username: str, password: str, ip: str | None
                 ) -> User | None:
    """Returns the user when the password is right; records a failed attempt otherwise."""
    user = find_user(session, org_id, username.strip())
    ok = False
    if user is not None and user.is_active:
        ok = _hasher.verify(password, user.password_hash)
    else:
        # Hash anyway so that response time does not reveal whether the username exists.
        _hasher.verify(password, _dummy_hash())
    if not ok:
        for key in _throttle_keys(org_slug, username, ip):
            session.add(LoginAttempt(key=key))
        return None
    assert user is not None
    user.last_login_at = utcnow()
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == _throttle_keys(org_slug, username, None)[0]))
    audit_service.record(session, audit_service.Actor(org_id, user.id, user.username, ip), "user.login", "user",
                         user.id)
    return user


@functools.cache
def _dummy_hash() -> str:
    """Hashed on first use, not at import: the CLI should not pay for Argon2 before it does anything."""
    return _hasher.hash("edudesk-dummy-password")

"""Who is calling: the console session cookie, checked against the user's current state on every request."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import HTTPConnection

from edudesk.audit.service import Actor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.web import client_ip


class LoginRequired(Exception):
    """Raised by the dependencies; the app answers with a redirect to the login page (or 401 for JSON)."""


class Forbidden(Exception):
    pass


def user_from_session(conn: HTTPConnection) -> User | None:
    data = conn.session
    uid, org_id, epoch = data.get("uid"), data.get("org"), data.get("epoch")
    if not isinstance(uid, int) or not isinstance(org_id, int):
        return None
    with get_ctx(conn).db.session() as session:
        user = session.get(User, uid)
        if user is None or user.org_id != org_id or not user.is_active or user.session_epoch != epoch:
            return None
        session.expunge(user)
        return user


def current_user(request: Request) -> User:
    user = user_from_session(request)
    if user is None:
        request.session.pop("uid", None)
        raise LoginRequired()
    return user


def supervisor(request: Request) -> User:
    user = current_user(request)
    if user.role not in (Role.admin, Role.supervisor):
        raise Forbidden()
    return user


def admin(request: Request) -> User:
    user = current_user(request)
    if user.role != Role.admin:
        raise Forbidden()
    return user


def actor_of(request: Request, user: User) -> Actor:
    return Actor(org_id=user.org_id, user_id=user.id, label=user.username, ip=client_ip(request))


def start_session(request: Request, user: User) -> None:
    request.session.clear()
    request.session.update({"uid": user.id, "org": user.org_id, "epoch": user.session_epoch})

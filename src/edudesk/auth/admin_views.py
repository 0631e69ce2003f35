"""Admin pages for staff accounts and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import ROLE_LABELS, User
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.routing import service as routing_service
from edudesk.web import page

router = APIRouter(prefix="/admin", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]


@router.get("", response_class=HTMLResponse)
def admin_home(user: Admin) -> Response:
    return RedirectResponse("/admin/users", status_code=303)


def _users_page(request: Request, user: User, *, errors: dict[str, str] | None = None,
                form: dict[str, Any] | None = None, notice: str | None = None, status: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        users = auth_service.list_users(session, user.org_id)
        groups = routing_service.groups_by_user(session, user.org_id)
    return page(request, "admin/users.html", status_code=status, user=user, users=users, roles=ROLE_LABELS,
                groups=groups,
                errors=errors or {}, form=form or {}, notice=notice)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, user: Admin) -> Response:
    return _users_page(request, user)


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    user: Admin,
    username: Annotated[str, Form(max_length=1000)] = "",
    display_name: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=32)] = "agent",
    csrf_token: CsrfField = "",
) -> Response:
    form = {"username": username, "display_name": display_name, "role": role}
    done = submit(request, csrf_token, lambda session: auth_service.create_user(
        session, actor_of(request, user), username=username, password=password, display_name=display_name,
        role=role))
    if isinstance(done, Rejected):
        return _users_page(request, user, errors=done.beside("form"), form=form, status=done.status)
    return _users_page(request, user, notice=f"已创建账号 {username.strip()}")


@router.post("/users/{user_id}", response_class=HTMLResponse)
def update_user(
    request: Request,
    user: Admin,
    user_id: PathId,
    action: Annotated[str, Form(max_length=32)],
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    def write(session: Session) -> None:
        target = auth_service.get_user(session, user.org_id, user_id)
        actor = actor_of(request, user)
        if action == "disable":
            auth_service.set_active(session, actor, target, False)
        elif action == "enable":
            auth_service.set_active(session, actor, target, True)
        elif action == "role":
            auth_service.set_role(session, actor, target, role)
        elif action == "password":
            auth_service.set_password(session, actor, target, password)
        else:
            raise DomainError("bad_action", "未知操作", "action")

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _users_page(request, user, errors={"form" if done.stale else f"user{user_id}": done.message},
                           status=done.status)
    return _users_page(request, user, notice="已保存")


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: Admin) -> Response:
    with get_ctx(request).db.session() as session:
        entries = audit_service.recent(session, user.org_id, limit=200)
    return page(request, "admin/audit.html", user=user, entries=entries)

"""Admin pages for webhook endpoints: list, create, edit, rotate the secret, delete, send a test event.

Admins change endpoints; supervisors may look (the pages render without the forms); agents get 403. A new or
rotated secret is shown on the page that answers the POST and never again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.secretbox import SecretBox
from edudesk.web import page
from edudesk.webhooks import log_views
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.event_types import KNOWN_EVENT_TYPES
from edudesk.webhooks.urls import UrlPolicy

router = APIRouter(prefix="/admin/webhooks", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=2000)]


def require_admin(user: User) -> None:
    """Supervisors see the pages; only admins change anything."""
    if user.role != Role.admin:
        raise Forbidden()


def policy_of(request: Request) -> UrlPolicy:
    return UrlPolicy(allow_private=get_ctx(request).settings.webhooks_allow_private)


def box_of(request: Request) -> SecretBox:
    return webhooks_service.secret_box(get_ctx(request).settings.secret_key)


@router.get("", response_class=HTMLResponse)
def endpoint_list(request: Request, user: Supervisor) -> Response:
    with get_ctx(request).db.session() as session:
        endpoints = webhooks_service.list_endpoints(session, user.org_id)
    return page(request, "admin/webhooks.html", user=user, endpoints=endpoints, event_types=KNOWN_EVENT_TYPES)


def _form_page(request: Request, user: User, endpoint_id: int | None, *, form: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None, notice: str | None = None, secret: str | None = None,
               code: int = 200) -> Response:
    endpoint = None
    with get_ctx(request).db.session() as session:
        if endpoint_id is not None:
            endpoint = webhooks_service.get_endpoint(session, user.org_id, endpoint_id)
            if form is None:
                form = {"url": endpoint.url, "event_types": list(endpoint.event_types),
                        "description": endpoint.description, "enabled": endpoint.enabled}
    form = form or {"url": "", "event_types": list(KNOWN_EVENT_TYPES), "description": "", "enabled": True}
    return page(request, "admin/webhooks_form.html", status_code=code, user=user, endpoint=endpoint, form=form,
                errors=errors or {}, notice=notice, secret=secret, event_types=KNOWN_EVENT_TYPES)


def _posted(url: str, event_types: list[str] | None, description: str, enabled: str) -> dict[str, Any]:
    return {"url": url, "event_types": list(event_types or [])[:20], "description": description,
            "enabled": bool(enabled)}


def _input(form: dict[str, Any]) -> webhooks_service.EndpointInput:
    return webhooks_service.EndpointInput(url=form["url"], event_types=form["event_types"],
                                          description=form["description"], enabled=form["enabled"])


@router.get("/new", response_class=HTMLResponse)
def new_endpoint(request: Request, user: Supervisor) -> Response:
    require_admin(user)
    return _form_page(request, user, None)


@router.post("/new", response_class=HTMLResponse)
def create_endpoint(request: Request, user: Supervisor, url: Short = "",
                    event_types: Annotated[list[str] | None, Form()] = None, description: Short = "",
                    enabled: Short = "", csrf_token: CsrfField = "") -> Response:
    require_admin(user)
    form = _posted(url, event_types, description, enabled)
    created = submit(request, csrf_token, lambda session: webhooks_service.create_endpoint(
        session, actor_of(request, user), box_of(request), policy_of(request), _input(form)))
    if isinstance(created, Rejected):
        return _form_page(request, user, None, form=form, errors=created.beside("form"), code=created.status)
    endpoint, secret = created
    return _form_page(request, user, endpoint.id, notice="推送地址已创建", secret=secret)


@router.get("/{endpoint_id}", response_class=HTMLResponse)
def edit_endpoint(request: Request, user: Supervisor, endpoint_id: PathId) -> Response:
    return _form_page(request, user, endpoint_id)


@router.post("/{endpoint_id}", response_class=HTMLResponse)
def update_endpoint(request: Request, user: Supervisor, endpoint_id: PathId, url: Short = "",
                    event_types: Annotated[list[str] | None, Form()] = None, description: Short = "",
                    enabled: Short = "", csrf_token: CsrfField = "") -> Response:
    require_admin(user)
    form = _posted(url, event_types, description, enabled)
    done = submit(request, csrf_token, lambda session: webhooks_service.update_endpoint(
        session, actor_of(request, user), policy_of(request), endpoint_id, _input(form)))
    if isinstance(done, Rejected):
        return _form_page(request, user, endpoint_id, form=form, errors=done.beside("form"), code=done.status)
    return _form_page(request, user, endpoint_id, notice="已保存")


@router.post("/{endpoint_id}/rotate", response_class=HTMLResponse)
def rotate_secret(request: Request, user: Supervisor, endpoint_id: PathId, csrf_token: CsrfField = "") -> Response:
    require_admin(user)
    secret = submit(request, csrf_token, lambda session: webhooks_service.rotate_secret(
        session, actor_of(request, user), box_of(request), endpoint_id))
    if isinstance(secret, Rejected):
        return _form_page(request, user, endpoint_id, errors={"form": secret.message}, code=secret.status)
    return _form_page(request, user, endpoint_id, notice="签名密钥已更换", secret=secret)


@router.post("/{endpoint_id}/test", response_class=HTMLResponse)
def send_test(request: Request, user: Supervisor, endpoint_id: PathId, csrf_token: CsrfField = "") -> Response:
    require_admin(user)
    done = submit(request, csrf_token,
                  lambda session: webhooks_service.send_test(session, actor_of(request, user), endpoint_id))
    if isinstance(done, Rejected):
        return _form_page(request, user, endpoint_id, errors={"form": done.message}, code=done.status)
    return _form_page(request, user, endpoint_id, notice="测试事件已排队，稍后在推送记录中查看结果")


@router.post("/{endpoint_id}/delete", response_class=HTMLResponse)
def delete_endpoint(request: Request, user: Supervisor, endpoint_id: PathId, csrf_token: CsrfField = "") -> Response:
    require_admin(user)
    done = submit(request, csrf_token,
                  lambda session: webhooks_service.delete_endpoint(session, actor_of(request, user), endpoint_id))
    if isinstance(done, Rejected):
        return _form_page(request, user, endpoint_id, errors={"form": done.message}, code=done.status)
    return RedirectResponse("/admin/webhooks", status_code=303)


router.include_router(log_views.router)

"""The admin page of the visitor trail: record it or not, and how many days it is kept. Admins only (403 for
supervisors and agents), CSRF on the form; every change is audited (``visitors.settings``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth.deps import actor_of
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.visitors import settings as trail_settings
from edudesk.visitors.admin_forms import Admin, CsrfField
from edudesk.web import page

router = APIRouter(prefix="/admin/visitors", include_in_schema=False)
ShortField = Annotated[str, Form(max_length=10)]


def _page(request: Request, user: User, *, form: dict[str, str | bool] | None = None,
          errors: dict[str, str] | None = None, notice: str | None = None, status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        current = trail_settings.settings_of(session, user.org_id)
    if form is None:
        form = {"trail_enabled": current.trail_enabled, "retention_days": str(current.retention_days)}
    response: Response = page(request, "admin/visitor_settings.html", status_code=status_code, user=user, form=form,
                              errors=errors or {}, notice=notice, saved=current.saved,
                              default_days=trail_settings.DEFAULT_RETENTION_DAYS, min_days=trail_settings.MIN_DAYS,
                              max_days=trail_settings.MAX_DAYS)
    return response


@router.get("", response_class=HTMLResponse)
def settings_page(request: Request, user: Admin) -> Response:
    return _page(request, user)


@router.post("", response_class=HTMLResponse)
def save_settings(request: Request, user: Admin, csrf_token: CsrfField = "", trail_enabled: ShortField = "",
                  retention_days: ShortField = "") -> Response:
    form: dict[str, str | bool] = {"trail_enabled": bool(trail_enabled), "retention_days": retention_days}
    try:
        days = trail_settings.parse_days(retention_days)
    except DomainError as exc:
        return _page(request, user, form=form, errors={"retention_days": exc.message}, status_code=422)
    done = submit(request, csrf_token, lambda session: trail_settings.save(
        session, actor_of(request, user), trail_enabled=bool(trail_enabled), retention_days=days))
    if isinstance(done, Rejected):
        return _page(request, user, form=form, errors=done.beside("form"), status_code=done.status)
    # This instance forgets its cached switch at once; the others' caches expire within seconds.
    trail = getattr(request.app.state, "trail", None)
    if trail is not None:
        trail.forget_gates()
    return _page(request, user, notice="已保存")

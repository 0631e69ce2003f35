"""CSAT admin pages: the results (``/admin/csat``, supervisors and admins) and the survey settings
(``/admin/csat/settings``: admins edit, supervisors see them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import actor_of, admin, supervisor
from edudesk.auth.models import Role, User
from edudesk.context import get_ctx
from edudesk.csat import reports
from edudesk.csat import service as csat_service
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.web import page

router = APIRouter(prefix="/admin/csat", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Admin = Annotated[User, Depends(admin)]
DateParam = Annotated[str, Query(max_length=20)]


@router.get("", response_class=HTMLResponse)
def csat_report(request: Request, user: Supervisor, since: DateParam = "", until: DateParam = "") -> Response:
    errors: dict[str, str] = {}
    try:
        start, end = reports.parse_range(since, until)
    except DomainError as exc:
        errors[exc.field or "since"] = exc.message
        start, end = reports.default_range()
    with get_ctx(request).db.session() as session:
        result = reports.report(session, user.org_id, start, end)
        settings = csat_service.get_settings(session, user.org_id)
        session.commit()
    form = {"since": since if errors else start.isoformat(), "until": until if errors else end.isoformat()}
    return page(request, "admin/csat.html", status_code=422 if errors else 200, user=user, report=result,
                form=form, errors=errors, settings=settings,
                scale_labels=csat_service.SCALE_LABELS)


def _settings_page(request: Request, user: User, *, form: dict[str, Any] | None = None,
                   errors: dict[str, str] | None = None, notice: str | None = None,
                   status_code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        current = csat_service.get_settings(session, user.org_id)
        session.commit()
    form = form or {"question": current.question, "scale": str(current.scale)}
    return page(request, "admin/csat_settings.html", status_code=status_code, user=user, form=form,
                errors=errors or {}, notice=notice, can_edit=user.role == Role.admin,
                scales=csat_service.SCALES, scale_labels=csat_service.SCALE_LABELS,
                score_labels=csat_service.SCORE_LABELS, max_question=csat_service.MAX_QUESTION)


@router.get("/settings", response_class=HTMLResponse)
def csat_settings(request: Request, user: Supervisor) -> Response:
    return _settings_page(request, user)


@router.post("/settings", response_class=HTMLResponse)
def save_csat_settings(request: Request, user: Admin, question: Annotated[str, Form(max_length=2000)] = "",
                       scale: Annotated[str, Form(max_length=5)] = "",
                       csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    form = {"question": question, "scale": scale}

    def write(session: Session) -> None:
        if not scale.strip().isdigit():
            raise csat_service.CsatError("bad_scale", "请选择评分方式", "scale")
        csat_service.save_settings(session, actor_of(request, user), question=question, scale=int(scale))

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _settings_page(request, user, form=form, errors=done.beside("form"), status_code=done.status)
    return _settings_page(request, user, notice="满意度设置已保存")

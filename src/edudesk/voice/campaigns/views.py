"""Admin pages of call campaigns (外呼任务): the list with progress, a new campaign (the lead filters with a live
count of matching leads), one campaign's progress and targets, and start / pause / resume / cancel.

Supervisors and admins only (agents get 403). Thin: every change is a service function, posted with CSRF and
audited there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.contacts import service as contacts_service
from edudesk.context import get_ctx
from edudesk.db import utcnow
from edudesk.errors import DomainError
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.leads import service as leads_service
from edudesk.leads.models import STATUS_LABELS
from edudesk.routing import service as routing_service
from edudesk.voice.campaigns import scheduling
from edudesk.voice.campaigns import service as campaigns_service
from edudesk.voice.campaigns.models import CampaignState
from edudesk.voice.models import VoiceLine
from edudesk.web import page

router = APIRouter(prefix="/admin/voice/campaigns", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
Param = Annotated[str, Query(max_length=200)]
FORM_MAX = 4000
ACTIONS = {"start", "pause", "resume", "cancel"}
NOTICES = {"start": "外呼任务已启动", "pause": "外呼任务已暂停", "resume": "外呼任务已恢复", "cancel": "外呼任务已取消"}


def sees_phones(user: User) -> bool:
    """The leads pages' rule: admins and supervisors see whole numbers."""
    return user.role in (Role.admin, Role.supervisor)


def shown_phone(user: User, phone: str) -> str:
    return phone if sees_phones(user) else (contacts_service.mask_phone(phone) or "")


def _selection(params: dict[str, str]) -> campaigns_service.LeadSelection:
    return campaigns_service.LeadSelection(
        status=params.get("status", "").strip(),
        level=params.get("level", "").strip(),
        grade=params.get("grade", "").strip(),
        channel=params.get("channel", "").strip(),
        touched_after=params.get("touched_after", "").strip(),
        touched_before=params.get("touched_before", "").strip(),
    )


def _choices(session: Session, org_id: int) -> dict[str, Any]:
    lines = list(session.scalars(select(VoiceLine).where(VoiceLine.org_id == org_id).order_by(VoiceLine.id)))
    return {
        "lines": [(line.id, line.name, line.enabled) for line in lines],
        "groups": [(g.id, g.name) for g in routing_service.list_groups(session, org_id)],
        "owners": [(u.id, u.display_name) for u in auth_service.list_users(session, org_id) if u.is_active],
        "grades": leads_service.GRADES,
        "statuses": STATUS_LABELS,
    }


def _new_page(
    request: Request,
    user: User,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    form = form or {
        "windows": scheduling.windows_text(scheduling.DEFAULT_WINDOWS),
        "skip_holidays": "1",
        "max_attempts": "3",
        "retry_minutes": "60",
        "retry_growth": "1",
        "max_concurrent": "2",
        "mode": "robot",
    }
    with get_ctx(request).db.session() as session:
        choices = _choices(session, user.org_id)
        try:
            count: int | None = campaigns_service.matching_leads(session, user.org_id, _selection(form))
        except DomainError:
            count = None
    return page(
        request,
        "admin/voice_campaign_new.html",
        status_code=code,
        user=user,
        form=form,
        errors=errors or {},
        count=count,
        **choices,
    )


@router.get("", response_class=HTMLResponse)
def campaign_list(request: Request, user: Supervisor) -> Response:
    with get_ctx(request).db.session() as session:
        rows = campaigns_service.list_campaigns(session, user.org_id)
        progress = campaigns_service.progress(session, user.org_id, [c.id for c in rows])
        session.expunge_all()
    return page(
        request,
        "admin/voice_campaigns.html",
        user=user,
        campaigns=rows,
        progress=progress,
    )


@router.get("/new", response_class=HTMLResponse)
def new_campaign(request: Request, user: Supervisor) -> Response:
    return _new_page(request, user)


@router.get("/count", response_class=HTMLResponse)
def matching_count(
    request: Request,
    user: Supervisor,
    status: Param = "",
    level: Param = "",
    grade: Param = "",
    channel: Param = "",
    touched_after: Param = "",
    touched_before: Param = "",
) -> Response:
    """The form's live count (htmx): how many leads with a phone the filters match now."""
    selection = _selection(
        {
            "status": status,
            "level": level,
            "grade": grade,
            "channel": channel,
            "touched_after": touched_after,
            "touched_before": touched_before,
        }
    )
    with get_ctx(request).db.session() as session:
        try:
            count: int | None = campaigns_service.matching_leads(session, user.org_id, selection)
            error = ""
        except DomainError as exc:
            count, error = None, exc.message
    return page(request, "admin/voice_campaign_count.html", count=count, error=error)


@router.post("", response_class=HTMLResponse)
async def create_campaign(request: Request, user: Supervisor) -> Response:
    raw = await request.form()
    form = {k: str(v)[:FORM_MAX] for k, v in raw.items() if isinstance(v, str)}
    data = campaigns_service.CampaignInput(
        name=form.get("name", ""),
        mode=form.get("mode", "robot"),
        line_id=form.get("line_id", ""),
        flow_key=form.get("flow_key", ""),
        selection=_selection(form),
        windows=form.get("windows", ""),
        skip_holidays=bool(form.get("skip_holidays")),
        closed_days=form.get("closed_days", ""),
        max_attempts=form.get("max_attempts", "3"),
        retry_minutes=form.get("retry_minutes", "60"),
        retry_growth=form.get("retry_growth", "1"),
        max_concurrent=form.get("max_concurrent", "2"),
        handoff_group_id=form.get("handoff_group_id", ""),
        default_owner_id=form.get("default_owner_id", ""),
        book_trials=bool(form.get("book_trials")),
    )
    done = submit(
        request,
        form.get("csrf_token"),
        lambda session: campaigns_service.create(session, actor_of(request, user), data).id,
    )
    if isinstance(done, Rejected):
        return _new_page(request, user, form=form, errors=done.beside("form"), code=done.status)
    return RedirectResponse(f"/admin/voice/campaigns/{done}?notice=created", status_code=303)


def _detail_page(
    request: Request,
    user: User,
    campaign_id: int,
    *,
    state: str = "",
    page_no: int = 1,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        campaign = campaigns_service.get(session, user.org_id, campaign_id)
        progress = campaigns_service.progress(session, user.org_id, [campaign.id])[campaign.id]
        targets = campaigns_service.targets_page(session, user.org_id, campaign.id, state=state, page=page_no)
        line = session.get(VoiceLine, campaign.line_id) if campaign.line_id else None
        problems = (
            campaigns_service.start_problems(session, campaign, get_ctx(request).settings, now=utcnow())
            if campaign.state in (CampaignState.draft, CampaignState.paused)
            else []
        )
        session.expunge_all()
    phones = {t.id: shown_phone(user, t.phone_e164) for t in targets.rows}
    return page(
        request,
        "admin/voice_campaign.html",
        status_code=code,
        user=user,
        campaign=campaign,
        progress=progress,
        targets=targets,
        phones=phones,
        line=line,
        problems=problems,
        notice=notice,
        errors=errors or {},
        state=state,
        windows=scheduling.windows_text(campaign.windows or {}),
        filters=campaigns_service.LeadSelection.from_dict(campaign.filters or {}),
        status_labels=STATUS_LABELS,
        can=lambda action: _allowed(campaign.state, action),
    )


def _allowed(state: CampaignState, action: str) -> bool:
    target = {
        "start": CampaignState.running,
        "resume": CampaignState.running,
        "pause": CampaignState.paused,
        "cancel": CampaignState.canceled,
    }[action]
    if action == "start" and state != CampaignState.draft:
        return False
    if action == "resume" and state != CampaignState.paused:
        return False
    return state.can_move_to(target)


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign_detail(
    request: Request,
    user: Supervisor,
    campaign_id: PathId,
    state: Param = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    notice: Param = "",
) -> Response:
    shown = "外呼任务已创建" if notice == "created" else NOTICES.get(notice)
    return _detail_page(request, user, campaign_id, state=state, page_no=page_no, notice=shown)


@router.post("/{campaign_id}/{action}", response_class=HTMLResponse)
async def campaign_action(request: Request, user: Supervisor, campaign_id: PathId, action: str) -> Response:
    if action not in ACTIONS:
        return page(request, "admin/voice_campaign_count.html", status_code=404, count=None, error="")
    form = await request.form()
    settings = get_ctx(request).settings

    def write(session: Session) -> None:
        actor = actor_of(request, user)
        if action == "start":
            campaigns_service.start(session, actor, campaign_id, settings)
        elif action == "pause":
            campaigns_service.pause(session, actor, campaign_id)
        elif action == "resume":
            campaigns_service.resume(session, actor, campaign_id, settings)
        else:
            campaigns_service.cancel(session, actor, campaign_id)

    done = submit(request, str(form.get("csrf_token") or ""), write)
    if isinstance(done, Rejected):
        return _detail_page(request, user, campaign_id, errors=done.beside("form"), code=done.status)
    return RedirectResponse(f"/admin/voice/campaigns/{campaign_id}?notice={action}", status_code=303)

"""Admin pages of campaigns (推广活动): every campaign of the org with its numbers, one campaign's days, links.

The QR codes of a WeChat account are made on that account's page (the adapter's admin pages), because making one
asks WeChat; here an admin creates a *link* campaign (a scene for a 微信客服 link, a landing page's utm_campaign),
names the 未命名 ones that arrived by themselves, and archives what is over. Supervisors may look, admins change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.campaigns import service as campaigns_service
from edudesk.campaigns.models import Campaign
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inboxes import service as inboxes_service
from edudesk.inputs import PathId
from edudesk.localtime import local_today
from edudesk.web import page

router = APIRouter(prefix="/admin/campaigns", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
DAYS_SHOWN = 30
URL_MAX = 1000


def _require_admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden()


def link_of(campaign: Campaign) -> str:
    """The link to place for a link campaign: its base link with the scene appended as ``scene_param`` (what a
    微信客服 link hands back in its enter_session event); empty without a base link."""
    base = str((campaign.provider or {}).get("base_url") or "")
    if not base:
        return ""
    joiner = "&" if urlsplit(base).query else "?"
    return f"{base}{joiner}scene_param={quote(campaign.scene, safe='')}"


def _base_url(raw: str) -> str:
    raw = raw.strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in raw):
        raise campaigns_service.CampaignError("bad_url", "链接须是完整的 http(s):// 地址", "base_url")
    if len(raw) > URL_MAX:
        raise campaigns_service.CampaignError("url_too_long", f"链接不能超过 {URL_MAX} 个字符", "base_url")
    return raw


def _list_page(request: Request, user: User, *, form: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, code: int = 200, show_archived: bool = False,
               notice: str | None = None) -> Response:
    with get_ctx(request).db.session() as session:
        rows = campaigns_service.list_campaigns(session, user.org_id, include_archived=show_archived)
        reports = campaigns_service.report(session, user.org_id, rows)
        inboxes = inboxes_service.list_for_org(session, user.org_id)
        session.expunge_all()
    names = {i.id: i.name for i in inboxes}
    return page(request, "campaigns/list.html", status_code=code, user=user, reports=reports, inbox_names=names,
                inboxes=inboxes, form=form or {},
                errors=errors or {}, show_archived=show_archived, notice=notice,
                kind_labels=campaigns_service.KIND_LABELS, link_of=link_of)


@router.get("", response_class=HTMLResponse)
def campaign_list(request: Request, user: Supervisor, archived: str = "") -> Response:
    return _list_page(request, user, show_archived=bool(archived))


@router.post("", response_class=HTMLResponse)
async def create_link(request: Request, user: Supervisor) -> Response:
    _require_admin(user)
    raw = await request.form()
    form = {k: str(v)[:2000] for k, v in raw.items() if isinstance(v, str)}
    inbox_raw = form.get("inbox_id", "").strip()

    def write(session: Session) -> int:
        inbox_id: int | None = None
        channel = ""
        if inbox_raw:
            if not inbox_raw.isdigit() or len(inbox_raw) > 9:
                raise campaigns_service.CampaignError("bad_inbox", "请选择渠道账号", "inbox_id")
            inbox = inboxes_service.get(session, user.org_id, int(inbox_raw))
            inbox_id, channel = inbox.id, inbox.kind
        provider = {"base_url": base} if (base := _base_url(form.get("base_url", ""))) else {}
        return campaigns_service.create(session, actor_of(request, user), name=form.get("name", ""),
                                        scene=form.get("scene", ""), kind="link", inbox_id=inbox_id,
                                        channel=channel, provider=provider).id

    done = submit(request, form.get("csrf_token"), write, conflict=Rejected(
        "这个场景值刚被别人用了，请换一个", "scene_taken", 409, "scene"))
    if isinstance(done, Rejected):
        return _list_page(request, user, form=form, errors=done.beside("form"), code=done.status)
    return RedirectResponse(f"/admin/campaigns/{done}?created=1", status_code=303)


def _detail_page(request: Request, user: User, campaign_id: int, *, errors: dict[str, str] | None = None,
                 notice: str | None = None, code: int = 200) -> Response:
    today = local_today()
    with get_ctx(request).db.session() as session:
        campaign = campaigns_service.get(session, user.org_id, campaign_id)
        report = campaigns_service.report(session, user.org_id, [campaign])[0]
        days = campaigns_service.daily(session, user.org_id, campaign_id, today - dt.timedelta(days=DAYS_SHOWN - 1),
                                       today)
        inbox = inboxes_service.get(session, user.org_id, campaign.inbox_id) if campaign.inbox_id else None
        session.expunge_all()
    return page(request, "campaigns/detail.html", status_code=code, user=user, campaign=campaign, report=report,
                days=list(reversed(days)), inbox=inbox, errors=errors or {}, notice=notice,
                kind_labels=campaigns_service.KIND_LABELS, link=link_of(campaign))


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign_detail(request: Request, user: Supervisor, campaign_id: PathId, created: str = "") -> Response:
    return _detail_page(request, user, campaign_id, notice="推广活动已创建" if created else None)


@router.post("/{campaign_id}", response_class=HTMLResponse)
async def rename_campaign(request: Request, user: Supervisor, campaign_id: PathId) -> Response:
    _require_admin(user)
    form = await request.form()
    name = str(form.get("name") or "")[:200]
    done = submit(request, str(form.get("csrf_token") or ""), lambda session: campaigns_service.rename(
        session, actor_of(request, user), campaign_id, name))
    if isinstance(done, Rejected):
        return _detail_page(request, user, campaign_id, errors=done.beside("form"), code=done.status)
    return _detail_page(request, user, campaign_id, notice="已保存")


@router.post("/{campaign_id}/archive", response_class=HTMLResponse)
async def archive_campaign(request: Request, user: Supervisor, campaign_id: PathId) -> Response:
    _require_admin(user)
    form = await request.form()
    restore = form.get("action") == "restore"
    done = submit(request, str(form.get("csrf_token") or ""), lambda session: campaigns_service.archive(
        session, actor_of(request, user), campaign_id, archived=not restore))
    if isinstance(done, Rejected):
        return _detail_page(request, user, campaign_id, errors=done.beside("form"), code=done.status)
    return _detail_page(request, user, campaign_id, notice="已恢复" if restore else "已归档：扫码和访问仍会计数")

"""Admin pages of one WeChat Official Account: parametric QR codes (带参数二维码) and the custom menu (自定义菜单).

Mounted under ``/admin/channels/{inbox_id}/wechat`` by the adapter's ``router()``; the adapter's
``admin_links(inbox)`` names them on the channels page. Supervisors may look, admins change (as on the channels
pages). Every page loads the inbox through the caller's org and refuses an inbox of another kind, so another
org's account — or a non-WeChat one — is a plain 404.

Calls to WeChat run in a worker thread (the HTTP client is synchronous and WeChat may take seconds), outside any
database transaction: a QR code is asked for only after its scene passed every check, and a menu is published
only after the draft was saved, so a refusal loses nothing typed and is shown beside the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from edudesk.audit import service as audit_service
from edudesk.auth.deps import Forbidden, actor_of, supervisor
from edudesk.auth.models import Role, User
from edudesk.bot import scripts
from edudesk.campaigns import service as campaigns_service
from edudesk.channels.wechat import menu_editor
from edudesk.channels.wechat.admin_api import WeChatAdminApi, WeChatApiError, credentials_of
from edudesk.context import get_ctx
from edudesk.db import NotFoundError, utcnow
from edudesk.errors import DomainError
from edudesk.forms import STALE, Rejected, submit
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from edudesk.inputs import PathId
from edudesk.kb import service as kb_service
from edudesk.web import csrf_ok, page

KIND = "wechat"
router = APIRouter(prefix="/admin/channels/{inbox_id}/wechat", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
IMAGE_CACHE_SECONDS = 86400


def admin_links(inbox: Inbox) -> list[tuple[str, str]]:
    """The pages of a WeChat inbox, for the adapter's ``admin_links``."""
    return [("带参数二维码", f"/admin/channels/{inbox.id}/wechat/qrcodes"),
            ("自定义菜单", f"/admin/channels/{inbox.id}/wechat/menu")]


def _require_admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden()


def _inbox(request: Request, user: User, inbox_id: int) -> Inbox:
    with get_ctx(request).db.session() as session:
        inbox = inboxes_service.get(session, user.org_id, inbox_id)
        session.expunge(inbox)
    if inbox.kind != KIND:
        raise NotFoundError("inbox", inbox_id)
    return inbox


def _api(request: Request, inbox: Inbox) -> WeChatAdminApi:
    """The inbox's API client; raises WeChatApiError when the account's AppID / AppSecret are missing."""
    ctx = get_ctx(request)
    model = ctx.channels.get(KIND).config_model
    try:
        config = inboxes_service.config_of(inbox, model, inboxes_service.secret_box(ctx.settings.secret_key))
    except ValidationError:  # settings saved before a field became required: the admin must complete them
        raise WeChatApiError("not_configured", "请先在渠道设置里填写 AppID 和 AppSecret") from None
    assert ctx.channels.services is not None
    return WeChatAdminApi(ctx.channels.services, credentials_of(config))


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v)[:4000] for k, v in form.items() if isinstance(v, str)}


# --- parametric QR codes -----------------------------------------------------------------------------------------

def _qr_page(request: Request, user: User, inbox: Inbox, *, form: Mapping[str, str] | None = None,
             errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200,
             show_archived: bool = False) -> Response:
    with get_ctx(request).db.session() as session:
        rows = campaigns_service.list_campaigns(session, user.org_id, inbox_id=inbox.id,
                                                include_archived=show_archived)
        reports = campaigns_service.report(session, user.org_id, rows)
        session.expunge_all()
    return page(request, "admin/wechat_qrcodes.html", status_code=code, user=user, inbox=inbox, reports=reports,
                form=form or {}, errors=errors or {}, notice=notice, show_archived=show_archived,
                links=admin_links(inbox))


@router.get("/qrcodes", response_class=HTMLResponse)
def qrcodes(request: Request, user: Supervisor, inbox_id: PathId, archived: str = "", created: str = "") -> Response:
    inbox = _inbox(request, user, inbox_id)
    return _qr_page(request, user, inbox, show_archived=bool(archived),
                    notice="二维码已生成：可以下载打印，或放进推文和海报" if created else None)


@router.post("/qrcodes", response_class=HTMLResponse)
async def create_qrcode(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    _require_admin(user)
    inbox = _inbox(request, user, inbox_id)
    form = await _posted(request)
    csrf = form.get("csrf_token", "")
    if not csrf_ok(request, csrf):
        return _qr_page(request, user, inbox, form=form, errors={"form": STALE}, code=400)
    name, scene = form.get("name", "")[:200], form.get("scene", "")[:200]

    def check(session: Session) -> str:
        if not name.strip():
            raise campaigns_service.CampaignError("name_required", "请填写活动名称", "name")
        return campaigns_service.check_new(session, user.org_id, inbox.id, scene)

    try:
        with get_ctx(request).db.session() as session:
            scene = check(session)
        api = _api(request, inbox)
        qr = await run_in_threadpool(api.create_qr, scene)
    except DomainError as exc:
        return _qr_page(request, user, inbox, form=form, errors={exc.field or "form": exc.message}, code=422)
    except WeChatApiError as exc:
        return _qr_page(request, user, inbox, form=form, errors={"form": f"生成失败：{exc.describe()}"}, code=502)
    done = submit(request, csrf, lambda session: campaigns_service.create(
        session, actor_of(request, user), name=name, scene=scene, kind="qr", inbox_id=inbox.id, channel=KIND,
        provider=qr.as_provider()).id)
    if isinstance(done, Rejected):
        return _qr_page(request, user, inbox, form=form, errors=done.beside("form"), code=done.status)
    return RedirectResponse(f"/admin/channels/{inbox.id}/wechat/qrcodes?created=1", status_code=303)


@router.get("/qrcodes/{campaign_id}/image")
async def qrcode_image(request: Request, user: Supervisor, inbox_id: PathId, campaign_id: PathId,
                       download: str = "") -> Response:
    inbox = _inbox(request, user, inbox_id)
    with get_ctx(request).db.session() as session:
        row = campaigns_service.get(session, user.org_id, campaign_id, inbox_id=inbox.id)
        ticket, scene = str((row.provider or {}).get("ticket") or ""), row.scene
    if not ticket:
        raise NotFoundError("qrcode", campaign_id)
    try:
        content, kind = await run_in_threadpool(_api(request, inbox).qr_image, ticket)
    except WeChatApiError as exc:
        return Response(exc.describe(), status_code=502, media_type="text/plain; charset=utf-8")
    headers = {"Cache-Control": f"private, max-age={IMAGE_CACHE_SECONDS}"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="qrcode-{scene}.jpg"'
    return Response(content, media_type=kind, headers=headers)


# --- custom menu ---------------------------------------------------------------------------------------------------

def _choices(session: Session, org_id: int) -> tuple[dict[str, str], dict[int, str], list[tuple[str, str, bool]]]:
    """The org's scripts (key → name, and (key, name, enabled) for the picker) and KB entries (id → question)."""
    flows = scripts.list_flows(session, org_id)
    return ({f.key: f.name for f in flows}, dict(kb_service.entry_choices(session, org_id)),
            [(f.key, f.name, f.enabled) for f in flows])


def _menu_page(request: Request, user: User, inbox: Inbox, *, slots: list[menu_editor.Slot] | None = None,
               errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200,
               live: dict[str, Any] | None = None, live_error: str | None = None, live_checked: bool = False
               ) -> Response:
    with get_ctx(request).db.session() as session:
        row = inboxes_service.get(session, user.org_id, inbox.id)
        state = dict(row.state or {})
        _, entries, flows = _choices(session, user.org_id)
    draft = menu_editor.draft_of(state) or menu_editor.published_of(state)
    menu = menu_editor.menu_state(state)
    return page(request, "admin/wechat_menu.html", status_code=code, user=user, inbox=inbox,
                slots=slots if slots is not None else menu_editor.slots(draft), errors=errors or {},
                notice=notice, flows=flows, entries=sorted(entries.items(), key=lambda kv: kv[1]),
                kinds=menu_editor.KIND_LABELS, published_at=menu.get("published_at"),
                unpublished=menu.get("draft") is not None and menu.get("draft") != menu.get("published"),
                live=live, live_error=live_error, live_checked=live_checked, links=admin_links(inbox))


@router.get("/menu", response_class=HTMLResponse)
def menu(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    return _menu_page(request, user, _inbox(request, user, inbox_id))


def _save_draft(request: Request, user: User, inbox: Inbox, buttons: list[dict[str, Any]]
                ) -> Any:
    def write(session: Session) -> None:
        row = inboxes_service.get(session, user.org_id, inbox.id, for_update=True)
        current = menu_editor.menu_state(row.state)
        inboxes_service.set_state(session, row, **{menu_editor.STATE_KEY: {**current, "draft": buttons}})
        audit_service.record(session, actor_of(request, user), "wechat.menu.save", "inbox", row.id,
                             buttons=len(buttons))

    return write


def _mark_published(request: Request, user: User, inbox: Inbox, buttons: list[dict[str, Any]]) -> Any:
    def write(session: Session) -> None:
        row = inboxes_service.get(session, user.org_id, inbox.id, for_update=True)
        current = menu_editor.menu_state(row.state)
        published = {**current, "draft": buttons, "published": buttons,
                     "published_at": utcnow().isoformat(timespec="seconds")}
        inboxes_service.set_state(session, row, **{menu_editor.STATE_KEY: published,
                                                   menu_editor.REPLIES_KEY: menu_editor.replies_of(buttons)})
        audit_service.record(session, actor_of(request, user), "wechat.menu.publish", "inbox", row.id,
                             buttons=len(buttons))

    return write


@router.post("/menu", response_class=HTMLResponse)
async def save_menu(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    _require_admin(user)
    inbox = _inbox(request, user, inbox_id)
    form = await _posted(request)
    csrf = form.get("csrf_token", "")
    typed = menu_editor.slots_from_form(form)
    if not csrf_ok(request, csrf):
        return _menu_page(request, user, inbox, slots=typed, errors={"form": STALE}, code=400)
    publish = form.get("op") == "publish"
    try:
        with get_ctx(request).db.session() as session:
            flows, entries, _ = _choices(session, user.org_id)
        buttons = menu_editor.parse_form(form, flows=flows, entries=entries)
        if publish:
            menu_editor.check_publishable(buttons)
    except DomainError as exc:
        return _menu_page(request, user, inbox, slots=typed, errors={exc.field or "form": exc.message}, code=422)
    saved = submit(request, csrf, _save_draft(request, user, inbox, buttons))
    if isinstance(saved, Rejected):
        return _menu_page(request, user, inbox, slots=typed, errors=saved.beside("form"), code=saved.status)
    if not publish:
        return _menu_page(request, user, inbox, notice="草稿已保存（尚未发布到公众号）")
    try:
        api = _api(request, inbox)
        await run_in_threadpool(api.create_menu, menu_editor.to_wechat(buttons))
    except WeChatApiError as exc:
        return _menu_page(request, user, inbox, errors={"form": f"发布失败，草稿已保存。{exc.describe()}"}, code=502)
    done = submit(request, csrf, _mark_published(request, user, inbox, buttons))
    if isinstance(done, Rejected):
        return _menu_page(request, user, inbox, errors=done.beside("form"), code=done.status)
    return _menu_page(request, user, inbox, notice="菜单已发布：关注者重新进入公众号即可看到（最多约 5 分钟）")


@router.get("/menu/live", response_class=HTMLResponse)
async def live_menu(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    """What WeChat shows now, read back from ``/cgi-bin/menu/get`` (also catches a menu changed elsewhere)."""
    inbox = _inbox(request, user, inbox_id)
    try:
        live = await run_in_threadpool(_api(request, inbox).get_menu)
    except WeChatApiError as exc:
        return _menu_page(request, user, inbox, live_error=exc.describe(), live_checked=True, code=502)
    return _menu_page(request, user, inbox, live=live, live_checked=True)


@router.post("/menu/delete", response_class=HTMLResponse)
async def delete_menu(request: Request, user: Supervisor, inbox_id: PathId) -> Response:
    """Takes the menu off WeChat; the draft stays to be published again."""
    _require_admin(user)
    inbox = _inbox(request, user, inbox_id)
    form = await _posted(request)
    csrf = form.get("csrf_token", "")
    if not csrf_ok(request, csrf):
        return _menu_page(request, user, inbox, errors={"form": STALE}, code=400)
    try:
        await run_in_threadpool(_api(request, inbox).delete_menu)
    except WeChatApiError as exc:
        return _menu_page(request, user, inbox, errors={"form": f"删除失败：{exc.describe()}"}, code=502)

    def write(session: Session) -> None:
        row = inboxes_service.get(session, user.org_id, inbox.id, for_update=True)
        current = {k: v for k, v in menu_editor.menu_state(row.state).items() if k not in ("published",
                                                                                          "published_at")}
        inboxes_service.set_state(session, row, **{menu_editor.STATE_KEY: current, menu_editor.REPLIES_KEY: {}})
        audit_service.record(session, actor_of(request, user), "wechat.menu.delete", "inbox", row.id)

    done = submit(request, csrf, write)
    if isinstance(done, Rejected):
        return _menu_page(request, user, inbox, errors=done.beside("form"), code=done.status)
    return _menu_page(request, user, inbox, notice="线上菜单已删除（草稿保留，可再次发布）")


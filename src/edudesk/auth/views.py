"""Login and logout pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from edudesk.auth import service as auth_service
from edudesk.auth.deps import start_session, user_from_session
from edudesk.context import get_ctx
from edudesk.orgs import service as orgs_service
from edudesk.orgs.models import Org
from edudesk.ratelimit import RateLimited, limiter_of, login_failure_rates
from edudesk.web import client_ip, csrf_ok, page

router = APIRouter()
# The page says "later"; the Retry-After header says how much later (the window is configurable).
TOO_MANY = "登录尝试过于频繁，请稍后再试"


def _single_org_slug(request: Request) -> str | None:
    with get_ctx(request).db.session() as session:
        slugs = list(session.scalars(select(Org.slug).limit(2)))
    return slugs[0] if len(slugs) == 1 else None


@router.get("/login", include_in_schema=False)
def login_form(request: Request) -> Response:
    if user_from_session(request) is not None:
        return RedirectResponse("/console", status_code=303)
    return page(request, "login.html", org_slug=_single_org_slug(request), username="", error=None)


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    org: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    ctx = get_ctx(request)
    single = _single_org_slug(request)
    org_slug = (org or single or "").strip().lower()

    def fail(message: str, status: int = 400, retry_after: int | None = None) -> Response:
        resp: Response = page(request, "login.html", status_code=status, org_slug=single, org_value=org_slug,
                              username=username, error=message)
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    ip = client_ip(request)
    try:
        limiter_of(request).check("login", ip=ip)
    except RateLimited as exc:
        return fail(TOO_MANY, 429, exc.retry_after)
    if not csrf_ok(request, csrf_token):
        return fail("页面已过期，请刷新后重试", 400)
    if not username.strip() or not password:
        return fail("请输入用户名和密码")
    per_account, per_ip = login_failure_rates(ctx.settings)
    with ctx.db.session() as session:
        try:
            org_row = orgs_service.get_by_slug(session, org_slug)
        except LookupError:
            return fail("机构标识不存在", 400)
        if auth_service.login_blocked(session, org_slug, username, ip, per_account, per_ip):
            return fail(TOO_MANY, 429, per_account.window_seconds)
        user = auth_service.authenticate(session, org_row.id, org_row.slug, username, password, ip)
        session.commit()
        if user is None:
            return fail("用户名或密码错误", 400)
    start_session(request, user)
    return RedirectResponse("/console", status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    if csrf_ok(request, csrf_token):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{lang}", include_in_schema=False)
def switch_language(request: Request, lang: str) -> Response:
    target = request.headers.get("referer") or "/console"
    if not target.startswith(str(request.base_url)):
        target = "/console"
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie("edudesk_lang", lang if lang in ("zh", "en") else "zh", max_age=365 * 86400, samesite="lax")
    return resp

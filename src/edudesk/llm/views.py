"""The admin's large-model page (/admin/llm): the endpoint, the write-only API key, the budget counter, the
connection test and the grounded-answers switch (allowed only by ``gate.grounded_gate``). Admins only: the page
decides what the server calls and with which key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.audit import service as audit_service
from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import STALE, Rejected, submit
from edudesk.llm import client as llm_client
from edudesk.llm import settings as llm_settings
from edudesk.llm.client import LlmClient
from edudesk.llm.gate import grounded_gate
from edudesk.web import csrf_ok, page

router = APIRouter(prefix="/admin/llm", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=2000)]
Tiny = Annotated[str, Form(max_length=30)]


def client_of(request: Request) -> LlmClient:
    found: LlmClient = get_ctx(request).llm
    return found


def _page(
    request: Request,
    user: User,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    test: llm_client.ConnectionResult | None = None,
    code: int = 200,
) -> Response:
    with get_ctx(request).db.session() as session:
        row = llm_settings.current(session, user.org_id)
        used = llm_client.tokens_used(session, user.org_id)
        allowed, why = grounded_gate(session, user.org_id)
        calls = llm_settings.recent_calls(session, user.org_id)
        session.expunge_all()
    if form is None:
        form = {
            "base_url": row.base_url if row else "",
            "model": row.model if row else "",
            "enabled": bool(row and row.enabled),
            "timeout_seconds": f"{row.timeout_seconds:g}" if row else "8",
            "retries": str(row.retries) if row else "0",
            "monthly_token_budget": str(row.monthly_token_budget) if row else "1000000",
            "streaming": bool(row.streaming) if row else True,
            "forbidden_phrases": "\n".join(row.forbidden_phrases or []) if row else "",
        }
    budget = row.monthly_token_budget if row else 0
    return page(
        request,
        "admin/llm.html",
        status_code=code,
        user=user,
        row=row,
        form=form,
        errors=errors or {},
        notice=notice,
        test=test,
        used=used,
        budget=budget,
        gate_allowed=allowed,
        gate_reason=why,
        calls=calls,
        has_key=bool(row and row.api_key_encrypted),
    )


@router.get("", response_class=HTMLResponse)
def settings_page(request: Request, user: Admin) -> Response:
    return _page(request, user)


def _number(value: str, field: str, label: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value.strip().replace(",", ""))
    except ValueError:
        raise llm_settings.LlmSettingsError("not_a_number", f"{label}须填写数字", field) from None


@router.post("", response_class=HTMLResponse)
def save_settings(
    request: Request,
    user: Admin,
    base_url: Short = "",
    model: Short = "",
    api_key: Short = "",
    clear_key: Tiny = "",
    enabled: Tiny = "",
    timeout_seconds: Tiny = "8",
    retries: Tiny = "0",
    monthly_token_budget: Tiny = "1000000",  # noqa: S107 (a number, not a password)
    streaming: Tiny = "",
    forbidden_phrases: Annotated[str, Form(max_length=5000)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    # The key is never put back into the form: a page re-rendered after an error asks for it again.
    form = {
        "base_url": base_url,
        "model": model,
        "enabled": bool(enabled),
        "timeout_seconds": timeout_seconds,
        "retries": retries,
        "monthly_token_budget": monthly_token_budget,
        "streaming": bool(streaming),
        "forbidden_phrases": forbidden_phrases,
    }
    ctx = get_ctx(request)

    def write(session: Any) -> object:
        data = llm_settings.SettingsInput(
            base_url=base_url,
            model=model,
            api_key=api_key,
            clear_key=bool(clear_key),
            enabled=bool(enabled),
            timeout_seconds=float(_number(timeout_seconds, "timeout_seconds", "超时", float)),
            retries=int(_number(retries, "retries", "重试次数", int)),
            monthly_token_budget=int(_number(monthly_token_budget, "monthly_token_budget", "每月 token 预算", int)),
            streaming=bool(streaming),
            forbidden_phrases=forbidden_phrases,
        )
        client = client_of(request)
        return llm_settings.save(
            session, actor_of(request, user), llm_client.secret_box(ctx.settings.secret_key), client.policy, data
        )

    done = submit(request, csrf_token, write)
    if isinstance(done, Rejected):
        return _page(request, user, form=form, errors=done.beside("form"), code=done.status)
    return _page(request, user, notice="已保存")


@router.post("/test", response_class=HTMLResponse)
def test_connection(request: Request, user: Admin, csrf_token: CsrfField = "") -> Response:
    if not csrf_ok(request, csrf_token):
        return _page(request, user, errors={"form": STALE}, code=400)
    with get_ctx(request).db.session() as session:
        result = client_of(request).test_connection(session, user.org_id)
        audit_service.record(session, actor_of(request, user), "llm.test", "llm_settings", user.org_id, ok=result.ok)
        session.commit()
    return _page(request, user, test=result)


@router.post("/grounded", response_class=HTMLResponse)
def switch_grounded(request: Request, user: Admin, on: Tiny = "", csrf_token: CsrfField = "") -> Response:
    done = submit(
        request, csrf_token, lambda session: llm_settings.set_grounded(session, actor_of(request, user), on == "1")
    )
    if isinstance(done, Rejected):
        return _page(request, user, errors=done.beside("grounded_enabled"), code=done.status)
    return _page(request, user, notice="已开启资料问答" if on == "1" else "已关闭资料问答")

"""Admin page for API tokens (admins only): list, create (the token is shown once), revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.apitokens import service as apitokens_service
from edudesk.auth.deps import actor_of, admin
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.forms import Rejected, submit
from edudesk.inputs import PathId
from edudesk.web import page

router = APIRouter(prefix="/admin/api-tokens", include_in_schema=False)
Admin = Annotated[User, Depends(admin)]
CsrfField = Annotated[str, Form(max_length=100)]


def _tokens_page(request: Request, user: User, *, form: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None, notice: str | None = None, created: str | None = None,
                 code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        tokens = apitokens_service.list_tokens(session, user.org_id)
    return page(request, "admin/api_tokens.html", status_code=code, user=user, tokens=tokens,
                scopes=apitokens_service.SCOPES, scope_labels=apitokens_service.SCOPE_LABELS,
                form=form or {"name": "", "scopes": []}, errors=errors or {},
                notice=notice, created=created)


@router.get("", response_class=HTMLResponse)
def tokens(request: Request, user: Admin) -> Response:
    return _tokens_page(request, user)


@router.post("", response_class=HTMLResponse)
def create_token(request: Request, user: Admin, name: Annotated[str, Form(max_length=1000)] = "",
                 scopes: Annotated[list[str] | None, Form()] = None, csrf_token: CsrfField = "") -> Response:
    wanted = list(scopes or [])[:10]
    form = {"name": name, "scopes": wanted}
    created = submit(request, csrf_token, lambda session: apitokens_service.create_token(
        session, actor_of(request, user), name=name, scopes=wanted))
    if isinstance(created, Rejected):
        return _tokens_page(request, user, form=form, errors=created.beside("form"), code=created.status)
    _, raw = created
    return _tokens_page(request, user, notice="API 令牌已创建", created=raw)


@router.post("/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(request: Request, user: Admin, token_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token,
                  lambda session: apitokens_service.revoke_token(session, actor_of(request, user), token_id))
    if isinstance(done, Rejected):
        return _tokens_page(request, user, errors={"form": done.message}, code=done.status)
    return _tokens_page(request, user, notice="API 令牌已吊销")

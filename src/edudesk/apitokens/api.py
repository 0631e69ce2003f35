"""``GET /api/v1/whoami``: the first API route behind an API token, so integrators can check their setup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from edudesk.apischema import ApiModel, error_responses
from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.context import get_ctx
from edudesk.orgs import service as orgs_service

router = APIRouter(prefix="/api/v1", tags=["api"], responses=error_responses(401))


class WhoAmIOrg(ApiModel):
    slug: str
    name: str


class TokenOut(ApiModel):
    name: str
    prefix: str


class WhoAmI(ApiModel):
    org: WhoAmIOrg
    token: TokenOut
    scopes: list[str]


@router.get("/whoami", response_model=WhoAmI, summary="当前 API 令牌所属的机构和权限")
def whoami(request: Request, auth: Annotated[TokenAuth, Depends(api_token())]) -> dict[str, Any]:
    with get_ctx(request).db.session() as session:
        org = orgs_service.get(session, auth.org_id)
        return {"org": {"slug": org.slug, "name": org.name},
                "token": {"name": auth.name, "prefix": auth.prefix}, "scopes": list(auth.scopes)}

"""API tokens: created on the admin page and shown once, checked by ``api_token(scope)`` on /api/v1 routes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.apitokens import service as apitokens_service
from edudesk.apitokens.deps import TokenAuth, api_token
from edudesk.apitokens.models import ApiToken
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database
from tests.conftest import TwoOrgs, login

TOKEN_RE = re.compile(r"<code>(edk_[^<]+)</code>")


def make_token(db: Database, org_id: int, scopes: list[str] | None = None) -> tuple[int, str]:
    with db.session() as session:
        token, raw = apitokens_service.create_token(session, Actor(org_id, label="t"), name="CRM",
                                                    scopes=scopes or ["leads:read"])
        session.commit()
        return token.id, raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_admin_creates_token_shown_once_and_hashed(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/api-tokens", data={"name": "CRM 同步", "scopes": ["leads:read", "leads:write"],
                                                  "csrf_token": csrf})
    match = TOKEN_RE.search(resp.text)
    assert resp.status_code == 200 and match
    raw = match.group(1)
    assert raw not in client.get("/admin/api-tokens").text and raw[:12] in client.get("/admin/api-tokens").text
    with database.session() as session:
        token = session.scalars(select(ApiToken)).one()
        assert token.token_hash == apitokens_service.hash_token(raw) and raw not in token.token_hash
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "api_token.create")).one()
    who = client.get("/api/v1/whoami", headers=bearer(raw))
    assert who.status_code == 200
    assert who.json() == {"org": {"slug": "alpha", "name": "阿尔法教育"},
                          "token": {"name": "CRM 同步", "prefix": raw[:12]}, "scopes": ["leads:read", "leads:write"]}
    with database.session() as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None


def test_bad_form_and_roles(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    assert client.post("/admin/api-tokens", data={"name": "x", "scopes": "leads:read"}).status_code == 400
    assert client.post("/admin/api-tokens", data={"name": "x", "csrf_token": csrf}).status_code == 422
    assert client.post("/admin/api-tokens", data={"name": "x", "scopes": "admin:all",
                                                  "csrf_token": csrf}).status_code == 422
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "alpha", "supervisor")
    assert client.get("/admin/api-tokens").status_code == 403


def test_missing_forged_and_revoked_tokens_get_401(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    token_id, raw = make_token(database, orgs.a.id)
    for headers in ({}, {"Authorization": raw}, {"Authorization": "Basic abc"}, bearer("edk_forged"),
                    bearer(raw + "x"), bearer("x" * 500)):
        resp = client.get("/api/v1/whoami", headers=headers)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_token", headers
    assert client.get("/api/v1/whoami", headers=bearer(raw)).status_code == 200
    csrf = login(client, "alpha", "admin")
    assert client.post(f"/admin/api-tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 200
    client.cookies.clear()
    assert client.get("/api/v1/whoami", headers=bearer(raw)).json()["error"]["code"] == "invalid_token"


def test_token_answers_for_its_own_org_only(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    token_id, raw_a = make_token(database, orgs.a.id)
    _, raw_b = make_token(database, orgs.b.id)
    assert client.get("/api/v1/whoami", headers=bearer(raw_b)).json()["org"]["slug"] == "beta"
    csrf = login(client, "beta", "admin")
    assert client.post(f"/admin/api-tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 404
    assert client.get("/api/v1/whoami", headers=bearer(raw_a)).json()["org"]["slug"] == "alpha"


def test_insufficient_scope_is_403(app: FastAPI, orgs: TwoOrgs, database: Database) -> None:
    def write_route(auth: Annotated[TokenAuth, Depends(api_token("leads:write"))]) -> dict[str, Any]:
        return {"org_id": auth.org_id}

    app.add_api_route("/api/v1/_test_write", write_route, methods=["POST"])
    _, read_only = make_token(database, orgs.a.id, ["leads:read"])
    _, writer = make_token(database, orgs.a.id, ["leads:write"])
    with TestClient(app) as client:
        resp = client.post("/api/v1/_test_write", headers=bearer(read_only))
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "insufficient_scope"
        assert client.post("/api/v1/_test_write", headers=bearer(writer)).json() == {"org_id": orgs.a.id}
        assert client.post("/api/v1/_test_write").status_code == 401

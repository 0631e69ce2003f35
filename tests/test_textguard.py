"""Text no database can store (lone surrogates, NUL, control characters) is a field-specific 422 on every edge —
JSON bodies, query strings, staff forms — and nothing of the request is stored, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.apitokens.models import ApiToken
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.db import Database
from edudesk.leads.models import Lead
from edudesk.tickets.models import Ticket
from tests.conftest import TwoOrgs, login
from tests.test_route_ids import every_scope

# Written as JSON escapes: a lone surrogate cannot be encoded as UTF-8, so this is how it arrives.
HOSTILE = {"surrogate": "\\ud800", "low surrogate": "\\udc00", "NUL": "\\u0000", "escape": "\\u001b",
           "DEL": "\\u007f"}


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def post_json(client: TestClient, url: str, raw_body: str, headers: dict[str, str]) -> object:
    return client.post(url, content=raw_body.encode(), headers={**headers, "content-type": "application/json"})


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_lead_with_unstorable_text_is_422_and_stores_nothing(client: TestClient, database: Database,
                                                               orgs: TwoOrgs, kind: str) -> None:
    auth = every_scope(database, orgs.a.id)
    bad = HOSTILE[kind]
    for body, field in ((f'{{"external_id": "e{bad}", "fields": {{"name": "李"}}}}', "external_id"),
                        (f'{{"external_id": "e1", "fields": {{"name": "李{bad}妈妈"}}}}', "fields.name"),
                        (f'{{"external_id": "e1", "fields": {{"na{bad}me": "李"}}}}', "fields.na"),
                        (f'{{"external_id": "e1", "fields": {{"name": "李"}}, "landing_page": "x{bad}"}}',
                         "landing_page")):
        resp = post_json(client, "/api/v1/leads", body, auth)
        assert resp.status_code == 422, body  # type: ignore[attr-defined]
        error = resp.json()["error"]  # type: ignore[attr-defined]
        assert error["code"] == "invalid_text" and error["field"].startswith(field), (body, error)
    assert count(database, Contact) == count(database, ContactIdentity) == count(database, Lead) == 0
    fine = post_json(client, "/api/v1/leads", json.dumps({"external_id": "e1", "fields": {"name": "李妈妈\t"}}),
                     auth)
    assert fine.status_code == 201  # type: ignore[attr-defined]


def test_tickets_and_query_strings(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    auth = every_scope(database, orgs.a.id)
    resp = post_json(client, "/api/v1/tickets", '{"subject": "退费\\u0000", "external_id": "p1"}', auth)
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "subject"  # type: ignore[attr-defined]
    assert count(database, Ticket) == count(database, Contact) == 0
    for query, field in (("grade=%00", "grade"), ("phone=1%1b", "phone"), ("x%00=1", "x\\x00")):
        listed = client.get(f"/api/v1/leads?{query}", headers=auth)
        assert listed.status_code == 422 and listed.json()["error"]["code"] == "invalid_text", query
        assert listed.json()["error"]["field"] == field


def test_staff_forms_refuse_unstorable_text(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, orgs.a.slug, "admin")
    resp = client.post("/admin/api-tokens", data={"name": "CRM\x00", "scopes": "leads:read", "csrf_token": csrf},
                       headers={"accept": "text/html"})
    assert resp.status_code == 422 and "name" in resp.text and "空字符" in resp.text
    assert count(database, ApiToken) == 0
    scripted = client.post("/admin/api-tokens", data={"name": "CRM\x07", "scopes": "leads:read",
                                                      "csrf_token": csrf}, headers={"accept": "application/json"})
    assert scripted.status_code == 422
    assert scripted.json()["error"] == {"code": "invalid_text", "field": "name",
                                        "message": "参数不合法：name 包含控制字符"}
    ok = client.post("/admin/api-tokens", data={"name": "CRM 同步", "scopes": "leads:read", "csrf_token": csrf})
    assert ok.status_code == 200 and count(database, ApiToken) == 1

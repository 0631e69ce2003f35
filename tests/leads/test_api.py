"""The leads REST API with API tokens: scoped to the token's org, scopes enforced, bad input a clean 4xx."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from edudesk.apitokens import service as apitokens_service
from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.localtime import LOCAL_TZ
from tests.conftest import TwoOrgs
from tests.leads.test_service import say


def token(database: Database, org_id: int, *scopes: str) -> dict[str, str]:
    with database.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(org_id, label="t"), name="crm", scopes=list(scopes))
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_list_get_and_move_a_lead(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1)
    say(database, orgs.b.id, "孩子五岁，电话 13900139000", 1)
    read = token(database, orgs.a.id, "leads:read")
    write = token(database, orgs.a.id, "leads:read", "leads:write")
    listed = client.get("/api/v1/leads", headers=read).json()
    assert listed["total"] == 1 and listed["items"][0]["fields"]["phone"]["value"] == "13800138000"
    lead_id = listed["items"][0]["lead_id"]
    assert client.get(f"/api/v1/leads/{lead_id}", headers=read).json()["fields"]["grade"]["value"] == "三年级"
    assert client.post(f"/api/v1/leads/{lead_id}/status", json={"status": "contacted"},
                       headers=read).json()["error"]["code"] == "insufficient_scope"
    moved = client.post(f"/api/v1/leads/{lead_id}/status", json={"status": "contacted"}, headers=write)
    assert moved.status_code == 200 and moved.json()["status"] == "contacted"
    bad = client.post(f"/api/v1/leads/{lead_id}/status", json={"status": "won"}, headers=write)
    assert bad.status_code == 422 and "error" in bad.json()
    other = token(database, orgs.b.id, "leads:read", "leads:write")
    assert client.get(f"/api/v1/leads/{lead_id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/leads/{lead_id}/status", json={"status": "lost"}, headers=other).status_code == 404
    assert client.get("/api/v1/leads", headers={"Authorization": "Bearer edk_forged"}).status_code == 401


def test_create_from_a_form_and_validate(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    write = token(database, orgs.a.id, "leads:write", "leads:read")
    made = client.post("/api/v1/leads", headers=write, json={
        "external_id": "form-1", "fields": {"name": "李妈妈", "phone": "+86 138-0013-8000", "grade": "初一"},
        "landing_page": "https://school.example/summer"})
    assert made.status_code == 201
    body = made.json()
    assert body["fields"]["phone"]["value"] == "13800138000" and body["phone_e164"] == "+8613800138000"
    assert body["landing_page"] == "https://school.example/summer" and body["source_channel"] == "api"
    again = client.post("/api/v1/leads", headers=write, json={"external_id": "form-1", "fields": {"grade": "初二"}})
    assert again.json()["lead_id"] == body["lead_id"] and again.json()["fields"]["grade"]["value"] == "初二"
    for payload, code in (({"external_id": "x", "fields": {"phone": "12345"}}, "bad_phone"),
                          ({"external_id": "x", "fields": {"salary": "1"}}, "unknown_field"),
                          ({"external_id": "x", "fields": {}}, "invalid_request"),
                          ({"external_id": "x", "fields": {"name": ""}}, "invalid_request"),
                          ({"fields": {"name": "x"}}, "invalid_request")):
        resp = client.post("/api/v1/leads", headers=write, json=payload)
        assert 400 <= resp.status_code < 500 and resp.json()["error"]["code"] == code, payload


def test_capture_rate_report(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "电话 13800138000", 1, visitor="v1")
    say(database, orgs.a.id, "学费多少", 1, visitor="v2")
    read = token(database, orgs.a.id, "leads:read")
    today = dt.datetime.now(LOCAL_TZ).date().isoformat()
    report = client.get(f"/api/v1/reports/capture-rate?since={today}&until={today}", headers=read).json()
    assert report["total"] == {"key": "total", "conversations": 2, "captured": 1, "rate": 0.5}
    assert client.get(f"/api/v1/reports/capture-rate?since={today}&until=2020-01-01&by=x",
                      headers=read).status_code == 422

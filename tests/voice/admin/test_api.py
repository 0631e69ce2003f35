"""The voice API: scopes, the do-not-call list, and the metrics (the same figures as the service)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.voice.campaigns.models import CallCampaign, CampaignState
from edudesk.voice.models import CallOutcome, DoNotCall
from tests.conftest import TwoOrgs, login
from tests.voice.admin.helpers import make_call, token


def test_dnc_api_scopes_and_isolation(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    read = token(database, orgs.a.id, "voice:read")
    write = token(database, orgs.a.id, "voice:write", "voice:read")
    leads_only = token(database, orgs.a.id, "leads:read")
    other = token(database, orgs.b.id, "voice:write", "voice:read")
    assert client.get("/api/v1/voice/dnc").status_code == 401
    assert client.get("/api/v1/voice/dnc", headers=leads_only).json()["error"]["code"] == "insufficient_scope"
    refused = client.post("/api/v1/voice/dnc", headers=read, json={"phone": "13800138000"})
    assert refused.status_code == 403
    for body, field in (
        ({"phone": ""}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "x" * 41}, "phone"),
        ({"phone": "13800138000", "extra": 1}, "extra"),
        ({"phone": "13800138000", "reason": "x" * 201}, "reason"),
    ):
        resp = client.post("/api/v1/voice/dnc", headers=write, json=body)
        assert resp.status_code in (400, 422) and resp.json()["error"]["field"] == field, body
    made = client.post("/api/v1/voice/dnc", headers=write, json={"phone": "138 0013 8000", "reason": "<b>别打</b>"})
    assert made.status_code == 201 and made.json()["phone_e164"] == "+8613800138000"
    assert made.json()["source"] == "api" and made.json()["reason"] == "<b>别打</b>"
    again = client.post("/api/v1/voice/dnc", headers=write, json={"phone": "+8613800138000", "reason": "二次"})
    assert again.status_code == 201 and again.json()["reason"] == "<b>别打</b>"
    listed = client.get("/api/v1/voice/dnc?phone=0013", headers=read).json()
    assert listed["total"] == 1 and listed["items"][0]["phone_e164"] == "+8613800138000"
    assert client.get("/api/v1/voice/dnc", headers=other).json()["total"] == 0
    assert client.delete("/api/v1/voice/dnc/+8613800138000", headers=other).status_code == 404
    assert client.delete("/api/v1/voice/dnc/+8613800138000", headers=read).status_code == 403
    assert client.delete("/api/v1/voice/dnc/..%2F..%2Fetc", headers=write).status_code in (404, 422)
    assert client.delete("/api/v1/voice/dnc/+8613800138000", headers=write).status_code == 204
    assert client.delete("/api/v1/voice/dnc/+8613800138000", headers=write).status_code == 404
    with database.session() as s:
        assert s.scalars(select(DoNotCall)).all() == []
        removed = s.scalars(select(AuditEntry).where(AuditEntry.action == "voice_dnc.remove")).one()
        assert removed.org_id == orgs.a.id and removed.actor_label.startswith("api:")


def test_metrics_api(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    day = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)
    with database.session() as s:
        campaign = CallCampaign(
            org_id=orgs.a.id, name="<i>春季试听</i>", line_id=None, state=CampaignState.running, windows={}
        )
        s.add(campaign)
        s.flush()
        make_call(
            s,
            orgs.a.id,
            "+8613800000001",
            created=day,
            outcome=CallOutcome.interested,
            talk=30,
            campaign_id=campaign.id,
        )
        make_call(s, orgs.a.id, "+8613800000002", created=day, outcome=CallOutcome.callback, talk=10, transferred=True)
        make_call(s, orgs.b.id, "+8613800000003", created=day, outcome=CallOutcome.interested, talk=99)
        s.commit()
        campaign_id = campaign.id
    auth = token(database, orgs.a.id, "voice:read")
    resp = client.get("/api/v1/voice/metrics?since=2026-11-01&until=2026-11-01", headers=auth)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"]["placed"] == 2 and body["total"]["talk_seconds"] == 40.0 and body["total"]["transfers"] == 1
    assert [(c["campaign_id"], c["name"]) for c in body["campaigns"]] == [
        (None, "手动外呼"),
        (campaign_id, "<i>春季试听</i>"),
    ]
    assert body["days"][0]["day"] == "2026-11-01"
    assert sum(c["placed"] for c in body["campaigns"]) == body["total"]["placed"]
    only = client.get(
        f"/api/v1/voice/metrics?since=2026-11-01&until=2026-11-01&campaign_id={campaign_id}", headers=auth
    ).json()
    assert only["total"]["interested"] == 1 and only["total"]["callbacks"] == 0
    for query, code in (
        ("since=2026-11-05&until=2026-11-01", "bad_range"),
        ("since=2020-01-01&until=2026-01-01", "range_too_long"),
    ):
        resp = client.get(f"/api/v1/voice/metrics?{query}", headers=auth)
        assert resp.status_code in (400, 422) and resp.json()["error"]["code"] == code
    for junk in ("since=junk", "until=0", "since=2026-02-30", "until=20261101"):
        assert client.get(f"/api/v1/voice/metrics?{junk}", headers=auth).status_code == 422, junk
    assert client.get("/api/v1/voice/metrics?campaign_id=99999999999", headers=auth).status_code == 422
    assert client.get("/api/v1/voice/metrics", headers=token(database, orgs.a.id, "voice:write")).status_code == 403
    login(client, "alpha", "supervisor")
    page = client.get("/admin/voice/metrics?since=2026-11-01&until=2026-11-01").text
    assert "&lt;i&gt;春季试听&lt;/i&gt;" in page and "<i>春季试听" not in page
    listing = client.get(f"/admin/voice/calls?campaign_id={campaign_id}").text
    assert listing.count("+8613800000001") == 1 and "+8613800000002" not in listing and "&lt;i&gt;春季试听" in listing

"""``/api/v1/reports/csat`` behind an API token (``leads:read``): the token's org only, clean 4xx for bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from edudesk.apitokens import service as apitokens_service
from edudesk.audit.service import Actor
from edudesk.db import Database
from tests.conftest import TwoOrgs
from tests.csat.factories import seed


def token(database: Database, org_id: int, *scopes: str) -> dict[str, str]:
    with database.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(org_id, label="t"), name="bi", scopes=list(scopes))
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_csat_report_as_json(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    seeded = seed(database, orgs)
    url = "/api/v1/reports/csat?since=2026-11-01&until=2026-11-07"
    resp = client.get(url, headers=token(database, orgs.a.id, "leads:read"))
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["total"]["resolved"] == 8 and data["total"]["average"] == 0.5833
    li = next(r for r in data["by_agent"] if r["label"] == "李老师")
    assert li == {"id": orgs.a.users["agent2"].id, "label": "李老师", "resolved": 2, "rated": 2,
                  "response_rate": 1.0, "average": 0.625, "satisfied_share": 0.5}
    assert {r["id"] for r in data["by_group"]} == {seeded.math, seeded.english, None}
    assert [low["comment"] for low in data["low_scores"]] == ["", "<b>回复太慢</b>"]

    theirs = client.get(url, headers=token(database, orgs.b.id, "leads:read")).json()
    assert theirs["total"]["resolved"] == 1 and "回复太慢" not in str(theirs)


def test_tokens_scopes_and_bad_input(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    url = "/api/v1/reports/csat?since=2026-11-01&until=2026-11-07"
    assert client.get(url).json()["error"]["code"] == "invalid_token"
    resp = client.get(url, headers=token(database, orgs.a.id, "leads:write"))
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "insufficient_scope"
    read = token(database, orgs.a.id, "leads:read")
    resp = client.get("/api/v1/reports/csat?since=2026-11-07&until=2026-11-01", headers=read)
    assert resp.status_code == 400 and resp.json()["error"] == {
        "code": "bad_range", "message": "结束日期不能早于开始日期", "field": "until"}
    resp = client.get("/api/v1/reports/csat?since=2024-01-01&until=2026-11-01", headers=read)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "range_too_long"
    resp = client.get("/api/v1/reports/csat?since=yesterday&until=2026-11-01", headers=read)
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "since"

"""The visitor settings page: admins only, CSRF, a message beside the field, each org's own row, audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.visitors import settings as trail_settings
from tests.conftest import TwoOrgs, login


def current(database: Database, org_id: int) -> trail_settings.TrailSettings:
    with database.session() as session:
        return trail_settings.settings_of(session, org_id)


def test_an_admin_switches_the_trail_off_and_sets_the_retention(client: TestClient, database: Database,
                                                               orgs: TwoOrgs) -> None:
    csrf = login(client, "beta", "admin")
    page = client.get("/admin/visitors")
    assert page.status_code == 200 and "访客轨迹" in page.text and 'value="90"' in page.text
    resp = client.post("/admin/visitors", data={"csrf_token": csrf, "retention_days": "30"})
    assert resp.status_code == 200 and "已保存" in resp.text
    assert current(database, orgs.b.id) == trail_settings.TrailSettings(False, 30, saved=True)
    assert current(database, orgs.a.id) == trail_settings.TrailSettings(True, 90, saved=False)
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "visitors.settings")).one()
        assert entry.org_id == orgs.b.id and entry.detail["after"] == {"trail_enabled": False, "retention_days": 30}


@pytest.mark.parametrize("days", ["", "3", "731", "abc", "1e3", "٣٠", "<script>", "9" * 9])
def test_bad_days_are_shown_beside_the_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                             days: str) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/visitors", data={"csrf_token": csrf, "trail_enabled": "1", "retention_days": days})
    assert resp.status_code == 422 and "保留天数须是 7–730 之间的整数" in resp.text
    assert "<script>" not in resp.text
    assert current(database, orgs.a.id).saved is False


def test_without_csrf_nothing_changes(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    resp = client.post("/admin/visitors", data={"csrf_token": "forged", "retention_days": "30"})
    assert resp.status_code == 400
    assert current(database, orgs.a.id).saved is False


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_only_admins(client: TestClient, database: Database, orgs: TwoOrgs, role: str) -> None:
    csrf = login(client, "alpha", role)
    assert client.get("/admin/visitors").status_code == 403
    assert client.post("/admin/visitors", data={"csrf_token": csrf, "retention_days": "30"}).status_code == 403
    assert current(database, orgs.a.id).saved is False

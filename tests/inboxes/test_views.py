"""The channel admin pages: settings drawn from the adapter's model, secrets write-only, admins only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.channels.fake.adapter import FakeConfig
from edudesk.db import Database
from edudesk.inboxes import service as inboxes_service
from edudesk.inboxes.models import Inbox
from tests.conftest import TwoOrgs, login


def create(client: TestClient, csrf: str, **fields: str) -> int:
    resp = client.post("/admin/channels/new/fake", data={"csrf_token": csrf, "name": "测试号", "account": "acc",
                                                         "api_key": "sk-secret-一二三", **fields},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    return int(resp.headers["location"].split("/")[-1].split("?")[0])


def test_admin_connects_an_account_and_never_sees_its_secret_again(
        client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    inbox_id = create(client, csrf)
    page = client.get(f"/admin/channels/{inbox_id}?created=1")
    assert page.status_code == 200
    assert "sk-secret" not in page.text and "已保存，留空则不修改" in page.text
    with database.session() as session:
        row = session.get(Inbox, inbox_id)
        assert row is not None and row.org_id == orgs.a.id and row.kind == "fake"
        assert row.public_id in page.text  # the callback URL to paste into the platform
        assert "sk-secret" not in row.secrets_encrypted + str(row.settings)
        public_id = row.public_id
    # Saving with the secret left empty keeps it; the name changes.
    resp = client.post(f"/admin/channels/{inbox_id}", data={"csrf_token": csrf, "name": "家长服务号",
                                                           "account": "acc2", "api_key": "", "enabled": "1"})
    assert resp.status_code == 200 and "已保存" in resp.text
    with database.session() as session:
        row = session.get(Inbox, inbox_id)
        assert row is not None and row.name == "家长服务号" and row.settings["account"] == "acc2"
        assert row.public_id == public_id and row.enabled
        config = inboxes_service.config_of(row, FakeConfig, inboxes_service.secret_box("test-secret-" + "x" * 20))
        assert isinstance(config, FakeConfig) and config.api_key.get_secret_value() == "sk-secret-一二三"
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == orgs.a.id)))
        assert "inbox.create" in actions and "inbox.update" in actions
        assert not any("sk-secret" in str(e.detail) for e in session.scalars(select(AuditEntry)))
    listing = client.get("/admin/channels")
    assert "家长服务号" in listing.text


def test_bad_settings_are_explained_beside_the_form_and_nothing_is_stored(
        client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/channels/new/fake", data={"csrf_token": csrf, "name": "", "account": "acc"})
    assert resp.status_code == 422 and "请填写渠道名称" in resp.text
    resp = client.post("/admin/channels/new/fake", data={"csrf_token": csrf, "name": "x", "account": "长" * 65})
    assert resp.status_code == 422 and "设置有误" in resp.text
    resp = client.post("/admin/channels/new/fake", data={"csrf_token": "stale", "name": "x", "account": "a"})
    assert resp.status_code == 400
    resp = client.post("/admin/channels/new/fake", data={"csrf_token": csrf, "name": "<script>alert(1)</script>",
                                                          "account": "a"}, follow_redirects=True)
    assert resp.status_code == 200 and "<script>alert(1)</script>" not in resp.text
    assert client.get("/admin/channels/new/nosuchkind").status_code == 404
    assert client.get("/admin/channels/new/web").status_code == 404  # the widget is not an account
    with database.session() as session:
        assert [r.name for r in session.scalars(select(Inbox))] == ["<script>alert(1)</script>"]


def test_agents_may_not_and_supervisors_only_look(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    inbox_id = create(client, csrf)
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "alpha", "supervisor")
    assert client.get(f"/admin/channels/{inbox_id}").status_code == 200
    assert client.post(f"/admin/channels/{inbox_id}", data={"csrf_token": csrf, "name": "x"}).status_code == 403
    assert client.post(f"/admin/channels/{inbox_id}/delete", data={"csrf_token": csrf}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "alpha", "agent")
    assert client.get("/admin/channels").status_code == 403


def test_delete_keeps_the_conversations(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    inbox_id = create(client, csrf)
    resp = client.post(f"/admin/channels/{inbox_id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    with database.session() as session:
        assert session.get(Inbox, inbox_id) is None
        assert "inbox.delete" in list(session.scalars(select(AuditEntry.action)))

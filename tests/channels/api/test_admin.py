"""Connecting an API inbox on /admin/channels: the inbox owns a webhook endpoint whose signing secret is shown
once; its settings drive the endpoint (URL, state) under the webhooks' URL policy; deleting the inbox deletes it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edudesk.app import create_app
from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.inboxes.models import Inbox
from edudesk.settings import Settings
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import WebhookEndpoint
from tests.channels.api.conftest import connect_inbox, inbox_row, register
from tests.conftest import TwoOrgs, csrf_from, login

APP_SECRET = "test-secret-" + "x" * 20


def endpoint_of(db: Database, endpoint_id: int) -> WebhookEndpoint:
    with db.session() as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        session.expunge(row)
        return row


def test_connecting_shows_the_secret_once_and_the_inbox_owns_its_endpoint(client: TestClient, orgs: TwoOrgs,
                                                                          database: Database) -> None:
    inbox = connect_inbox(client, "http://127.0.0.1:9/edudesk")
    endpoint = endpoint_of(database, inbox.endpoint_id)
    assert (endpoint.org_id, endpoint.owner, endpoint.url, endpoint.event_types, endpoint.enabled) == (
        orgs.a.id, f"inbox:{inbox.id}", "http://127.0.0.1:9/edudesk", [], True)
    assert endpoint.description == "小程序后端"
    assert webhooks_service.secret_box(APP_SECRET).decrypt(endpoint.secret_encrypted) == inbox.secret
    assert inbox_row(database, inbox.id).kind == "api"

    page = client.get(f"/admin/channels/{inbox.id}").text
    assert inbox.secret not in page and f"/api/v1/channels/{inbox.public_id}/messages" in page
    assert f"/admin/webhooks/{inbox.endpoint_id}/deliveries" in page  # the delivery log and replay
    listing = client.get("/admin/channels").text
    assert f"/api/v1/channels/{inbox.public_id}/messages" in listing
    # The org's webhook list is about its own subscriptions; the owned endpoint's page has no edit form.
    assert "127.0.0.1:9/edudesk" not in client.get("/admin/webhooks").text
    owned = client.get(f"/admin/webhooks/{inbox.endpoint_id}").text
    assert 'id="webhook-owned"' in owned and f"/admin/webhooks/{inbox.endpoint_id}/delete" not in owned
    assert 'name="event_types"' not in owned


def test_the_settings_drive_the_endpoint(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    inbox = connect_inbox(client, "http://127.0.0.1:9/a")
    csrf = csrf_from(client.get(f"/admin/channels/{inbox.id}").text)
    resp = client.post(f"/admin/channels/{inbox.id}", data={"name": "小程序", "callback_url": "http://127.0.0.1:9/b",
                                                            "description": "", "enabled": "1", "csrf_token": csrf})
    assert resp.status_code == 200 and "once-value" not in resp.text  # nothing new to show: same secret
    endpoint = endpoint_of(database, inbox.endpoint_id)
    assert endpoint.url == "http://127.0.0.1:9/b" and endpoint.enabled and endpoint.description == "API 渠道：小程序"
    assert webhooks_service.secret_box(APP_SECRET).decrypt(endpoint.secret_encrypted) == inbox.secret
    # Disabling the inbox stops its endpoint too (queued deliveries are not sent to a disabled channel).
    client.post(f"/admin/channels/{inbox.id}", data={"name": "小程序", "callback_url": "http://127.0.0.1:9/b",
                                                     "csrf_token": csrf})
    assert not endpoint_of(database, inbox.endpoint_id).enabled and not inbox_row(database, inbox.id).enabled
    # The URL is required; an unchanged save writes no audit entry for the endpoint.
    resp = client.post(f"/admin/channels/{inbox.id}", data={"name": "小程序", "callback_url": " ",
                                                            "csrf_token": csrf})
    assert resp.status_code == 422 and "请填写消息推送地址" in resp.text
    with database.session() as session:
        updates = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "webhook.update"))
    assert updates == 2


def test_private_callback_urls_are_refused_unless_allowed(settings: Settings, database: Database,
                                                          orgs: TwoOrgs) -> None:
    strict = register(create_app(settings.model_copy(update={"webhooks_allow_private": False})))
    with TestClient(strict) as client:
        login(client, "alpha", "admin")
        csrf = csrf_from(client.get("/admin/channels/new/api").text)
        for url in ("http://10.0.0.7/hook", "http://127.0.0.1:8080/hook", "http://169.254.169.254/latest",
                    "ftp://198.51.100.1/x"):
            resp = client.post("/admin/channels/new/api", data={"name": "小程序", "callback_url": url,
                                                                "csrf_token": csrf})
            assert resp.status_code == 422, url
            assert "once-value" not in resp.text and 'class="field-error"' in resp.text
    with database.session() as session:  # the refused inbox was not created either: one transaction
        assert session.scalar(select(func.count()).select_from(Inbox)) == 0
        assert session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_the_webhooks_pages_leave_the_owned_endpoint_to_its_inbox(client: TestClient, orgs: TwoOrgs,
                                                                   database: Database) -> None:
    inbox = connect_inbox(client, "http://127.0.0.1:9/a")
    csrf = csrf_from(client.get(f"/admin/webhooks/{inbox.endpoint_id}").text)
    edit = client.post(f"/admin/webhooks/{inbox.endpoint_id}", data={
        "url": "http://127.0.0.1:9/evil", "event_types": "lead.created", "csrf_token": csrf})
    delete = client.post(f"/admin/webhooks/{inbox.endpoint_id}/delete", data={"csrf_token": csrf})
    assert edit.status_code == 422 and delete.status_code == 422 and "渠道" in edit.text
    endpoint = endpoint_of(database, inbox.endpoint_id)
    assert endpoint.url == "http://127.0.0.1:9/a" and endpoint.event_types == []
    # Rotating the secret works there, shown once like any endpoint's.
    rotated = client.post(f"/admin/webhooks/{inbox.endpoint_id}/rotate", data={"csrf_token": csrf})
    assert rotated.status_code == 200 and "whsec_" in rotated.text and inbox.secret not in rotated.text


def test_deleting_the_inbox_deletes_its_endpoint(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    keep = connect_inbox(client, "http://127.0.0.1:9/keep", name="App")
    gone = connect_inbox(client, "http://127.0.0.1:9/gone")
    csrf = csrf_from(client.get(f"/admin/channels/{gone.id}").text)
    resp = client.post(f"/admin/channels/{gone.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    with database.session() as session:
        assert [e.id for e in session.scalars(select(WebhookEndpoint))] == [keep.endpoint_id]
        assert [i.id for i in session.scalars(select(Inbox))] == [keep.id]


def test_another_org_cannot_reach_the_inbox_or_its_endpoint(client: TestClient, orgs: TwoOrgs,
                                                            database: Database) -> None:
    inbox = connect_inbox(client, "http://127.0.0.1:9/a")
    client.cookies.clear()
    csrf = login(client, "beta", "admin")
    for url in (f"/admin/channels/{inbox.id}", f"/admin/webhooks/{inbox.endpoint_id}",
                f"/admin/webhooks/{inbox.endpoint_id}/deliveries"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/admin/channels/{inbox.id}/delete", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/admin/webhooks/{inbox.endpoint_id}/rotate", data={"csrf_token": csrf}).status_code == 404
    endpoint = endpoint_of(database, inbox.endpoint_id)
    assert webhooks_service.secret_box(APP_SECRET).decrypt(endpoint.secret_encrypted) == inbox.secret
    assert inbox_row(database, inbox.id).enabled

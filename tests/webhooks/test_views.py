"""Admin pages of webhooks: roles, CSRF, the secret shown once and stored encrypted, escaping, the delivery log."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.conftest import TwoOrgs, csrf_from, login
from tests.webhooks.conftest import create_endpoint

SECRET_RE = re.compile(r"<code>(whsec_[^<]+)</code>")


def create(client: TestClient, csrf: str, **form: object) -> tuple[int, str]:
    data = {"url": "http://127.0.0.1:9/hook", "event_types": ["lead.created", "trial.booked"],
            "description": "CRM", "enabled": "1", "csrf_token": csrf, **form}
    resp = client.post("/admin/webhooks/new", data=data)
    assert resp.status_code == 200, resp.text
    match = SECRET_RE.search(resp.text)
    assert match
    ident = re.search(r'action="/admin/webhooks/(\d+)/rotate"', resp.text)
    assert ident
    return int(ident.group(1)), match.group(1)


def test_admin_creates_endpoint_secret_shown_once_and_encrypted(client: TestClient, orgs: TwoOrgs,
                                                                 database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    endpoint_id, secret = create(client, csrf)
    assert secret not in client.get(f"/admin/webhooks/{endpoint_id}").text
    with database.session() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None and endpoint.org_id == orgs.a.id
        assert secret not in endpoint.secret_encrypted and endpoint.event_types == ["lead.created", "trial.booked"]
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.create")).one()
    listing = client.get("/admin/webhooks").text
    assert "http://127.0.0.1:9/hook" in listing and "CRM" in listing

    rotated = client.post(f"/admin/webhooks/{endpoint_id}/rotate", data={"csrf_token": csrf})
    new = SECRET_RE.search(rotated.text)
    assert new and new.group(1) != secret


def test_bad_urls_are_refused_with_a_message(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    for url in ("ftp://127.0.0.1/x", "http://u:p@127.0.0.1/x"):
        resp = client.post("/admin/webhooks/new", data={"url": url, "event_types": "lead.created",
                                                        "csrf_token": csrf})
        assert resp.status_code == 422 and "whsec_" not in resp.text
    resp = client.post("/admin/webhooks/new", data={"url": "http://127.0.0.1:9/x", "csrf_token": csrf})
    assert resp.status_code == 422 and "请至少选择一种事件" in resp.text


def test_csrf_required(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    endpoint_id, _ = create_endpoint(database, orgs.a.id, "http://127.0.0.1:9/hook")
    login(client, "alpha", "admin")
    assert client.post("/admin/webhooks/new", data={"url": "http://127.0.0.1:9/x",
                                                    "event_types": "lead.created"}).status_code == 400
    for action in ("rotate", "delete", "test"):
        assert client.post(f"/admin/webhooks/{endpoint_id}/{action}", data={}).status_code == 400
    with database.session() as session:
        assert session.get(WebhookEndpoint, endpoint_id) is not None


def test_roles(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    endpoint_id, _ = create_endpoint(database, orgs.a.id, "http://127.0.0.1:9/hook")
    csrf = login(client, "alpha", "agent")
    assert client.get("/admin/webhooks").status_code == 403
    assert client.get(f"/admin/webhooks/{endpoint_id}/deliveries").status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "alpha", "supervisor")
    page = client.get(f"/admin/webhooks/{endpoint_id}")
    assert page.status_code == 200 and "/rotate" not in page.text
    assert client.get(f"/admin/webhooks/{endpoint_id}/deliveries").status_code == 200
    assert client.post(f"/admin/webhooks/{endpoint_id}/delete", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/admin/webhooks/new", data={"url": "http://127.0.0.1:9/x", "event_types": "lead.created",
                                                    "csrf_token": csrf}).status_code == 403


def test_description_is_escaped(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    create(client, csrf, description="<script>alert(1)</script>")
    page = client.get("/admin/webhooks").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_other_orgs_endpoint_is_404(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    endpoint_id, _ = create_endpoint(database, orgs.a.id, "http://127.0.0.1:9/甲")
    csrf = login(client, "beta", "admin")
    assert client.get(f"/admin/webhooks/{endpoint_id}").status_code == 404
    assert client.post(f"/admin/webhooks/{endpoint_id}/rotate", data={"csrf_token": csrf}).status_code == 404
    assert "甲" not in client.get("/admin/webhooks").text


def test_test_send_log_filters_and_replay_then_delete(client: TestClient, orgs: TwoOrgs,
                                                      database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    endpoint_id, _ = create(client, csrf)
    resp = client.post(f"/admin/webhooks/{endpoint_id}/test", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "测试事件已排队" in resp.text
    log = client.get(f"/admin/webhooks/{endpoint_id}/deliveries").text
    assert "测试事件" in log and "待推送" in log
    assert "delivery-" not in client.get(f"/admin/webhooks/{endpoint_id}/deliveries?status=succeeded").text
    assert "delivery-" not in client.get(f"/admin/webhooks/{endpoint_id}/deliveries?event_type=lead.created").text
    with database.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        delivery.status = DeliveryStatus.dead
        session.commit()
    detail = client.get(f"/admin/webhooks/{endpoint_id}/deliveries/{delivery.id}")
    assert detail.status_code == 200 and "已放弃" in detail.text and "重新推送" in detail.text
    replayed = client.post(f"/admin/webhooks/{endpoint_id}/deliveries/{delivery.id}/replay",
                           data={"csrf_token": csrf_from(detail.text)})
    assert replayed.status_code == 200 and "待推送" in replayed.text
    deleted = client.post(f"/admin/webhooks/{endpoint_id}/delete", data={"csrf_token": csrf},
                          follow_redirects=False)
    assert deleted.status_code == 303
    with database.session() as session:
        assert session.get(WebhookEndpoint, endpoint_id) is None
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"webhook.create", "webhook.test", "webhook.replay", "webhook.delete"} <= actions

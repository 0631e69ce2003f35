"""Endpoints owned by another feature (an API inbox's callback URL): events reach them only when emitted to them by
id, the org's own subscriptions never get that traffic, and only their owner changes or deletes them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import WebhookDelivery
from edudesk.webhooks.urls import UrlPolicy, UrlRefused
from tests.conftest import TwoOrgs
from tests.webhooks.conftest import APP_SECRET, Receiver, create_endpoint, drain, make_deliverer, make_worker
from tests.webhooks.test_signing import documented_verifier

POLICY = UrlPolicy(allow_private=True)


def owned(db: Database, org_id: int, url: str, owner: str = "inbox:1") -> tuple[int, str]:
    with db.session() as session:
        endpoint, secret = webhooks_service.create_owned_endpoint(
            session, Actor(org_id, label="t"), webhooks_service.secret_box(APP_SECRET), POLICY, owner=owner,
            url=url, description="API 渠道")
        session.commit()
        return endpoint.id, secret


def test_targeted_and_subscribed_events_never_cross(database: Database, orgs: TwoOrgs, receiver: Receiver) -> None:
    crm, _ = create_endpoint(database, orgs.a.id, receiver.url + "?crm", ["lead.created"])
    mine, secret = owned(database, orgs.a.id, receiver.url + "?inbox")
    theirs, _ = owned(database, orgs.b.id, receiver.url + "?other", owner="inbox:2")
    with database.session() as session:
        webhooks_service.emit(session, orgs.a.id, "lead.created", "lead:1", {"n": 1})
        assert webhooks_service.emit_if_subscribed(session, orgs.a.id, "message.outbound", "conversation:1",
                                                   lambda: {"n": 2}) is None
        # Emitted to the owned endpoint by id (another org's id in the list is ignored).
        webhooks_service.emit(session, orgs.a.id, "message.outbound", "conversation:1", {"n": 3},
                              endpoint_ids=[mine, theirs])
        webhooks_service.emit(session, orgs.a.id, "lead.created", "lead:2", {"n": 4}, endpoint_ids=[])
        session.commit()
        queued = sorted((d.endpoint_id, d.event_type) for d in session.scalars(select(WebhookDelivery)))
    assert queued == sorted([(crm, "lead.created"), (mine, "message.outbound")])
    drain(database, make_worker(database, make_deliverer()))
    got = {r.json["data"]["n"] for r in receiver.requests}
    assert got == {1, 3}
    inbox_request = next(r for r in receiver.requests if r.json["data"]["n"] == 3)
    assert documented_verifier()(secret, inbox_request.headers, inbox_request.body)


def test_only_the_owner_changes_or_deletes_it(database: Database, orgs: TwoOrgs) -> None:
    endpoint_id, _ = owned(database, orgs.a.id, "http://127.0.0.1:9/a")
    actor = Actor(orgs.a.id, label="t")
    with database.session() as session:
        assert [e.id for e in webhooks_service.list_endpoints(session, orgs.a.id)] == []
        with pytest.raises(webhooks_service.WebhookError) as refused:
            webhooks_service.update_endpoint(session, actor, POLICY, endpoint_id, webhooks_service.EndpointInput(
                "http://127.0.0.1:9/b", ["lead.created"]))
        assert refused.value.code == "managed_elsewhere"
        with pytest.raises(webhooks_service.WebhookError):
            webhooks_service.delete_endpoint(session, actor, endpoint_id)
        session.rollback()
        endpoint = webhooks_service.owned_endpoint(session, orgs.a.id, "inbox:1")
        assert endpoint is not None and endpoint.id == endpoint_id
        assert webhooks_service.owned_endpoint(session, orgs.b.id, "inbox:1") is None
        with pytest.raises(UrlRefused):
            webhooks_service.update_owned_endpoint(session, actor, UrlPolicy(), endpoint, url="http://10.1.2.3/x",
                                                   description="", enabled=True)
        webhooks_service.update_owned_endpoint(session, actor, POLICY, endpoint, url="http://127.0.0.1:9/b",
                                               description="新", enabled=False)
        session.commit()
        webhooks_service.delete_owned_endpoint(session, Actor(orgs.b.id, label="t"), "inbox:1")  # not theirs
        session.commit()
        endpoint = webhooks_service.owned_endpoint(session, orgs.a.id, "inbox:1")
        assert endpoint is not None and (endpoint.url, endpoint.enabled) == ("http://127.0.0.1:9/b", False)
        webhooks_service.delete_owned_endpoint(session, actor, "inbox:1")
        session.commit()
        assert webhooks_service.owned_endpoint(session, orgs.a.id, "inbox:1") is None

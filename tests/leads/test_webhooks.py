"""Lead changes reach the CRM: lead.created / lead.updated queued in the same transaction, only when an endpoint
subscribes to them."""

from __future__ import annotations

from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import WebhookDelivery, WebhookEvent
from edudesk.webhooks.urls import UrlPolicy
from tests.conftest import TwoOrgs
from tests.leads.test_service import say


def test_lead_events_are_queued_for_subscribed_endpoints_only(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级", 1, visitor="before")  # no endpoint yet: nothing recorded
    with database.session() as session:
        assert session.scalars(select(WebhookEvent)).first() is None
        webhooks_service.create_endpoint(
            session, Actor(orgs.a.id, label="t"), webhooks_service.secret_box("s" * 32), UrlPolicy(allow_private=True),
            webhooks_service.EndpointInput("http://127.0.0.1:9/crm", ["lead.created", "lead.updated"], "CRM"))
        session.commit()
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1, visitor="v1")
    say(database, orgs.a.id, "想学英语", 2, visitor="v1")
    say(database, orgs.b.id, "孩子三年级", 1, visitor="v2")  # another org: its own, unsubscribed
    with database.session() as session:
        events = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
        assert [e.type for e in events] == ["lead.created", "lead.updated"]
        assert {e.org_id for e in events} == {orgs.a.id} and events[0].subject_key == events[1].subject_key
        data = events[0].payload
        assert data["fields"]["phone"]["value"] == "13800138000" and data["phone_e164"] == "+8613800138000"
        assert data["fields"]["grade"]["evidence"] == "三年级"
        assert events[1].payload["changed"] == ["subject"]
        assert len(session.scalars(select(WebhookDelivery)).all()) == 2

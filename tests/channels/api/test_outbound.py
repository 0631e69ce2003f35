"""Outbound on the API channel: each bot, agent and system message becomes one signed ``message.outbound`` event
for the inbox's own endpoint, with the documented payload; the org's own subscriptions never see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.service import Actor
from edudesk.conversations.models import ChannelDelivery, Conversation, DeliveryState, Message, SenderKind
from edudesk.db import Database
from edudesk.privacy import service as privacy_service
from edudesk.webhooks import service as webhooks_service
from edudesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from edudesk.webhooks.urls import UrlPolicy
from tests.channels.api.conftest import ApiInbox, example, make_inbox, make_token, run_jobs, seed_kb
from tests.conftest import TwoOrgs

PAYLOAD_KEYS = {"inbox_id", "conversation_id", "message_id", "user_id", "text", "buttons", "images", "attachment",
                "sender", "kind", "created_at"}


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def receiver(events: list[dict[str, Any]]) -> Iterator[Any]:
    """The example client's receiver; its secret is set once the inbox exists."""
    r = example().Receiver("unset", events.append).start()
    yield r
    r.stop()


@pytest.fixture
def inbox(app: FastAPI, database: Database, orgs: TwoOrgs, receiver: Any) -> ApiInbox:
    seed_kb(database, orgs.a.id)
    made = make_inbox(database, app, orgs.a.id, receiver.url)
    receiver.secret = made.secret
    return made


def post(client: TestClient, inbox: ApiInbox, auth: dict[str, str], user_id: str, message_id: str, text: str,
         **extra: Any) -> dict[str, Any]:
    resp = client.post(f"/api/v1/channels/{inbox.public_id}/messages", headers=auth,
                       json={"user_id": user_id, "message_id": message_id, "text": text, **extra})
    assert resp.status_code in (200, 201), resp.text
    return dict(resp.json())


def test_replies_arrive_signed_with_the_documented_payload(client: TestClient, app: FastAPI, database: Database,
                                                           orgs: TwoOrgs, inbox: ApiInbox, receiver: Any,
                                                           events: list[dict[str, Any]]) -> None:
    # The org's CRM subscription to every event type it can choose gets none of the channel's traffic.
    with database.session() as session:
        crm, _ = webhooks_service.create_endpoint(
            session, Actor(orgs.a.id, label="t"), webhooks_service.secret_box(app.state.ctx.settings.secret_key),
            UrlPolicy(allow_private=True), webhooks_service.EndpointInput(receiver.url, ["lead.created"]))
        session.commit()
        crm_id = crm.id
    auth = make_token(database, orgs.a.id)
    sent = post(client, inbox, auth, "openid-1", "m-1", "学费多少")
    fallback = post(client, inbox, auth, "openid-1", "m-2", "今天天气怎么样")
    run_jobs(database, app, retries=True)

    assert receiver.refused == 0 and events, "nothing arrived"
    assert all(e["type"] == "message.outbound" for e in events)
    with database.session() as session:
        outgoing = list(session.scalars(select(Message).where(
            Message.conversation_id == sent["conversation_id"], Message.sender != SenderKind.visitor)
            .order_by(Message.id)))
        deliveries = {d.message_id: d for d in session.scalars(select(ChannelDelivery))}
        webhook_rows = list(session.scalars(select(WebhookDelivery)))
        event_ids = {e.public_id for e in session.scalars(select(WebhookEvent))}
    # One event per outgoing message, in the order they were stored, numbered 1, 2, 3 … in the conversation.
    assert [e["data"]["message_id"] for e in events] == [m.id for m in outgoing]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert {e["id"] for e in events} == event_ids
    for event in events:
        data = event["data"]
        assert set(data) == PAYLOAD_KEYS
        assert (data["inbox_id"], data["user_id"], data["conversation_id"]) == (
            inbox.public_id, "openid-1", sent["conversation_id"])
        delivery = deliveries[data["message_id"]]
        assert delivery.state == DeliveryState.sent and delivery.external_id == event["id"]
    answer = next(e["data"] for e in events if "3600" in e["data"]["text"])
    assert answer["sender"] == {"kind": "bot", "name": "智能助手"} and answer["kind"] == "answer"
    assert answer["images"] == ["http://127.0.0.1:8000/static/demo/price.png"] and answer["attachment"] is None
    assert answer["created_at"].startswith("20")
    # Buttons stay buttons (the channel draws them): no numbered lines in the text.
    offer = next(e["data"] for e in events if e["data"]["kind"] == "fallback")
    assert {"label": "转人工", "payload": "转人工"} in offer["buttons"] and "回复 1" not in offer["text"]
    assert fallback["conversation_id"] == sent["conversation_id"]
    assert {(w.endpoint_id, w.status) for w in webhook_rows} == {(inbox.endpoint_id, DeliveryStatus.succeeded)}
    assert crm_id not in {w.endpoint_id for w in webhook_rows}
    # The org's lead event (none here yet) would go to the CRM only; resending changes nothing.
    before = len(events)
    post(client, inbox, auth, "openid-1", "m-1", "学费多少")
    run_jobs(database, app, retries=True)
    assert len(events) == before


def test_a_button_click_is_sent_as_its_payload(client: TestClient, app: FastAPI, database: Database,
                                               orgs: TwoOrgs, inbox: ApiInbox, events: list[dict[str, Any]]) -> None:
    auth = make_token(database, orgs.a.id)
    post(client, inbox, auth, "u1", "m-1", "今天天气怎么样")
    clicked = post(client, inbox, auth, "u1", "m-2", "转人工", payload="转人工")
    run_jobs(database, app, retries=True)
    texts = [e["data"]["text"] for e in events if e["data"]["sender"]["kind"] == "system"]
    assert texts, "the hand-over said nothing"
    with database.session() as session:
        stored = session.get(Message, clicked["id"])
        assert stored is not None and stored.text == "转人工"


def test_without_its_endpoint_the_message_fails_for_good_and_agents_see_why(
        client: TestClient, app: FastAPI, database: Database, orgs: TwoOrgs, inbox: ApiInbox,
        events: list[dict[str, Any]]) -> None:
    with database.session() as session:
        webhooks_service.delete_owned_endpoint(session, Actor(orgs.a.id, label="t"), f"inbox:{inbox.id}")
        session.commit()
    auth = make_token(database, orgs.a.id)
    post(client, inbox, auth, "u1", "m-1", "学费多少")
    run_jobs(database, app, retries=True)
    assert events == []
    with database.session() as session:
        deliveries = list(session.scalars(select(ChannelDelivery)))
        assert deliveries and all(d.state == DeliveryState.failed for d in deliveries)
        assert all((d.last_error or "").startswith("no_callback") for d in deliveries)
        marked = session.get(Message, deliveries[0].message_id)
        assert marked is not None and (marked.extra or {}).get("delivery", {}).get("state") == "failed"


def test_the_events_are_part_of_the_persons_export_and_erasure(client: TestClient, app: FastAPI,
                                                               database: Database, orgs: TwoOrgs, inbox: ApiInbox,
                                                               receiver: Any, events: list[dict[str, Any]]) -> None:
    """What the channel pushed carries the parent's words: the export lists those events, erasure blanks them (the
    delivery log and a replay would show them again) and stops those still waiting."""
    auth = make_token(database, orgs.a.id)
    sent = post(client, inbox, auth, "u1", "m-1", "学费多少")
    run_jobs(database, app, retries=True)
    delivered = {e["id"] for e in events}
    receiver.stop()
    post(client, inbox, auth, "u1", "m-2", "今天天气怎么样")
    run_jobs(database, app)  # emitted, but the receiver is down: waiting for a retry
    registry, actor = app.state.privacy, Actor(orgs.a.id, label="t")
    with database.session() as session:
        conv = session.get(Conversation, sent["conversation_id"])
        assert conv is not None
        waiting = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.status.in_(
            (DeliveryStatus.pending, DeliveryStatus.failed)))))
        assert delivered and waiting
        export = privacy_service.prepare_export(session, registry, actor, conv.contact_id)
        listed = {e["id"] for e in export.data["webhook_events"]}
        assert delivered < listed
        privacy_service.erase_contact(session, registry, actor, conv.contact_id)
        session.commit()
        session.expire_all()  # the erasure updated these rows in bulk
        payloads = [e.payload for e in session.scalars(select(WebhookEvent))]
        assert len(payloads) == len(listed) and all(p == {"erased": True} for p in payloads)
        assert all(d.status == DeliveryStatus.dead for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.id.in_([w.id for w in waiting]))))

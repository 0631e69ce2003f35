"""Two app instances sharing Redis (and the database) are one live list: a visitor whose socket is on instance A is
listed on instance B, a page view published on A shows on B, and B's agent invites the visitor on A."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.app import create_app
from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.visitors.invitation_models import Invitation
from tests.conftest import TwoOrgs, login
from tests.visitors.live_helpers import publish_view, settled
from tests.visitors.test_invitations import new_visitor, until

pytestmark = pytest.mark.redis


@pytest.fixture
def pair(settings: Settings, database: Database, redis_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    shared = settings.model_copy(update={"redis_url": redis_url})
    with TestClient(create_app(shared)) as a, TestClient(create_app(shared)) as b:
        yield a, b


def test_two_instances_share_the_list_and_the_invitation(pair: tuple[TestClient, TestClient], orgs: TwoOrgs,
                                                         database: Database) -> None:
    a, b = pair
    csrf = login(b, "alpha", "agent")
    info = new_visitor(a, orgs.a.public_key)
    with a.websocket_connect("/ws/visitor?token=" + info["token"] + "&page_url=https%3A%2F%2Fs.example%2Fhome") as ws:
        until(ws, "hello")
        registry_b = b.app.state.live.registry  # type: ignore[attr-defined]
        [visitor] = registry_b.visitors(orgs.a.id)
        assert visitor.online(visitor.last_at) and "https://s.example/home" in b.get("/console/visitors/list").text
        publish_view(a.app.state.ctx.bus, orgs.a.id, visitor.visitor_key, "https://s.example/price",  # type: ignore[attr-defined]
                     title="学费", contact_id=visitor.contact_id)
        settled(registry_b, orgs.a.id, visitor.visitor_key, "https://s.example/price")
        assert "https://s.example/price" in b.get("/console/visitors/list").text
        resp = b.post("/console/visitors/invite", data={"visitor_key": visitor.visitor_key, "text": "您好，看学费吗？",
                                                        "csrf_token": csrf})
        assert resp.status_code == 200, resp.text
        invite = until(ws, "invite")
        assert invite["text"] == "您好，看学费吗？"
        ws.send_json({"type": "message", "client_id": "r1", "text": "是的", "invitation_id": invite["invitation_id"]})
        conv_id = until(ws, "ack")["message"]["conversation_id"]
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, conv_id)
        assert conv.assignee_id == orgs.a.users["agent"].id
        assert session.scalars(select(Invitation)).one().accepted_at is not None

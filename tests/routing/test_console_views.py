"""Console routing endpoints through the real app: status, transfer, take-over, contact routing facts, the
supervisor board; CSRF, roles and org isolation on each."""

from __future__ import annotations

from fastapi.testclient import TestClient

from edudesk.auth.models import User
from edudesk.contacts.models import Contact
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Conversation
from edudesk.conversations.states import ConversationState
from edudesk.db import Database
from tests.conftest import TwoOrgs, login
from tests.routing.conftest import Team, assignee, online, queue

S = ConversationState


def serve(database: Database, conv_id: int, user_id: int) -> None:
    with database.session() as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        user = session.get(User, user_id)
        assert user is not None
        conversations_service.accept(session, user, conv_id)
        session.commit()


def test_status_switch(client: TestClient, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "agent")
    assert client.post("/console/status", data={"status": "away"}).status_code == 400  # no CSRF
    resp = client.post("/console/status", data={"status": "away", "csrf_token": csrf})
    assert resp.status_code == 200 and resp.json()["status"] == "away" and resp.json()["label"] == "离开"
    bad = client.post("/console/status", data={"status": "<script>", "csrf_token": csrf})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    assert client.get("/console/status").json()["status"] == "away"


def test_transfer_to_a_colleague_with_a_note(client: TestClient, database: Database, orgs: TwoOrgs,
                                             team: Team) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=None)
    serve(database, conv, orgs.a.users["agent"].id)
    target = team.users["li"]
    csrf = login(client, "alpha", "agent")
    offline = client.post(f"/console/c/{conv}/transfer", data={"to_user_id": target.id, "csrf_token": csrf})
    assert offline.status_code == 409 and offline.json()["error"]["code"] == "offline"
    online(database, target.id, max_concurrent=1)
    targets = client.get("/console/transfer-targets").json()
    assert any(a["id"] == target.id and a["available"] for a in targets["agents"])
    assert {"id": team.group_id, "name": "小学数学"} in targets["groups"]
    resp = client.post(f"/console/c/{conv}/transfer",
                       data={"to_user_id": target.id, "note": "家长想要周末班<b>", "csrf_token": csrf})
    assert resp.status_code == 200, resp.text
    assert assignee(database, conv) == target.id
    with database.session() as session:
        staff = conversations_service.messages_as_dicts(session, orgs.a.id, conv)
        visitor = conversations_service.messages_as_dicts(session, orgs.a.id, conv, include_internal=False)
    assert staff[-1]["internal"] and "家长想要周末班<b>" in staff[-1]["text"]
    assert "正在为您转接 li老师" in visitor[-1]["text"]
    # The colleague is now full: a second transfer to them is refused and changes nothing.
    other = queue(database, orgs.a.id, "v2", group_id=None)
    serve(database, other, orgs.a.users["agent"].id)
    full = client.post(f"/console/c/{other}/transfer", data={"to_user_id": target.id, "csrf_token": csrf})
    assert full.status_code == 409 and full.json()["error"]["code"] == "at_capacity"
    assert assignee(database, other) == orgs.a.users["agent"].id


def test_transfer_to_a_group_requeues_and_dispatches(client: TestClient, database: Database, orgs: TwoOrgs,
                                                     team: Team) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=None)
    serve(database, conv, orgs.a.users["agent"].id)
    online(database, team.users["zhang"].id)
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/console/c/{conv}/transfer", data={"to_group_id": team.group_id, "csrf_token": csrf})
    assert resp.status_code == 200, resp.text
    assert assignee(database, conv) == team.users["zhang"].id


def test_transfer_refuses_bad_and_foreign_targets(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=None)
    serve(database, conv, orgs.a.users["agent"].id)
    csrf = login(client, "alpha", "agent")
    for data in ({}, {"to_user_id": "1", "to_group_id": "1"}, {"to_user_id": "1; DROP TABLE users"}):
        resp = client.post(f"/console/c/{conv}/transfer", data={**data, "csrf_token": csrf})
        assert resp.status_code == 422, data
    foreign = client.post(f"/console/c/{conv}/transfer",
                          data={"to_user_id": orgs.b.users["agent"].id, "csrf_token": csrf})
    assert foreign.status_code == 404
    assert assignee(database, conv) == orgs.a.users["agent"].id
    # Another org's conversation is not found either.
    conv_b = queue(database, orgs.b.id, "v1", group_id=None)
    resp = client.post(f"/console/c/{conv_b}/transfer",
                       data={"to_user_id": orgs.a.users["agent2"].id, "csrf_token": csrf})
    assert resp.status_code == 404


def test_only_supervisors_take_over(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=None)
    serve(database, conv, orgs.a.users["agent"].id)
    csrf = login(client, "alpha", "agent2")
    assert client.post(f"/console/c/{conv}/take-over", data={"csrf_token": csrf}).status_code == 403
    csrf = login(client, "alpha", "supervisor")
    resp = client.post(f"/console/c/{conv}/take-over", data={"csrf_token": csrf})
    assert resp.status_code == 200
    assert assignee(database, conv) == orgs.a.users["supervisor"].id


def test_contact_tags_and_vip(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    conv = queue(database, orgs.a.id, "v1", group_id=None)
    with database.session() as session:
        contact_id = session.get(Conversation, conv).contact_id  # type: ignore[union-attr]
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/console/contacts/{contact_id}/routing", data={"tags": "老学员，续费", "csrf_token": csrf})
    assert resp.json() == {"contact_id": contact_id, "tags": ["老学员", "续费"], "vip": False}
    denied = client.post(f"/console/contacts/{contact_id}/routing", data={"vip": "1", "csrf_token": csrf})
    assert denied.status_code == 403
    csrf = login(client, "alpha", "supervisor")
    resp = client.post(f"/console/contacts/{contact_id}/routing",
                       data={"tags": "老学员", "vip": "1", "csrf_token": csrf})
    assert resp.json()["vip"] is True
    with database.session() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None and contact.vip and contact.tags == ["老学员"]
    csrf = login(client, "beta", "supervisor")
    assert client.post(f"/console/contacts/{contact_id}/routing",
                       data={"vip": "1", "csrf_token": csrf}).status_code == 404


def test_supervisor_board(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    conv = queue(database, orgs.a.id, "<img src=x onerror=alert(1)>", group_id=None)
    with database.session() as session:
        c = session.get(Conversation, conv)
        assert c is not None
        c.tags = ["<b>vip</b>"]
        session.commit()
    login(client, "alpha", "agent")
    assert client.get("/console/supervisor", follow_redirects=False).status_code in (403, 303)
    login(client, "alpha", "supervisor")
    html = client.get("/console/supervisor").text
    assert f'id="live-{conv}"' in html and "&lt;b&gt;vip&lt;/b&gt;" in html and "<b>vip</b>" not in html
    login(client, "beta", "supervisor")
    assert f'id="live-{conv}"' not in client.get("/console/supervisor/live").text

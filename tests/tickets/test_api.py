"""The tickets REST API: tokens and scopes, the token's org only, filters, comments, and 4xx in the API's shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.apitokens import service as apitokens_service
from edudesk.apitokens.models import ApiToken
from edudesk.conversations.models import Message
from edudesk.db import Database, utcnow
from edudesk.tickets.models import TicketPriority
from tests.conftest import TwoOrgs
from tests.tickets.helpers import load, make_ticket, say


def token(database: Database, org_id: int, *scopes: str) -> dict[str, str]:
    """A token with ``scopes``. Stored directly: the token admin offers tickets:read/tickets:write once
    apitokens.service.SCOPES lists them."""
    raw = apitokens_service.TOKEN_PREFIX + f"test-{org_id}-{'-'.join(scopes)}".replace(":", "_")
    with database.session() as session:
        session.add(ApiToken(org_id=org_id, name="crm", prefix=raw[:12], token_hash=apitokens_service.hash_token(raw),
                             scopes=list(scopes), created_by="test", created_at=utcnow()))
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]  # type: ignore[no-any-return]


def test_list_and_get_in_the_tokens_org_only(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    chat = say(database, orgs.a.id, "退费怎么办理", "m1")
    first = make_ticket(database, orgs.a.id, conversation_id=chat.conversation.id, priority=TicketPriority.high)
    make_ticket(database, orgs.a.id, subject="发票")
    other = make_ticket(database, orgs.b.id, subject="乙的工单")
    read = token(database, orgs.a.id, "tickets:read")
    listed = client.get("/api/v1/tickets", headers=read).json()
    assert listed["total"] == 2 and {t["subject"] for t in listed["items"]} == {"退费咨询", "发票"}
    assert client.get("/api/v1/tickets?priority=high", headers=read).json()["total"] == 1
    assert client.get("/api/v1/tickets?status=new,open&q=发票", headers=read).json()["total"] == 1
    assert client.get("/api/v1/tickets?status=unresolved&assignee=unassigned", headers=read).json()["total"] == 2
    got = client.get(f"/api/v1/tickets/{first}", headers=read).json()
    assert got["id"] == first and got["contact_id"] == chat.conversation.contact_id
    assert got["comments"][0]["kind"] == "visitor" and got["sla"]["state"] is None
    error_of(client.get(f"/api/v1/tickets/{other}", headers=read), 404)
    error_of(client.get(f"/api/v1/tickets/{first}", headers=token(database, orgs.b.id, "tickets:read")), 404)
    for query, field in (("status=won", "status"), ("priority=asap", "priority"), ("per_page=1000", "per_page"),
                         ("sla=soon", "sla"), ("assignee=me", "assignee")):
        assert error_of(client.get(f"/api/v1/tickets?{query}", headers=read), 422)["field"] == field, query


def test_tokens_and_scopes(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    ticket_id = make_ticket(database, orgs.a.id)
    assert error_of(client.get("/api/v1/tickets"), 401)["code"] == "invalid_token"
    assert error_of(client.get("/api/v1/tickets", headers={"Authorization": "Bearer edk_forged"}), 401)
    leads_only = token(database, orgs.a.id, "leads:read", "leads:write")
    assert error_of(client.get("/api/v1/tickets", headers=leads_only), 403)["code"] == "insufficient_scope"
    read = token(database, orgs.a.id, "tickets:read")
    assert error_of(client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": "open"}, headers=read),
                    403)["code"] == "insufficient_scope"
    assert error_of(client.post("/api/v1/tickets", json={"subject": "x"}, headers=read), 403)
    write_only = token(database, orgs.a.id, "tickets:write")
    assert error_of(client.get("/api/v1/tickets", headers=write_only), 403)
    with database.session() as session:
        for row in session.scalars(select(ApiToken)):
            if row.scopes == ["tickets:read"]:
                row.revoked_at = utcnow()
        session.commit()
    assert error_of(client.get("/api/v1/tickets", headers=read), 401)


def test_create_update_and_comment(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    write = token(database, orgs.a.id, "tickets:write", "tickets:read")
    made = client.post("/api/v1/tickets", headers=write, json={
        "subject": "小程序留言：想了解暑期班", "description": "孩子初一，数学", "external_id": "mini-42",
        "priority": "high"})
    assert made.status_code == 201, made.text
    body = made.json()
    ticket_id = body["id"]
    assert body["source"] == "api" and body["channel"] == "api" and body["priority"] == "high"
    assert body["comments"][0]["kind"] == "visitor" and body["contact_id"] is not None
    patched = client.patch(f"/api/v1/tickets/{ticket_id}", headers=write,
                           json={"status": "open", "assignee_id": orgs.a.users["agent"].id})
    assert patched.status_code == 200 and patched.json()["assignee_id"] == orgs.a.users["agent"].id
    reply = client.post(f"/api/v1/tickets/{ticket_id}/comments", headers=write,
                        json={"kind": "reply", "text": "暑期班 7 月开课", "author_name": "张老师", "status": "pending"})
    assert reply.status_code == 201 and reply.json()["kind"] == "reply"
    with database.session() as session:
        msg = session.get(Message, reply.json()["message_id"])
        assert msg is not None and msg.sender_name == "张老师" and msg.extra == {"ticket_id": ticket_id}
    note = client.post(f"/api/v1/tickets/{ticket_id}/comments", headers=write,
                       json={"kind": "note", "text": "@王老师 CRM 已同步"})
    assert note.json()["mentions"] == [orgs.a.users["agent"].id]
    ticket = load(database, orgs.a.id, ticket_id)
    assert ticket.status.value == "pending" and ticket.first_responded_at is not None
    cleared = client.patch(f"/api/v1/tickets/{ticket_id}", headers=write, json={"assignee_id": None})
    assert cleared.json()["assignee_id"] is None
    assert client.patch(f"/api/v1/tickets/{ticket_id}", headers=write, json={}).status_code == 200


@pytest.mark.parametrize(("method", "path", "payload", "status", "code"), [
    ("post", "/api/v1/tickets", {"subject": ""}, 422, "invalid_request"),
    ("post", "/api/v1/tickets", {"subject": "长" * 201}, 422, "invalid_request"),
    ("post", "/api/v1/tickets", {"subject": "x", "priority": "asap"}, 422, "invalid_request"),
    ("post", "/api/v1/tickets", {"subject": "x", "custom_fields": {"salary": 1}}, 400, "unknown_field"),
    ("post", "/api/v1/tickets", {"subject": "x", "contact_id": 987654}, 404, "not_found"),
    ("post", "/api/v1/tickets", {"subject": "x", "assignee_id": 987654}, 404, "not_found"),
    ("patch", "/api/v1/tickets/{id}", {"status": "closed"}, 200, None),
    ("patch", "/api/v1/tickets/{id}", {"status": "pending"}, 409, "closed"),
    ("patch", "/api/v1/tickets/{id}", {"status": None}, 422, "invalid_request"),
    ("patch", "/api/v1/tickets/{id}", {"priority": "asap"}, 422, "invalid_request"),
    ("post", "/api/v1/tickets/{id}/comments", {"kind": "reply", "text": "x"}, 400, "no_contact"),
    ("post", "/api/v1/tickets/{id}/comments", {"kind": "email", "text": "x"}, 422, "invalid_request"),
    ("post", "/api/v1/tickets/{id}/comments", {"kind": "note", "text": ""}, 422, "invalid_request"),
    # A note has no status field (the schema says so; it is refused like any unknown field).
    ("post", "/api/v1/tickets/{id}/comments", {"kind": "note", "text": "x", "status": "open"}, 422,
     "invalid_request"),
    ("post", "/api/v1/tickets/999999/comments", {"kind": "note", "text": "x"}, 404, "not_found"),
    ("patch", "/api/v1/tickets/abc", {}, 422, "invalid_request"),
])
def test_bad_requests_are_clean_4xx(client: TestClient, database: Database, orgs: TwoOrgs, method: str,
                                    path: str, payload: dict[str, Any], status: int, code: str | None) -> None:
    ticket_id = make_ticket(database, orgs.a.id)
    if path.endswith("{id}") and payload.get("status") == "pending":
        make_ticket(database, orgs.a.id)
        client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": "closed"},
                     headers=token(database, orgs.a.id, "tickets:write"))
    write = token(database, orgs.a.id, "tickets:write", "tickets:read")
    resp = getattr(client, method)(path.format(id=ticket_id), json=payload, headers=write)
    if code is None:
        assert resp.status_code == status
    else:
        assert error_of(resp, status)["code"] == code


def test_another_orgs_ids_are_not_found(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    chat_b = say(database, orgs.b.id, "乙的访客", "m1")
    ticket_b = make_ticket(database, orgs.b.id, conversation_id=chat_b.conversation.id)
    write = token(database, orgs.a.id, "tickets:write", "tickets:read")
    error_of(client.patch(f"/api/v1/tickets/{ticket_b}", json={"status": "solved"}, headers=write), 404)
    error_of(client.post(f"/api/v1/tickets/{ticket_b}/comments", json={"kind": "reply", "text": "越权"},
                         headers=write), 404)
    error_of(client.post("/api/v1/tickets", json={"subject": "x", "contact_id": chat_b.conversation.contact_id},
                         headers=write), 404)
    assert load(database, orgs.b.id, ticket_b).status.value == "new"

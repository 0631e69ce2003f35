"""The widget's HTTP API and visitor WebSocket (docs/protocol.md), including every kind of bad input."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from edudesk.app import create_app
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Attachment, Conversation, Message
from edudesk.db import Database
from edudesk.settings import Settings
from tests.conftest import TwoOrgs, login


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x00\xff\x00\x00"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def new_visitor(client: TestClient, org_key: str, **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/widget/session", json={"org_key": org_key, **extra})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def recv_until(ws: WebSocketTestSession, kind: str, limit: int = 20, **match: Any) -> dict[str, Any]:
    for _ in range(limit):
        frame = ws.receive_json()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return dict(frame)
    raise AssertionError(f"no {kind} frame")


def message_count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


@pytest.fixture
def visitor(client: TestClient, orgs: TwoOrgs) -> Iterator[tuple[dict[str, Any], WebSocketTestSession]]:
    info = new_visitor(client, orgs.a.public_key, page_url="https://school.example/math")
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["messages"] == []
        yield info, ws


class TestSession:
    def test_new_visitor_gets_a_token_and_org_appearance(self, client: TestClient, orgs: TwoOrgs) -> None:
        info = new_visitor(client, orgs.a.public_key)
        assert info["token"] and info["conversation_id"] is None and info["messages"] == []
        assert info["org"]["welcome"].startswith("您好")
        assert info["max_upload_bytes"] > 0

    def test_same_token_comes_back_with_history(self, client: TestClient, orgs: TwoOrgs) -> None:
        info = new_visitor(client, orgs.a.public_key)
        with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
            ws.receive_json()
            ws.send_json({"type": "message", "client_id": "c1", "text": "你好"})
            recv_until(ws, "ack")
        again = new_visitor(client, orgs.a.public_key, token=info["token"])
        assert again["token"] == info["token"]
        assert [m["text"] for m in again["messages"] if m["sender"] == "visitor"] == ["你好"]

    def test_unknown_org_key(self, client: TestClient, orgs: TwoOrgs) -> None:
        resp = client.post("/api/v1/widget/session", json={"org_key": "pk_nope"})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_org"

    @pytest.mark.parametrize("token", ["garbage", "eyJvIjoxLCJ2IjoidiJ9.forged", "x" * 501])
    def test_forged_token(self, client: TestClient, orgs: TwoOrgs, token: str) -> None:
        resp = client.post("/api/v1/widget/session", json={"org_key": orgs.a.public_key, "token": token})
        assert resp.status_code in (401, 422)
        assert "error" in resp.json()

    def test_token_of_another_org_is_refused(self, client: TestClient, orgs: TwoOrgs) -> None:
        token_b = new_visitor(client, orgs.b.public_key)["token"]
        resp = client.post("/api/v1/widget/session", json={"org_key": orgs.a.public_key, "token": token_b})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_token"

    @pytest.mark.parametrize("body", [b"not json", b"[]", b'{"org_key": ""}', b'{"org_key": 5}',
                                      json.dumps({"org_key": "k", "page_url": "h" * 3000}).encode()])
    def test_malformed_bodies_get_422_with_error_object(self, client: TestClient, orgs: TwoOrgs,
                                                        body: bytes) -> None:
        resp = client.post("/api/v1/widget/session", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "invalid_request"


class TestVisitorSocket:
    def test_message_is_acked_and_answered(self, visitor: tuple[dict[str, Any], WebSocketTestSession],
                                           database: Database) -> None:
        _, ws = visitor
        ws.send_json({"type": "message", "client_id": "c1", "text": "你们在哪"})
        frames = [ws.receive_json() for _ in range(5)]  # state, welcome, own message, bot answer, ack (any order)
        ack = next(f for f in frames if f["type"] == "ack")
        assert ack["client_id"] == "c1" and ack["message"]["sender"] == "visitor"
        bots = [f["message"] for f in frames if f["type"] == "message" and f["message"]["sender"] == "bot"]
        assert bots[0]["text"].startswith("您好")  # the welcome opens the conversation
        assert [b["label"] for b in bots[-1]["buttons"]] == ["转人工", "留下联系方式"]
        assert bots[-1]["kind"] == "fallback"
        assert bots[-1]["id"] > ack["message"]["id"]

    def test_resend_never_duplicates(self, visitor: tuple[dict[str, Any], WebSocketTestSession],
                                     database: Database) -> None:
        _, ws = visitor
        ws.send_json({"type": "message", "client_id": "same", "text": "价格"})
        first = recv_until(ws, "ack")
        stored = message_count(database)
        ws.send_json({"type": "message", "client_id": "same", "text": "价格"})
        second = recv_until(ws, "ack")
        assert second["message"]["id"] == first["message"]["id"]
        assert message_count(database) == stored

    @pytest.mark.parametrize("raw,code", [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": "explode"}', "unknown_type"),
        ('{"type": "message", "text": "hi"}', "bad_frame"),
        ('{"type": "message", "client_id": "", "text": "hi"}', "bad_frame"),
        ('{"type": "message", "client_id": 12, "text": "hi"}', "bad_frame"),
        ('{"type": "message", "client_id": "' + "c" * 65 + '", "text": "hi"}', "bad_frame"),
        ('{"type": "message", "client_id": "c", "text": 5}', "bad_frame"),
        ('{"type": "message", "client_id": "c", "text": "   "}', "empty_message"),
        ('{"type": "message", "client_id": "c", "text": "' + "长" * 2001 + '"}', "too_long"),
        ('{"type": "message", "client_id": "c", "attachment_id": "1"}', "bad_frame"),
        ('{"type": "message", "client_id": "c", "attachment_id": 999999}', "bad_attachment"),
        ('{"type": "rate", "score": 5}', "not_rateable"),
        ('{"type": "rate", "score": 5, "comment": []}', "bad_frame"),
        ('{"type": "typing", "text": {}}', "bad_frame"),
    ])
    def test_bad_frames_get_an_error_and_change_nothing(self, visitor: tuple[dict[str, Any], WebSocketTestSession],
                                                        database: Database, raw: str, code: str) -> None:
        _, ws = visitor
        before = message_count(database)
        ws.send_text(raw)
        err = recv_until(ws, "error")
        assert err["code"] == code and err["message"]
        assert message_count(database) == before
        ws.send_json({"type": "ping"})
        assert recv_until(ws, "pong")  # the connection survives

    def test_hostile_text_is_stored_verbatim_not_interpreted(
            self, visitor: tuple[dict[str, Any], WebSocketTestSession]) -> None:
        _, ws = visitor
        hostile = "<img src=x onerror=alert(1)>'; DROP TABLE messages; --"
        ws.send_json({"type": "message", "client_id": "h", "text": hostile})
        assert recv_until(ws, "ack")["message"]["text"] == hostile

    @pytest.mark.parametrize("query", ["", "?token=", "?token=forged.token", "?token=" + "x" * 600])
    def test_bad_token_closes_with_4401(self, client: TestClient, orgs: TwoOrgs, query: str) -> None:
        with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect("/ws/visitor" + query) as ws:
            ws.receive_json()
        assert exc.value.code == 4401

    def test_reconnect_with_after_gets_only_missed_messages(self, client: TestClient, orgs: TwoOrgs) -> None:
        info = new_visitor(client, orgs.a.public_key)
        with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
            ws.receive_json()
            ws.send_json({"type": "message", "client_id": "a", "text": "你好"})
            last = recv_until(ws, "ack")["message"]["id"]
        with client.websocket_connect(f"/ws/visitor?token={info['token']}&after={last}") as ws:
            hello = ws.receive_json()
            assert hello["type"] == "hello"
            assert all(m["id"] > last for m in hello["messages"])
            assert [m["sender"] for m in hello["messages"]] == ["bot"]  # the fallback answer only


class TestAgentLoop:
    def test_handover_accept_reply_resolve_rate(self, client: TestClient, orgs: TwoOrgs, app: FastAPI) -> None:
        csrf = login(client, "alpha", "agent")
        info = new_visitor(client, orgs.a.public_key)
        with client.websocket_connect("/ws/agent") as agent_ws, \
                client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
            assert agent_ws.receive_json()["type"] == "hello"
            ws.receive_json()
            ws.send_json({"type": "message", "client_id": "h1", "text": "转人工"})
            system = recv_until(ws, "message")
            while system["message"]["sender"] != "system":
                system = recv_until(ws, "message")
            assert "正在为您转接人工客服" in system["message"]["text"]  # the agent socket counts as online
            queued = recv_until(agent_ws, "conversation", event="conversation.handoff")
            conv_id = queued["conversation"]["id"]
            ws.send_json({"type": "typing", "text": "孩子三年级"})
            typing = recv_until(agent_ws, "typing")
            assert typing == {"type": "typing", "conversation_id": conv_id, "preview": "孩子三年级"}

            resp = client.post(f"/console/c/{conv_id}/accept", data={"csrf_token": csrf})
            assert resp.status_code == 200
            joined = recv_until(ws, "agent_joined")
            assert joined["agent"] == {"name": "王老师"}
            resp = client.post(f"/console/c/{conv_id}/send", data={"csrf_token": csrf, "text": "您好，我是王老师",
                                                                  "client_id": "ag-1"})
            assert resp.status_code == 200 and "您好，我是王老师" in resp.text
            agent_msg = recv_until(ws, "message")
            while agent_msg["message"]["sender"] != "agent":
                agent_msg = recv_until(ws, "message")
            assert agent_msg["message"]["sender_name"] == "王老师"
            agent_ws.send_json({"type": "typing", "conversation_id": conv_id, "is_typing": True})
            assert recv_until(ws, "typing") == {"type": "typing", "who": "agent", "is_typing": True}

            client.post(f"/console/c/{conv_id}/resolve", data={"csrf_token": csrf})
            state = recv_until(ws, "state", state="resolved")
            assert state["csat_pending"] is True
            ws.send_json({"type": "rate", "score": 4, "comment": "挺好"})
            assert recv_until(ws, "rated")["score"] == 4
            rated = recv_until(agent_ws, "rated")
            assert rated["conversation_id"] == conv_id and rated["comment"] == "挺好"

    def test_agent_socket_needs_login_and_same_origin(self, client: TestClient, orgs: TwoOrgs) -> None:
        with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect("/ws/agent") as ws:
            ws.receive_json()
        assert exc.value.code == 4401
        login(client, "alpha", "agent")
        with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect(
                "/ws/agent", headers={"origin": "https://evil.example"}) as ws:
            ws.receive_json()
        assert exc.value.code == 4403

    def test_agents_never_see_another_orgs_events(self, client: TestClient, orgs: TwoOrgs) -> None:
        login(client, "beta", "agent")
        info = new_visitor(client, orgs.a.public_key)
        with client.websocket_connect("/ws/agent") as agent_ws, \
                client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
            agent_ws.receive_json()
            ws.receive_json()
            ws.send_json({"type": "message", "client_id": "x", "text": "转人工"})
            recv_until(ws, "ack")
            agent_ws.send_json({"type": "ping"})
            # Up to our ping's pong nothing from org A arrived: at most this agent's own presence coming online.
            frames = []
            while (frame := agent_ws.receive_json()) != {"type": "pong"}:
                frames.append(frame)
            assert all(f["type"] == "agent_status" and f["user_id"] == orgs.b.users["agent"].id for f in frames)


class TestAttachments:
    def upload(self, client: TestClient, token: str | None, data: bytes, name: str = "a.png") -> Any:
        headers = {"x-visitor-token": token} if token else {}
        return client.post("/api/v1/widget/attachments", files={"file": (name, data, "image/png")}, headers=headers)

    def test_image_upload_send_and_serve(self, visitor: tuple[dict[str, Any], WebSocketTestSession],
                                         client: TestClient) -> None:
        info, ws = visitor
        resp = self.upload(client, info["token"], tiny_png(), name="../../etc/passwd.png")
        assert resp.status_code == 201
        att = resp.json()
        assert att["content_type"] == "image/png" and att["name"] == "passwd.png"
        ws.send_json({"type": "message", "client_id": "img", "attachment_id": att["id"]})
        ack = recv_until(ws, "ack")
        assert ack["message"]["attachment"]["url"] == att["url"]
        got = client.get(att["url"])
        assert got.status_code == 200 and got.content == tiny_png()
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert client.get(att["url"][:-3] + "xyz").status_code == 404

    @pytest.mark.parametrize("data,status,code", [
        (b"", 400, "empty_file"),
        (b"<html><script>alert(1)</script></html>", 415, "bad_type"),
        (b"GIF8", 415, "bad_type"),
    ])
    def test_bad_files(self, client: TestClient, orgs: TwoOrgs, data: bytes, status: int, code: str) -> None:
        token = new_visitor(client, orgs.a.public_key)["token"]
        resp = self.upload(client, token, data)
        assert resp.status_code == status and resp.json()["error"]["code"] == code

    def test_missing_or_forged_token(self, client: TestClient, orgs: TwoOrgs, database: Database) -> None:
        assert self.upload(client, None, tiny_png()).status_code == 401
        assert self.upload(client, "forged", tiny_png()).status_code == 401
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(Attachment)) == 0

    def test_too_large(self, settings: Settings, database: Database, orgs: TwoOrgs) -> None:
        small = create_app(settings.model_copy(update={"max_upload_bytes": 1000}))
        with TestClient(small) as c:
            token = new_visitor(c, orgs.a.public_key)["token"]
            resp = self.upload(c, token, tiny_png() + b"\x00" * 2000)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"

    def test_another_visitors_attachment_cannot_be_sent(self, client: TestClient, orgs: TwoOrgs) -> None:
        other = new_visitor(client, orgs.a.public_key)["token"]
        att_id = self.upload(client, other, tiny_png()).json()["id"]
        mine = new_visitor(client, orgs.a.public_key)["token"]
        with client.websocket_connect(f"/ws/visitor?token={mine}") as ws:
            ws.receive_json()
            ws.send_json({"type": "message", "client_id": "steal", "attachment_id": att_id})
            assert recv_until(ws, "error")["code"] == "bad_attachment"


def test_the_page_a_conversation_started_on_is_recorded(client: TestClient, orgs: TwoOrgs,
                                                        database: Database) -> None:
    info = new_visitor(client, orgs.a.public_key, page_url="https://school.example/math")
    query = urlencode({"page_url": "https://school.example/math?c=1", "page_title": "数学",
                       "referrer": "https://baidu.com"})
    with client.websocket_connect(f"/ws/visitor?token={info['token']}&{query}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "p1", "text": "你好"})
        recv_until(ws, "ack")
    with database.session() as session:
        conv = session.scalars(select(Conversation).where(Conversation.org_id == orgs.a.id)).one()
        contact = session.get(Contact, conv.contact_id)
        assert conv.page_url == "https://school.example/math?c=1" and conv.page_title == "数学"
        assert conv.referrer == "https://baidu.com"
        assert contact is not None and contact.first_page_url == "https://school.example/math?c=1"

"""The visitor socket survives hostile frames (issue 19): each gets a specific error frame naming its message, the
connection stays open and usable, and nothing is stored. Runs on SQLite and PostgreSQL (PostgreSQL cannot store NUL;
neither can store a lone surrogate)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from edudesk.channels.web.visitor_token import VisitorTokens
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.settings import Settings
from tests.channels.test_web_routes import message_count, new_visitor, recv_until
from tests.conftest import TwoOrgs

BIG = 2**63


@pytest.fixture
def ws(client: TestClient, orgs: TwoOrgs) -> Iterator[WebSocketTestSession]:
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as socket:
        hello = socket.receive_json()
        assert hello["type"] == "hello"
        assert hello["max_frame_bytes"] == 16 * 1024 and hello["max_message_chars"] == 2000
        yield socket


def still_usable(ws: WebSocketTestSession, client_id: str = "ok-after") -> None:
    """The same connection still answers a ping and stores a good message."""
    ws.send_json({"type": "ping"})
    recv_until(ws, "pong")
    ws.send_json({"type": "message", "client_id": client_id, "text": "你好"})
    assert recv_until(ws, "ack", client_id=client_id)["message"]["text"] == "你好"


@pytest.mark.parametrize("raw,code,field", [
    ('{"type": "message", "client_id": "m1", "text": "a\\ud800"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "m1", "text": "\\udfff孩子"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "m1", "text": "a\\u0000b"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "m1", "text": "\\u001b[31m"}', "bad_text", "text"),
    ('{"type": "message", "client_id": "m1", "text": "按钮", "payload": "\\u0000"}', "bad_text", "payload"),
    ('{"type": "message", "client_id": "m1", "attachment_id": 9223372036854775808}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "m1", "attachment_id": 2147483648}', "bad_id", "attachment_id"),
    ('{"type": "message", "client_id": "m1", "attachment_id": 99999999999999999999999}', "bad_id",
     "attachment_id"),
    ('{"type": "message", "client_id": "m1", "attachment_id": true}', "bad_frame", "attachment_id"),
    ('{"type": "message", "client_id": "m1", "text": ["hi"]}', "bad_frame", "text"),
])
def test_a_bad_message_gets_an_error_naming_it_and_the_socket_stays(
        ws: WebSocketTestSession, database: Database, raw: str, code: str, field: str) -> None:
    before = message_count(database)
    ws.send_text(raw)
    err = recv_until(ws, "error")
    assert (err["code"], err["field"], err["client_id"]) == (code, field, "m1") and err["message"]
    assert message_count(database) == before
    still_usable(ws)


@pytest.mark.parametrize("frame,code,field", [
    ({"type": "feedback", "message_id": BIG, "helpful": True}, "bad_id", "message_id"),
    ({"type": "feedback", "message_id": 1, "helpful": 1}, "bad_frame", "helpful"),
    ({"type": "rate", "score": True}, "bad_score", "score"),
    ({"type": "rate", "score": 4.0}, "bad_score", "score"),
    ({"type": "rate", "score": BIG}, "bad_score", "score"),
    ({"type": "rate", "score": 5, "comment": "a\ud800"}, "bad_text", "comment"),
    ({"type": "typing", "draft": "a\ud800"}, "bad_text", "draft"),
    ({"type": "typing", "draft": "x", "is_typing": "yes"}, "bad_frame", "is_typing"),
])
def test_other_bad_frames_get_a_specific_error(ws: WebSocketTestSession, frame: dict[str, Any], code: str,
                                               field: str) -> None:
    ws.send_text(json.dumps(frame))  # json.dumps writes a lone surrogate as the escape \\ud800, as a browser does
    err = recv_until(ws, "error")
    assert (err["code"], err["field"]) == (code, field) and "client_id" not in err
    still_usable(ws)


@pytest.mark.parametrize("raw", ["[1]", "3", '"message"', "null", "[" * 5000 + "]" * 5000, '{"type": null}',
                                 '{"type": "ping", "n": NaN}', '{"type": "ping", "n": ' + "9" * 5000 + "}"])
def test_json_that_is_not_a_frame(ws: WebSocketTestSession, raw: str) -> None:
    ws.send_text(raw)
    assert recv_until(ws, "error")["code"] in {"bad_frame", "bad_json"}
    still_usable(ws)


def test_a_binary_frame_gets_an_error(ws: WebSocketTestSession, database: Database) -> None:
    before = message_count(database)
    ws.send_bytes(json.dumps({"type": "message", "client_id": "b", "text": "hi"}).encode())
    err = recv_until(ws, "error")
    assert err["code"] == "binary_frame" and "client_id" not in err
    assert message_count(database) == before
    still_usable(ws)


def test_an_oversized_frame_closes_with_1009_and_stores_nothing(ws: WebSocketTestSession, database: Database) -> None:
    before = message_count(database)
    ws.send_text(json.dumps({"type": "message", "client_id": "big", "text": "长" * 6000}, ensure_ascii=False))
    with pytest.raises(WebSocketDisconnect) as exc:
        while True:
            ws.receive_json()
    assert exc.value.code == 1009
    assert message_count(database) == before


def test_an_unexpected_failure_answers_internal_error_and_keeps_the_socket(
        ws: WebSocketTestSession, monkeypatch: pytest.MonkeyPatch) -> None:
    from edudesk.channels.web import visitor_session

    real = visitor_session.inbound_service.receive

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("database restarting")

    monkeypatch.setattr(visitor_session.inbound_service, "receive", broken)
    ws.send_json({"type": "message", "client_id": "x1", "text": "你好"})
    err = recv_until(ws, "error")
    assert (err["code"], err["client_id"]) == ("internal_error", "x1")
    monkeypatch.setattr(visitor_session.inbound_service, "receive", real)
    ws.send_json({"type": "message", "client_id": "x1", "text": "你好"})  # the widget's retry
    assert recv_until(ws, "ack", client_id="x1")


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "2147483648", "9223372036854775808", "１２"])
def test_a_bad_after_closes_with_4400(client: TestClient, orgs: TwoOrgs, after: str) -> None:
    info = new_visitor(client, orgs.a.public_key)
    with pytest.raises(WebSocketDisconnect) as exc, \
            client.websocket_connect(f"/ws/visitor?token={info['token']}&after={after}") as socket:
        socket.receive_json()
    assert exc.value.code == 4400 and exc.value.reason


def test_a_token_of_an_org_that_is_gone_closes_with_4404(client: TestClient, orgs: TwoOrgs,
                                                         settings: Settings) -> None:
    token, _ = VisitorTokens(settings.secret_key).issue(2**31 - 1)
    with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect(f"/ws/visitor?token={token}") as socket:
        socket.receive_json()
    assert exc.value.code == 4404


def test_unstorable_page_facts_are_dropped_not_fatal(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    info = new_visitor(client, orgs.a.public_key)
    query = "page_url=https%3A%2F%2Fa.example%2F%00x&page_title=%E4%BD%A0%01&referrer=" + "r" * 5000
    with client.websocket_connect(f"/ws/visitor?token={info['token']}&{query}") as socket:
        assert socket.receive_json()["type"] == "hello"
        still_usable(socket)
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == orgs.a.id)).one()
        assert contact.last_page_url is None


def test_rate_limited_keeps_the_client_id(client: TestClient, orgs: TwoOrgs, app: FastAPI) -> None:
    app.state.ctx.settings.visitor_messages_per_minute = 1
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as socket:
        socket.receive_json()
        socket.send_json({"type": "message", "client_id": "r1", "text": "你好"})
        recv_until(socket, "ack")
        socket.send_json({"type": "message", "client_id": "r2", "text": "在吗"})
        err = recv_until(socket, "error")
        assert (err["code"], err["client_id"]) == ("rate_limited", "r2")

"""docs/protocol.md is the contract: these tests read its tables and check the code against every row, so the two
cannot drift apart. A new frame type, field, error code or close code fails here until it is documented (and a
documented one fails until it behaves as written). Close codes over a real server: tests/channels/test_close_codes.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from edudesk import events
from edudesk.channels.web import frames
from edudesk.channels.web.routes import visitor_renderer
from edudesk.conversations import agent_frames
from edudesk.conversations.views import agent_renderer
from edudesk.llm import hook as llm_hook
from edudesk.wsframes import FrameProblem
from tests.channels.protocol_doc import agent_error_codes, column, names, table, visitor_error_codes
from tests.channels.test_web_routes import new_visitor, recv_until
from tests.conftest import TwoOrgs, login

BIG = 2**63
WRONG_TYPE: dict[str, list[Any]] = {  # values of the wrong JSON type for each documented field type
    "string": [5, ["x"], {"a": 1}, True],
    "boolean": [1, 0, "true", [True]],
    "integer": [True, 4.0, "4", [4]],
    "id": [True, 1.0, "1", [1]],
}


def parse_for(socket: str) -> Callable[[str], object]:
    return frames.parse if socket == "Visitor" else agent_frames.parse


# ------------------------------------------------------------------ client frames and their fields (pure parsers)

def test_client_frame_types_are_the_documented_ones() -> None:
    assert set(column("Visitor client frames", "type")) == frames.CLIENT_TYPES
    assert set(column("Agent client frames", "type")) == agent_frames.CLIENT_TYPES


def valid_frame(socket: str, kind: str) -> dict[str, Any]:
    """A frame of ``kind`` with every documented field at a valid value."""
    good = {"string": "好", "boolean": True, "integer": 1, "id": 1}
    frame: dict[str, Any] = {"type": kind}
    for row in table(f"{socket} client frame fields"):
        if row["frame"] == kind:
            frame[row["field"]] = good[row["type"]]
    return frame


@pytest.mark.parametrize("socket", ["Visitor", "Agent"])
def test_every_documented_field_refuses_what_the_doc_refuses(socket: str) -> None:
    parse = parse_for(socket)
    rows = table(f"{socket} client frame fields")
    assert rows
    for row in rows:
        kind, field, kind_of_value = row["frame"], row["field"], row["type"]
        base = valid_frame(socket, kind)
        if kind == "typing" and field == "text":
            base.pop("draft")  # ``text`` is read only when ``draft`` is absent
        assert not isinstance(parse(json.dumps(base)), FrameProblem), row
        wrong = "bad_score" if "bad_score" in row["rule"] else "bad_frame"  # the rule names any other code
        cases: list[tuple[Any, str]] = [(value, wrong) for value in WRONG_TYPE[kind_of_value]]
        if kind_of_value == "string":
            cases += [("a\ud800", "bad_text"), ("a\x00", "bad_text"), ("\x1b", "bad_text")]
        if kind_of_value == "id":
            cases += [(0, "bad_id"), (-1, "bad_id"), (2**31, "bad_id"), (BIG, "bad_id"), (10**30, "bad_id")]
        if field == "client_id":
            cases = [(v, "bad_frame") for v in (5, "", "c" * 65, "a\ud800", "a\x00")]
        for value, code in cases:
            result = parse(json.dumps({**base, field: value}))
            assert isinstance(result, FrameProblem), (row, value)
            assert (result.code, result.field) == (code, field), (row, value, result)
            if kind == "message" and field != "client_id":
                assert result.client_id == base["client_id"]
        missing = {k: v for k, v in base.items() if k != field}
        if row["required"] == "yes":
            result = parse(json.dumps(missing))
            assert isinstance(result, FrameProblem) and result.field == field, row
        else:
            assert not isinstance(parse(json.dumps(missing)), FrameProblem), row


# ------------------------------------------------------------------ server frames (a real conversation, both sockets)

def record(ws: WebSocketTestSession, seen: dict[str, list[dict[str, Any]]], until: str, **match: Any
           ) -> dict[str, Any]:
    for _ in range(40):
        frame = ws.receive_json()
        seen[frame["type"]].append(frame)
        if frame["type"] == until and all(frame.get(k) == v for k, v in match.items()):
            return dict(frame)
    raise AssertionError(f"no {until}")


def synthetic_frames(org_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Frames the short conversation below does not cause (a queue move, a vote in another tab, tickets, leads,
    a colleague's status), rendered from events shaped as the services publish them."""
    conv = {"id": 7, "state": "resolved", "assignee_id": 3, "csat_score": None}
    msg = {"id": 9, "conversation_id": 7, "sender": "bot", "text": "好", "feedback": True, "helpful": True}
    ev = events.DomainEvent
    visitor = [visitor_renderer(ev("queue.position", org_id, {"position": 2, "wait_seconds": 60, "text": "…"})),
               visitor_renderer(ev("message.updated", org_id, {"message": msg})),
               visitor_renderer(ev("visitor.invited", org_id, {"invitation_id": 1, "text": "您好",
                                                               "agent": {"name": "王老师"},
                                                               "sent_at": "2026-01-01T00:00:00+00:00"}))]
    agent = [agent_renderer(ev("ticket.created", org_id, {"ticket": {"id": 1, "subject": "s", "assignee_id": None,
                                                                       "status_label": "待处理"}, "user_ids": [3]})),
             agent_renderer(ev("agent.status", org_id, {"user_id": 3, "status": "away"})),
             agent_renderer(ev("lead.updated", org_id, {"contact_id": 1, "lead_id": 2, "fields": ["phone"]})),
             agent_renderer(ev("conversation.resolved", org_id, {"conversation": conv})),
             agent_renderer(ev("message.updated", org_id, {"message": {**msg, "delivery": {"state": "failed"}}}))]
    # A generated answer streamed to the widget is sent by llm.hook while the message is answered, not rendered from
    # an event; these are its two shapes (the real frames: tests/llm/test_stream_ws.py).
    visitor += [{"type": llm_hook.STREAM_FRAME, "stream_id": "s1", "client_id": "c1", "seq": 1, "text": "好。"},
                {"type": llm_hook.STREAM_FRAME, "stream_id": "s1", "client_id": "c1", "done": True, "dropped": False}]
    return [f for f in visitor if f], [f for f in agent if f]


def test_every_server_frame_has_exactly_the_documented_fields(client: TestClient, orgs: TwoOrgs,
                                                              app: FastAPI) -> None:
    seen_v: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen_a: dict[str, list[dict[str, Any]]] = defaultdict(list)
    csrf = login(client, "alpha", "agent")
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect("/ws/agent") as agent, \
            client.websocket_connect(f"/ws/visitor?token={info['token']}") as visitor:
        record(agent, seen_a, "hello")
        record(visitor, seen_v, "hello")
        visitor.send_json({"type": "message", "client_id": "h1", "text": "转人工"})
        record(visitor, seen_v, "ack")
        conv_id = record(agent, seen_a, "conversation", event="conversation.handoff")["conversation"]["id"]
        visitor.send_json({"type": "typing", "draft": "孩子三年级"})
        record(agent, seen_a, "typing")
        client.post(f"/console/c/{conv_id}/accept", data={"csrf_token": csrf})
        record(visitor, seen_v, "agent_joined")
        client.post(f"/console/c/{conv_id}/send", data={"csrf_token": csrf, "text": "您好", "client_id": "a1"})
        record(agent, seen_a, "message")
        agent.send_json({"type": "typing", "conversation_id": conv_id, "is_typing": True})
        record(visitor, seen_v, "typing")
        client.post(f"/console/c/{conv_id}/resolve", data={"csrf_token": csrf})
        record(visitor, seen_v, "state", state="resolved")
        visitor.send_json({"type": "rate", "score": 5, "comment": "好"})
        record(visitor, seen_v, "rated")
        record(agent, seen_a, "rated")
        for ws, seen in ((visitor, seen_v), (agent, seen_a)):
            ws.send_json({"type": "nope"})
            record(ws, seen, "error")
            ws.send_json({"type": "ping"})
            record(ws, seen, "pong")
        visitor.send_json({"type": "message", "client_id": "m2", "attachment_id": 999999})
        record(visitor, seen_v, "error", client_id="m2")
    more_v, more_a = synthetic_frames(orgs.a.id)
    for socket, seen, more in (("Visitor", seen_v, more_v), ("Agent", seen_a, more_a)):
        for frame in more:
            seen[frame["type"]].append(frame)
        rows = table(f"{socket} server frames")
        assert {r["type"] for r in rows} == set(seen), socket  # every type seen is documented, and vice versa
        for row in rows:
            required, optional = names(row["fields"]), names(row["optional fields"])
            for frame in seen[row["type"]]:
                keys = set(frame) - {"type"}
                assert required <= keys <= required | optional, (socket, row["type"], keys)
            for field in optional:
                assert any(field in f for f in seen[row["type"]]), (socket, row["type"], field)


# ------------------------------------------------------------------ error codes (over the socket)

def visitor_scenarios(app: FastAPI) -> dict[str, Callable[[WebSocketTestSession], tuple[str, str | None]]]:
    """For each documented error code: send what causes it; returns the (code, client_id) the doc promises."""

    def send(raw: str | bytes, cid: str | None = None) -> Callable[[WebSocketTestSession], tuple[str, str | None]]:
        def run(ws: WebSocketTestSession) -> tuple[str, str | None]:
            if isinstance(raw, bytes):
                ws.send_bytes(raw)
            else:
                ws.send_text(raw)
            return "", cid
        return run

    def not_votable(ws: WebSocketTestSession) -> tuple[str, str | None]:
        ws.send_json({"type": "message", "client_id": "own", "text": "你好"})
        own = recv_until(ws, "ack")["message"]["id"]
        ws.send_json({"type": "feedback", "message_id": own, "helpful": True})
        return "", None

    def rate_limited(ws: WebSocketTestSession) -> tuple[str, str | None]:
        app.state.ctx.settings.visitor_messages_per_minute = 0
        ws.send_json({"type": "message", "client_id": "fast", "text": "你好"})
        return "", "fast"

    def internal_error(ws: WebSocketTestSession) -> tuple[str, str | None]:
        ws.send_json({"type": "message", "client_id": "boom", "text": "💥 trigger"})
        return "", "boom"

    return {
        "binary_frame": send(b"\x00\x01"),
        "bad_json": send("{"),
        "bad_frame": send('{"type": "message", "client_id": "c1", "text": 5}', "c1"),
        "unknown_type": send('{"type": "explode"}'),
        "bad_text": send('{"type": "message", "client_id": "c2", "text": "a\\ud800"}', "c2"),
        "bad_id": send('{"type": "message", "client_id": "c3", "attachment_id": 9223372036854775808}', "c3"),
        "empty_message": send('{"type": "message", "client_id": "c4", "text": "  "}', "c4"),
        "too_long": send(json.dumps({"type": "message", "client_id": "c5", "text": "长" * 2001}), "c5"),
        "bad_attachment": send('{"type": "message", "client_id": "c6", "attachment_id": 999999}', "c6"),
        "bad_score": send('{"type": "rate", "score": 9}'),
        "not_rateable": send('{"type": "rate", "score": 1}'),
        "not_found": send('{"type": "feedback", "message_id": 999999, "helpful": true}'),
        "not_votable": not_votable,
        "internal_error": internal_error,
        "rate_limited": rate_limited,  # last: it leaves the limit at 0
    }


def test_every_visitor_error_code_behaves_as_written(client: TestClient, orgs: TwoOrgs, app: FastAPI,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from edudesk.channels.web import visitor_session

    real = visitor_session.inbound_service.receive

    def receive(session: Any, msg: Any, **kwargs: Any) -> Any:
        if msg.text.startswith("💥"):
            raise OSError("database restarting")
        return real(session, msg, **kwargs)

    monkeypatch.setattr(visitor_session.inbound_service, "receive", receive)
    scenarios = visitor_scenarios(app)
    assert set(scenarios) == visitor_error_codes()
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        for code, scenario in scenarios.items():
            _, cid = scenario(ws)
            err = recv_until(ws, "error")
            assert err["code"] == code and err["message"], (code, err)
            assert err.get("client_id") == cid, (code, err)
            ws.send_json({"type": "ping"})  # "the connection stays open"
            recv_until(ws, "pong")


def test_every_agent_error_code_behaves_as_written(client: TestClient, orgs: TwoOrgs,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from edudesk.conversations import views

    def broken(*args: Any) -> None:
        raise OSError("database restarting")

    scenarios: dict[str, str | bytes] = {
        "binary_frame": b"{}",
        "bad_json": "{",
        "bad_frame": '{"type": "typing", "conversation_id": "7"}',
        "unknown_type": '{"type": "send"}',
        "bad_id": '{"type": "typing", "conversation_id": 9223372036854775808, "is_typing": true}',
        "internal_error": '{"type": "typing", "conversation_id": 1, "is_typing": true}',
    }
    assert set(scenarios) == agent_error_codes()
    login(client, "alpha", "agent")
    with client.websocket_connect("/ws/agent") as ws:
        assert ws.receive_json()["type"] == "hello"
        for code, raw in scenarios.items():
            if code == "internal_error":
                monkeypatch.setattr(views, "_agent_typing", broken)
            if isinstance(raw, bytes):
                ws.send_bytes(raw)
            else:
                ws.send_text(raw)
            err = recv_until(ws, "error")
            assert err["code"] == code and "client_id" not in err, (code, err)
            ws.send_json({"type": "ping"})
            recv_until(ws, "pong")


def test_agent_typing_for_an_unknown_conversation_is_ignored(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    with client.websocket_connect("/ws/agent") as ws:
        ws.receive_json()
        ws.send_json({"type": "typing", "conversation_id": 2**31 - 1, "is_typing": True})
        ws.send_json({"type": "ping"})
        frames_until_pong = []
        while (frame := ws.receive_json())["type"] != "pong":
            frames_until_pong.append(frame["type"])
        assert "error" not in frames_until_pong

"""The widget's CSAT contract (docs/protocol.md): the org's question and scale in the session answer, in ``hello``
and on the ``state`` frame that asks for a rating; ``rate`` frames checked against the org's scale."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from edudesk.audit.service import Actor
from edudesk.channels.web.routes import renderer_for, visitor_renderer
from edudesk.conversations import service as conversations_service
from edudesk.csat import service as csat_service
from edudesk.db import Database
from edudesk.events import DomainEvent
from tests.conftest import TwoOrgs


def new_visitor(client: TestClient, org_key: str, **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/widget/session", json={"org_key": org_key, **extra})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def recv_until(ws: WebSocketTestSession, kind: str, limit: int = 30, **match: Any) -> dict[str, Any]:
    for _ in range(limit):
        frame = ws.receive_json()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return dict(frame)
    raise AssertionError(f"no {kind} frame")


def configure(database: Database, org_id: int, question: str, scale: int) -> None:
    with database.session() as session:
        csat_service.save_settings(session, Actor(org_id, label="test"), question=question, scale=scale)
        session.commit()


def test_session_and_hello_carry_the_survey(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    info = new_visitor(client, orgs.a.public_key)
    assert info["csat"] == {"question": "您对本次服务满意吗？", "scale": 5}
    configure(database, orgs.a.id, "老师讲得清楚吗？", 3)
    info = new_visitor(client, orgs.a.public_key, token=info["token"])
    assert info["csat"] == {"question": "老师讲得清楚吗？", "scale": 3}
    assert new_visitor(client, orgs.b.public_key)["csat"]["scale"] == 5
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["csat"] == {"question": "老师讲得清楚吗？", "scale": 3}


@pytest.mark.parametrize(("scale", "too_high"), [(2, 3), (3, 4), (5, 6)])
def test_resolve_asks_on_the_org_scale(client: TestClient, app: FastAPI, database: Database, orgs: TwoOrgs,
                                       scale: int, too_high: int) -> None:
    configure(database, orgs.a.id, f"{scale} 级满意度", scale)
    info = new_visitor(client, orgs.a.public_key)
    agent = orgs.a.users["agent"]
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "h1", "text": "转人工"})
        queued = recv_until(ws, "state", state="queued")
        assert "csat" not in queued  # only a frame that asks for a rating carries the survey
        app_db: Database = app.state.ctx.db  # the app's handle: its commits reach the live sockets
        with app_db.session() as session:
            conversations_service.resolve(session, agent, queued["conversation_id"], close_after_seconds=3600)
            session.commit()
        state = recv_until(ws, "state", state="resolved")
        assert state["csat_pending"] is True
        assert state["csat"] == {"question": f"{scale} 级满意度", "scale": scale}
        for bad in (0, too_high, "1", True):
            ws.send_json({"type": "rate", "score": bad})
            error = recv_until(ws, "error")
            assert error["code"] == "bad_score" and error["field"] == "score"
            assert isinstance(bad, str | bool) or f"1–{scale}" in error["message"]
        ws.send_json({"type": "rate", "score": scale, "comment": "<b>很好</b>"})
        assert recv_until(ws, "rated")["score"] == scale
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, queued["conversation_id"])
        assert (conv.csat_score, conv.csat_scale, conv.csat_comment) == (scale, scale, "<b>很好</b>")


def test_renderer_adds_the_survey_only_when_a_rating_is_pending() -> None:
    csat = {"question": "满意吗？", "scale": 2}

    def event(state: str, score: int | None = None) -> DomainEvent:
        return DomainEvent(type="conversation.resolved", org_id=1,
                           data={"conversation": {"id": 7, "state": state, "csat_score": score}})

    assert visitor_renderer(event("resolved"), csat=csat) == {
        "type": "state", "conversation_id": 7, "state": "resolved", "csat_pending": True, "csat": csat}
    assert "csat" not in (visitor_renderer(event("resolved", 2), csat=csat) or {})
    assert "csat" not in (visitor_renderer(event("assigned"), csat=csat) or {})
    assert visitor_renderer(event("resolved")) == {  # without a survey: the frame as before
        "type": "state", "conversation_id": 7, "state": "resolved", "csat_pending": True}
    queue = DomainEvent(type="queue.position", org_id=1, data={"conversation_id": 7, "position": 3,
                                                               "wait_seconds": 240, "text": "您前面还有 2 位"})
    assert visitor_renderer(queue, csat=csat) == {"type": "queue", "position": 3, "wait_seconds": 240,
                                                  "text": "您前面还有 2 位"}


def test_sockets_of_one_question_share_one_renderer_and_it_asks_that_question() -> None:
    resolved = DomainEvent(type="conversation.resolved", org_id=1,
                           data={"conversation": {"id": 7, "state": "resolved", "csat_score": None}})
    first, again = renderer_for("满意吗？", 3), renderer_for("满意吗？", 3)
    assert first is again, "one renderer per question and scale, not one per socket"
    assert renderer_for("满意吗？", 5) is not first
    assert (first(resolved) or {})["csat"] == {"question": "满意吗？", "scale": 3}
    other = renderer_for("您对本次服务满意吗？", 2)
    assert (other(resolved) or {})["csat"] == {"question": "您对本次服务满意吗？", "scale": 2}

"""Live visitors through the real app: the console's list (fed by the widget's socket and by page-view events),
an agent's invitation reaching the visitor's socket, the reply landing with that agent, and the counts."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from edudesk.conversations import service as conversations_service
from edudesk.db import Database
from edudesk.visitors.invitation_models import Invitation
from tests.conftest import TwoOrgs, login
from tests.visitors.factories import add_visit
from tests.visitors.live_helpers import publish_view, settled


def new_visitor(client: TestClient, org_key: str) -> dict[str, Any]:
    resp = client.post("/api/v1/widget/session", json={"org_key": org_key})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def until(ws: WebSocketTestSession, kind: str, limit: int = 20) -> dict[str, Any]:
    seen = []
    for _ in range(limit):
        frame: dict[str, Any] = ws.receive_json()
        if frame.get("type") == kind:
            return frame
        seen.append(frame.get("type"))
    raise AssertionError(f"no {kind} frame (saw {seen})")


def visitor_key_of(app: FastAPI, org_id: int) -> str:
    [visitor] = live_of_app(app).registry.visitors(org_id)
    return visitor.visitor_key


def live_of_app(app: FastAPI) -> Any:
    return app.state.live


def test_the_list_shows_socket_visitors_and_page_changes(client: TestClient, app: FastAPI, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    info = new_visitor(client, orgs.a.public_key)
    url = "/ws/visitor?token=" + info["token"] + "&page_url=https%3A%2F%2Fschool.example%2Fhome&page_title=Home"
    with client.websocket_connect(url) as ws:
        until(ws, "hello")
        key = visitor_key_of(app, orgs.a.id)
        html = client.get("/console/visitors").text
        assert "https://school.example/home" in html and "邀请" in html and 'id="visitors-list"' in html
        publish_view(app.state.ctx.bus, orgs.a.id, key, "https://school.example/price", title="学费<b>价格</b>",
                     source_kind="search", source={"search_engine": "baidu", "search_keyword": "少儿编程"})
        settled(live_of_app(app).registry, orgs.a.id, key, "https://school.example/price")
        fragment = client.get("/console/visitors/list")
        assert "https://school.example/price" in fragment.text and "少儿编程" in fragment.text
        assert "学费&lt;b&gt;价格&lt;/b&gt;" in fragment.text  # escaped
        assert "搜索·百度" in fragment.text and "访问次数 1" in fragment.text
        version = int(fragment.text.split('data-version="')[1].split('"')[0])
        quiet = client.get(f"/console/visitors/list?v={version}&drawn={int(time.time())}")
        assert quiet.status_code == 204  # nothing changed: htmx keeps what it has
        publish_view(app.state.ctx.bus, orgs.a.id, key, "https://school.example/trial")
        settled(live_of_app(app).registry, orgs.a.id, key, "https://school.example/trial")
        moved = client.get(f"/console/visitors/list?v={version}&drawn={int(time.time())}")
        assert moved.status_code == 200 and "https://school.example/trial" in moved.text
        for junk in ("v=-1&drawn=1", "v=abc&drawn=x", "v=" + "9" * 20, f"v={version}&drawn=0"):
            assert client.get("/console/visitors/list?" + junk).status_code == 200  # anything odd redraws
    # Org B's agents see nobody.
    client.cookies.clear()
    login(client, "beta", "agent")
    assert "school.example" not in client.get("/console/visitors/list").text


def test_crawlers_are_never_listed(client: TestClient, app: FastAPI, orgs: TwoOrgs, database: Database) -> None:
    login(client, "alpha", "agent")
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect("/ws/visitor?token=" + info["token"],
                                  headers={"user-agent": "Mozilla/5.0 (compatible; Baiduspider/2.0)"}) as ws:
        until(ws, "hello")
        assert live_of_app(app).registry.visitors(orgs.a.id) == []
    with database.session() as session:  # a page view of a visitor the trail marked a crawler
        add_visit(session, orgs.a.id, visitor_key="v_headless", is_bot=True)
        session.commit()
    publish_view(app.state.ctx.bus, orgs.a.id, "v_headless", "https://school.example/hidden")
    settled(live_of_app(app).registry, orgs.a.id, "v_headless", "https://school.example/hidden")
    assert "school.example/hidden" not in client.get("/console/visitors/list").text


def test_invite_reaches_the_socket_and_the_reply_goes_to_the_agent(client: TestClient, app: FastAPI,
                                                                     orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "agent")
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect("/ws/visitor?token=" + info["token"]) as ws:
        until(ws, "hello")
        key = visitor_key_of(app, orgs.a.id)
        resp = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "您好，需要了解课程吗？",
                                                             "csrf_token": csrf})
        assert resp.status_code == 200 and "邀请已发送" in resp.text, resp.text
        frame = until(ws, "invite")
        assert frame["text"] == "您好，需要了解课程吗？" and frame["agent"] == {"name": "王老师"}
        ws.send_json({"type": "message", "client_id": "r1", "text": "想了解一下数学课",
                      "invitation_id": frame["invitation_id"]})
        ack = until(ws, "ack")
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, ack["message"]["conversation_id"])
        assert conv.state.value == "assigned" and conv.assignee_id == orgs.a.users["agent"].id
        texts = [(m["sender"], m["text"]) for m in conversations_service.messages_as_dicts(
            session, orgs.a.id, conv.id, include_internal=False)]
        assert ("agent", "您好，需要了解课程吗？") in texts and texts[-1] == ("visitor", "想了解一下数学课")
        assert not any(sender == "bot" for sender, _ in texts)  # the bot never answered the reply
        inv = session.scalars(select(Invitation)).one()
        assert inv.accepted_at is not None and inv.conversation_id == conv.id and inv.first_conversation
        assert inv.rule_id is None and inv.sent_by_id == orgs.a.users["agent"].id
    client.cookies.clear()
    login(client, "alpha", "admin")
    page = client.get("/admin/invitations").text
    manual = page.split('id="rule-manual"')[1].split("</tr>")[0]
    assert '<td class="sent">1</td>' in manual and 'class="accepted">1' in manual


def test_invite_refusals(client: TestClient, app: FastAPI, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "agent")
    for key in ("", "nobody", "../etc/passwd", "<script>", "x" * 64):
        resp = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "hi", "csrf_token": csrf})
        assert resp.status_code == 404 and "<script>" not in resp.text
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect("/ws/visitor?token=" + info["token"]) as ws:
        until(ws, "hello")
        key = visitor_key_of(app, orgs.a.id)
        stale = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "hi", "csrf_token": "x"})
        assert stale.status_code == 400
        empty = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "  ", "csrf_token": csrf})
        assert empty.status_code == 422 and "请填写邀请语" in empty.text
        huge = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "长" * 501,
                                                             "csrf_token": csrf})
        assert huge.status_code == 422
        htmx = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "", "csrf_token": csrf},
                           headers={"hx-request": "true"})
        assert htmx.status_code == 200 and "请填写邀请语" in htmx.text  # htmx swaps only 2xx
        ws.send_json({"type": "message", "client_id": "h1", "text": "转人工"})
        until(ws, "ack")
        busy = client.post("/console/visitors/invite", data={"visitor_key": key, "text": "hi", "csrf_token": csrf})
        assert busy.status_code == 409 and "已在和客服对话" in busy.text
    with database.session() as session:
        assert session.scalars(select(Invitation)).all() == []

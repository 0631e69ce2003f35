"""The agent workspace around the chat, through the real app on SQLite and PostgreSQL: internal notes from the reply
box, tags in the header and the lists, the contact's earlier conversations (read-only), and the visitor's draft
shown live to the agents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from edudesk.channels.base import InboundMessage
from edudesk.contacts import service as contacts_service
from edudesk.conversations import service as conversations_service
from edudesk.conversations.models import Message
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from tests.conftest import TwoOrgs, login

HOSTILE = "<script>alert(1)</script>"


def say(database: Database, org_id: int, text: str, n: int, visitor: str = "v-ws") -> int:
    with database.session() as session:
        result = inbound_service.receive(session, InboundMessage(org_id, "web", visitor, f"{visitor}-{n}", text=text),
                                         agents_online=True)
        session.commit()
        return result.conversation.id


def notes(database: Database, conv_id: int) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(Message.text).where(Message.conversation_id == conv_id,
                                                               Message.internal.is_(True))))


def test_the_visitors_messages_carry_their_current_name(client: TestClient, database: Database,
                                                        orgs: TwoOrgs) -> None:
    """Messages store the name the visitor had when they wrote ("访客3"); once the parent has given theirs, the chat
    and the read-only transcript show every one of their messages under it, like the header."""
    conv_id = say(database, orgs.a.id, "孩子三年级", 1)
    with database.session() as session:
        conv = conversations_service.get(session, orgs.a.id, conv_id)
        before = conversations_service.messages_as_dicts(session, orgs.a.id, conv_id)
        contact = contacts_service.get(session, orgs.a.id, conv.contact_id)
        contacts_service.update_details(session, contact, name="张妈妈")
        session.commit()
    assert [m["sender_name"] for m in before if m["sender"] == "visitor"] == [f"访客{conv.contact_id}"]
    login(client, "alpha", "agent")
    for url in (f"/console/c/{conv_id}", f"/console/c/{conv_id}/transcript"):
        page = client.get(url, headers={"hx-request": "true"}).text
        visitor = page[page.index("msg-visitor"):]
        assert visitor.index("张妈妈") < visitor.index("孩子三年级"), url
        assert f"访客{conv.contact_id}" not in page, url


# --- internal notes --------------------------------------------------------------------------------------------------

def test_note_from_the_reply_box_is_staff_only(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "你好", 1)
    csrf = login(client, "alpha", "agent")
    chat = client.get(f"/console?c={conv_id}").text
    assert 'id="note-toggle"' in chat and f'data-note-path="/console/c/{conv_id}/note"' in chat
    resp = client.post(f"/console/c/{conv_id}/note", data={"text": f"家长嫌贵 {HOSTILE}", "csrf_token": csrf})
    assert resp.status_code == 200
    assert "msg-internal" in resp.text and "🔒" in resp.text and "内部备注" in resp.text
    assert HOSTILE not in resp.text and "&lt;script&gt;" in resp.text
    assert notes(database, conv_id) == [f"家长嫌贵 {HOSTILE}"]
    with database.session() as session:
        visitor_view = conversations_service.messages_as_dicts(session, orgs.a.id, conv_id, include_internal=False)
    assert all("家长嫌贵" not in m["text"] for m in visitor_view)
    # Reloaded, the chat shows the note marked as one.
    chat = client.get(f"/console/c/{conv_id}", headers={"hx-request": "true"}).text
    note = chat[chat.index("msg-internal"):]
    assert note.index("🔒") < note.index("家长嫌贵")


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"text": "   "}, 422, "备注不能为空"),
    ({"text": "长" * 2001}, 422, "备注不能超过 2000 个字"),
    ({"text": "没有令牌", "csrf_token": "forged"}, 400, "页面已过期"),
])
def test_bad_notes_store_nothing(client: TestClient, database: Database, orgs: TwoOrgs, data: dict[str, str],
                                 status: int, message: str) -> None:
    conv_id = say(database, orgs.a.id, "你好", 1)
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/console/c/{conv_id}/note", data={"csrf_token": csrf, **data})
    assert resp.status_code == status and message in resp.text and 'id="send-error"' in resp.text
    assert notes(database, conv_id) == []


def recv_until(ws: WebSocketTestSession, kind: str, limit: int = 30, **match: Any) -> dict[str, Any]:
    for _ in range(limit):
        frame = ws.receive_json()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return dict(frame)
    raise AssertionError(f"no {kind} frame")


@pytest.fixture
def live(client: TestClient, orgs: TwoOrgs) -> Iterator[tuple[str, int, WebSocketTestSession, WebSocketTestSession]]:
    """An agent's socket and a visitor's socket whose conversation waits in the queue."""
    csrf = login(client, "alpha", "agent")
    info = client.post("/api/v1/widget/session", json={"org_key": orgs.a.public_key}).json()
    with client.websocket_connect("/ws/agent") as agent_ws, \
            client.websocket_connect(f"/ws/visitor?token={info['token']}") as visitor_ws:
        assert agent_ws.receive_json()["type"] == "hello"
        visitor_ws.receive_json()
        visitor_ws.send_json({"type": "message", "client_id": "w1", "text": "转人工"})
        conv_id = recv_until(agent_ws, "conversation", event="conversation.handoff")["conversation"]["id"]
        yield csrf, conv_id, agent_ws, visitor_ws


def test_note_reaches_agents_live_and_never_the_visitor(
        client: TestClient, live: tuple[str, int, WebSocketTestSession, WebSocketTestSession]) -> None:
    csrf, conv_id, agent_ws, visitor_ws = live
    resp = client.post(f"/console/c/{conv_id}/note", data={"text": "注意：老客户", "csrf_token": csrf})
    assert resp.status_code == 200
    frame = recv_until(agent_ws, "message", conversation_id=conv_id)
    while frame["message"]["text"] != "注意：老客户":
        frame = recv_until(agent_ws, "message", conversation_id=conv_id)
    assert frame["message"]["internal"] is True and frame["message"]["sender_name"] == "王老师"
    visitor_ws.send_json({"type": "ping"})
    seen = []
    while (f := visitor_ws.receive_json())["type"] != "pong":
        seen.append(f)
    assert all("注意" not in str(f) for f in seen)


# --- the visitor's draft -------------------------------------------------------------------------------------------

def test_visitor_draft_is_shown_to_agents(live: tuple[str, int, WebSocketTestSession, WebSocketTestSession]) -> None:
    _, conv_id, agent_ws, visitor_ws = live
    visitor_ws.send_json({"type": "typing", "is_typing": True, "draft": "请问周末有课吗"})
    assert recv_until(agent_ws, "typing") == {"type": "typing", "conversation_id": conv_id, "preview": "请问周末有课吗"}
    visitor_ws.send_json({"type": "typing", "is_typing": True, "draft": "长" * 500})
    assert recv_until(agent_ws, "typing")["preview"] == "长" * 200
    visitor_ws.send_json({"type": "typing", "is_typing": False, "draft": "发出去之前的草稿"})
    assert recv_until(agent_ws, "typing")["preview"] == ""
    for bad in ({"type": "typing", "draft": 5}, {"type": "typing", "is_typing": "yes", "draft": "x"}):
        visitor_ws.send_json(bad)
        assert recv_until(visitor_ws, "error")["code"] == "bad_frame"


# --- tags ------------------------------------------------------------------------------------------------------------

def test_tags_are_edited_in_the_header_and_shown_in_the_lists(client: TestClient, database: Database,
                                                               orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "转人工", 1)
    csrf = login(client, "alpha", "agent")
    chat = client.get(f"/console?c={conv_id}").text
    assert f'hx-post="/console/c/{conv_id}/tags"' in chat
    resp = client.post(f"/console/c/{conv_id}/tags", data={"tags": "#意向强，暑假班 意向强", "csrf_token": csrf})
    assert resp.status_code == 200 and resp.text.count('class="tag"') == 2
    assert 'id="chat-tags"' in resp.text and 'value="意向强，暑假班"' in resp.text
    with database.session() as session:
        assert conversations_service.get(session, orgs.a.id, conv_id).tags == ["意向强", "暑假班"]
    lists = client.get("/console/lists").text
    item = lists[lists.index(f'data-conversation-id="{conv_id}"'):]
    assert '<span class="tag">暑假班</span>' in item[:item.index("</a>")]
    header = client.get(f"/console/c/{conv_id}", headers={"hx-request": "true"}).text
    assert '<span class="tag">意向强</span>' in header[:header.index('id="messages"')]
    resp = client.post(f"/console/c/{conv_id}/tags", data={"tags": "", "csrf_token": csrf})
    assert resp.status_code == 200 and 'class="tag"' not in resp.text


@pytest.mark.parametrize(("typed", "status", "message", "token"), [
    ("长" * 21, 422, "标签不能超过 20 个字", None),
    (" ".join(str(i) for i in range(11)), 422, "最多 10 个标签", None),
    ("新标签", 400, "页面已过期", "forged"),
])
def test_bad_tags_keep_the_old_ones_and_the_typed_text(client: TestClient, database: Database, orgs: TwoOrgs,
                                                       typed: str, status: int, message: str,
                                                       token: str | None) -> None:
    conv_id = say(database, orgs.a.id, "你好", 1)
    csrf = login(client, "alpha", "agent")
    client.post(f"/console/c/{conv_id}/tags", data={"tags": "老客户", "csrf_token": csrf})
    resp = client.post(f"/console/c/{conv_id}/tags", data={"tags": typed, "csrf_token": token or csrf})
    assert resp.status_code == status
    fragment = resp.text
    assert fragment.index('name="tags"') < fragment.index(message)  # beside the field
    assert f'value="{typed}"' in fragment and "<details class=\"tag-edit\" open>" in fragment
    with database.session() as session:
        assert conversations_service.get(session, orgs.a.id, conv_id).tags == ["老客户"]


def test_hostile_tags_are_escaped(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    conv_id = say(database, orgs.a.id, "你好", 1)
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/console/c/{conv_id}/tags", data={"tags": "<b>x</b>,\"'><i>", "csrf_token": csrf})
    assert resp.status_code == 200 and "<b>x</b>" not in resp.text and "&lt;b&gt;x&lt;/b&gt;" in resp.text
    assert "<i>" not in client.get("/console/lists").text


# --- the contact's earlier conversations ----------------------------------------------------------------------------

def closed_then_new(database: Database, orgs: TwoOrgs) -> tuple[int, int]:
    """A conversation served, rated 4 and closed, with a staff note; then the same visitor back with a new one."""
    agent = orgs.a.users["agent"]
    first = say(database, orgs.a.id, "孩子三年级数学", 1)
    with database.session() as session:
        conversations_service.accept(session, agent, first)
        conversations_service.send_agent_message(session, agent, first, "您好，我是王老师\n第二行不显示")
        conversations_service.post_internal_note(session, agent, first, "上次聊到价格")
        conversations_service.resolve(session, agent, first, close_after_seconds=60)
        contact_id = conversations_service.get(session, orgs.a.id, first).contact_id
        conversations_service.rate(session, orgs.a.id, contact_id, 4, "不错")
        session.commit()
    second = say(database, orgs.a.id, "我又来了", 2)
    assert second != first
    return first, second


def test_history_lists_earlier_conversations_with_their_facts(client: TestClient, database: Database,
                                                              orgs: TwoOrgs) -> None:
    first, second = closed_then_new(database, orgs)
    login(client, "alpha", "agent")
    chat = client.get(f"/console?c={second}").text
    history = chat[chat.index('id="contact-history"'):]
    history = history[:history.index("</section>")]
    assert f'hx-get="/console/c/{first}/transcript"' in history and f"/console/c/{second}/transcript" not in history
    assert "网页" in history and "已关闭" in history and "★★★★☆" in history
    assert "您好，我是王老师" in history  # the conversation's last words (not system lines), first line only
    assert "第二行不显示" not in history
    empty = client.get(f"/console?c={say(database, orgs.a.id, '新访客', 1, visitor='v-other')}").text
    assert "没有更早的会话" in empty


def test_transcript_is_read_only_and_includes_notes(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    first, _ = closed_then_new(database, orgs)
    login(client, "alpha", "agent")
    resp = client.get(f"/console/c/{first}/transcript", headers={"hx-request": "true"})
    assert resp.status_code == 200
    html = resp.text
    assert "孩子三年级数学" in html and "您好，我是王老师" in html and "上次聊到价格" in html and "msg-internal" in html
    assert "只读" in html and "★★★★☆" in html and "已关闭" in html
    assert "composer" not in html and "/accept" not in html and "/resolve" not in html and 'id="messages"' not in html
    page = client.get(f"/console/c/{first}/transcript")  # opened directly: a whole page
    assert page.status_code == 200 and "<html" in page.text and "上次聊到价格" in page.text


def test_workspace_routes_are_closed_to_another_org(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    first, second = closed_then_new(database, orgs)
    csrf = login(client, "beta", "admin")
    assert client.get(f"/console/c/{first}/transcript", headers={"hx-request": "true"}).status_code == 404
    assert client.post(f"/console/c/{second}/note", data={"text": "越权", "csrf_token": csrf}).status_code == 404
    assert client.post(f"/console/c/{second}/tags", data={"tags": "越权", "csrf_token": csrf}).status_code == 404
    assert notes(database, second) == []
    with database.session() as session:
        assert conversations_service.get(session, orgs.a.id, second).tags == []

"""The lead card beside the chat in the console: masked for agents who are not serving, live over the socket."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.db import Database
from edudesk.leads.models import Lead, LeadNote, LeadStatus
from edudesk.trials.models import TrialBooking
from tests.channels.test_web_routes import new_visitor, recv_until
from tests.conftest import TwoOrgs, login
from tests.trials import factories


def test_card_shows_the_visitors_words_masked_for_other_agents(client: TestClient, database: Database,
                                                              orgs: TwoOrgs) -> None:
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "c1", "text": "孩子上初二，电话 139 1234 5678 <b>x</b>"})
        conv_id = recv_until(ws, "ack")["message"]["conversation_id"]
    login(client, "alpha", "agent")
    html = client.get(f"/console/c/{conv_id}/lead").text
    assert 'id="lead-card"' in html and "初二" in html
    assert "139****5678" in html and "13912345678" not in html
    assert "<b>x</b>" not in html
    client.cookies.clear()
    login(client, "alpha", "supervisor")
    assert "13912345678" in client.get(f"/console/c/{conv_id}/lead").text
    assert "线索名片" in client.get(f"/console/c/{conv_id}").text


def test_agents_hear_about_new_facts_live(client: TestClient, orgs: TwoOrgs) -> None:
    login(client, "alpha", "agent")
    with client.websocket_connect("/ws/agent", headers={"origin": "http://testserver"}) as agent:
        assert agent.receive_json()["type"] == "hello"
        info = new_visitor(client, orgs.a.public_key)
        with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
            ws.receive_json()
            ws.send_json({"type": "message", "client_id": "c1", "text": "孩子5岁，想学英语"})
            frame = recv_until(agent, "lead")
            assert sorted(frame["fields"]) == ["child_age", "subject"]
            assert "5" not in str(frame.get("values", ""))


def test_another_orgs_console_cannot_read_the_card(client: TestClient, orgs: TwoOrgs) -> None:
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "c1", "text": "电话 13800138000"})
        conv_id = recv_until(ws, "ack")["message"]["conversation_id"]
    login(client, "beta", "agent2")
    assert client.get(f"/console/c/{conv_id}/lead").status_code == 404


def test_status_and_follow_up_notes_from_the_card(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "c1", "text": "孩子三年级，电话 13800138000"})
        conv_id = recv_until(ws, "ack")["message"]["conversation_id"]
    csrf = login(client, "alpha", "agent")
    url = f"/console/c/{conv_id}/lead"
    assert client.post(url, data={"status": "contacted"}).status_code == 400  # no CSRF token
    resp = client.post(url, data={"status": "contacted", "note": "已电话沟通<b>周六</b>试听",
                                  "remind_at": "2099-01-02T10:00", "csrf_token": csrf})
    assert resp.status_code == 200 and "已电话沟通&lt;b&gt;周六&lt;/b&gt;试听" in resp.text
    # The reminder reads back as it was typed, in the institution's time (it used to show "01-02 02:00 UTC").
    assert "01-02 10:00" in resp.text and "UTC" not in resp.text
    assert 'value="contacted" selected' in resp.text
    bad = client.post(url, data={"remind_at": "明天", "csrf_token": csrf})
    assert bad.status_code == 422 and "提醒时间格式不正确" in bad.text
    assert client.post(url, data={"status": "won", "csrf_token": csrf}).status_code == 422
    with database.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.status == LeadStatus.contacted
        note = session.scalars(select(LeadNote)).one()
        assert note.remind_at is not None and note.remind_at.hour == 2  # 10:00 Asia/Shanghai


def test_an_agent_books_a_trial_from_the_card(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = factories.catalog(database, orgs.a.id)
    session_id = factories.trial(database, orgs.a.id, course_id, campus_id, capacity=1)
    other_course, _ = factories.catalog(database, orgs.b.id, campus=None)
    foreign = factories.trial(database, orgs.b.id, other_course)
    info = new_visitor(client, orgs.a.public_key)
    with client.websocket_connect(f"/ws/visitor?token={info['token']}") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "client_id": "c1", "text": "孩子三年级，电话 13800138000"})
        conv_id = recv_until(ws, "ack")["message"]["conversation_id"]
    csrf = login(client, "alpha", "agent")
    url = f"/console/c/{conv_id}/lead"
    card = client.get(url).text
    assert f'value="trial:{session_id}"' in card and f"trial:{foreign}" not in card
    assert client.post(url, data={"trial": f"trial:{foreign}", "csrf_token": csrf}).status_code == 404
    assert client.post(url, data={"trial": "nonsense", "csrf_token": csrf}).status_code == 422
    assert client.post(url, data={"trial": f"trial:{session_id}", "csrf_token": csrf}).status_code == 200
    again = client.post(url, data={"trial": f"trial:{session_id}", "csrf_token": csrf})
    assert again.status_code == 422
    with database.session() as session:
        assert session.scalars(select(Lead)).one().status == LeadStatus.trial_booked
        booking = session.scalars(select(TrialBooking)).one()
        assert booking.booked_by_user_id == orgs.a.users["agent"].id

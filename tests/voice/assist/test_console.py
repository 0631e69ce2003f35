"""The console's call pages and sockets: who sees which call (another org's or another agent's is 404 / 4404),
the wrap-up (outcome through set_outcome, note onto the lead card), the take-over (flags set, the robot stops),
and the supervisor's listen / whisper / barge-in and the agent's browser audio over the /voice/ sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.jobs import Job
from edudesk.leads.models import LeadNote
from edudesk.voice import service as voice_service
from edudesk.voice.assist import bridge
from edudesk.voice.live import LiveCall, LiveCalls
from edudesk.voice.media import Track
from edudesk.voice.models import Call, CallMode, CallOutcome, Speaker
from tests.conftest import TwoOrgs, login
from tests.voice.assist.fakes import live_call, tone
from tests.voice.assist.seed import call_in_progress, end


@pytest.fixture
def live(app: FastAPI) -> LiveCalls:
    """This instance as the media plane: its live calls, reached by the /voice/ sockets and the take-over."""
    registry = LiveCalls()
    app.state.voice_live = registry
    return registry


def closed_with(client: TestClient, url: str) -> int:
    with client.websocket_connect(url) as ws:
        message = ws.receive()
        assert message["type"] == "websocket.close", message
        return int(message["code"])


def wait_for(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("condition never held")


def test_agent_sees_own_live_call_others_get_404(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    with database.session() as session:
        row = voice_service.get_call(session, orgs.a.id, call.id)
        voice_service.add_turn(session, row, Speaker.customer, "<script>alert(1)</script>退费", start_ms=0, end_ms=1)
        session.commit()
    login(client, "alpha", "agent")
    page = client.get("/console/calls")
    assert page.status_code == 200 and f'data-call="{call.id}"' in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;退费" in page.text and "<script>alert(1)" not in page.text
    assert "138****8000" in page.text or "8000" not in page.text.split("call-panel")[1][:400]
    assert client.get("/console/calls/panel").status_code == 200
    assert client.get(f"/console/calls/{call.id}").status_code == 200
    client.post("/logout", data={"csrf_token": login(client, "alpha", "agent2")})
    login(client, "alpha", "agent2")
    assert client.get(f"/console/calls/{call.id}").status_code == 404
    assert 'data-call="' not in client.get("/console/calls/panel").text
    login(client, "alpha", "supervisor")
    assert client.get(f"/console/calls/{call.id}").status_code == 200
    assert "+8613800138000" in client.get("/console/calls").text  # supervisors see the number
    login(client, "beta", "supervisor")
    assert client.get(f"/console/calls/{call.id}").status_code == 404


def test_wrap_up_sets_outcome_and_writes_the_lead_note(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    agent = orgs.a.users["agent"]
    call = call_in_progress(database, orgs.a.id, agent_id=agent.id)
    csrf = login(client, "alpha", "agent")
    url = f"/console/calls/{call.id}/wrap-up"
    early = client.post(url, data={"outcome": "interested", "note": "x", "csrf_token": csrf})
    assert early.status_code == 422 and "通话结束后" in early.text
    end(database, call)
    for form, why in (
        ({"outcome": ""}, "请选择通话结果"),
        ({"outcome": "failed"}, "请选择通话结果"),
        ({"outcome": "callback"}, "回电时间"),
        ({"outcome": "callback", "callback_at": "明天"}, "格式"),
        ({"outcome": "interested", "note": "长" * 2001}, "2000"),
    ):
        resp = client.post(url, data={**form, "csrf_token": csrf})
        assert resp.status_code == 422 and why in resp.text, form
    assert client.post(url, data={"outcome": "interested", "csrf_token": "stale"}).status_code == 400
    ok = client.post(
        url,
        data={
            "outcome": "callback",
            "callback_at": "2099-01-02T10:30",
            "note": "周六带孩子来试听 <b>",
            "csrf_token": csrf,
        },
    )
    assert ok.status_code == 200 and "通话小结已保存" in ok.text
    with database.session() as session:
        row = session.get(Call, call.id)
        assert row is not None and row.outcome == CallOutcome.callback and row.callback_at is not None
        note = session.scalars(select(LeadNote).where(LeadNote.org_id == orgs.a.id)).one()
        assert note.text == "【通话小结】周六带孩子来试听 <b>" and note.remind_at is not None
        assert note.user_id == agent.id
        jobs = session.scalars(select(Job).where(Job.kind == voice_service.CALL_ENDED_JOB)).all()
        assert [j.payload for j in jobs] == [{"call_id": call.id}, {"call_id": call.id, "wrap_up": True}]
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "voice.call.wrap_up")).one()
    login(client, "alpha", "agent2")  # another agent: not theirs
    assert client.post(url, data={"outcome": "refused", "csrf_token": csrf_of(client)}).status_code == 404
    login(client, "beta", "admin")
    assert client.post(url, data={"outcome": "refused", "csrf_token": csrf_of(client)}).status_code == 404


def csrf_of(client: TestClient) -> str:
    from tests.conftest import csrf_from

    return csrf_from(client.get("/console").text)


def test_take_over_stops_the_robot_and_hands_the_call_to_the_agent(
    client: TestClient, database: Database, orgs: TwoOrgs, live: LiveCalls
) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=None, mode=CallMode.robot)
    robot = live_call(call.id, orgs.a.id, call.public_id, CallMode.robot)
    live.register(robot)
    other = call_in_progress(database, orgs.b.id, agent_id=None, mode=CallMode.robot, phone="+8613900139000")
    live.register(live_call(other.id, orgs.b.id, other.public_id, CallMode.robot))

    login(client, "beta", "agent")  # org B cannot take org A's call
    assert client.post(f"/voice/calls/{call.id}/takeover", data={"csrf_token": csrf_of(client)}).status_code == 404
    assert not robot.takeover.is_set()
    csrf = login(client, "alpha", "agent")
    assert client.post(f"/voice/calls/{other.id}/takeover", data={"csrf_token": csrf}).status_code == 404
    assert f"/console/calls/{call.id}" in client.get("/console/calls").text  # listed to take over

    async def robot_loop() -> str:
        await robot.takeover.wait()  # the robot's loop returns as soon as the flag is set
        return "returned"

    resp = client.post(f"/voice/calls/{call.id}/takeover", data={"csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303, resp.text[resp.text.find("call-error") :][:100]
    assert robot.takeover.is_set() and robot.agent_id == orgs.a.users["agent"].id
    # asyncio.run: tests/conftest.py gives it a loop of its own where the browser tests left one running.
    assert asyncio.run(asyncio.wait_for(robot_loop(), 2)) == "returned"
    with database.session() as session:
        row = session.get(Call, call.id)
        assert row is not None and row.agent_id == orgs.a.users["agent"].id
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "voice.call.take_over")).one()
    again = client.post(f"/voice/calls/{call.id}/takeover", data={"csrf_token": csrf})
    assert again.status_code == 422 and "已由坐席接管" in again.text
    live.unregister(call.public_id)
    login(client, "alpha", "agent2")
    gone = client.post(f"/voice/calls/{call.id}/takeover", data={"csrf_token": csrf_of(client)})
    assert gone.status_code in (404, 422)


def test_call_socket_streams_turns_to_the_agent_and_refuses_others(
    client: TestClient, database: Database, orgs: TwoOrgs, app: FastAPI
) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    url = f"/ws/call/{call.id}"
    assert closed_with(client, url) == 4401
    login(client, "beta", "supervisor")
    assert closed_with(client, url) == 4404
    login(client, "alpha", "agent2")
    assert closed_with(client, url) == 4404
    assert closed_with(client, "/ws/call/99999999999") == 4404
    login(client, "alpha", "agent")
    with client.websocket_connect(url) as ws:
        assert ws.receive_json() == {"type": "hello", "call_id": call.id}
        ws.send_text("{nope")
        assert ws.receive_json()["code"] == "bad_json"
        with app.state.ctx.db.session() as session:
            row = voice_service.get_call(session, orgs.a.id, call.id)
            voice_service.add_turn(session, row, Speaker.customer, "想试听", start_ms=0, end_ms=900)
            session.commit()
        frame = ws.receive_json()
        assert frame["type"] == "call_turn" and frame["text"] == "想试听" and frame["speaker_label"] == "客户"


def test_monitor_listen_whisper_barge_and_role_checks(
    client: TestClient, database: Database, orgs: TwoOrgs, live: LiveCalls
) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    url = f"/voice/calls/{call.id}/monitor"
    login(client, "alpha", "supervisor")
    assert closed_with(client, url) == 4404  # not live on this instance
    on_call: LiveCall = live_call(call.id, orgs.a.id, call.public_id)
    live.register(on_call)
    login(client, "alpha", "agent")
    assert closed_with(client, url) == 4403  # agents do not listen in
    login(client, "beta", "supervisor")
    assert closed_with(client, url) == 4404  # another org's call
    login(client, "alpha", "supervisor")
    with client.websocket_connect(url) as ws:
        assert ws.receive_json()["mode"] == "listen"
        on_call.heard(Track.phone, tone(200, 160))
        on_call.heard(Track.ours, tone(-50, 160))
        assert list(bridge.samples(ws.receive_bytes()))[:3] == [150, 150, 150]
        ws.send_bytes(tone(9, 10))  # listening: the supervisor's audio goes nowhere
        ws.send_json({"type": "mode", "mode": "whisper"})
        assert ws.receive_json() == {"type": "mode", "mode": "whisper"}
        ws.send_bytes(tone(7, 10))
        wait_for(lambda: not on_call.whisper_audio.empty())
        assert on_call.whisper_audio.get_nowait() == tone(7, 10) and on_call.agent_audio.empty()
        ws.send_json({"type": "mode", "mode": "barge"})
        assert ws.receive_json()["mode"] == "barge"
        ws.send_bytes(tone(5, 10))
        wait_for(lambda: not on_call.agent_audio.empty())
        chunk = on_call.agent_audio.get_nowait()
        assert bridge.source_of(chunk) == "supervisor" and chunk == tone(5, 10)
        assert on_call.whisper_audio.get_nowait() == tone(5, 10)  # the agent hears a barge-in too
        ws.send_bytes(b"\x01\x02\x03")
        assert ws.receive_json()["code"] == "bad_audio"
        ws.send_json({"type": "mode", "mode": "shout"})
        assert ws.receive_json()["code"] == "unknown_type"
    wait_for(lambda: on_call.taps == [])


def test_agent_audio_socket(client: TestClient, database: Database, orgs: TwoOrgs, live: LiveCalls) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    on_call = live_call(call.id, orgs.a.id, call.public_id)
    live.register(on_call)
    url = f"/voice/calls/{call.id}/agent"
    login(client, "alpha", "supervisor")
    assert closed_with(client, url) == 4403  # a supervisor barges in through the monitor, not as the agent
    login(client, "beta", "admin")
    assert closed_with(client, url) == 4404
    login(client, "alpha", "agent")
    with client.websocket_connect(url) as ws:
        assert ws.receive_json()["sample_rate"] == 8000
        ws.send_bytes(tone(11, 10))
        wait_for(lambda: not on_call.agent_audio.empty())
        assert bridge.source_of(on_call.agent_audio.get_nowait()) == "agent"
        on_call.whisper_audio.put_nowait(tone(3, 4))
        on_call.heard(Track.phone, tone(100, 4))
        on_call.heard(Track.ours, tone(-999, 4))  # our own side is not played back to the agent
        assert list(bridge.samples(ws.receive_bytes())) == [103] * 4

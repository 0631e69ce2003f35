"""Telesales assist in a real browser: an agent's live call runs in the server's process (the fake port and the
text recogniser stand in for the carrier and the ASR), and the transcript of both sides and the 退费 alert with
its suggested line appear in the agent's call panel as they are said."""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI
from playwright.sync_api import BrowserContext, expect

from edudesk.db import Database
from edudesk.voice.assist import run_agent_call
from edudesk.voice.media import Hangup, Track
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login
from tests.voice.assist.fakes import FakePort, live_call, services
from tests.voice.assist.seed import call_in_progress


def test_live_transcript_and_alert_reach_the_agent(
    contexts: tuple[BrowserContext, BrowserContext],
    live_server: LiveServer,
    app: FastAPI,
    orgs: TwoOrgs,
    database: Database,
) -> None:
    call = call_in_progress(database, orgs.a.id, agent_id=orgs.a.users["agent"].id)
    _, agent_ctx = contexts
    page = agent_ctx.new_page()
    agent_login(page, live_server.url)
    page.goto(f"{live_server.url}/console/calls")
    expect(page.locator(f'#call-panel[data-call="{call.id}"][data-live="1"]')).to_have_count(1, timeout=TIMEOUT)

    lines = [
        ("老师您好，我想了解一下数学课", Track.phone),
        ("您好，孩子现在几年级？", Track.ours),
        ("之前在别家报的班想退费，你们这边怎么样", Track.phone),
    ]
    done: list[bool] = []

    async def talk() -> None:
        live = live_call(call.id, orgs.a.id, call.public_id)
        port = live.port
        assert isinstance(port, FakePort)
        runner = asyncio.create_task(run_agent_call(live, services(app.state.ctx.db)))
        for text, track in lines:
            port.say(text, track)
            await asyncio.sleep(0.2)
        port.send(Hangup())
        await runner
        done.append(True)

    thread = threading.Thread(target=lambda: asyncio.run(talk()))
    thread.start()
    transcript = page.locator("#call-transcript li")
    expect(transcript).to_have_count(3, timeout=TIMEOUT)
    expect(transcript.nth(0)).to_contain_text("客户")
    expect(transcript.nth(0)).to_contain_text("我想了解一下数学课")
    expect(transcript.nth(1)).to_contain_text("坐席")
    expect(transcript.nth(2)).to_contain_text("退费")
    alert = page.locator("#call-alerts .call-alert.severity-critical")
    expect(alert).to_have_count(1, timeout=TIMEOUT)
    expect(alert).to_contain_text("退费")
    expect(alert.locator(".call-suggestion")).to_contain_text("退费政策")
    thread.join(20)
    assert done == [True]

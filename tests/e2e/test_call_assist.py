"""Telesales assist in a real browser: an agent's live call runs in the server's process (the fake phone and the
scripted recogniser of the robot's tests stand in for the carrier and the ASR, over real audio paced in real
time), and the parent's words and the 退费 alert with its suggested line appear in the agent's call panel as they
are said."""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI
from playwright.sync_api import BrowserContext, expect

from edudesk.db import Database
from edudesk.voice.assist import run_agent_call
from edudesk.voice.engines.scripted import ScriptedRecogniser
from edudesk.voice.live import LiveCall, LiveCalls, VoiceServices
from edudesk.voice.models import CallMode
from tests.conftest import LiveServer, TwoOrgs
from tests.e2e.test_handover import TIMEOUT, agent_login
from tests.voice.assist.seed import call_in_progress
from tests.voice.fakes import FakePhone, HangUp, Say, Silence


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
    done: list[bool] = []

    async def talk() -> None:
        script = [Silence(300), Say("老师您好，我想了解一下数学课", ms=800), Silence(600),
                  Say("之前在别家报的班想退费", ms=800), Silence(600), HangUp()]  # fmt: skip
        phone = FakePhone(script, call_public_id=call.public_id, realtime=True)
        recogniser = ScriptedRecogniser()
        recogniser.register(call.public_id, phone.lines())
        live = LiveCall(call.public_id, call.id, orgs.a.id, CallMode.agent, phone, phone.sample_rate)
        voice = VoiceServices(db=app.state.ctx.db, settings=None, recogniser=recogniser, synthesiser=None,
                              live=LiveCalls())  # fmt: skip
        await run_agent_call(live, voice)
        done.append(True)

    thread = threading.Thread(target=lambda: asyncio.run(talk()))
    thread.start()
    transcript = page.locator("#call-transcript li")
    expect(transcript).to_have_count(2, timeout=TIMEOUT)
    expect(transcript.nth(0)).to_contain_text("客户")
    expect(transcript.nth(0)).to_contain_text("我想了解一下数学课")
    expect(transcript.nth(1)).to_contain_text("退费")
    alert = page.locator("#call-alerts .call-alert.severity-critical")
    expect(alert).to_have_count(1, timeout=TIMEOUT)
    expect(alert).to_contain_text("退费")
    expect(alert.locator(".call-suggestion")).to_contain_text("退费政策")
    thread.join(20)
    assert done == [True]

"""Issue 16, item 8: a whole robot call over the media WebSocket (the real server, a fake carrier whose callee is a
scripted parent) and over SIP against sipp: the greeting, the parent answers grade and interest, asks the price,
the robot answers from the FAQ and books a callback; the lead's grade and the call's transcript are right.

The org, its phone script, the price FAQ and the lead come from the robot's ``world`` fixture (imported, hence F811).
"""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from edudesk.db import Database
from edudesk.leads import service as leads_service
from edudesk.settings import Settings
from edudesk.voice import audio
from edudesk.voice import service as voice_service
from edudesk.voice.models import ACTIVE_CALL_STATES, Call, CallOutcome, CallState, CallTurn, LineKind, Speaker
from edudesk.voice.robot import RobotConfig, run_robot_call
from edudesk.voice.telephony.lines import SipLineConfig, WebSocketLineConfig
from edudesk.voice.telephony.sip import SipAdapter
from tests.conftest import LiveServer
from tests.voice.fakes import FakePhone, Say, Silence, WaitForBot, speech_pcm
from tests.voice.plane_support import make_line, make_plane
from tests.voice.robot.conftest import PHONE, PRICE_ANSWER, RobotWorld, world  # noqa: F401 (the fixture)
from tests.voice.telephony.fake_carrier import FakeCarrier, phone_bridge
from tests.voice.telephony.test_sip import SCENARIOS, SIPP, free_udp_port

TZ = dt.timezone(dt.timedelta(hours=8))
PARENT = ["孩子三年级", "试听课多少钱？", "有兴趣", "明天下午三点吧"]
LINE_SECRET = "whsec_scripted"


@pytest.fixture
def db_url(sqlite_url: str) -> str:  # the transports do not depend on the database: SQLite only
    return sqlite_url


@pytest.fixture
def settings(db_url: str, tmp_path: Any) -> Settings:
    return Settings(
        database_url=db_url,
        secret_key="test-secret-" + "x" * 20,
        data_dir=tmp_path,
        run_jobs_in_process=False,
        voice_media=True,
        voice_poll_seconds=0.05,
        freeze_heap=False,
        voice_asr="scripted",
    )


def place(database: Database, world: RobotWorld, line_id: int) -> int:
    with database.session() as session:
        call = voice_service.place_call(
            session,
            voice_service.CallRequest(
                org_id=world.org_id, phone_e164=PHONE, line_id=line_id, contact_id=world.contact_id
            ),
        )
        session.commit()
        return call.id


def wait_ended(database: Database, call_id: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with database.session() as session:
            call = session.get(Call, call_id)
            assert call is not None
            if call.state not in ACTIVE_CALL_STATES:
                return
        time.sleep(0.1)
    raise AssertionError("the call did not end")


def check_call(database: Database, world: RobotWorld, call_id: int) -> Call:
    with database.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        turns = list(session.scalars(select(CallTurn).where(CallTurn.call_id == call_id).order_by(CallTurn.seq)))
        assert call.state == CallState.completed and call.hangup_by == "bot", (call.state, call.error)
        assert call.outcome == CallOutcome.callback and call.callback_at is not None
        local = call.callback_at.astimezone(TZ)
        assert (local.hour, local.minute) == (15, 0)
        texts = [f"{t.speaker.value}:{t.start_ms}-{t.end_ms}:{t.text}" for t in turns]
        assert [t.text for t in turns if t.speaker == Speaker.customer] == PARENT, texts
        texts = [t.text for t in turns]
        assert any("小安" in t for t in texts[:3]), [
            f"{t.speaker.value}:{t.start_ms}:{t.text}" for t in turns
        ]  # the script's greeting, after the notice
        assert any(PRICE_ANSWER in t for t in texts)
        assert "明天下午3点" in texts[-1]
        assert call.talk_seconds > 2 and call.recording_key is not None
        known = leads_service.known_values(session, world.org_id, world.contact_id)
        assert known["grade"] == "三年级"
        session.expunge(call)
        return call


@pytest.fixture
def server(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app)
    app.state.ctx.settings.base_url = server.url
    server.start()
    yield server
    server.stop()


def test_a_scripted_call_over_the_media_websocket(
    server: LiveServer, app: FastAPI, database: Database, world: RobotWorld
) -> None:
    services = app.state.voice_plane.services  # the running media plane: its recogniser is the scripted one
    services.synthesiser = world.synth
    services.extras["robot_config"] = RobotConfig(no_input_ms=4000)
    script = [
        WaitForBot(quiet_ms=600),
        Say(PARENT[0]),
        WaitForBot(quiet_ms=600),
        Say(PARENT[1]),
        WaitForBot(quiet_ms=600),
        Say(PARENT[2]),
        WaitForBot(quiet_ms=600),
        Say(PARENT[3]),
        WaitForBot(quiet_ms=600),
        Silence(3000),
    ]

    def make_phone(request: dict[str, Any]) -> FakePhone:
        phone = FakePhone(script, call_public_id=request["call_id"], realtime=True)
        services.recogniser.register(request["call_id"], phone.lines())
        return phone

    carrier = FakeCarrier(LINE_SECRET, lambda request: phone_bridge(make_phone))
    try:
        line = make_line(
            database,
            world.org_id,
            config=WebSocketLineConfig(originate_url=carrier.url, signing_secret=SecretStr(LINE_SECRET)),
        )
        call_id = place(database, world, line)
        wait_ended(database, call_id)
        carrier.join()
    finally:
        carrier.close()
    check_call(database, world, call_id)
    phone = carrier.streams[0].result
    assert phone.played_ms() > 3000  # the parent heard the robot


def parent_clip(gaps_ms: list[int]) -> bytes:
    """The parent's side of the call as sipp plays it: silence while the robot speaks, then each answer."""
    rng = np.random.default_rng(3)
    parts = []
    for n, (gap, line) in enumerate(zip(gaps_ms, PARENT, strict=True)):
        parts.append((rng.normal(0, 30, 8 * gap)).astype("<i2").tobytes())
        parts.append(speech_pcm(max(400, 180 * len(line)), 8000, seed=n))
    parts.append(bytes(8000 * 2 * 6))
    return audio.ulaw_encode(b"".join(parts))


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_a_scripted_call_over_sip_against_sipp(database: Database, world: RobotWorld, tmp_path: Path) -> None:
    clip = tmp_path / "parent.ulaw"
    clip.write_bytes(parent_clip([6000, 3500, 4500, 3500]))
    scenario = tmp_path / "parent.xml"
    scenario.write_text((SCENARIOS / "parent.xml").read_text().replace("AUDIO_FILE", str(clip)))
    port = free_udp_port()
    assert SIPP is not None
    proc = subprocess.Popen(
        [
            SIPP,
            "-sf",
            str(scenario),
            "-p",
            str(port),
            "-mp",
            str(free_udp_port()),
            "-i",
            "127.0.0.1",
            "-m",
            "1",
            "-timeout",
            "90s",
            "-timeout_error",
            "-nostdin",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        line = make_line(
            database, world.org_id, kind=LineKind.sip, config=SipLineConfig(trunk_host="127.0.0.1", trunk_port=port)
        )
        world.recogniser.register(PHONE, PARENT)
        # sipp's clip runs on the clock from the answer: the org's bot (FAQ embeddings) is built before the call, so
        # a loaded machine does not start the robot after the parent's first answer.
        with database.session() as session:
            world.services.bots.get(session, world.org_id)
        world.services.extras["robot_config"] = RobotConfig(no_input_ms=8000)
        plane = make_plane(
            database, "sip", {LineKind.sip: SipAdapter("127.0.0.1:0")}, robot=run_robot_call, upload_dir=tmp_path
        )
        plane.services = world.services
        plane.services.upload_dir = tmp_path
        call_id = place(database, world, line)

        async def go() -> None:
            await plane.start()
            try:
                await asyncio.to_thread(wait_ended, database, call_id)
            finally:
                await plane.stop()

        asyncio.run(go())
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
        assert proc.returncode == 0, out[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check_call(database, world, call_id)

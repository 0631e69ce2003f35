"""The media WebSocket adapter over a real server and a fake carrier: signed originate, a whole call, and every way
a stream can break the contract (closed with a reason and a log line, nothing stored)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.voice import audio, wiring
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Dtmf, Hangup, Played, Track, audio_frame
from edudesk.voice.models import Call, CallState, CallTurn
from edudesk.voice.telephony import websocket as websocket_adapter
from edudesk.voice.telephony.base import DialFailed, OriginateRequest
from edudesk.voice.telephony.lines import WebSocketLineConfig
from edudesk.voice.telephony.websocket import MEDIA_PATH, WebSocketAdapter
from tests.conftest import LiveServer, TwoOrgs
from tests.voice.plane_support import LogRecorder, get_call, make_line, queue_calls
from tests.voice.telephony.fake_carrier import FakeCarrier, Stream

LINE_SECRET = "whsec_carrier-test"
SPEECH = audio.tone(8000, 300)


@pytest.fixture
def db_url(sqlite_url: str) -> str:  # the transport does not depend on the database: SQLite only
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
    )


seen: dict[str, list[Any]] = {}


async def echo_robot(live: LiveCall, services: VoiceServices) -> None:
    """Says something, then notes what it hears until the hang-up."""
    events: list[Any] = seen.setdefault(live.public_id, [])
    await live.port.play(audio.tone(8000, 200, 300))
    await live.port.mark("greeting")
    while True:
        event = await live.port.receive()
        events.append(event)
        if isinstance(event, Hangup):
            return


@pytest.fixture
def server(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setattr(wiring, "robot_talker", echo_robot)
    app.state.ctx.settings.voice_media_url = ""
    server = LiveServer(app)
    app.state.ctx.settings.base_url = server.url  # the media URL carriers are given
    server.start()
    yield server
    server.stop()


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + MEDIA_PATH


def start(token: str) -> str:
    return json.dumps({"event": "start", "token": token, "sample_rate": 8000, "tracks": ["phone"]})


def whole_call(ws: ClientConnection, request: dict[str, Any]) -> None:
    ws.send(start(request["call_id"]))
    ws.send(audio_frame(SPEECH[:3200]))
    ws.send(audio_frame(SPEECH[3200:]))
    ws.send(json.dumps({"event": "dtmf", "digit": "5"}))
    ws.send(json.dumps({"event": "mark", "name": "greeting"}))
    time.sleep(0.3)
    ws.send(json.dumps({"event": "stop", "reason": "caller hung up"}))


def then(frame: str | bytes) -> Any:
    def script(ws: ClientConnection, request: dict[str, Any]) -> None:
        ws.send(start(request["call_id"]))
        ws.send(audio_frame(SPEECH[:320]))
        ws.send(frame)

    return script


SCRIPTS = {
    "+8613800000000": whole_call,
    "+8613800000001": then("{not json"),
    "+8613800000002": then(b"\x00\x01\x02\x03"),  # 3 bytes of PCM: not whole samples
    "+8613800000003": then(b"\x07" + bytes(320)),  # track 7 does not exist
    "+8613800000004": then(json.dumps({"event": "start", "token": "x" * 20, "sample_rate": 8000})),
}


def wait_ended(database: Database, ids: list[int], seconds: float = 30) -> list[Call]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        calls = [get_call(database, i) for i in ids]
        if all(c.state not in (CallState.queued, CallState.dialing, CallState.in_progress) for c in calls):
            return calls
        time.sleep(0.05)
    raise AssertionError([c.state for c in calls])


def test_calls_over_the_media_websocket(
    server: LiveServer, database: Database, orgs: TwoOrgs, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = LogRecorder()
    monkeypatch.setattr(websocket_adapter, "log", logs)
    carrier = FakeCarrier(LINE_SECRET, lambda request: SCRIPTS[request["to"]])
    try:
        line = make_line(
            database,
            orgs.a.id,
            config=WebSocketLineConfig(originate_url=carrier.url, signing_secret=SecretStr(LINE_SECRET)),
        )
        ids = queue_calls(database, orgs.a.id, line, len(SCRIPTS))
        calls = wait_ended(database, ids)
        carrier.join()
    finally:
        carrier.close()
    assert carrier.bad_signatures == 0 and len(carrier.requests) == len(SCRIPTS)
    request = next(r for r in carrier.requests if r["to"] == "+8613800000000")
    assert request["media_url"] == ws_url(server) and request["sample_rate"] == 8000
    assert request["from"] == "+8601012345678" and request["call_id"] == calls[0].public_id
    streams: dict[str, Stream] = {s.request["to"]: s for s in carrier.streams}

    whole = calls[0]
    assert whole.state == CallState.completed and whole.hangup_by == "customer"
    assert 0.4 <= whole.talk_seconds <= 0.6  # 300 ms heard, 200 ms said
    assert whole.recording_key and whole.recording_bytes > 44
    events = seen[whole.public_id]
    assert Dtmf("5") in events and Played("greeting") in events and events[-1] == Hangup("caller hung up")
    heard = b"".join(e.pcm for e in events if isinstance(e, Audio) and e.track == Track.phone)
    assert heard == SPEECH
    played = [m for m in streams["+8613800000000"].received if isinstance(m, bytes)]
    assert b"".join(m[1:] for m in played) == audio.tone(8000, 200, 300) and all(m[0] == 0 for m in played)
    assert {"event": "mark", "name": "greeting"} in [
        json.loads(m) for m in streams["+8613800000000"].received if isinstance(m, str)
    ]

    for number, reason in (
        ("+8613800000001", "bad control frame"),
        ("+8613800000002", "not whole 16-bit samples"),
        ("+8613800000003", "unknown track 7"),
        ("+8613800000004", "second start frame"),
    ):
        stream = streams[number]
        assert stream.close_code == 4400 and reason in stream.close_reason, (number, stream.close_reason)
        call = next(c for c in calls if c.phone_e164 == number)
        assert call.state == CallState.completed and call.hangup_by == "network"
    assert logs.count("voice_media_bad_frame") == 4
    with database.session() as session:
        assert session.scalars(select(CallTurn)).all() == []


def close_of(server: LiveServer, *frames: str | bytes) -> tuple[int | None, str]:
    with connect(ws_url(server), open_timeout=10) as ws:
        for frame in frames:
            ws.send(frame)
        try:
            while True:
                ws.recv(timeout=10)
        except ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason or ""


def test_streams_that_name_no_call_of_ours_are_refused(
    server: LiveServer, database: Database, orgs: TwoOrgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = LogRecorder()
    monkeypatch.setattr(websocket_adapter, "log", logs)
    line = make_line(database, orgs.a.id)
    [ended] = queue_calls(database, orgs.a.id, line, 1)
    wait_ended(database, [ended])  # nobody listens on the originate URL: the call failed
    token = get_call(database, ended).public_id
    assert close_of(server, audio_frame(SPEECH[:320])) == (4400, "audio before start")
    assert close_of(server, "{oops")[0] == 4400
    assert close_of(server, json.dumps({"event": "dtmf", "digit": "1"})) == (4400, "dtmf before start")
    assert close_of(server, json.dumps({"event": "start", "token": "x", "sample_rate": 8000}))[0] == 4400
    assert close_of(server, start("unknown-call-token-0000")) == (4404, "unknown or ended call")
    assert close_of(server, start(token)) == (4404, "unknown or ended call")
    assert close_of(server, b"\x00" * 40_000)[0] == 1009  # over the server's frame limit
    assert logs.count("voice_media_refused") == 6


class Carrier:
    def __init__(self, status: int) -> None:
        self.carrier = FakeCarrier(LINE_SECRET, lambda request: None, status=status)

    def request(self, ring: int = 30) -> OriginateRequest:
        config = WebSocketLineConfig(originate_url=self.carrier.url, signing_secret=SecretStr(LINE_SECRET))
        return OriginateRequest(
            call_public_id="pub-id-0000000000001",
            org_id=1,
            line_id=1,
            to_e164="+8613800000000",
            from_number="",
            config=config,
            ring_timeout_seconds=ring,
        )


@pytest.mark.parametrize(("status", "ring", "state"), [(486, 30, "busy"), (500, 30, "failed"), (200, 1, "no_answer")])
def test_originate_failures(status: int, ring: int, state: str) -> None:
    carrier = Carrier(status)
    adapter = WebSocketAdapter("ws://127.0.0.1:9/voice/media")
    try:
        with pytest.raises(DialFailed) as failed:
            asyncio.run(adapter.originate(carrier.request(ring)))
    finally:
        carrier.carrier.close()
    assert failed.value.state == state and adapter._pending == {}


def test_originate_to_nowhere_fails() -> None:
    config = WebSocketLineConfig(originate_url="http://127.0.0.1:9/originate", signing_secret=SecretStr("s"))
    request = OriginateRequest(
        call_public_id="pub-id-0000000000001", org_id=1, line_id=1, to_e164="+1", from_number="", config=config
    )
    with pytest.raises(DialFailed) as failed:
        asyncio.run(WebSocketAdapter("ws://x/voice/media").originate(request))
    assert failed.value.state == "failed" and "unreachable" in failed.value.detail

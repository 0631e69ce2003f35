"""The Asterisk adapter against a fake Asterisk on 127.0.0.1: its manager interface takes our Originate and, as the
dialplan's AudioSocket() would, connects to our AudioSocket server with the call's UUID and streams the call;
busy and unanswered calls; connections from a host no line allows or naming no call are closed and logged."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from edudesk.db import Database
from edudesk.voice import audio
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Dtmf, Hangup, Track
from edudesk.voice.models import ACTIVE_CALL_STATES, CallState, LineKind
from edudesk.voice.telephony import audiosocket as audiosocket_module
from edudesk.voice.telephony.audiosocket import (
    KIND_AUDIO,
    KIND_DTMF,
    KIND_HANGUP,
    KIND_UUID,
    AudioSocketAdapter,
    call_uuid,
    frame,
    read_frame,
)
from edudesk.voice.telephony.lines import AudioSocketLineConfig
from tests.conftest import TwoOrgs
from tests.voice.plane_support import LogRecorder, get_call, make_line, make_plane, queue_calls

SPEECH = audio.tone(8000, 400)


@pytest.fixture
def db_url(sqlite_url: str) -> str:  # the transport does not depend on the database: SQLite only
    return sqlite_url


class FakeAsterisk:
    """AMI on a free port; on Originate it answers per the dialled number and, when answered, connects back."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        self.outcomes = outcomes
        self.originates: list[dict[str, str]] = []
        self.received: dict[str, list[tuple[int, bytes]]] = {}
        self.port = 0
        self.tasks: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._ami, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _ami(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/5.0.1\r\n")
        while True:
            message: dict[str, list[str]] = {}
            while (line := (await reader.readline()).decode().rstrip("\r\n")) != "":
                key, _, value = line.partition(": ")
                message.setdefault(key, []).append(value)
            if not message:
                return
            action, action_id = message["Action"][0], message.get("ActionID", [""])[0]
            if action == "Logoff":
                writer.close()
                return
            if action == "Login":
                ok = message["Username"] == ["edudesk"] and message["Secret"] == ["s3cret"]
                writer.write(f"Response: {'Success' if ok else 'Error'}\r\nActionID: {action_id}\r\n\r\n".encode())
                continue
            variables = dict(v.split("=", 1) for v in message["Variable"])
            self.originates.append({"Channel": message["Channel"][0], "Context": message["Context"][0], **variables})
            writer.write(f"Response: Success\r\nActionID: {action_id}\r\nMessage: queued\r\n\r\n".encode())
            number = message["Channel"][0].split("/")[1].split("@")[0]
            outcome = self.outcomes[number]
            reason = {"answered": "4", "busy": "5", "no_answer": "3"}[outcome]
            if outcome == "answered":
                self.tasks.append(
                    asyncio.ensure_future(
                        self._audiosocket(variables["EDUDESK_UUID"], variables["EDUDESK_AUDIOSOCKET"])
                    )
                )
            result = "Success" if outcome == "answered" else "Failure"
            writer.write(
                f"Event: OriginateResponse\r\nActionID: {action_id}\r\nResponse: {result}\r\n"
                f"Reason: {reason}\r\n\r\n".encode()
            )

    async def _audiosocket(self, key: str, address: str) -> None:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(frame(KIND_UUID, uuid.UUID(key).bytes))
        for i in range(0, len(SPEECH), 320):
            writer.write(frame(KIND_AUDIO, SPEECH[i : i + 320]))
        writer.write(frame(KIND_DTMF, b"7"))
        await writer.drain()
        got = self.received.setdefault(key, [])
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # listen to what edudesk says for a second
            try:
                got.append(await asyncio.wait_for(read_frame(reader), deadline - time.monotonic()))
            except (TimeoutError, asyncio.IncompleteReadError):
                break
        writer.write(frame(KIND_HANGUP))
        await writer.drain()
        writer.close()


heard: dict[str, list[Any]] = {}


async def robot(live: LiveCall, services: VoiceServices) -> None:
    events = heard.setdefault(live.public_id, [])
    await live.port.play(audio.tone(8000, 200, 300))
    while not isinstance(event := await live.port.receive(), Hangup):
        events.append(event)
    events.append(event)


def test_calls_through_asterisk(database: Database, orgs: TwoOrgs) -> None:
    asterisk = FakeAsterisk({"8613800000000": "answered", "8613800000001": "busy", "8613800000002": "no_answer"})
    adapter = AudioSocketAdapter("127.0.0.1:0")

    async def go() -> list[int]:
        await asterisk.start()
        line = make_line(
            database,
            orgs.a.id,
            kind=LineKind.audiosocket,
            config=AudioSocketLineConfig(
                ami_host="127.0.0.1", ami_port=asterisk.port, ami_username="edudesk", ami_secret=SecretStr("s3cret"),
                allowed_hosts=["127.0.0.1"],
            ),
        )
        ids = queue_calls(database, orgs.a.id, line, 3)
        plane = make_plane(database, "ast", {LineKind.audiosocket: adapter}, robot=robot)
        await plane.start()
        try:
            deadline = time.monotonic() + 20
            while any(get_call(database, i).state in ACTIVE_CALL_STATES for i in ids):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await plane.stop()
            asterisk.server.close()
        return ids

    answered, busy, unanswered = (get_call(database, i) for i in asyncio.run(go()))
    assert busy.state == CallState.busy and unanswered.state == CallState.no_answer
    assert answered.state == CallState.completed and answered.hangup_by == "customer"
    key = str(call_uuid(answered.public_id))
    assert asterisk.originates[0]["EDUDESK_UUID"] in {str(call_uuid(c.public_id)) for c in (answered, busy, unanswered)}
    assert {o["Channel"] for o in asterisk.originates} == {f"PJSIP/86138{n:08d}@trunk" for n in range(3)}
    assert all(o["EDUDESK_AUDIOSOCKET"] == f"127.0.0.1:{adapter.port}" for o in asterisk.originates)
    events = heard[answered.public_id]
    assert b"".join(e.pcm for e in events if isinstance(e, Audio) and e.track == Track.phone) == SPEECH
    assert Dtmf("7") in events and events[-1] == Hangup("hangup", by="customer")
    said = b"".join(p for kind, p in asterisk.received[key] if kind == KIND_AUDIO)
    assert said.startswith(audio.tone(8000, 200, 300))  # paced out 20 ms at a time, then silence
    assert all(len(p) == 320 for kind, p in asterisk.received[key] if kind == KIND_AUDIO)
    assert 0.5 <= answered.talk_seconds <= 0.7


async def closed(reader: asyncio.StreamReader) -> bytes:
    """What the server said before closing (closing with our bytes unread may reset the connection)."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


def test_strangers_are_closed_and_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    logs = LogRecorder()
    monkeypatch.setattr(audiosocket_module, "log", logs)
    adapter = AudioSocketAdapter("127.0.0.1:0")

    async def handler(port: Any) -> None:
        raise AssertionError("no call should reach the handler")

    async def go() -> list[bytes]:
        await adapter.start(handler, None)
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        adapter._pending[str(call_uuid("known-call-00000000"))] = ("known-call-00000000", ["10.9.9.9"], answered)
        results = []
        for first in (
            frame(KIND_UUID, call_uuid("known-call-00000000").bytes),  # host not allowed for the line
            b"garbage!",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", adapter.port)
            writer.write(first)
            results.append(await closed(reader))
            writer.close()
        adapter._pending.clear()
        adapter._pending[str(call_uuid("other-call-00000000"))] = ("other-call-00000000", ["127.0.0.1"], answered)
        for first in (frame(KIND_UUID, uuid.uuid4().bytes), frame(KIND_AUDIO, bytes(320)), b"\x10\xff\xff"):
            reader, writer = await asyncio.open_connection("127.0.0.1", adapter.port)
            writer.write(first)
            results.append(await closed(reader))
            writer.close()
        await adapter.stop()
        assert not answered.done()
        return results

    assert asyncio.run(go()) == [b""] * 5  # each closed without a word
    reasons = [e["reason"] for e in logs.entries if e["event"] == "voice_audiosocket_refused"]
    assert reasons == [
        "host not allowed",
        "host not allowed",
        "unknown call",
        "first frame is not a UUID",
        "bad first frame: FrameError",
    ]

"""The SIP adapter against sipp (Debian sip-tester) on 127.0.0.1: an outbound call answered by sipp, which streams
RTP and hangs up with BYE; an INVITE from a peer no line allows gets 403; garbled datagrams are ignored."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from edudesk.db import Database
from edudesk.voice import audio
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Hangup, Track
from edudesk.voice.models import CallOutcome, CallState, LineKind
from edudesk.voice.telephony import sip as sip_module
from edudesk.voice.telephony.lines import SipLineConfig
from edudesk.voice.telephony.sip import SipAdapter
from edudesk.voice.telephony.sipmsg import digest_authorization, parse, parse_challenge
from tests.conftest import TwoOrgs
from tests.voice.plane_support import LogRecorder, get_call, make_line, make_plane, queue_calls

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).parent / "sipp"
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
ANSWER = audio.tone(8000, 1000, 500)


@pytest.fixture
def db_url(sqlite_url: str) -> str:  # the transport does not depend on the database: SQLite only
    return sqlite_url


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sipp(*args: str) -> subprocess.Popen[bytes]:
    assert SIPP is not None
    return subprocess.Popen(
        [SIPP, *args, "-i", "127.0.0.1", "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def callee(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_udp_port()
    clip = tmp_path / "answer.ulaw"
    clip.write_bytes(audio.ulaw_encode(ANSWER))
    # rtp_stream takes no variables: the clip's path is written into a copy of the scenario.
    scenario = tmp_path / "callee.xml"
    scenario.write_text((SCENARIOS / "callee.xml").read_text().replace("AUDIO_FILE", str(clip)))
    proc = sipp("-sf", str(scenario), "-p", str(port), "-mp", str(free_udp_port()))
    time.sleep(0.3)
    yield port, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


heard: dict[str, list[Any]] = {}


async def listening_robot(live: LiveCall, services: VoiceServices) -> None:
    events = heard.setdefault(live.public_id, [])
    await live.port.play(audio.tone(live.sample_rate, 400, 300))
    while True:
        event = await live.port.receive()
        events.append(event)
        if isinstance(event, Hangup):
            return


async def run_until_ended(plane: Any, database: Database, call_id: int, seconds: float = 30) -> None:
    await plane.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if get_call(database, call_id).state in (
                CallState.completed,
                CallState.failed,
                CallState.no_answer,
                CallState.busy,
            ):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(get_call(database, call_id).state)
    finally:
        await plane.stop()


def test_a_call_answered_by_sipp(database: Database, orgs: TwoOrgs, callee: tuple[int, Any], tmp_path: Path) -> None:
    port, proc = callee
    line = make_line(
        database,
        orgs.a.id,
        kind=LineKind.sip,
        config=SipLineConfig(trunk_host="127.0.0.1", trunk_port=port, sample_rate=16000),
    )
    [call_id] = queue_calls(database, orgs.a.id, line, 1)
    adapter = SipAdapter("127.0.0.1:0")
    plane = make_plane(database, "sip", {LineKind.sip: adapter}, robot=listening_robot, upload_dir=tmp_path)
    asyncio.run(run_until_ended(plane, database, call_id))
    out = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == 0, out[-2000:]
    call = get_call(database, call_id)
    assert call.state == CallState.completed and call.outcome == CallOutcome.connected
    assert call.hangup_by == "customer" and call.answered_at is not None
    events = heard[call.public_id]
    assert events[-1] == Hangup("bye", by="customer")
    pcm = b"".join(e.pcm for e in events if isinstance(e, Audio) and e.track == Track.phone)
    # sipp's clip arrived, decoded from G.711 and resampled to the call's 16 kHz: most of a second of speech.
    assert len(pcm) >= 16000 * 2 * 0.8 and audio.rms(pcm) > 1000
    assert call.talk_seconds >= 1.0  # the clip heard plus our 400 ms
    assert call.recording_key is not None


def test_an_unknown_peer_gets_403(database: Database, orgs: TwoOrgs, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = LogRecorder()
    monkeypatch.setattr(sip_module, "log", logs)
    adapter = SipAdapter("127.0.0.1:0")
    plane = make_plane(database, "sip", {LineKind.sip: adapter})

    async def go() -> tuple[int, str]:
        await adapter.start(plane.carry, plane.services)
        adapter.allowed_peers = {"127.0.0.1:5999"}  # the trunk; sipp comes from another port
        try:
            proc = await asyncio.create_subprocess_exec(
                SIPP or "sipp",
                "-sf",
                str(SCENARIOS / "unknown_peer.xml"),
                f"127.0.0.1:{adapter.port}",
                "-p",
                str(free_udp_port()),
                "-i",
                "127.0.0.1",
                "-m",
                "1",
                "-timeout",
                "20s",
                "-timeout_error",
                "-nostdin",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            # A garbled datagram: ignored with a log line.
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=("127.0.0.1", adapter.port)
            )
            transport.sendto(b"\x00\xffINVITE nonsense\r\n\r\n")
            transport.sendto(b"INVITE sip:x SIP/2.0\r\nVia: nothing\r\n\r\n")
            await asyncio.sleep(0.2)
            transport.close()
            return proc.returncode or 0, out.decode(errors="replace")
        finally:
            await adapter.stop()

    code, out = asyncio.run(go())
    assert code == 0, out[-2000:]
    assert logs.count("voice_sip_refused") == 1 and logs.count("voice_sip_garbled") == 2


def test_digest_authorization() -> None:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (the algorithm SIP digest names)

    challenge = parse_challenge('Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"')
    header = digest_authorization(
        challenge, method="INVITE", uri="sip:1@x", username="Mufasa", password="Circle Of Life"
    )
    ha1, ha2 = md5("Mufasa:testrealm@host.com:Circle Of Life"), md5("INVITE:sip:1@x")
    assert f'response="{md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}")}"' in header
    with_qop = digest_authorization(
        {**challenge, "qop": "auth,auth-int", "opaque": "5ccc"},
        method="INVITE",
        uri="sip:1@x",
        username="Mufasa",
        password="Circle Of Life",
    )
    fields = dict(part.strip().split("=", 1) for part in with_qop[len("Digest ") :].split(","))
    cnonce = fields["cnonce"].strip('"')
    expected = md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:{cnonce}:auth:{ha2}")
    assert fields["response"] == f'"{expected}"' and fields["qop"] == "auth" and fields["opaque"] == '"5ccc"'


def test_parse_refuses_garbage() -> None:
    for data in (
        b"",
        b"hello",
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"SIP/2.0 999 x\r\n\r\n",
        b"\xff" * 100 + b"\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nCall-ID: 1\r\nCSeq: x INVITE\r\nFrom: a\r\nTo: b\r\nVia: v\r\n\r\n",
    ):
        with pytest.raises(ValueError):
            parse(data)


def dial_against(
    database: Database, orgs: TwoOrgs, scenario: str, config: dict[str, Any], ring_timeout: int = 30
) -> tuple[Any, str, int]:
    port = free_udp_port()
    proc = sipp("-sf", str(SCENARIOS / scenario), "-p", str(port))
    try:
        time.sleep(0.3)
        line = make_line(
            database,
            orgs.a.id,
            kind=LineKind.sip,
            config=SipLineConfig(trunk_host="127.0.0.1", trunk_port=port, **config),
        )
        [call_id] = queue_calls(database, orgs.a.id, line, 1)
        plane = make_plane(database, "sip", {LineKind.sip: SipAdapter("127.0.0.1:0")})
        plane.ring_timeout_seconds = ring_timeout
        asyncio.run(run_until_ended(plane, database, call_id))
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return get_call(database, call_id), out, proc.returncode


def test_digest_challenge_answered_then_busy(database: Database, orgs: TwoOrgs) -> None:
    call, out, code = dial_against(
        database, orgs, "auth_busy.xml", {"username": "edudesk", "password": SecretStr("s3cret")}
    )
    assert code == 0, out[-2000:]
    # sipp verified our credentials (bad ones get 403 → failed) and answered busy.
    assert call.state == CallState.busy and call.outcome == CallOutcome.busy


def test_wrong_password_fails(database: Database, orgs: TwoOrgs) -> None:
    call, _, _ = dial_against(database, orgs, "auth_busy.xml", {"username": "edudesk", "password": SecretStr("x")})
    assert call.state == CallState.failed and "403" in call.error


def test_ring_timeout_cancels(database: Database, orgs: TwoOrgs) -> None:
    call, out, code = dial_against(database, orgs, "ring_no_answer.xml", {}, ring_timeout=2)
    assert code == 0, out[-2000:]  # sipp got our CANCEL and the ACK of its 487
    assert call.state == CallState.no_answer and call.outcome == CallOutcome.no_answer

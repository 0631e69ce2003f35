"""The media plane's claims: two instances never dial the same call, a line's max_concurrent holds, a call past its
window is canceled, never dialled, a dead instance's calls are recovered after their lease; an answered call is
carried to its end (state, talk time, recording)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import wave
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from edudesk import cli, jobs
from edudesk.db import Database, utcnow
from edudesk.voice import audio
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Hangup, Track
from edudesk.voice.models import CallOutcome, CallState, LineKind
from edudesk.voice.runtime import EXPIRED_REASON, LOST_REASON, CallRefused, Claimed
from edudesk.voice.telephony.base import DialFailed, OriginateRequest
from tests.conftest import TwoOrgs
from tests.voice.plane_support import (
    RecordingAdapter,
    ScriptPort,
    expire_lease,
    get_call,
    make_line,
    make_plane,
    queue_calls,
)


def test_two_instances_never_dial_the_same_call(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id, max_concurrent=7)
    queue_calls(database, orgs.a.id, line, 12)
    planes = [make_plane(database, "one"), make_plane(database, "two")]
    results: dict[str, list[Claimed]] = {}
    barrier = threading.Barrier(2)

    def claim(n: int) -> None:
        barrier.wait()
        results[planes[n].id] = planes[n].claim() + planes[n].claim()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [c.call_id for claimed in results.values() for c in claimed]
    assert len(ids) == len(set(ids)) == 7  # never twice, never beyond the line's max_concurrent
    for plane_id, claimed in results.items():
        for c in claimed:
            call = get_call(database, c.call_id)
            assert call.claimed_by == plane_id and call.state == CallState.dialing and call.lease_until is not None
            assert c.config.originate_url.startswith("http://127.0.0.1")  # type: ignore[attr-defined]


def test_disabled_line_and_other_kinds_are_not_claimed(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id)
    queue_calls(database, orgs.a.id, line, 1)
    plane = make_plane(database, "one", adapters={})
    assert plane.claim() == []


def test_a_call_past_its_window_is_canceled_never_dialled(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id)
    [late] = queue_calls(database, orgs.a.id, line, 1, not_after=utcnow() - dt.timedelta(minutes=1))
    adapter = RecordingAdapter()
    plane = make_plane(database, "one", {LineKind.websocket: adapter})
    assert asyncio.run(plane.run_once()) == []
    call = get_call(database, late)
    assert call.state == CallState.canceled and call.outcome_reason == EXPIRED_REASON and call.dialed_at is None
    assert adapter.dialled == []
    with database.session() as session:
        assert [j.payload for j in session.scalars(select(jobs.Job).where(jobs.Job.kind == "voice.call_ended"))] == [
            {"call_id": late}
        ]


def test_lease_recovery(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id)
    [call_id] = queue_calls(database, orgs.a.id, line, 1)
    dead, alive = make_plane(database, "dead"), make_plane(database, "alive")
    assert [c.call_id for c in dead.claim()] == [call_id]
    assert alive.claim() == []  # the lease holds: nobody else touches the call
    assert alive.renew() == 0 and dead.renew() == 1
    expire_lease(database, call_id)  # the dead process stopped renewing
    assert alive.claim() == []
    call = get_call(database, call_id)
    assert call.state == CallState.failed and call.outcome == CallOutcome.failed
    assert call.outcome_reason == LOST_REASON and call.hangup_by == "network"


def test_dial_failures_end_the_call(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id)
    ids = queue_calls(database, orgs.a.id, line, 3)

    class Refusing(RecordingAdapter):
        async def originate(self, request: OriginateRequest) -> None:
            n = len(self.dialled)
            self.dialled.append(request.call_public_id)
            raise DialFailed(["no_answer", "busy", "failed"][n], "carrier said so")

    plane = make_plane(database, "one", {LineKind.websocket: Refusing()})

    async def go() -> None:
        for claimed in plane.claim():
            await plane.dial(claimed)

    asyncio.run(go())
    states = sorted((get_call(database, i).state, get_call(database, i).outcome) for i in ids)
    assert states == sorted(
        [
            (CallState.no_answer, CallOutcome.no_answer),
            (CallState.busy, CallOutcome.busy),
            (CallState.failed, CallOutcome.failed),
        ]
    )


def test_an_answered_call_is_carried_to_its_end(database: Database, orgs: TwoOrgs, tmp_path: Path) -> None:
    line = make_line(database, orgs.a.id)
    [call_id] = queue_calls(database, orgs.a.id, line, 1)
    speech = audio.tone(8000, 400)
    seen: list[int] = []

    async def robot(live: LiveCall, services: VoiceServices) -> None:
        seen.append(len(services.live))
        await live.port.play(audio.tone(8000, 200, 300))
        while not isinstance(await live.port.receive(), Hangup):
            pass

    plane = make_plane(database, "one", robot=robot, upload_dir=tmp_path)
    [claimed] = plane.claim()
    port = ScriptPort(
        claimed.public_id,
        [Audio(Track.phone, speech), Audio(Track.phone, audio.silence(8000, 200)), Hangup("stop", by="customer")],
    )
    asyncio.run(plane.carry(port))
    call = get_call(database, call_id)
    assert seen == [1] and len(plane.services.live) == 0
    assert call.state == CallState.completed and call.outcome == CallOutcome.connected
    assert call.hangup_by == "customer" and call.answered_at is not None
    assert 0.55 <= call.talk_seconds <= 0.65  # 400 ms heard + 200 ms said; the silence is not talk
    assert call.recording_key is not None
    assert call.recording_key.startswith(f"voice/{orgs.a.id}/") and call.recording_key.endswith(
        f"/{claimed.public_id}.wav")
    with wave.open(str(tmp_path / call.recording_key), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (8000, 1, 4800)


def test_transfer_runs_the_agent_side(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id)
    [call_id] = queue_calls(database, orgs.a.id, line, 1)
    order: list[str] = []

    async def robot(live: LiveCall, services: VoiceServices) -> None:
        order.append("robot")
        live.takeover.set()

    async def agent(live: LiveCall, services: VoiceServices) -> None:
        order.append("agent")

    plane = make_plane(database, "one", robot=robot, agent=agent)
    [claimed] = plane.claim()
    port = ScriptPort(claimed.public_id, [])
    asyncio.run(plane.carry(port))
    call = get_call(database, call_id)
    assert order == ["robot", "agent"] and call.hangup_by == "agent" and port.hung_up


def test_a_stream_for_a_call_not_carried_here_is_refused(database: Database, orgs: TwoOrgs) -> None:
    line = make_line(database, orgs.a.id)
    [call_id] = queue_calls(database, orgs.a.id, line, 1)
    mine, other = make_plane(database, "mine"), make_plane(database, "other")
    [claimed] = mine.claim()
    with pytest.raises(CallRefused):
        asyncio.run(other.carry(ScriptPort(claimed.public_id, [])))
    with pytest.raises(CallRefused):
        asyncio.run(mine.carry(ScriptPort("no-such-call-000000", [])))
    assert get_call(database, call_id).state == CallState.dialing


def test_the_voice_command_is_there() -> None:
    result = CliRunner().invoke(cli.app, ["voice", "--help"])
    assert result.exit_code == 0 and "媒体平面" in result.output

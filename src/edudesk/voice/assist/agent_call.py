"""An agent's call with the assist: both sides transcribed live, alert rules on every turn, the console's audio
bridged in. The media plane runs ``run_agent_call`` for agents' calls and after an agent took over a robot call.

Each side has its own recognition stream (the phone track is the customer; the agent is the ``ours`` track a
carrier forks, or the agent's own browser audio once it arrives, which then wins: the ``ours`` track is only the
echo of what we played). Every final result becomes a call turn (``voice.service.add_turn`` publishes
``call.turn`` on the call's topic) with its intent and the alerts it fired; fired alerts also publish
``call.alert`` with the suggested lines, so the agent's console shows a chip and supervisors watching see a flag.
The taps (recorder, listeners) are the runtime's business: its port tees every chunk heard or played to
``live.heard``. The database is written from a worker thread, one turn batch at a time, so a slow database delays
the transcript but never the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from edudesk import events
from edudesk.db import Database, utcnow
from edudesk.voice import service as voice_service
from edudesk.voice.assist import alerts, bridge
from edudesk.voice.engines.base import Recognised, RecognitionStream
from edudesk.voice.live import LiveCall, VoiceServices
from edudesk.voice.media import Audio, Hangup, Track
from edudesk.voice.models import Speaker

log = structlog.get_logger(__name__)

CALL_ALERT_EVENT = "call.alert"
# How long the console's audio is gathered before it is mixed and played: chunks from the agent and a
# supervisor arriving within one tick are heard together.
TICK_SECONDS = 0.02


def _start(db: Database, org_id: int, call_id: int) -> tuple[list[alerts.Rule], int]:
    """The org's rules for this call, and how far into the call (ms since answer) the transcript starts."""
    with db.session() as session:
        rules = alerts.active_rules(session, org_id)
        call = voice_service.get_call(session, org_id, call_id)
        offset = 0
        if call.answered_at is not None:
            offset = max(0, int((utcnow() - call.answered_at).total_seconds() * 1000))
        session.commit()
    return rules, offset


def record_turns(
    db: Database,
    org_id: int,
    call_id: int,
    speaker: Speaker,
    results: Sequence[Recognised],
    rules: Sequence[alerts.Rule],
    offset_ms: int = 0,
) -> None:
    """Final recognitions of one side as turns, with intent and alerts, in one transaction."""
    with db.session() as session:
        call = voice_service.get_call(session, org_id, call_id)
        for result in results:
            intent = alerts.intent_of(result.text) if speaker == Speaker.customer else None
            fired = alerts.match(rules, speaker, result.text, intent)
            turn = voice_service.add_turn(
                session,
                call,
                speaker,
                result.text.strip(),
                start_ms=offset_ms + result.start_ms,
                end_ms=offset_ms + result.end_ms,
                confidence=result.confidence,
                intent=intent,
                alerts=[f.rule.name for f in fired],
            )
            if fired:
                events.record(
                    session,
                    events.DomainEvent(
                        CALL_ALERT_EVENT,
                        org_id,
                        {
                            "call_id": call_id,
                            "seq": turn.seq,
                            "speaker": speaker.value,
                            "text": turn.text,
                            "alerts": alerts.as_payload(fired),
                        },
                        topics=(voice_service.call_topic(org_id, call_id),),
                    ),
                )
        session.commit()


class Scribe:
    """The recognition streams of one call (one per speaker) and the writing of their results, in order."""

    def __init__(self, live: LiveCall, services: VoiceServices, rules: list[alerts.Rule], offset_ms: int) -> None:
        self.live = live
        self.services = services
        self.rules = rules
        self.offset_ms = offset_ms
        self.browser_agent = False
        self._streams: dict[Speaker, RecognitionStream] = {}
        self._lock = asyncio.Lock()

    def _stream(self, speaker: Speaker) -> RecognitionStream:
        stream = self._streams.get(speaker)
        if stream is None:
            track = Track.phone if speaker == Speaker.customer else Track.ours
            stream = self.services.recogniser.stream(
                self.live.sample_rate, call_public_id=self.live.public_id, track=int(track)
            )
            self._streams[speaker] = stream
        return stream

    async def hear(self, speaker: Speaker, pcm: bytes) -> None:
        await self._write(speaker, self._stream(speaker).accept(pcm))

    async def finish(self) -> None:
        for speaker, stream in list(self._streams.items()):
            await self._write(speaker, stream.finish())

    async def _write(self, speaker: Speaker, results: list[Recognised]) -> None:
        finals = [r for r in results if r.final and r.text.strip()]
        if not finals:
            return
        async with self._lock:
            try:
                await asyncio.to_thread(
                    record_turns,
                    self.services.db,
                    self.live.org_id,
                    self.live.call_id,
                    speaker,
                    finals,
                    self.rules,
                    self.offset_ms,
                )
            except Exception:  # the call goes on; the transcript misses these lines, and the log says so
                log.exception("call_turn_write_failed", call_id=self.live.call_id, org_id=self.live.org_id)


async def _bridge_console_audio(live: LiveCall, scribe: Scribe) -> None:
    """Plays what the console sends (the agent's browser, a supervisor barging in) to the phone side, mixed, and
    transcribes each source on its own."""
    while True:
        chunks = [await live.agent_audio.get()]
        await asyncio.sleep(TICK_SECONDS)
        while not live.agent_audio.empty():
            chunks.append(live.agent_audio.get_nowait())
        mixed, own = bridge.mix_sources(chunks)
        if mixed:
            await live.port.play(mixed)
        for source, pcm in own.items():
            speaker = Speaker.supervisor if source == "supervisor" else Speaker.agent
            if speaker == Speaker.agent:
                scribe.browser_agent = True
            await scribe.hear(speaker, pcm)


async def run_agent_call(live: LiveCall, services: VoiceServices) -> None:
    """Transcribes and assists the call until the port hangs up; the caller (the media plane) ends the call."""
    rules, offset = await asyncio.to_thread(_start, services.db, live.org_id, live.call_id)
    scribe = Scribe(live, services, rules, offset)
    console = asyncio.create_task(_bridge_console_audio(live, scribe))
    try:
        while True:
            try:
                event = await live.port.receive()
            except EOFError:
                break
            if isinstance(event, Hangup):
                break
            if isinstance(event, Audio):
                if event.track == Track.phone:
                    await scribe.hear(Speaker.customer, event.pcm)
                elif not scribe.browser_agent:
                    await scribe.hear(Speaker.agent, event.pcm)
    finally:
        console.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await console
        await scribe.finish()

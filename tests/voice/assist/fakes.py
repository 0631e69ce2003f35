"""What the assist tests run calls with: a media port fed from the test, and a recogniser whose "audio" carries its
own text (``said("退费")``), so a test says exactly what each side said. The robot part's fakes
(tests/voice/fakes.py, voice/engines/scripted.py) serve the same purpose for the robot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from edudesk.voice.engines.base import EngineStatus, Recognised
from edudesk.voice.live import LiveCall, LiveCalls, VoiceServices
from edudesk.voice.media import Audio, Hangup, MediaEvent, Track
from edudesk.voice.models import CallMode

MARK = b"TX"


def said(text: str) -> bytes:
    """A chunk of "audio" the recogniser hears as ``text`` (even length, like 16-bit PCM)."""
    raw = MARK + text.encode("utf-8")
    return raw + b"\0" * (len(raw) % 2)


def tone(value: int, samples: int = 160) -> bytes:
    return int(value).to_bytes(2, "little", signed=True) * samples


class TextStream:
    def __init__(self, track: int, log: list[tuple[int, str]]) -> None:
        self.track = track
        self.log = log
        self.at = 0

    def accept(self, pcm: bytes) -> list[Recognised]:
        start = self.at
        self.at += 500
        if not pcm.startswith(MARK):
            return []
        text = pcm[len(MARK) :].rstrip(b"\0").decode("utf-8")
        self.log.append((self.track, text))
        return [
            Recognised(text, final=False),
            Recognised(text, final=True, start_ms=start, end_ms=self.at, confidence=0.9),
        ]

    def finish(self) -> list[Recognised]:
        return []


@dataclass
class TextRecogniser:
    name: str = "text"
    heard: list[tuple[int, str]] = field(default_factory=list)

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, True)

    def stream(self, sample_rate: int, *, call_public_id: str, track: int = 0) -> TextStream:
        return TextStream(track, self.heard)


class Silent:
    name = "silent"

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, True)

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        return b""


class FakePort:
    """A call's audio from the test: ``send`` what the carrier would, ``played`` is what the phone side heard."""

    def __init__(self, public_id: str, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self.call_public_id = public_id
        self.inbox: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self.played: list[bytes] = []
        self.hung_up = False

    def send(self, event: MediaEvent) -> None:
        self.inbox.put_nowait(event)

    def say(self, text: str, track: Track = Track.phone) -> None:
        self.send(Audio(track, said(text)))

    async def receive(self) -> MediaEvent:
        if self.hung_up:
            raise EOFError
        event = await self.inbox.get()
        if isinstance(event, Hangup):
            self.hung_up = True
        return event

    async def play(self, pcm: bytes) -> None:
        self.played.append(pcm)

    async def mark(self, name: str) -> None:
        pass

    async def clear(self) -> None:
        pass

    async def hangup(self, reason: str = "") -> None:
        self.send(Hangup(reason, "network"))


def services(db: object, live: LiveCalls | None = None) -> VoiceServices:
    return VoiceServices(
        db=db,
        settings=None,
        recogniser=TextRecogniser(),
        synthesiser=Silent(),
        live=live if live is not None else LiveCalls(),
    )


def live_call(call_id: int, org_id: int, public_id: str, mode: CallMode = CallMode.agent) -> LiveCall:
    return LiveCall(
        public_id=public_id, call_id=call_id, org_id=org_id, mode=mode, port=FakePort(public_id), sample_rate=8000
    )

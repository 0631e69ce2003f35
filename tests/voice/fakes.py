"""An in-memory telephone for voice tests: a ``MediaPort`` whose other end is a scripted caller.

The caller's side is a list of actions (wait for the robot to finish speaking, say something, press a key, stay
silent, hang up). Audio flows as a carrier sends it: every ``receive`` is one 20 ms frame of the phone side —
speech-like noise while the caller "says" something, quiet line noise otherwise — and each frame also plays 20 ms
of what we queued, firing our marks once the audio before them has been played. So time is *media time*: it only
moves while the talker reads the port, and a test is as fast as the code under test and as deterministic.
``realtime=True`` paces frames on the wall clock instead (the benchmark), as a real line does.

Use with the scripted recogniser: ``recogniser.register(phone.call_public_id, phone.lines())`` makes each
``Say`` recognised as its text.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edudesk.voice.media import Audio, Dtmf, Hangup, MediaEvent, Played, Track

FRAME_MS = 20


@dataclass(frozen=True)
class WaitForBot:
    """Silence until our side has played something and then been quiet for ``quiet_ms``."""

    quiet_ms: int = 300


@dataclass(frozen=True)
class WaitForBotSpeaking:
    """Silence until our side has been playing for ``ms`` (then the next action barges in)."""

    ms: int = 300


@dataclass(frozen=True)
class Say:
    text: str
    ms: int = 0  # 0: about 180 ms a character, at least 400 ms


@dataclass(frozen=True)
class Silence:
    ms: int


@dataclass(frozen=True)
class Press:
    digit: str


@dataclass(frozen=True)
class HangUp:
    pass


Action = WaitForBot | WaitForBotSpeaking | Say | Silence | Press | HangUp


def speech_pcm(ms: int, sample_rate: int, seed: int = 1) -> bytes:
    """Voice-like audio: a few harmonics of a gliding pitch under a syllable-rate envelope, loud enough for the
    energy VAD (and for espeak's output to be told apart from it)."""
    n = sample_rate * ms // 1000
    t = np.arange(n) / sample_rate
    pitch = 180 + 40 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    envelope = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 4 * t))
    return (wave * envelope * 6000).astype("<i2").tobytes()


def silence_pcm(ms: int, sample_rate: int, rng: np.random.Generator) -> bytes:
    n = sample_rate * ms // 1000
    return rng.normal(0, 30, n).astype("<i2").tobytes()


def rms(pcm: bytes) -> float:
    data = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(data * data))) if data.size else 0.0


@dataclass
class Timeline:
    """What happened when (media ms, and wall-clock seconds for the benchmark)."""

    speech_ends: list[tuple[int, float]] = field(default_factory=list)  # the caller stopped talking
    plays: list[tuple[int, float]] = field(default_factory=list)  # we queued audio
    clears: list[int] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    hangup_reason: str | None = None


class FakePhone:
    """The ``MediaPort`` of one call, driven by the caller's ``script``."""

    def __init__(
        self,
        script: list[Action],
        *,
        sample_rate: int = 8000,
        call_public_id: str = "fake-call-0000000000",
        realtime: bool = False,
        max_ms: int = 180_000,
    ) -> None:
        self.sample_rate = sample_rate
        self.call_public_id = call_public_id
        self.script = list(script)
        self.realtime = realtime
        self.max_ms = max_ms
        self.timeline = Timeline()
        self.heard = bytearray()  # everything of ours that was actually played (cleared audio is not)
        self._frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self._rng = np.random.default_rng(7)
        self._actions: deque[Action] = deque(self.script)
        self._pending = bytearray()  # our audio queued, not yet played
        self._marks: deque[tuple[int, str]] = deque()  # (byte offset in the play stream, name)
        self._played_total = 0  # bytes of ours played or dropped: the play stream's position
        self._queued_total = 0
        self._events: deque[MediaEvent] = deque()
        self._speech: bytearray = bytearray()
        self._ms = 0
        self._started: float | None = None
        self._quiet_ms = 0
        self._played_since_action = 0
        self._silence_left = 0
        self._hung_up = False
        self._ended = False
        self.closed = asyncio.Event()

    # -- the script -------------------------------------------------------------------------------------------
    def lines(self) -> list[str]:
        return [a.text for a in self.script if isinstance(a, Say)]

    @property
    def now_ms(self) -> int:
        return self._ms

    def _next_action(self) -> None:
        """Runs instant actions and starts timed ones until one needs frames."""
        while self._actions and not self._speech and self._silence_left <= 0:
            action = self._actions[0]
            if isinstance(action, Say):
                self._actions.popleft()
                ms = action.ms or max(400, 180 * len(action.text))
                self._speech = bytearray(speech_pcm(ms, self.sample_rate, seed=len(self.timeline.speech_ends)))
            elif isinstance(action, Silence):
                self._actions.popleft()
                self._silence_left = action.ms
            elif isinstance(action, Press):
                self._actions.popleft()
                self._events.append(Dtmf(action.digit))
            elif isinstance(action, HangUp):
                self._actions.popleft()
                self._hang(Hangup("caller hung up", "customer"))
                return
            elif isinstance(action, WaitForBot):
                if self._played_since_action > 0 and not self._pending and self._quiet_ms >= action.quiet_ms:
                    self._actions.popleft()
                    self._played_since_action = 0
                    continue
                return
            else:  # WaitForBotSpeaking
                if self._played_since_action * 1000 // (2 * self.sample_rate) >= action.ms and self._pending:
                    self._actions.popleft()
                    self._played_since_action = 0
                    continue
                return

    def _hang(self, event: Hangup) -> None:
        if not self._hung_up:
            self._hung_up = True
            self._events.append(event)

    # -- one 20 ms tick ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._next_action()
        if self._hung_up:
            return
        if self._ms >= self.max_ms:
            self._hang(Hangup("test call too long", "network"))
            return
        # our side plays 20 ms
        step = min(self._frame_bytes, len(self._pending))
        if step:
            self.heard += self._pending[:step]
            del self._pending[:step]
            self._played_total += step
            self._played_since_action += step
            self._quiet_ms = 0
        else:
            self._quiet_ms += FRAME_MS
        while self._marks and self._marks[0][0] <= self._played_total:
            name = self._marks.popleft()[1]
            self._events.append(Played(name))
        # the phone side sends 20 ms
        if self._speech:
            chunk = bytes(self._speech[: self._frame_bytes])
            del self._speech[: self._frame_bytes]
            if len(chunk) < self._frame_bytes:
                chunk += silence_pcm(FRAME_MS, self.sample_rate, self._rng)[: self._frame_bytes - len(chunk)]
            if not self._speech:
                self.timeline.speech_ends.append((self._ms + FRAME_MS, time.perf_counter()))
        else:
            chunk = silence_pcm(FRAME_MS, self.sample_rate, self._rng)
            self._silence_left -= FRAME_MS
        self._ms += FRAME_MS
        self._events.append(Audio(Track.phone, chunk))

    # -- MediaPort ---------------------------------------------------------------------------------------------
    async def receive(self) -> MediaEvent:
        if self._ended:
            raise EOFError("call ended")
        while not self._events:
            if self.realtime:
                if self._started is None:
                    self._started = time.perf_counter()
                due = self._started + self._ms / 1000
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            self._tick()
        event = self._events.popleft()
        if isinstance(event, Hangup):
            self._ended = True
            self.closed.set()
        return event

    async def play(self, pcm: bytes) -> None:
        if self._hung_up:
            return
        self.timeline.plays.append((self._ms, time.perf_counter()))
        self._pending += pcm
        self._queued_total += len(pcm)

    async def mark(self, name: str) -> None:
        self._marks.append((self._queued_total, name))
        self.timeline.marks.append(name)

    async def clear(self) -> None:
        self.timeline.clears.append(self._ms)
        self._played_total += len(self._pending)
        self._pending.clear()
        # Marks after dropped audio are echoed at once, as carriers do, so nobody waits for them.
        while self._marks:
            self._events.append(Played(self._marks.popleft()[1]))

    async def hangup(self, reason: str = "") -> None:
        self.timeline.hangup_reason = reason
        self._hang(Hangup(reason, "bot"))

    def played_ms(self) -> int:
        return len(self.heard) * 1000 // (2 * self.sample_rate)

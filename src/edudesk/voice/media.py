"""The media contract: how a call's audio reaches the voice runtime, whatever carried it.

Every telephony adapter (the media WebSocket, Asterisk AudioSocket, SIP/RTP) turns its transport into a
``MediaPort`` and hands it to the runtime; the robot dialogue and the telesales assist only ever see a port. The
wire format of the media WebSocket (docs/voice.md, "Media stream") is defined here too, because it is the one
format edudesk publishes for carriers and PBXs to implement:

- text frames are JSON control frames, each with an ``event``: ``start`` (first frame from the carrier: the call's
  token, the sample rate, the tracks), ``dtmf``, ``mark`` (echo of a mark we sent, once the audio before it has
  been played), ``stop``; from us: ``mark``, ``clear`` (drop the audio not yet played: the caller barged in),
  ``hangup``.
- binary frames are audio: one byte naming the track (0: the callee/caller, the phone side; 1: our side as the
  carrier hears it, sent by carriers that fork both sides of an agent's call), then 16-bit little-endian mono PCM
  at the start frame's rate (8000 or 16000 Hz). From us, the track byte is 0 and the audio is what the phone side
  hears.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SAMPLE_RATES = (8000, 16000)
SAMPLE_WIDTH = 2  # bytes per sample: 16-bit PCM, mono
# Audio frames larger than this are refused (a second of 16 kHz audio): a carrier sends 20–100 ms at a time.
MAX_AUDIO_FRAME = 32000
MAX_CONTROL_FRAME = 4096


class Track(enum.IntEnum):
    phone = 0  # the person on the telephone
    ours = 1  # the robot or the agent, as the carrier heard it


TrackName = Literal["phone", "ours"]


class StartFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: Literal["start"]
    # The call's media token (from the originate request or the inbound webhook's answer): it names the call.
    token: str = Field(min_length=16, max_length=200)
    sample_rate: Literal[8000, 16000]
    tracks: list[TrackName] = Field(default_factory=lambda: list[TrackName](["phone"]), min_length=1, max_length=2)
    # The carrier's own id of the call, kept on the call for support.
    provider_call_id: str | None = Field(default=None, max_length=128)


class DtmfFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: Literal["dtmf"]
    digit: Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "A", "B", "C", "D"]


class MarkFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: Literal["mark"]
    name: str = Field(min_length=1, max_length=64)


class StopFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: Literal["stop"]
    reason: str = Field(default="", max_length=64)


ControlFrame = Annotated[StartFrame | DtmfFrame | MarkFrame | StopFrame, Field(discriminator="event")]
CONTROL_FRAME = TypeAdapter(ControlFrame)


class MediaFrameError(ValueError):
    """A frame that breaks the contract: the stream is closed with this reason and a log line, nothing stored."""


def parse_control(text: str) -> StartFrame | DtmfFrame | MarkFrame | StopFrame:
    if len(text) > MAX_CONTROL_FRAME:
        raise MediaFrameError("control frame too large")
    try:
        return CONTROL_FRAME.validate_json(text)
    except ValueError as exc:
        raise MediaFrameError(f"bad control frame: {str(exc).splitlines()[0]}") from None


def parse_audio(data: bytes) -> tuple[Track, bytes]:
    """The track and PCM of a binary frame; an odd number of PCM bytes or an unknown track is a broken frame."""
    if len(data) < 1 + SAMPLE_WIDTH:
        raise MediaFrameError("audio frame too short")
    if len(data) > MAX_AUDIO_FRAME + 1:
        raise MediaFrameError("audio frame too large")
    try:
        track = Track(data[0])
    except ValueError:
        raise MediaFrameError(f"unknown track {data[0]}") from None
    pcm = data[1:]
    if len(pcm) % SAMPLE_WIDTH:
        raise MediaFrameError("audio frame is not whole 16-bit samples")
    return track, pcm


def audio_frame(pcm: bytes, track: Track = Track.phone) -> bytes:
    return bytes((int(track),)) + pcm


# What a port yields to the runtime.
@dataclass(frozen=True)
class Audio:
    track: Track
    pcm: bytes


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Played:
    """The audio before this mark has been played to the phone side."""

    name: str


@dataclass(frozen=True)
class Hangup:
    reason: str = ""
    by: str = "customer"  # customer / network


MediaEvent = Audio | Dtmf | Played | Hangup


class MediaPort(Protocol):
    """One answered call's audio, whatever the transport. ``receive`` ends with a ``Hangup`` (and raises
    EOFError after it); ``play`` queues audio for the phone side and returns at once; ``mark`` asks for a
    ``Played`` event once what was queued before it has been heard; ``clear`` drops what is queued (barge-in)."""

    sample_rate: int
    call_public_id: str

    async def receive(self) -> MediaEvent: ...

    async def play(self, pcm: bytes) -> None: ...

    async def mark(self, name: str) -> None: ...

    async def clear(self) -> None: ...

    async def hangup(self, reason: str = "") -> None: ...

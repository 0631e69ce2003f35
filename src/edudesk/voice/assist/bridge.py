"""The audio bridge of an agent's call: pure functions over 16-bit little-endian mono PCM.

Who hears what:

- the phone side hears the agent (their browser, after a take-over) mixed with a supervisor who barged in: the
  console's sockets put ``Sourced`` chunks into ``LiveCall.agent_audio``; the agent's call drains the queue every
  tick, joins each source's chunks in order and mixes the sources (``mix_sources``), so two people talking at
  once are heard at once rather than one after the other;
- the agent hears the phone side and a supervisor's whisper or barge-in (``mix``);
- a supervisor listening hears both sides of the call, paired up as they arrive by ``TrackMixer``.

Mixing is a sum clipped to the 16-bit range (no wrap-around into a loud click). Kept free of numpy on purpose:
``array`` does a 20 ms frame in microseconds, and the media plane needs no more dependencies.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable

from edudesk.voice.media import Track

MAX_SAMPLE = 32767
MIN_SAMPLE = -32768


class Sourced(bytes):
    """PCM with the name of who said it ("agent", "supervisor"): what the sockets queue on ``agent_audio``."""

    source: str

    def __new__(cls, pcm: bytes, source: str) -> Sourced:
        obj = super().__new__(cls, pcm)
        obj.source = source
        return obj


def samples(pcm: bytes) -> array[int]:
    """The samples of ``pcm`` (a trailing odd byte is dropped)."""
    out = array("h")
    out.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # the wire is little-endian
        out.byteswap()
    return out


def to_pcm(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values = array("h", values)
        values.byteswap()
    return values.tobytes()


def mix(*chunks: bytes) -> bytes:
    """The chunks played together: as long as the longest, the shorter ones padded with silence, clipped."""
    parts = [samples(c) for c in chunks if c]
    if not parts:
        return b""
    if len(parts) == 1:
        return to_pcm(parts[0])
    length = max(len(p) for p in parts)
    out = array("h", bytes(2 * length))
    for i in range(length):
        total = 0
        for p in parts:
            if i < len(p):
                total += p[i]
        out[i] = MAX_SAMPLE if total > MAX_SAMPLE else MIN_SAMPLE if total < MIN_SAMPLE else total
    return to_pcm(out)


def gain(pcm: bytes, factor: float) -> bytes:
    """``pcm`` louder or softer, clipped (a whisper a little softer than the call, so the agent tells them apart)."""
    out = array("h", (max(MIN_SAMPLE, min(MAX_SAMPLE, round(v * factor))) for v in samples(pcm)))
    return to_pcm(out)


def source_of(chunk: bytes) -> str:
    return chunk.source if isinstance(chunk, Sourced) else "agent"


def mix_sources(chunks: Iterable[bytes]) -> tuple[bytes, dict[str, bytes]]:
    """One tick of queued chunks: each source's chunks joined in order, then the sources mixed. Returns the mix
    and each source's own audio (for its transcription)."""
    by_source: dict[str, bytearray] = {}
    for chunk in chunks:
        by_source.setdefault(source_of(chunk), bytearray()).extend(chunk)
    own = {source: bytes(pcm) for source, pcm in by_source.items()}
    return mix(*own.values()), own


class TrackMixer:
    """Pairs up the two tracks of a call as their chunks arrive (each track in its own rhythm) into one mixed
    stream for a listener. When one side is silent on the wire (a carrier that sends only the phone track, or
    the robot between prompts) the other is not held back: past ``max_lag`` samples it goes out alone."""

    def __init__(self, frame_samples: int = 320, max_lag: int = 1600) -> None:
        self.frame = frame_samples
        self.max_lag = max_lag
        self._buf: dict[Track, bytearray] = {Track.phone: bytearray(), Track.ours: bytearray()}

    def push(self, track: Track, pcm: bytes) -> list[bytes]:
        self._buf[track].extend(pcm[: len(pcm) - len(pcm) % 2])
        out: list[bytes] = []
        size = 2 * self.frame
        phone, ours = self._buf[Track.phone], self._buf[Track.ours]
        while len(phone) >= size and len(ours) >= size:
            out.append(mix(bytes(phone[:size]), bytes(ours[:size])))
            del phone[:size], ours[:size]
        for alone, other in ((phone, ours), (ours, phone)):
            while len(alone) >= 2 * self.max_lag and len(other) < size:
                out.append(bytes(alone[:size]))
                del alone[:size]
        return out

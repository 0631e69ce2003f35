"""Sample-level audio work of the media plane: G.711, resampling, speech detection, mixing, WAV.

Everything goes through this one module so that the codec can be swapped: it uses the standard library's
``audioop`` (deprecated since Python 3.11 and gone in 3.13; ``audioop-lts`` on PyPI is a drop-in replacement, and
numpy would do too). Audio is 16-bit little-endian mono PCM throughout, as the media contract says.
"""

from __future__ import annotations

import io
import math
import warnings
import wave
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

WIDTH = 2
# RMS of a 20 ms frame above which it counts as speech (16-bit full scale is 32767; quiet rooms and line noise stay
# well under ~200, voices at telephone levels are in the thousands).
SPEECH_RMS = 500


def ulaw_encode(pcm: bytes) -> bytes:
    return audioop.lin2ulaw(pcm, WIDTH)


def ulaw_decode(data: bytes) -> bytes:
    return audioop.ulaw2lin(data, WIDTH)


def alaw_encode(pcm: bytes) -> bytes:
    return audioop.lin2alaw(pcm, WIDTH)


def alaw_decode(data: bytes) -> bytes:
    return audioop.alaw2lin(data, WIDTH)


class Resampler:
    """A stateful rate converter for one direction of one call (the state keeps chunk edges click-free)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: Any = None

    def convert(self, pcm: bytes) -> bytes:
        if self.from_rate == self.to_rate or not pcm:
            return pcm
        out, self._state = audioop.ratecv(pcm, WIDTH, 1, self.from_rate, self.to_rate, self._state)
        return bytes(out)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    return Resampler(from_rate, to_rate).convert(pcm)


def rms(pcm: bytes) -> int:
    return int(audioop.rms(pcm, WIDTH)) if pcm else 0


def mix_into(base: bytearray, offset: int, pcm: bytes) -> None:
    """Adds ``pcm`` into ``base`` at byte ``offset`` (saturating), growing ``base`` with silence as needed."""
    offset -= offset % WIDTH
    end = offset + len(pcm)
    if end > len(base):
        base.extend(bytes(end - len(base)))
    base[offset:end] = audioop.add(bytes(base[offset:end]), pcm, WIDTH)


def silence(sample_rate: int, ms: int) -> bytes:
    return bytes(sample_rate * ms // 1000 * WIDTH)


def tone(sample_rate: int, ms: int, freq: float = 440.0, amplitude: int = 8000) -> bytes:
    """A sine tone: test audio that counts as speech, and a stand-in prompt."""
    n = sample_rate * ms // 1000
    samples = (int(amplitude * math.sin(2 * math.pi * freq * i / sample_rate)) for i in range(n))
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(WIDTH)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buf.getvalue()


class SpeechMeter:
    """Counts the speech in a stream, 20 ms at a time (effective talk time, 有效通话时长)."""

    def __init__(self, sample_rate: int) -> None:
        self.frame_bytes = sample_rate // 50 * WIDTH
        self.sample_rate = sample_rate
        self._pending = b""
        self.speech_frames = 0

    def feed(self, pcm: bytes) -> None:
        data = self._pending + pcm
        whole = len(data) - len(data) % self.frame_bytes
        for i in range(0, whole, self.frame_bytes):
            if rms(data[i : i + self.frame_bytes]) >= SPEECH_RMS:
                self.speech_frames += 1
        self._pending = data[whole:]

    @property
    def seconds(self) -> float:
        return self.speech_frames * 0.02

"""Speech engines behind interfaces: a recogniser (ASR) and a synthesiser (TTS).

No Chinese speech model can be shipped or downloaded, so the engines are chosen by settings: sherpa-onnx from a
model directory, a cloud streaming ASR over HTTP, espeak-ng, pre-recorded prompt files, a cloud TTS; tests and
the demo use the scripted recogniser. An engine that is not usable says why (``EngineStatus``), the admin shows
it, and campaigns that need it refuse to start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EngineStatus:
    name: str
    ready: bool
    # Why not, in Chinese, for the admin page ("未配置语音识别模型：请设置 EDUDESK_ASR_MODEL_DIR").
    detail: str = ""


@dataclass(frozen=True)
class Recognised:
    text: str
    final: bool
    start_ms: int = 0
    end_ms: int = 0
    confidence: float | None = None


class RecognitionStream(Protocol):
    """One utterance-by-utterance recognition of one track of one call."""

    def accept(self, pcm: bytes) -> list[Recognised]: ...

    def finish(self) -> list[Recognised]: ...


class Recogniser(Protocol):
    name: str

    def status(self) -> EngineStatus: ...

    def stream(
        self, sample_rate: int, *, call_public_id: str, track: int = 0, phone_e164: str = ""
    ) -> RecognitionStream:
        """A new stream for one track of one call. ``phone_e164`` is the other party's number, for engines that
        pick a per-number vocabulary or script (the scripted recogniser of tests and the demo)."""
        ...


class Synthesiser(Protocol):
    name: str

    def status(self) -> EngineStatus: ...

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        """16-bit mono PCM of ``text`` at ``sample_rate``."""
        ...

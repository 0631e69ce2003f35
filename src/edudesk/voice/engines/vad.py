"""Voice activity detection with endpointing: where speech starts and where it has ended.

An energy detector with a zero-crossing check over 20 ms frames of 16-bit PCM. It serves two purposes: barge-in
(the callee starts talking while we play a prompt: stop the prompt at once) and endpointing for recognisers that
do not endpoint themselves (the scripted one, a cloud ASR that only transcribes what it is given). Time is counted
in samples fed, not on the wall clock, so the decisions are the same whether the audio arrives in real time or a
test pushes it as fast as it can.

A segment starts after ``start_ms`` of consecutive voiced frames (a click or a cough is not speech), ends after
``end_silence_ms`` of unvoiced frames, and is reported only when it lasted ``min_speech_ms`` or more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_MS = 20


@dataclass(frozen=True)
class VadConfig:
    # RMS of a frame (16-bit full scale is 32767) above which it may be speech; telephone line noise sits ~50-200.
    threshold_rms: float = 500.0
    # A voiced frame crosses zero at most this share of its samples: broadband hiss crosses far more often.
    max_zero_crossing: float = 0.35
    start_ms: int = 60
    end_silence_ms: int = 500
    min_speech_ms: int = 200
    # A segment this long is cut (a television in the background must not hold the line forever).
    max_speech_ms: int = 20_000


@dataclass(frozen=True)
class SpeechStart:
    at_ms: int


@dataclass(frozen=True)
class SpeechEnd:
    start_ms: int
    end_ms: int


VadEvent = SpeechStart | SpeechEnd


def frame_is_voiced(frame: np.ndarray, config: VadConfig) -> bool:
    if frame.size == 0:
        return False
    samples = frame.astype(np.float32)
    rms = float(np.sqrt(np.mean(samples * samples)))
    if rms < config.threshold_rms:
        return False
    signs = np.signbit(frame)
    crossings = int(np.count_nonzero(signs[1:] != signs[:-1]))
    return crossings / max(1, frame.size - 1) <= config.max_zero_crossing


class Endpointer:
    """Feed PCM as it arrives; get ``SpeechStart`` when speech begins and ``SpeechEnd`` once it is over."""

    def __init__(self, sample_rate: int, config: VadConfig | None = None) -> None:
        self.sample_rate = sample_rate
        self.config = config or VadConfig()
        self._frame_samples = sample_rate * FRAME_MS // 1000
        self._carry = np.zeros(0, dtype=np.int16)
        self._frames = 0  # frames seen so far: the clock
        self._voiced_run = 0
        self._silent_run = 0
        self._start_frame: int | None = None  # the first voiced frame of the segment in progress
        self.in_speech = False

    @property
    def now_ms(self) -> int:
        return self._frames * FRAME_MS

    def feed(self, pcm: bytes) -> list[VadEvent]:
        if len(pcm) % 2:
            pcm = pcm[:-1]
        data = np.frombuffer(pcm, dtype="<i2")
        if self._carry.size:
            data = np.concatenate((self._carry, data))
        whole = data.size - data.size % self._frame_samples
        self._carry = data[whole:].copy()
        out: list[VadEvent] = []
        for offset in range(0, whole, self._frame_samples):
            event = self._step(frame_is_voiced(data[offset : offset + self._frame_samples], self.config))
            if event is not None:
                out.append(event)
        return out

    def flush(self) -> list[VadEvent]:
        """The end of the audio: a segment in progress ends here."""
        if self.in_speech and self._start_frame is not None:
            return [e for e in (self._close(self._frames),) if e is not None]
        return []

    def _step(self, voiced: bool) -> VadEvent | None:
        cfg = self.config
        frame = self._frames
        self._frames += 1
        if voiced:
            self._voiced_run += 1
            self._silent_run = 0
        else:
            self._silent_run += 1
            self._voiced_run = 0
        if not self.in_speech:
            if self._voiced_run * FRAME_MS >= cfg.start_ms:
                self.in_speech = True
                self._start_frame = frame - self._voiced_run + 1
                return SpeechStart(self._start_frame * FRAME_MS)
            return None
        assert self._start_frame is not None
        if self._silent_run * FRAME_MS >= cfg.end_silence_ms:
            return self._close(frame - self._silent_run + 1)
        if (frame + 1 - self._start_frame) * FRAME_MS >= cfg.max_speech_ms:
            return self._close(frame + 1)
        return None

    def _close(self, end_frame: int) -> SpeechEnd | None:
        assert self._start_frame is not None
        start = self._start_frame
        self.in_speech = False
        self._start_frame = None
        self._voiced_run = 0
        if (end_frame - start) * FRAME_MS < self.config.min_speech_ms:
            return None
        return SpeechEnd(start * FRAME_MS, end_frame * FRAME_MS)

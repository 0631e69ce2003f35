"""The scripted recogniser: tests and the demo register what each caller "says", and every speech segment the
energy VAD finds in the call's audio is recognised as the next line of that script.

No Chinese speech model can be installed here, so this is how a whole call runs end to end over real audio: the
fake phone (or the demo's caller) sends generated speech-like bursts, the VAD endpoints them exactly as it would
a real voice, and the text behind each burst comes back as a final result. A script is registered by the call's
public id or by the phone number; the call's id wins. When the script runs out, further speech yields nothing
(silence, as far as the dialogue knows) — the robot then reprompts and says goodbye, which is what a real
recogniser that understood nothing would cause.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

from edudesk.voice.engines.base import EngineStatus, Recognised
from edudesk.voice.engines.vad import Endpointer, SpeechEnd, VadConfig

# Scripts kept at most (a demo running for days must not grow without bound); the oldest go first.
MAX_SCRIPTS = 10_000


class ScriptedStream:
    def __init__(self, lines: deque[str] | None, sample_rate: int, config: VadConfig) -> None:
        self._lines = lines
        self._vad = Endpointer(sample_rate, config)

    def accept(self, pcm: bytes) -> list[Recognised]:
        return self._results(self._vad.feed(pcm))

    def finish(self) -> list[Recognised]:
        return self._results(self._vad.flush())

    def _results(self, events: Iterable[object]) -> list[Recognised]:
        out: list[Recognised] = []
        for event in events:
            if isinstance(event, SpeechEnd) and self._lines:
                out.append(Recognised(self._lines.popleft(), True, event.start_ms, event.end_ms, 1.0))
        return out


class ScriptedRecogniser:
    name = "scripted"

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self._scripts: dict[str, deque[str]] = {}
        self._lock = threading.Lock()

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, True, "脚本识别（测试与演示用）")

    def register(self, key: str, lines: Iterable[str]) -> None:
        """What the caller of call ``key`` (its public id, or a phone number in E.164) will say, in order."""
        with self._lock:
            self._scripts.pop(key, None)
            self._scripts[key] = deque(str(line) for line in lines)
            while len(self._scripts) > MAX_SCRIPTS:
                self._scripts.pop(next(iter(self._scripts)))

    def remaining(self, key: str) -> list[str]:
        with self._lock:
            return list(self._scripts.get(key, ()))

    def stream(self, sample_rate: int, *, call_public_id: str, track: int = 0, phone_e164: str = "") -> ScriptedStream:
        with self._lock:
            lines = self._scripts.get(call_public_id)
            if lines is None and phone_e164:
                lines = self._scripts.get(phone_e164)
        # Only the phone side speaks from a script; our own track (an agent's call) recognises nothing.
        return ScriptedStream(lines if track == 0 else None, sample_rate, self.config)

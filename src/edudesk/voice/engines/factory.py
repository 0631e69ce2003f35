"""The recogniser and synthesiser a process uses, from settings (``EDUDESK_VOICE_ASR``, ``EDUDESK_VOICE_TTS``…).

Built once by the app factory (or the ``edudesk voice`` process) into ``VoiceServices``. Nothing here fails on a
missing engine: an engine that cannot work says why through ``status()``, the admin shows it, campaigns that
need it refuse to start and the robot refuses a call with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edudesk.voice.engines.base import EngineStatus, Recogniser, RecognitionStream, Synthesiser
from edudesk.voice.engines.cloud_tts import HttpSynthesiser
from edudesk.voice.engines.espeak import EspeakSynthesiser
from edudesk.voice.engines.http_asr import HttpRecogniser
from edudesk.voice.engines.prompts import PromptSynthesiser
from edudesk.voice.engines.scripted import ScriptedRecogniser
from edudesk.voice.engines.sherpa import SherpaRecogniser

ASR_CHOICES = ("none", "scripted", "sherpa", "http")
TTS_CHOICES = ("espeak", "prompts", "http")
NOT_CONFIGURED = "未配置语音识别"


class NoRecogniser:
    """``voice_asr = "none"``: no speech recognition, so no robot calls and no live transcripts."""

    def __init__(self, detail: str = f"{NOT_CONFIGURED}：请设置 EDUDESK_VOICE_ASR（sherpa / http）") -> None:
        self.name = "none"
        self.detail = detail

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, False, self.detail)

    def stream(
        self, sample_rate: int, *, call_public_id: str, track: int = 0, phone_e164: str = ""
    ) -> RecognitionStream:
        raise RuntimeError(self.detail)


class NoSynthesiser:
    def __init__(self, detail: str) -> None:
        self.name = "none"
        self.detail = detail

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, False, self.detail)

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        raise RuntimeError(self.detail)


def build_recogniser(settings: Any) -> Recogniser:
    choice = str(getattr(settings, "voice_asr", "none") or "none").strip().lower()
    if choice == "scripted":
        return ScriptedRecogniser()
    if choice == "sherpa":
        return SherpaRecogniser(getattr(settings, "asr_model_dir", None))
    if choice == "http":
        return HttpRecogniser(str(getattr(settings, "asr_url", "") or ""))
    if choice == "none":
        return NoRecogniser()
    return NoRecogniser(f"{NOT_CONFIGURED}：EDUDESK_VOICE_ASR={choice!r} 无效，可选 {' / '.join(ASR_CHOICES)}")


def build_synthesiser(settings: Any) -> Synthesiser:
    """The configured synthesiser; recorded prompts (``voice_prompt_dir``) go first whichever it is."""
    choice = str(getattr(settings, "voice_tts", "espeak") or "espeak").strip().lower()
    prompt_dir = getattr(settings, "voice_prompt_dir", None)
    inner: Synthesiser
    if choice in ("espeak", "prompts"):
        inner = EspeakSynthesiser()
    elif choice == "http":
        inner = HttpSynthesiser(str(getattr(settings, "tts_url", "") or ""))
    else:
        return NoSynthesiser(f"未配置语音合成：EDUDESK_VOICE_TTS={choice!r} 无效，可选 {' / '.join(TTS_CHOICES)}")
    if choice == "prompts" or prompt_dir is not None:
        return PromptSynthesiser(prompt_dir, fallback=inner)
    return inner


@dataclass(frozen=True)
class EngineReport:
    recogniser: EngineStatus
    synthesiser: EngineStatus

    @property
    def robot_ready(self) -> bool:
        """Robot calls need both; campaigns refuse to start otherwise (and say ``reasons``)."""
        return self.recogniser.ready and self.synthesiser.ready

    @property
    def reasons(self) -> list[str]:
        return [s.detail for s in (self.recogniser, self.synthesiser) if not s.ready]


def report(recogniser: Recogniser, synthesiser: Synthesiser) -> EngineReport:
    return EngineReport(recogniser.status(), synthesiser.status())

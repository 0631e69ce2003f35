"""Pre-recorded prompts: a folder of WAV files a voice talent recorded, played instead of synthesised speech
whenever the line to say has a recording (a human voice for the notice and the greeting, the machine for the
rest).

A recording is found by the line's key, the first 16 hex digits of the SHA-256 of its text with surrounding
whitespace removed (``prompt_key``; ``edudesk`` can print the keys of a flow's lines), as ``<key>.wav``; or by an
optional ``prompts.json`` in the folder mapping texts to file names (``{"您好，我是课程顾问小安。": "hello.wav"}``).
Only plain file names inside the folder are read. A line without a recording goes to the fallback synthesiser.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path

from edudesk.voice.engines.audio import AudioFormatError, PcmCache, resample, wav_to_pcm
from edudesk.voice.engines.base import EngineStatus, Synthesiser

log = logging.getLogger(__name__)
MAX_PROMPT_BYTES = 20 * 1024 * 1024


def prompt_key(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


class PromptSynthesiser:
    name = "prompts"

    def __init__(self, folder: Path | None, fallback: Synthesiser | None = None, cache: PcmCache | None = None) -> None:
        self.folder = folder
        self.fallback = fallback
        self.cache = cache if cache is not None else PcmCache()
        self._index: dict[str, str] | None = None

    def status(self) -> EngineStatus:
        if self.folder is None or not self.folder.is_dir():
            return EngineStatus(self.name, False, "录音提示音目录不存在：请设置 EDUDESK_VOICE_PROMPT_DIR")
        count = sum(1 for _ in self.folder.glob("*.wav"))
        if self.fallback is not None:
            inner = self.fallback.status()
            detail = f"{count} 条录音；其余由 {inner.name} 合成" + (f"（{inner.detail}）" if not inner.ready else "")
            return EngineStatus(self.name, inner.ready, detail)
        return EngineStatus(self.name, True, f"{count} 条录音；没有录音的句子不播报")

    def _file(self, text: str) -> Path | None:
        if self.folder is None:
            return None
        if self._index is None:
            self._index = {}
            index = self.folder / "prompts.json"
            try:
                data = json.loads(index.read_text("utf-8")) if index.is_file() else {}
            except (OSError, ValueError) as exc:
                log.warning("voice prompt index unreadable: %s", exc)
                data = {}
            if isinstance(data, dict):
                self._index = {str(k).strip(): str(v) for k, v in data.items() if isinstance(v, str)}
        for name in (self._index.get(text.strip()), f"{prompt_key(text)}.wav"):
            if not name or Path(name).name != name or not name.endswith(".wav"):
                continue  # only plain names inside the folder: no "../", no absolute paths
            path = self.folder / name
            if path.is_file():
                return path
        return None

    def has(self, text: str) -> bool:
        return self._file(text) is not None

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        key = (prompt_key(text), sample_rate)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        path = self._file(text)
        if path is not None:
            try:
                if path.stat().st_size > MAX_PROMPT_BYTES:
                    raise AudioFormatError("录音文件过大")
                pcm, rate = wav_to_pcm(await asyncio.to_thread(path.read_bytes))
                pcm = resample(pcm, rate, sample_rate)
                self.cache.put(key, pcm)
                return pcm
            except (OSError, AudioFormatError) as exc:
                log.warning("voice prompt %s unusable: %s", path.name, exc)
        if self.fallback is None:
            return b""
        return await self.fallback.synthesise(text, sample_rate)

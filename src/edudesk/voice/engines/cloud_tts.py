"""A cloud TTS over HTTP (``EDUDESK_TTS_URL``), for a natural voice from a vendor or a TTS server on the LAN.

The contract (an adapter in front of a vendor's API implements it in a few lines):

    POST <tts_url>   Content-Type: application/json
    {"text": "您好，请问孩子几年级？", "sample_rate": 8000, "format": "wav"}

    200  Content-Type: audio/wav                    a 16-bit PCM WAV, any rate (resampled here)
    200  Content-Type: audio/L16; rate=16000        raw 16-bit little-endian mono PCM at that rate
    4xx/5xx                                         the line is not said; the error is logged

Results are cached by (text, sample rate) in a bounded LRU, like espeak's.
"""

from __future__ import annotations

import logging
import re

import httpx

from edudesk.voice.engines.audio import AudioFormatError, PcmCache, resample, wav_to_pcm
from edudesk.voice.engines.base import EngineStatus

log = logging.getLogger(__name__)
MAX_AUDIO_BYTES = 10 * 1024 * 1024
_RATE = re.compile(r"rate=(\d+)")


class CloudTtsError(RuntimeError):
    pass


class HttpSynthesiser:
    name = "http"

    def __init__(
        self, url: str, *, timeout: float = 5.0, cache: PcmCache | None = None, client: httpx.AsyncClient | None = None
    ) -> None:
        self.url = url
        self.cache = cache if cache is not None else PcmCache()
        self._client = client
        self.timeout = timeout

    def status(self) -> EngineStatus:
        if not self.url.startswith(("http://", "https://")):
            return EngineStatus(self.name, False, "未配置语音合成服务：请设置 EDUDESK_TTS_URL")
        return EngineStatus(self.name, True, f"云端语音合成 {httpx.URL(self.url).host}")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        text = text.strip()
        if not text:
            return b""
        key = ("http", text, sample_rate)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            response = await self._http().post(
                self.url, json={"text": text, "sample_rate": sample_rate, "format": "wav"}
            )
        except httpx.HTTPError as exc:
            raise CloudTtsError(f"语音合成服务不可用：{exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise CloudTtsError(f"语音合成服务返回 {response.status_code}")
        body = response.content
        if len(body) > MAX_AUDIO_BYTES:
            raise CloudTtsError("语音合成结果过大")
        kind = response.headers.get("content-type", "").lower()
        try:
            if "l16" in kind:
                found = _RATE.search(kind)
                pcm, rate = body[: len(body) - len(body) % 2], int(found.group(1)) if found else sample_rate
            else:
                pcm, rate = wav_to_pcm(body)
        except AudioFormatError as exc:
            raise CloudTtsError(f"语音合成结果无法识别：{exc}") from None
        if not 4000 <= rate <= 96000:
            raise CloudTtsError(f"语音合成采样率不支持：{rate}")
        pcm = resample(pcm, rate, sample_rate)
        self.cache.put(key, pcm)
        return pcm

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

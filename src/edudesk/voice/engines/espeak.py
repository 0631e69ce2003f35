"""Mandarin speech with espeak-ng (Debian ``espeak-ng``): robotic but intelligible, offline and free.

espeak-ng's plain ``cmn`` voice reads Latin text as English, and in the Debian 1.51 build it also reads its own
character→pinyin lookups that way ("你好" comes out as "en-ai-three…"). Its ``cmn-latn-pinyin`` voice reads
tone-numbered pinyin correctly, with tone sandhi ("ni3 hao3" → ni2 hao3). So the text goes through pypinyin
(``TONE3``, neutral tone as 5) after Arabic numerals become Chinese ones (cn2an: "3点" → "三点"), and Chinese
punctuation becomes the commas and full stops espeak pauses on.

espeak-ng runs as a subprocess without blocking the event loop (asyncio subprocess), at most ``concurrency`` at a
time; its 22 050 Hz output is resampled to the call's rate, and the result is kept in a bounded LRU by (text,
sample rate, speed), so the notice, greeting and questions every call says are synthesised once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil

import cn2an

from edudesk.voice.engines.audio import PcmCache, resample, wav_to_pcm
from edudesk.voice.engines.base import EngineStatus

VOICE = "cmn-latn-pinyin"
_PAUSES = str.maketrans(
    {
        "，": ",",
        "、": ",",
        "；": ",",
        "：": ",",
        "。": ".",
        "！": ".",
        "？": "?",
        "…": ".",
        "～": ",",
        "“": " ",
        "”": " ",
        "（": ",",
        "）": ",",
        "《": " ",
        "》": " ",
    }
)
_SPACES = re.compile(r"\s+")
MAX_TEXT = 500  # characters per synthesis: a prompt, not a book


def to_pinyin(text: str) -> str:
    """What espeak-ng's pinyin voice is given:
    "明天下午3点，好吗？" → "ming2 tian1 xia4 wu3 san1 dian3 , hao3 ma5 ?"."""
    # Imported here: the pypinyin package loads its phrase dictionary (~55 MB) in every process that imports it,
    # and only an instance that synthesises speech with espeak needs it.
    from pypinyin import Style, lazy_pinyin

    with contextlib.suppress(ValueError, KeyError):
        text = cn2an.transform(text, "an2cn")
    syllables = lazy_pinyin(text.translate(_PAUSES), style=Style.TONE3, neutral_tone_with_five=True)
    return _SPACES.sub(" ", " ".join(syllables)).strip()


class EspeakSynthesiser:
    name = "espeak"

    def __init__(
        self, *, binary: str = "espeak-ng", speed: int = 165, concurrency: int = 4, cache: PcmCache | None = None
    ) -> None:
        self.binary = binary
        self.speed = speed
        self.cache = cache if cache is not None else PcmCache()
        self._slots = asyncio.Semaphore(concurrency)

    def status(self) -> EngineStatus:
        if shutil.which(self.binary) is None:
            return EngineStatus(self.name, False, "未安装 espeak-ng：请在服务器上执行 apt-get install espeak-ng")
        return EngineStatus(self.name, True, "espeak-ng 普通话（拼音）")

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        text = text.strip()[:MAX_TEXT]
        if not text:
            return b""
        key = (text, sample_rate, self.speed)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        path = shutil.which(self.binary)
        if path is None:
            raise RuntimeError("espeak-ng is not installed")
        async with self._slots:
            proc = await asyncio.create_subprocess_exec(
                path,
                "-v",
                VOICE,
                "-s",
                str(self.speed),
                "--stdout",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate(to_pinyin(text).encode())
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace')[:200]}")
        pcm, rate = wav_to_pcm(out)
        pcm = (
            await asyncio.to_thread(resample, pcm, rate, sample_rate)
            if len(pcm) > 200_000
            else resample(pcm, rate, sample_rate)
        )
        self.cache.put(key, pcm)
        return pcm

"""espeak-ng speaks Mandarin from pinyin at 8 and 16 kHz, without blocking the loop, from its cache the second
time. Skipped (loudly) only when espeak-ng is missing outside CI; under CI it must be installed."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from edudesk.voice.engines.audio import AudioFormatError, pcm_to_wav, resample, wav_to_pcm
from edudesk.voice.engines.espeak import EspeakSynthesiser, to_pinyin
from tests.conftest import unavailable
from tests.voice.fakes import rms


@pytest.fixture
def espeak() -> EspeakSynthesiser:
    if shutil.which("espeak-ng") is None:
        unavailable("espeak-ng", "apt-get install espeak-ng")
    return EspeakSynthesiser()


def test_pinyin_for_espeak() -> None:
    assert to_pinyin("明天下午3点，好吗？") == "ming2 tian1 xia4 wu3 san1 dian3 , hao3 ma5 ?"
    assert to_pinyin("您好～") == "nin2 hao3 ,"


@pytest.mark.parametrize("rate", [8000, 16000])
def test_espeak_speaks(espeak: EspeakSynthesiser, rate: int) -> None:
    async def run() -> tuple[bytes, bytes, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        first = await espeak.synthesise("您好，请问孩子现在读几年级？", rate)
        again = await espeak.synthesise("您好，请问孩子现在读几年级？", rate)
        task.cancel()
        return first, again, ticks

    pcm, again, ticks = asyncio.run(run())
    seconds = len(pcm) / 2 / rate
    assert 1.0 < seconds < 6.0
    assert rms(pcm) > 500  # not silence
    assert again is pcm and espeak.cache.hits == 1  # the second time from the cache
    assert ticks > 0  # the loop kept running while espeak-ng worked
    assert espeak.status().ready


def test_espeak_missing_says_so() -> None:
    status = EspeakSynthesiser(binary="no-such-espeak").status()
    assert not status.ready and "espeak-ng" in status.detail


def test_wav_and_resample() -> None:
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype("<i2").tobytes()
    pcm, rate = wav_to_pcm(pcm_to_wav(tone, 16000))
    assert (pcm, rate) == (tone, 16000)
    down = resample(tone, 16000, 8000)
    assert len(down) == len(tone) // 2 and abs(rms(down) - rms(tone)) < 300
    for bad in (b"", b"RIFF0000WAVE", b"not a wav at all", b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd"):
        with pytest.raises(AudioFormatError):
            wav_to_pcm(bad)

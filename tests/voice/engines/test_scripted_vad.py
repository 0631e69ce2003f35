"""The energy VAD endpoints the fake phone's speech, and the scripted recogniser turns each segment into the next
line of its script — by call id or by phone number — then stays silent when the script runs out."""

from __future__ import annotations

import asyncio

import pytest

from edudesk.voice.engines.scripted import ScriptedRecogniser
from edudesk.voice.engines.vad import Endpointer, SpeechEnd, SpeechStart, VadConfig
from edudesk.voice.media import Audio
from tests.voice.fakes import FakePhone, Say, Silence, silence_pcm, speech_pcm


@pytest.mark.parametrize("rate", [8000, 16000])
def test_vad_endpoints_speech(rate: int) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    vad = Endpointer(rate, VadConfig(end_silence_ms=400, min_speech_ms=200))
    events = vad.feed(silence_pcm(300, rate, rng) + speech_pcm(800, rate) + silence_pcm(600, rate, rng))
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]
    end = events[1]
    assert isinstance(end, SpeechEnd)
    assert 280 <= end.start_ms <= 320 and 1080 <= end.end_ms <= 1120
    # A click (shorter than min speech) is not a segment; odd byte counts and tiny chunks are fine.
    vad2 = Endpointer(rate)
    pcm = speech_pcm(100, rate) + silence_pcm(800, rate, rng)
    out = []
    for i in range(0, len(pcm), 37):
        out += vad2.feed(pcm[i : i + 37])
    assert not [e for e in out if isinstance(e, SpeechEnd)]
    # Speech still going when the audio ends is closed by flush.
    vad3 = Endpointer(rate)
    vad3.feed(speech_pcm(600, rate))
    assert isinstance(vad3.flush()[0], SpeechEnd)


def test_vad_ignores_loud_hiss() -> None:
    import numpy as np

    hiss = np.random.default_rng(2).normal(0, 3000, 8000).astype("<i2").tobytes()
    assert Endpointer(8000).feed(hiss) == []


async def _texts(phone: FakePhone, recogniser: ScriptedRecogniser, frames: int, phone_e164: str = "") -> list[str]:
    stream = recogniser.stream(phone.sample_rate, call_public_id=phone.call_public_id, phone_e164=phone_e164)
    texts = []
    for _ in range(frames):
        event = await phone.receive()
        if isinstance(event, Audio):
            texts += [r.text for r in stream.accept(event.pcm) if r.final]
    return texts + [r.text for r in stream.finish()]


def test_scripted_recogniser_by_call_and_by_number() -> None:
    phone = FakePhone([Silence(200), Say("三年级"), Silence(800), Say("有兴趣"), Silence(800), Say("多的一句")])
    recogniser = ScriptedRecogniser()
    recogniser.register(phone.call_public_id, phone.lines()[:2])
    assert recogniser.status().ready
    assert asyncio.run(_texts(phone, recogniser, 300)) == ["三年级", "有兴趣"]  # then silence: the script ran out

    by_number = FakePhone([Say("打错了"), Silence(800)], call_public_id="another-call-00000000")
    recogniser.register("+8613800138000", ["打错了"])
    assert asyncio.run(_texts(by_number, recogniser, 80, phone_e164="+8613800138000")) == ["打错了"]
    # Nothing registered: nothing recognised.
    nobody = FakePhone([Say("喂")], call_public_id="nobody-000000000000")
    assert asyncio.run(_texts(nobody, recogniser, 60)) == []

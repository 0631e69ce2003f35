"""Our side's voice on a call: text cut into sentences, synthesised one after the other and queued on the port,
the first sentence as soon as it is ready (the callee hears us while the rest is still being made), with a mark
after each so the dialogue knows when the audio has been heard."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from edudesk.voice.engines.base import Synthesiser
from edudesk.voice.live import LiveCall
from edudesk.voice.media import Track
from edudesk.voice.models import Speaker

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*")
# Emoji and decorations a chat line may carry: not said.
_UNSPOKEN = re.compile(r"[～~😀-🙏🌀-🗿🚀-🛿☀-➿\U0001F900-\U0001F9FF*#_`>|]")
# Sentences shorter than this join the next one (a lone "好的。" is a breath, not a prompt).
MIN_SENTENCE = 6


def speakable(text: str) -> str:
    return _UNSPOKEN.sub("，", text).replace("，，", "，").strip("，, ")


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for part in _SENTENCE.findall(speakable(text)):
        part = part.strip()
        if not part:
            continue
        if out and len(out[-1]) < MIN_SENTENCE:
            out[-1] += part
        else:
            out.append(part)
    return out


@dataclass
class Utterance:
    speaker: Speaker
    text: str
    start_ms: int  # media time at which it was queued
    duration_ms: int = 0
    cut: bool = False  # barged in before the end


@dataclass
class Speech:
    """One reply being said: its utterances and the mark whose echo means it has all been heard."""

    utterances: list[Utterance] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)  # marks queued whose echo has not come back
    task: asyncio.Task[None] | None = None

    @property
    def heard(self) -> bool:
        """Everything was synthesised, queued and played (or cleared)."""
        return self.task is not None and self.task.done() and not self.pending

    def played(self, name: str) -> None:
        self.pending.discard(name)

    def cut(self) -> None:
        """A barge-in: stop making more, and nothing queued will echo (the port was cleared)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.utterances:
            self.utterances[-1].cut = True
        self.pending.clear()


class Mouth:
    def __init__(self, live: LiveCall, synthesiser: Synthesiser) -> None:
        self.live = live
        self.synthesiser = synthesiser
        self._marks = 0
        self.played_ms = 0  # our audio queued in this call so far (effective talk time)

    def say(self, lines: list[tuple[Speaker, str]], now_ms: int) -> Speech:
        speech = Speech()
        speech.task = asyncio.create_task(self._say(speech, lines, now_ms))
        return speech

    async def _say(self, speech: Speech, lines: list[tuple[Speaker, str]], now_ms: int) -> None:
        port, rate = self.live.port, self.live.sample_rate
        at = now_ms
        for speaker, text in lines:
            utterance = Utterance(speaker, text, at)
            speech.utterances.append(utterance)
            for sentence in sentences(text):
                pcm = await self.synthesiser.synthesise(sentence, rate)
                if not pcm:
                    continue
                await port.play(pcm)
                self.live.heard(Track.ours, pcm)
                ms = len(pcm) * 1000 // (2 * rate)
                utterance.duration_ms += ms
                self.played_ms += ms
                self._marks += 1
                name = f"s{self._marks}"
                speech.pending.add(name)
                await port.mark(name)
            at += utterance.duration_ms

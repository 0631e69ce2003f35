"""The calls this process is carrying now, and what the media plane gives the parts that talk on them.

A call's audio lives in one process (the one whose adapter answered it), so listening in, whispering, barging in
and taking over happen there: the console's call WebSockets reach the call through this registry (docs/voice.md,
"Where calls live"). Nothing here is stored; the database has the call's state and transcript.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edudesk.voice.engines.base import Recogniser, Synthesiser
from edudesk.voice.media import MediaPort, Track
from edudesk.voice.models import CallMode

# Called with every chunk of audio heard on the call, the phone side's and ours (recorder, supervisor listening,
# transcriber of an agent's call). Must not block: a tap that needs to do I/O queues the chunk.
AudioTap = Callable[[Track, bytes], None]


@dataclass
class LiveCall:
    public_id: str
    call_id: int
    org_id: int
    mode: CallMode
    port: MediaPort
    sample_rate: int
    taps: list[AudioTap] = field(default_factory=list)
    # Set when an agent takes over a robot call: the robot stops speaking and listening at once and returns; the
    # agent's audio then reaches the phone side through ``agent_audio``.
    takeover: asyncio.Event = field(default_factory=asyncio.Event)
    agent_id: int | None = None
    # Audio to mix into what the phone side hears (an agent who took over, a supervisor barging in), and into
    # what only the agent hears (a supervisor's whisper), fed by the console's WebSockets.
    agent_audio: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=200))
    whisper_audio: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=200))

    def heard(self, track: Track, pcm: bytes) -> None:
        for tap in list(self.taps):
            tap(track, pcm)


class LiveCalls:
    """This process's live calls by public id (one per app; the media plane registers and unregisters)."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}

    def register(self, call: LiveCall) -> None:
        self._calls[call.public_id] = call

    def unregister(self, public_id: str) -> None:
        self._calls.pop(public_id, None)

    def get(self, public_id: str) -> LiveCall | None:
        return self._calls.get(public_id)

    def of_org(self, org_id: int) -> list[LiveCall]:
        return [c for c in self._calls.values() if c.org_id == org_id]

    def __len__(self) -> int:
        return len(self._calls)


@dataclass
class VoiceServices:
    """Built once by the app factory (or the ``edudesk voice`` process) and handed to every call."""

    db: Any  # edudesk.db.Database
    settings: Any  # edudesk.settings.Settings
    recogniser: Recogniser
    synthesiser: Synthesiser
    live: LiveCalls
    bots: Any = None  # edudesk.bot.runtime.BotRuntime
    upload_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

"""Playing audio in real time over transports that do not buffer it for us (AudioSocket, RTP): what a talker queues
is sent 20 ms at a time on the clock, silence is sent when nothing is queued (RTP needs a steady stream), marks
become ``Played`` once the audio before them has gone out, and ``clear`` drops what has not (barge-in)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from edudesk.voice.media import Hangup, MediaEvent, Played

FRAME_MS = 20


class PacedOutput:
    def __init__(
        self,
        sample_rate: int,
        send: Callable[[bytes], Awaitable[None]],
        emit: Callable[[MediaEvent], None],
        *,
        send_silence: bool = False,
    ) -> None:
        self.frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self._send = send
        self._emit = emit
        self._send_silence = send_silence
        self._buffer = bytearray()
        self._sent = 0  # bytes of queued audio sent so far
        self._queued = 0  # bytes queued so far
        self._marks: list[tuple[int, str]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def play(self, pcm: bytes) -> None:
        self._buffer.extend(pcm)
        self._queued += len(pcm)

    def mark(self, name: str) -> None:
        if self._sent >= self._queued:
            self._emit(Played(name))
        else:
            self._marks.append((self._queued, name))

    def clear(self) -> None:
        self._sent += len(self._buffer)
        self._buffer.clear()
        self._flush_marks()

    @property
    def idle(self) -> bool:
        return not self._buffer

    def _flush_marks(self) -> None:
        while self._marks and self._marks[0][0] <= self._sent:
            self._emit(Played(self._marks.pop(0)[1]))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            if self._buffer:
                chunk = bytes(self._buffer[: self.frame_bytes])
                del self._buffer[: self.frame_bytes]
                self._sent += len(chunk)
                if len(chunk) < self.frame_bytes:
                    chunk += bytes(self.frame_bytes - len(chunk))
                await self._send(chunk)
                self._flush_marks()
            elif self._send_silence:
                await self._send(bytes(self.frame_bytes))
            due += FRAME_MS / 1000
            delay = due - loop.time()
            if delay < -0.2:  # fell far behind (a stalled loop): do not burst to catch up
                due = loop.time()
                delay = 0
            await asyncio.sleep(max(delay, 0))


class PacedPort:
    """The half of a ``MediaPort`` that transports pacing their own output share (AudioSocket, RTP): inbound events
    from a queue until the hang-up, outbound audio and marks through a ``PacedOutput``. Subclasses set ``events``
    and ``output`` and add their own ``hangup``."""

    events: asyncio.Queue[MediaEvent]
    output: PacedOutput
    _ended: bool = False

    async def receive(self) -> MediaEvent:
        if self._ended:
            raise EOFError("call ended")
        event = await self.events.get()
        if isinstance(event, Hangup):
            self._ended = True
        return event

    async def play(self, pcm: bytes) -> None:
        self.output.play(pcm)

    async def mark(self, name: str) -> None:
        self.output.mark(name)

    async def clear(self) -> None:
        self.output.clear()

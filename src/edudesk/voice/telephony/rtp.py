"""RTP (RFC 3550) for the SIP adapter: G.711 audio in 20 ms packets both ways, RFC 4733 DTMF events in, the
call's audio resampled between the line's 8 kHz and the call's rate. One ``RtpPort`` is one call's ``MediaPort``."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from edudesk.voice import audio
from edudesk.voice.media import Audio, Dtmf, Hangup, MediaEvent, Track
from edudesk.voice.telephony.pacing import PacedOutput, PacedPort

log = structlog.get_logger(__name__)
LINE_RATE = 8000
DTMF_EVENTS = "0123456789*#ABCD"
DECODERS = {0: audio.ulaw_decode, 8: audio.alaw_decode}
ENCODERS = {0: audio.ulaw_encode, 8: audio.alaw_encode}


class RtpPort(PacedPort, asyncio.DatagramProtocol):
    def __init__(self, public_id: str, sample_rate: int, on_hangup: Callable[[str], Awaitable[None]]) -> None:
        self.call_public_id = public_id
        self.sample_rate = sample_rate
        self.provider_call_id: str | None = None
        self._on_hangup = on_hangup
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self.output = PacedOutput(sample_rate, self._send_pcm, self.events.put_nowait, send_silence=True)
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.payload_type = 0
        self.dtmf_pt: int | None = None
        self._seq = secrets.randbelow(65536)
        self._ts = secrets.randbelow(2**32)
        self._ssrc = secrets.randbelow(2**32)
        self._up = audio.Resampler(sample_rate, LINE_RATE)
        self._down = audio.Resampler(LINE_RATE, sample_rate)
        self._last_dtmf: int | None = None
        self._ended = False
        self.closed = False
        self.ignored = 0

    @classmethod
    async def open(
        cls, host: str, public_id: str, sample_rate: int, on_hangup: Callable[[str], Awaitable[None]]
    ) -> RtpPort:
        port = cls(public_id, sample_rate, on_hangup)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: port, local_addr=(host, 0))
        return port

    @property
    def local_port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def begin(self, remote: tuple[str, int], payload_type: int, dtmf_pt: int | None) -> None:
        self.remote, self.payload_type, self.dtmf_pt = remote, payload_type, dtmf_pt
        self.output.start()

    # ---- receiving ----

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.remote is None or addr[0] != self.remote[0] or len(data) < 12 or data[0] >> 6 != 2:
            self.ignored += 1
            return
        count = data[0] & 0x0F
        start = 12 + 4 * count
        if data[0] & 0x10:  # header extension
            if len(data) < start + 4:
                return
            start += 4 + 4 * struct.unpack("!H", data[start + 2 : start + 4])[0]
        payload = data[start:]
        if data[0] & 0x20 and payload:  # padding
            payload = payload[: -payload[-1]]
        pt = data[1] & 0x7F
        timestamp = struct.unpack("!I", data[4:8])[0]
        if pt == self.payload_type and payload:
            pcm = self._down.convert(DECODERS[pt](payload))
            self.events.put_nowait(Audio(Track.phone, pcm))
        elif pt == self.dtmf_pt and len(payload) >= 4:
            event, end = payload[0], payload[1] & 0x80
            if end and timestamp != self._last_dtmf and event < len(DTMF_EVENTS):
                self._last_dtmf = timestamp
                self.events.put_nowait(Dtmf(DTMF_EVENTS[event]))
        else:
            self.ignored += 1

    # ---- sending ----

    async def _send_pcm(self, pcm: bytes) -> None:
        if self.transport is None or self.remote is None or self.closed:
            return
        payload = ENCODERS[self.payload_type](self._up.convert(pcm))
        header = struct.pack("!BBHII", 0x80, self.payload_type, self._seq, self._ts, self._ssrc)
        self._seq = (self._seq + 1) % 65536
        self._ts = (self._ts + len(payload)) % 2**32
        self.transport.sendto(header + payload, self.remote)

    # ---- MediaPort ----

    async def hangup(self, reason: str = "") -> None:
        if self.closed:
            return
        with contextlib.suppress(Exception):
            await self._on_hangup(reason)
        await self.close()
        self.events.put_nowait(Hangup(reason, by="bot"))

    def remote_hangup(self, reason: str, by: str = "customer") -> None:
        if not self.closed:
            self.events.put_nowait(Hangup(reason, by=by))

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.output.stop()
        if self.transport is not None:
            self.transport.close()

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like: RTP carries on
        log.debug("voice_rtp_error", call=self.call_public_id, error=str(exc)[:100])

    def connection_lost(self, exc: Any) -> None:
        pass

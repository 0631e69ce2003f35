"""The Asterisk AudioSocket adapter (``LineKind.audiosocket``).

We originate through the PBX's manager interface (voice/telephony/ami.py); when the callee answers, the dialplan
runs ``AudioSocket(${EDUDESK_UUID},${EDUDESK_AUDIOSOCKET})``, and Asterisk connects to our TCP server and streams the
call (docs/voice.md has the dialplan). The protocol: frames of 1 byte kind, 2 bytes big-endian length, payload —
0x00 hang-up, 0x01 the call's UUID (16 bytes, first frame), 0x03 a DTMF digit, 0x10 audio (16-bit signed linear,
8 kHz, mono), 0xff an error. The UUID is derived from the call's public id (``call_uuid``); a connection from a host
the line does not allow, or naming no call we are dialling, is closed and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel

from edudesk.voice.media import Audio, Dtmf, Hangup, MediaEvent, Track
from edudesk.voice.telephony import configs
from edudesk.voice.telephony.ami import AmiClient, AmiError
from edudesk.voice.telephony.base import CallHandler, DialFailed, OriginateRequest
from edudesk.voice.telephony.lines import AudioSocketLineConfig
from edudesk.voice.telephony.pacing import PacedOutput, PacedPort

log = structlog.get_logger(__name__)
KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
SAMPLE_RATE = 8000
MAX_PAYLOAD = 8000  # half a second of audio: Asterisk sends 20 ms (320 bytes) at a time
FIRST_FRAME_TIMEOUT = 5.0
DTMF_DIGITS = set("0123456789*#ABCD")
# Names calls to Asterisk: uuid5 of the public id, so any process can tell which call a UUID is.
NAMESPACE = uuid.UUID("8c0a6f3e-5b7d-4f7e-9a51-6d2f1c3b9e10")


def call_uuid(public_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, public_id)


def frame(kind: int, payload: bytes = b"") -> bytes:
    return bytes((kind,)) + len(payload).to_bytes(2, "big") + payload


class FrameError(ValueError):
    pass


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(3)
    kind, length = head[0], int.from_bytes(head[1:3], "big")
    if kind not in (KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR):
        raise FrameError(f"unknown frame kind 0x{kind:02x}")
    if length > MAX_PAYLOAD:
        raise FrameError("frame too large")
    payload = await reader.readexactly(length) if length else b""
    if kind == KIND_AUDIO and length % 2:
        raise FrameError("audio frame is not whole 16-bit samples")
    return kind, payload


class AudioSocketPort(PacedPort):
    def __init__(self, public_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sample_rate = SAMPLE_RATE
        self.call_public_id = public_id
        self.provider_call_id = str(call_uuid(public_id))
        self.reader = reader
        self.writer = writer
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self.output = PacedOutput(SAMPLE_RATE, self._send_audio, self.events.put_nowait)
        self._ended = False
        self.closed = False

    async def _send_audio(self, pcm: bytes) -> None:
        if not self.closed:
            self.writer.write(frame(KIND_AUDIO, pcm))
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    async def hangup(self, reason: str = "") -> None:
        if not self.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.writer.write(frame(KIND_HANGUP))
                await self.writer.drain()
        await self.close()
        self.events.put_nowait(Hangup(reason, by="bot"))

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.output.stop()
        self.writer.close()

    async def read_loop(self) -> None:
        hangup = Hangup("disconnected", by="network")
        try:
            while not self.closed:
                kind, payload = await read_frame(self.reader)
                if kind == KIND_AUDIO:
                    self.events.put_nowait(Audio(Track.phone, payload))
                elif kind == KIND_DTMF:
                    digit = payload[:1].decode("ascii", "replace")
                    if digit in DTMF_DIGITS:
                        self.events.put_nowait(Dtmf(digit))
                elif kind == KIND_HANGUP:
                    hangup = Hangup("hangup", by="customer")
                    break
                elif kind == KIND_ERROR:
                    log.warning("voice_audiosocket_error_frame", call=self.call_public_id, code=payload.hex()[:8])
                    break
                else:
                    raise FrameError("second UUID frame")
        except FrameError as exc:
            log.warning("voice_audiosocket_bad_frame", call=self.call_public_id, reason=str(exc))
            hangup = Hangup("bad frame", by="network")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        self.events.put_nowait(hangup)
        await self.close()


class AudioSocketAdapter:
    kind: ClassVar[str] = "audiosocket"
    label: ClassVar[str] = "Asterisk AudioSocket"
    config_model: ClassVar[type[BaseModel]] = AudioSocketLineConfig

    def __init__(self, listen: str, *, advertise: str = "") -> None:
        host, _, port = listen.rpartition(":")
        self.host = host or "0.0.0.0"
        self.port = int(port)
        self.advertise = advertise
        self.handler: CallHandler | None = None
        self.check: Any = None
        self._server: asyncio.Server | None = None
        # UUID → (call public id, allowed hosts, answered future)
        self._pending: dict[str, tuple[str, list[str], asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def address(self) -> str:
        """What Asterisk connects to (host:port)."""
        if self.advertise:
            return self.advertise
        return f"{self.host}:{self.port}"

    async def start(self, handler: CallHandler, services: Any) -> None:
        self.handler = handler
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def originate(self, request: OriginateRequest) -> None:
        config = request.config
        assert isinstance(config, AudioSocketLineConfig)
        key = str(call_uuid(request.call_public_id))
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = (request.call_public_id, config.allowed_hosts, answered)
        try:
            await self._originate(config, request, key, answered)
        finally:
            self._pending.pop(key, None)

    async def _originate(
        self, config: AudioSocketLineConfig, request: OriginateRequest, key: str, answered: asyncio.Future[None]
    ) -> None:
        try:
            ami = await AmiClient.connect(config.ami_host, config.ami_port)
        except (OSError, TimeoutError, AmiError) as exc:
            raise DialFailed("failed", f"AMI unreachable: {type(exc).__name__}") from None
        try:
            await ami.login(config.ami_username, config.ami_secret.get_secret_value())
            outcome_task = asyncio.create_task(
                ami.originate(
                    channel=config.channel.replace("{to}", request.to_e164.lstrip("+")),
                    context=config.context,
                    caller_id=request.from_number,
                    timeout_ms=request.ring_timeout_seconds * 1000,
                    variables={"EDUDESK_UUID": key, "EDUDESK_AUDIOSOCKET": self.address},
                )
            )
            waiting: list[asyncio.Future[Any]] = [outcome_task, answered]
            done, _ = await asyncio.wait(
                waiting, timeout=request.ring_timeout_seconds + 10, return_when=asyncio.FIRST_COMPLETED
            )
            if answered in done:
                outcome_task.cancel()
                return
            if outcome_task not in done:
                outcome_task.cancel()
                raise DialFailed("no_answer", "ring timeout")
            outcome = outcome_task.result()
            if outcome != "answered":
                raise DialFailed(outcome, f"Asterisk: {outcome}")
            try:  # answered: the dialplan's AudioSocket() connects within moments
                await asyncio.wait_for(answered, 10)
            except TimeoutError:
                raise DialFailed("failed", "answered but no AudioSocket connection") from None
        except AmiError as exc:
            raise DialFailed("failed", str(exc)) from None
        finally:
            with contextlib.suppress(Exception):
                await ami.close()

    def _allowed(self, peer: str, hosts: list[str]) -> bool:
        return configs.peer_allowed(peer, hosts)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("", 0))[0]
        if not any(self._allowed(peer, hosts) for _, hosts, _ in self._pending.values()):
            return self._refuse(writer, peer, "host not allowed")
        try:
            kind, payload = await asyncio.wait_for(read_frame(reader), FIRST_FRAME_TIMEOUT)
        except (FrameError, asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            return self._refuse(writer, peer, f"bad first frame: {type(exc).__name__}")
        if kind != KIND_UUID or len(payload) != 16:
            return self._refuse(writer, peer, "first frame is not a UUID")
        key = str(uuid.UUID(bytes=payload))
        pending = self._pending.get(key)
        if pending is None or pending[2].done():
            return self._refuse(writer, peer, "unknown call")
        public_id, hosts, answered = pending
        if not self._allowed(peer, hosts):
            return self._refuse(writer, peer, "host not allowed for this line")
        port = AudioSocketPort(public_id, reader, writer)
        answered.set_result(None)
        port.output.start()
        reading = asyncio.create_task(port.read_loop())
        try:
            assert self.handler is not None
            await self.handler(port)
        except Exception as exc:
            log.error("voice_audiosocket_call_failed", call=public_id, error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            if not port.closed:
                await port.hangup("call ended")
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
        return None

    def _refuse(self, writer: asyncio.StreamWriter, peer: str, reason: str) -> None:
        log.warning("voice_audiosocket_refused", peer=peer, reason=reason)
        writer.close()

"""The media WebSocket adapter (``LineKind.websocket``): a carrier dials on our signed request and, once the callee
answers, streams the call to ``/voice/media`` in the contract of docs/voice.md ("Media stream").

Originate: ``POST`` to the line's ``originate_url`` with ``{"call_id", "to", "from", "media_url", "sample_rate"}``,
signed like our webhooks (``X-Edudesk-Timestamp`` and ``X-Edudesk-Signature: sha256=<HMAC-SHA256(secret,
"<timestamp>.<body>")>``, webhooks/signing.py) with the line's signing secret. The carrier answers 2xx at once and
opens the media stream with ``call_id`` as the start frame's token when the callee answers; no stream within the
ring timeout is ``no_answer``. A stream that breaks the contract is closed with a reason and a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, ClassVar

import anyio
import httpx
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from edudesk.voice.media import (
    MAX_AUDIO_FRAME,
    Audio,
    Dtmf,
    DtmfFrame,
    Hangup,
    MarkFrame,
    MediaEvent,
    MediaFrameError,
    Played,
    StartFrame,
    StopFrame,
    audio_frame,
    parse_audio,
    parse_control,
)
from edudesk.voice.telephony.base import CallHandler, DialFailed, OriginateRequest
from edudesk.voice.telephony.lines import WebSocketLineConfig
from edudesk.webhooks import signing
from edudesk.wsframes import CLOSE_BAD_REQUEST, CLOSE_NOT_FOUND, CLOSE_TOO_BIG, CLOSE_TRY_AGAIN_LATER

log = structlog.get_logger(__name__)
MEDIA_PATH = "/voice/media"
START_TIMEOUT_SECONDS = 10.0
USER_AGENT = "edudesk-voice/1"
# What we send at a time: 100 ms of audio keeps frames well under any WebSocket limit.
PLAY_CHUNK_MS = 100


class StreamRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WebSocketPort:
    """One answered call over the media WebSocket, as a ``MediaPort``."""

    def __init__(self, websocket: WebSocket, sample_rate: int, public_id: str) -> None:
        self.websocket = websocket
        self.sample_rate = sample_rate
        self.call_public_id = public_id
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._ended = False
        self.closed = False

    async def receive(self) -> MediaEvent:
        if self._ended:
            raise EOFError("call ended")
        event = await self.events.get()
        if isinstance(event, Hangup):
            self._ended = True
        return event

    async def _send(self, message: str | bytes) -> None:
        if self.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(Exception):
                if isinstance(message, bytes):
                    await self.websocket.send_bytes(message)
                else:
                    await self.websocket.send_text(message)

    async def play(self, pcm: bytes) -> None:
        step = self.sample_rate * PLAY_CHUNK_MS // 1000 * 2
        for i in range(0, len(pcm), step):
            await self._send(audio_frame(pcm[i : i + step]))

    async def mark(self, name: str) -> None:
        await self._send(json.dumps({"event": "mark", "name": name[:64]}))

    async def clear(self) -> None:
        await self._send(json.dumps({"event": "clear"}))

    async def hangup(self, reason: str = "") -> None:
        await self._send(json.dumps({"event": "hangup", "reason": reason[:64]}, ensure_ascii=False))
        await self.close(1000, "hangup")
        self.events.put_nowait(Hangup(reason, by="bot"))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason[:120])


class WebSocketAdapter:
    kind: ClassVar[str] = "websocket"
    label: ClassVar[str] = "媒体流 WebSocket"
    config_model: ClassVar[type[BaseModel]] = WebSocketLineConfig

    def __init__(
        self, media_url: str, *, transport: httpx.AsyncBaseTransport | None = None, http_timeout: float = 10.0
    ) -> None:
        self.media_url = media_url
        self.transport = transport
        self.http_timeout = http_timeout
        self.handler: CallHandler | None = None
        self.check: Any = None  # the plane's check(public_id): CallRefused unless it carries the call
        self._pending: dict[str, asyncio.Future[WebSocketPort]] = {}

    async def start(self, handler: CallHandler, services: Any) -> None:
        self.handler = handler

    async def stop(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    async def originate(self, request: OriginateRequest) -> None:
        config = request.config
        assert isinstance(config, WebSocketLineConfig)
        answered: asyncio.Future[WebSocketPort] = asyncio.get_running_loop().create_future()
        self._pending[request.call_public_id] = answered
        try:
            await self._post(config, request)
            try:
                await asyncio.wait_for(answered, request.ring_timeout_seconds)
            except TimeoutError:
                raise DialFailed("no_answer", "ring timeout") from None
        finally:
            self._pending.pop(request.call_public_id, None)

    async def _post(self, config: WebSocketLineConfig, request: OriginateRequest) -> None:
        body = json.dumps(
            {
                "call_id": request.call_public_id,
                "to": request.to_e164,
                "from": request.from_number,
                "media_url": self.media_url,
                "sample_rate": config.sample_rate,
            }
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Edudesk-Timestamp": str(timestamp),
            "X-Edudesk-Signature": signing.sign(config.signing_secret.get_secret_value(), timestamp, body),
        }
        try:
            async with httpx.AsyncClient(
                transport=self.transport, timeout=self.http_timeout, trust_env=False, follow_redirects=False
            ) as client:
                response = await client.post(config.originate_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DialFailed("failed", f"carrier unreachable: {type(exc).__name__}") from None
        if response.status_code == 486:
            raise DialFailed("busy", "carrier: busy")
        if not 200 <= response.status_code < 300:
            raise DialFailed("failed", f"carrier answered HTTP {response.status_code}")

    # ---- the media stream ----

    async def serve(self, websocket: WebSocket) -> None:
        """One carrier connection, from the start frame to the end of the call."""
        try:
            start = await self._start(websocket)
        except StreamRefused as exc:
            log.warning("voice_media_refused", reason=exc.reason, client=_client(websocket))
            with contextlib.suppress(Exception):
                await websocket.close(code=exc.code, reason=exc.reason[:120])
            return
        except WebSocketDisconnect:
            return
        port = WebSocketPort(websocket, start.sample_rate, start.token)
        answered = self._pending.get(start.token)
        if answered is None or answered.done():
            await port.close(CLOSE_NOT_FOUND, "unknown call")
            return
        answered.set_result(port)
        assert self.handler is not None
        talk = asyncio.create_task(self._run_handler(port))
        try:
            await self._read(websocket, port)
        finally:
            await talk

    async def _run_handler(self, port: WebSocketPort) -> None:
        assert self.handler is not None
        try:
            await self.handler(port)
        except Exception as exc:
            log.error("voice_media_call_failed", call=port.call_public_id, error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            await port.close(1000, "call ended")

    async def _start(self, websocket: WebSocket) -> StartFrame:
        try:
            with anyio.fail_after(START_TIMEOUT_SECONDS):
                message = await websocket.receive()
        except TimeoutError:
            raise StreamRefused(CLOSE_BAD_REQUEST, "no start frame") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("bytes") is not None:
            raise StreamRefused(CLOSE_BAD_REQUEST, "audio before start")
        try:
            frame = parse_control(message.get("text") or "")
        except MediaFrameError as exc:
            raise StreamRefused(CLOSE_BAD_REQUEST, str(exc)) from None
        if not isinstance(frame, StartFrame):
            raise StreamRefused(CLOSE_BAD_REQUEST, f"{frame.event} before start")
        if frame.token not in self._pending:
            raise StreamRefused(CLOSE_NOT_FOUND, "unknown or ended call")
        if self.check is not None:
            try:
                await anyio.to_thread.run_sync(self.check, frame.token)
            except Exception:
                raise StreamRefused(CLOSE_NOT_FOUND, "unknown or ended call") from None
        return frame

    async def _read(self, websocket: WebSocket, port: WebSocketPort) -> None:
        hangup = Hangup("disconnected", by="network")
        try:
            while not port.closed:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is not None:
                    if len(data) > MAX_AUDIO_FRAME + 1:
                        raise StreamRefused(CLOSE_TOO_BIG, "audio frame too large")
                    track, pcm = parse_audio(data)
                    port.events.put_nowait(Audio(track, pcm))
                    continue
                frame = parse_control(message.get("text") or "")
                if isinstance(frame, StopFrame):
                    hangup = Hangup(frame.reason, by="customer")
                    break
                if isinstance(frame, DtmfFrame):
                    port.events.put_nowait(Dtmf(frame.digit))
                elif isinstance(frame, MarkFrame):
                    port.events.put_nowait(Played(frame.name))
                else:
                    raise StreamRefused(CLOSE_BAD_REQUEST, "second start frame")
        except MediaFrameError as exc:
            log.warning("voice_media_bad_frame", call=port.call_public_id, reason=str(exc)[:200])
            hangup = Hangup("bad frame", by="network")
            await port.close(CLOSE_BAD_REQUEST, str(exc))
        except StreamRefused as exc:
            log.warning("voice_media_bad_frame", call=port.call_public_id, reason=exc.reason)
            hangup = Hangup("bad frame", by="network")
            await port.close(exc.code, exc.reason)
        except (WebSocketDisconnect, RuntimeError):
            pass
        port.events.put_nowait(hangup)
        await port.close(1000, "stream ended")


def _client(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else ""


router = APIRouter()


@router.websocket(MEDIA_PATH)
async def media_stream(websocket: WebSocket) -> None:
    """The carrier's media stream of one answered call (docs/voice.md, "Media stream")."""
    plane = getattr(websocket.app.state, "voice_plane", None)
    adapter = plane.adapters.get("websocket") if plane is not None else None
    await websocket.accept()
    if not isinstance(adapter, WebSocketAdapter):
        log.warning("voice_media_refused", reason="media plane not running", client=_client(websocket))
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="media plane not running here")
        return
    await adapter.serve(websocket)

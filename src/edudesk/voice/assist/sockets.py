"""The console's call sockets (docs/protocol.md, "Call WebSockets").

- ``/ws/call/{call_id}``: the call's live transcript and alerts (JSON frames from the call's topic). Events
  travel through the bus, so this socket works on any instance.
- ``/voice/calls/{call_id}/monitor``: a supervisor hears both sides (binary PCM out) and, after a ``mode`` frame,
  whispers to the agent or barges in (binary PCM in).
- ``/voice/calls/{call_id}/agent``: the agent's browser as their telephone: the phone side and any whisper out,
  their microphone in.

The ``/voice/`` sockets reach the call's audio in this process's ``LiveCalls``: they must be routed to the
media-plane instance that carries the call (docs/voice.md). Every socket is accepted before it is checked, so the
browser sees our close codes: 4401 without a session, 4403 cross-origin or a role that may not, 4404 for a call
that is not theirs to reach (another org's is the same 4404 as none) or not live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlparse

import anyio
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edudesk import events
from edudesk.auth.deps import user_from_session
from edudesk.auth.models import User
from edudesk.context import get_ctx
from edudesk.db import NotFoundError
from edudesk.realtime import Connection, receive_frame
from edudesk.voice import service as voice_service
from edudesk.voice.assist import bridge, calls
from edudesk.voice.assist.agent_call import CALL_ALERT_EVENT
from edudesk.voice.assist.views import live_calls
from edudesk.voice.live import LiveCall
from edudesk.voice.media import MAX_AUDIO_FRAME, Track
from edudesk.voice.models import Speaker
from edudesk.wsframes import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHORIZED,
    FrameProblem,
    decode,
    unknown_type,
)

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)
MODES = ("listen", "whisper", "barge")
SEND_EVERY = 0.02
# Audio queued for one listener beyond this many chunks is dropped (a listener that stopped reading).
MAX_QUEUED = 200


def call_renderer(ev: events.DomainEvent) -> dict[str, Any] | None:
    data = ev.data
    if ev.type == voice_service.CALL_TURN_EVENT:
        return {
            "type": "call_turn",
            "call_id": data["call_id"],
            "seq": data["seq"],
            "speaker": data["speaker"],
            "speaker_label": voice_service.speaker_label(Speaker(data["speaker"])),
            "text": data["text"],
            "start_ms": data["start_ms"],
            "end_ms": data["end_ms"],
            "intent": data.get("intent"),
            "alerts": data.get("alerts") or [],
        }
    if ev.type == CALL_ALERT_EVENT:
        return {
            "type": "call_alert",
            "call_id": data["call_id"],
            "seq": data["seq"],
            "speaker": data["speaker"],
            "alerts": data["alerts"],
        }
    if ev.type == voice_service.CALL_STATE_EVENT:
        return {"type": "call_state", "call_id": data["call_id"], "state": data["state"]}
    if ev.type == voice_service.CALL_ENDED_EVENT:
        return {"type": "call_ended", "call_id": data["call_id"], "state": data["state"], "outcome": data["outcome"]}
    return None


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    return origin is None or urlparse(origin).netloc == websocket.headers.get("host", "")


def _visible(websocket: WebSocket, user: User, call_id: int) -> bool:
    with get_ctx(websocket).db.session() as session:
        try:
            calls.visible_call(session, user, call_id)
        except NotFoundError:
            return False
        return True


async def _open(websocket: WebSocket, call_id: int) -> User | None:
    """Accepts, then checks origin, session and that the user may see the call; closes and answers None if not."""
    await websocket.accept()
    if not _same_origin(websocket):
        await websocket.close(code=CLOSE_FORBIDDEN, reason="cross-origin")
        return None
    user = await anyio.to_thread.run_sync(user_from_session, websocket)
    if user is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="login required")
        return None
    if not 0 < call_id < 2**31 or not await anyio.to_thread.run_sync(_visible, websocket, user, call_id):
        await websocket.close(code=CLOSE_NOT_FOUND, reason="no such call")
        return None
    return user


@router.websocket("/ws/call/{call_id}")
async def call_socket(websocket: WebSocket, call_id: int) -> None:
    ctx = get_ctx(websocket)
    user = await _open(websocket, call_id)
    if user is None:
        return
    conn = Connection(websocket, [voice_service.call_topic(user.org_id, call_id)], call_renderer, org_id=user.org_id)
    ctx.hub.add(conn)
    conn.offer({"type": "hello", "call_id": call_id})
    try:
        while (raw := await receive_frame(websocket, ctx.settings.max_frame_bytes)) is not None:
            frame = decode(raw)
            if isinstance(frame, FrameProblem):
                conn.offer(frame.as_frame())
            elif frame["type"] == "ping":
                conn.offer({"type": "pong"})
            else:
                conn.offer(unknown_type(frame["type"]).as_frame())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await ctx.hub.remove(conn)


def _live(websocket: WebSocket, user: User, call_id: int) -> LiveCall | None:
    registry = live_calls(websocket)
    if registry is None:
        return None
    return next((c for c in registry.of_org(user.org_id) if c.call_id == call_id), None)


class Outbox:
    """Audio for one browser, queued from the call's taps (which may run on another thread's loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MAX_QUEUED)

    def _put(self, pcm: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(pcm)

    def put(self, pcm: bytes) -> None:
        if pcm:
            self.loop.call_soon_threadsafe(self._put, pcm)

    def drain(self) -> bytes:
        out = bytearray()
        while not self.queue.empty():
            out.extend(self.queue.get_nowait())
        return bytes(out)


async def _send_audio(websocket: WebSocket, *sources: Outbox | asyncio.Queue[bytes]) -> None:
    """Every tick, what each source queued, mixed, as one binary frame."""
    while True:
        await asyncio.sleep(SEND_EVERY)
        parts = []
        for source in sources:
            if isinstance(source, Outbox):
                parts.append(source.drain())
            else:
                chunk = bytearray()
                while not source.empty():
                    chunk.extend(source.get_nowait())
                parts.append(bytes(chunk))
        mixed = bridge.mix(*parts)
        if mixed:
            await websocket.send_bytes(mixed)


def _audio_in(raw: str | bytes | None) -> bytes | None:
    if not isinstance(raw, bytes) or not raw or len(raw) > MAX_AUDIO_FRAME or len(raw) % 2:
        return None
    return raw


async def _serve_audio(
    websocket: WebSocket, live: LiveCall, outbox: Outbox, sender: asyncio.Task[None], on_audio: Any, on_text: Any
) -> None:
    ctx = get_ctx(websocket)
    try:
        while (raw := await receive_frame(websocket, ctx.settings.max_frame_bytes)) is not None:
            if isinstance(raw, bytes):
                pcm = _audio_in(raw)
                if pcm is None:
                    await websocket.send_json(
                        {"type": "error", "code": "bad_audio", "message": "音频须为完整的 16 位 PCM 采样"}
                    )
                else:
                    on_audio(pcm)
            else:
                await on_text(raw)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _put(queue: asyncio.Queue[bytes], pcm: bytes) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(pcm)


@router.websocket("/voice/calls/{call_id}/monitor")
async def monitor_socket(websocket: WebSocket, call_id: int) -> None:
    """A supervisor on a live call: listens; ``{"type": "mode", "mode": "whisper"|"barge"|"listen"}`` switches."""
    user = await _open(websocket, call_id)
    if user is None:
        return
    if not calls.is_supervisor(user):
        await websocket.close(code=CLOSE_FORBIDDEN, reason="supervisors only")
        return
    live = _live(websocket, user, call_id)
    if live is None:
        await websocket.close(code=CLOSE_NOT_FOUND, reason="call not live on this instance")
        return
    outbox = Outbox()
    mixer = bridge.TrackMixer(frame_samples=live.sample_rate // 50)

    def tap(track: Track, pcm: bytes) -> None:
        for frame in mixer.push(track, pcm):
            outbox.put(frame)

    mode = "listen"

    def on_audio(pcm: bytes) -> None:
        if mode == "whisper":
            _put(live.whisper_audio, pcm)
        elif mode == "barge":
            _put(live.agent_audio, bridge.Sourced(pcm, "supervisor"))
            _put(live.whisper_audio, pcm)

    async def on_text(raw: str) -> None:
        nonlocal mode
        frame = decode(raw)
        if isinstance(frame, FrameProblem):
            await websocket.send_json(frame.as_frame())
        elif frame["type"] == "mode" and frame.get("mode") in MODES:
            mode = frame["mode"]
            log.info("call_monitor_mode", call_id=call_id, org_id=user.org_id, user_id=user.id, mode=mode)
            await websocket.send_json({"type": "mode", "mode": mode})
        elif frame["type"] == "ping":
            await websocket.send_json({"type": "pong"})
        else:
            await websocket.send_json(unknown_type(str(frame["type"])).as_frame())

    live.taps.append(tap)
    sender = asyncio.create_task(_send_audio(websocket, outbox))
    await websocket.send_json({"type": "hello", "call_id": call_id, "sample_rate": live.sample_rate, "mode": mode})
    try:
        await _serve_audio(websocket, live, outbox, sender, on_audio, on_text)
    finally:
        with contextlib.suppress(ValueError):
            live.taps.remove(tap)


@router.websocket("/voice/calls/{call_id}/agent")
async def agent_audio_socket(websocket: WebSocket, call_id: int) -> None:
    """The agent on the call (theirs, or taken over): hears the phone side and whispers, speaks to the phone."""
    user = await _open(websocket, call_id)
    if user is None:
        return
    live = _live(websocket, user, call_id)
    if live is None:
        await websocket.close(code=CLOSE_NOT_FOUND, reason="call not live on this instance")
        return
    owner = await anyio.to_thread.run_sync(_agent_of, websocket, user.org_id, call_id)
    if user.id not in (owner, live.agent_id):
        await websocket.close(code=CLOSE_FORBIDDEN, reason="not your call")
        return
    outbox = Outbox()

    def tap(track: Track, pcm: bytes) -> None:
        if track == Track.phone:
            outbox.put(pcm)

    def on_audio(pcm: bytes) -> None:
        _put(live.agent_audio, bridge.Sourced(pcm, "agent"))

    async def on_text(raw: str) -> None:
        frame = decode(raw)
        if isinstance(frame, FrameProblem):
            await websocket.send_json(frame.as_frame())
        elif frame["type"] == "ping":
            await websocket.send_json({"type": "pong"})
        else:
            await websocket.send_json(unknown_type(str(frame["type"])).as_frame())

    live.taps.append(tap)
    sender = asyncio.create_task(_send_audio(websocket, outbox, live.whisper_audio))
    await websocket.send_text(json.dumps({"type": "hello", "call_id": call_id, "sample_rate": live.sample_rate}))
    try:
        await _serve_audio(websocket, live, outbox, sender, on_audio, on_text)
    finally:
        with contextlib.suppress(ValueError):
            live.taps.remove(tap)


def _agent_of(websocket: WebSocket, org_id: int, call_id: int) -> int | None:
    with get_ctx(websocket).db.session() as session:
        return voice_service.get_call(session, org_id, call_id).agent_id

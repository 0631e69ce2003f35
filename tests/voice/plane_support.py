"""Shared pieces of the media-plane tests: a line with its encrypted config, planes on the test database, a port
fed from a script, and stub talkers (the real robot lives in voice.robot)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from edudesk.db import Database, utcnow
from edudesk.voice import service as voice_service
from edudesk.voice.engines.base import EngineStatus, Recognised
from edudesk.voice.live import LiveCall, LiveCalls, VoiceServices
from edudesk.voice.media import Hangup, MediaEvent
from edudesk.voice.models import Call, LineKind, VoiceLine
from edudesk.voice.runtime import MediaPlane, Talker
from edudesk.voice.telephony.base import CallHandler, OriginateRequest, TelephonyAdapter
from edudesk.voice.telephony.lines import WebSocketLineConfig, encrypt_config, secret_box


class _NoStream:
    def accept(self, pcm: bytes) -> list[Recognised]:
        return []

    def finish(self) -> list[Recognised]:
        return []


class UnavailableEngine:
    """Speech engines for plane tests whose talkers do not listen or speak."""

    name = "unavailable"

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, False, "未配置语音引擎")

    def stream(self, sample_rate: int, *, call_public_id: str, track: int = 0, phone_e164: str = "") -> _NoStream:
        return _NoStream()

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        return b""


SECRET = "test-secret-" + "x" * 20
BOX = secret_box(SECRET)


def make_line(
    db: Database,
    org_id: int,
    *,
    kind: LineKind = LineKind.websocket,
    config: BaseModel | None = None,
    max_concurrent: int = 10,
    name: str = "主线路",
) -> int:
    config = config or WebSocketLineConfig(
        originate_url="http://127.0.0.1:9/originate", signing_secret=SecretStr("whsec_line")
    )
    with db.session() as session:
        line = VoiceLine(
            org_id=org_id,
            name=name,
            kind=kind,
            caller_numbers=["+8601012345678"],
            max_concurrent=max_concurrent,
            config_encrypted=encrypt_config(BOX, config),
        )
        session.add(line)
        session.commit()
        return line.id


def queue_calls(
    db: Database, org_id: int, line_id: int, count: int, *, not_after: dt.datetime | None = None
) -> list[int]:
    ids = []
    with db.session() as session:
        for n in range(count):
            call = voice_service.place_call(
                session,
                voice_service.CallRequest(
                    org_id=org_id,
                    phone_e164=f"+86138{n:08d}",
                    line_id=line_id,
                    not_after=not_after,
                    caller_number="+8601012345678",
                ),
            )
            ids.append(call.id)
        session.commit()
    return ids


def get_call(db: Database, call_id: int) -> Call:
    with db.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        session.expunge(call)
        return call


class RecordingAdapter:
    """An adapter that dials nobody: it remembers what it was asked to dial."""

    kind = "websocket"
    label = "test"
    config_model = WebSocketLineConfig

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def start(self, handler: CallHandler, services: Any) -> None:
        self.handler = handler

    async def stop(self) -> None:
        pass

    async def originate(self, request: OriginateRequest) -> None:
        self.dialled.append(request.call_public_id)


class ScriptPort:
    """A MediaPort fed from a list of events; records what was played."""

    def __init__(self, public_id: str, events: list[MediaEvent], sample_rate: int = 8000) -> None:
        self.call_public_id = public_id
        self.sample_rate = sample_rate
        self.queue: asyncio.Queue[MediaEvent] = asyncio.Queue()
        for event in events:
            self.queue.put_nowait(event)
        self.played = bytearray()
        self.hung_up = False

    async def receive(self) -> MediaEvent:
        return await self.queue.get()

    async def play(self, pcm: bytes) -> None:
        self.played.extend(pcm)

    async def mark(self, name: str) -> None:
        pass

    async def clear(self) -> None:
        pass

    async def hangup(self, reason: str = "") -> None:
        self.hung_up = True
        self.queue.put_nowait(Hangup(reason, by="bot"))


async def hang_up_talker(live: LiveCall, services: VoiceServices) -> None:
    await live.port.hangup("test")


def make_plane(
    db: Database,
    instance: str,
    adapters: dict[LineKind, TelephonyAdapter] | None = None,
    *,
    robot: Talker = hang_up_talker,
    agent: Talker = hang_up_talker,
    upload_dir: Path | None = None,
    lease_seconds: float = 30.0,
    live: LiveCalls | None = None,
) -> MediaPlane:
    engine = UnavailableEngine()
    services = VoiceServices(
        db=db, settings=None, recogniser=engine, synthesiser=engine, live=live or LiveCalls(), upload_dir=upload_dir
    )
    plane = MediaPlane(
        services,
        adapters if adapters is not None else {LineKind.websocket: RecordingAdapter()},
        instance_id=instance,
        box=BOX,
        robot=robot,
        agent=agent,
        lease_seconds=lease_seconds,
        poll_seconds=0.05,
    )
    for adapter in plane.adapters.values():
        if hasattr(adapter, "check"):
            adapter.check = plane.check
    return plane


def expire_lease(db: Database, call_id: int) -> None:
    with db.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        call.lease_until = utcnow() - dt.timedelta(seconds=1)
        session.commit()


class LogRecorder:
    """Stands in for a module's logger (structlog caches bound loggers, so capture_logs may miss them)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def _record(self, event: str, **fields: Any) -> None:
        self.entries.append({"event": event, **fields})

    info = warning = error = debug = _record

    def count(self, event: str) -> int:
        return sum(1 for entry in self.entries if entry["event"] == event)

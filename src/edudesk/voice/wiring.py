"""Builds the media plane from the settings: its adapters, its services and the talkers of each call.

The talkers and speech engines come from other parts of the voice area (voice.robot, voice.assist,
voice.engines). Until they are merged, the placeholders below stand in: a robot call is hung up at once with a
log line, and the engines report themselves unusable. At merge: ``robot_talker`` becomes
``edudesk.voice.robot.run_robot_call``, ``agent_talker`` ``edudesk.voice.assist.run_agent_call``, and the engines
``voice.engines.factory.build_recogniser(settings)`` / ``build_synthesiser(settings)``.
"""

from __future__ import annotations

from typing import Any

import structlog

from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.voice.engines.base import EngineStatus, Recognised, RecognitionStream
from edudesk.voice.live import LiveCall, LiveCalls, VoiceServices
from edudesk.voice.models import LineKind
from edudesk.voice.runtime import MediaPlane
from edudesk.voice.telephony.audiosocket import AudioSocketAdapter
from edudesk.voice.telephony.base import TelephonyAdapter
from edudesk.voice.telephony.lines import secret_box
from edudesk.voice.telephony.sip import SipAdapter
from edudesk.voice.telephony.websocket import MEDIA_PATH, WebSocketAdapter

log = structlog.get_logger(__name__)


class _NoStream:
    def accept(self, pcm: bytes) -> list[Recognised]:
        return []

    def finish(self) -> list[Recognised]:
        return []


class UnavailableEngine:
    """Stands in for the speech engines until voice.engines is merged."""

    name = "unavailable"

    def status(self) -> EngineStatus:
        return EngineStatus(self.name, False, "未配置语音引擎")

    def stream(self, sample_rate: int, *, call_public_id: str, track: int = 0) -> RecognitionStream:
        return _NoStream()

    async def synthesise(self, text: str, sample_rate: int) -> bytes:
        return b""


async def robot_talker(live: LiveCall, services: VoiceServices) -> None:
    log.error("voice_robot_unavailable", call=live.public_id)
    await live.port.hangup("robot unavailable")


async def agent_talker(live: LiveCall, services: VoiceServices) -> None:
    log.error("voice_assist_unavailable", call=live.public_id)
    await live.port.hangup("assist unavailable")


def media_url(settings: Settings) -> str:
    """Where carriers connect the media stream of calls this process dials."""
    if settings.voice_media_url:
        return settings.voice_media_url
    base = settings.base_url.rstrip("/")
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + MEDIA_PATH


def make_adapters(settings: Settings) -> dict[LineKind, TelephonyAdapter]:
    adapters: dict[LineKind, TelephonyAdapter] = {LineKind.websocket: WebSocketAdapter(media_url(settings))}
    if settings.voice_audiosocket_listen:
        adapters[LineKind.audiosocket] = AudioSocketAdapter(
            settings.voice_audiosocket_listen, advertise=settings.voice_audiosocket_address
        )
    if settings.voice_sip_listen:
        adapters[LineKind.sip] = SipAdapter(settings.voice_sip_listen, advertise=settings.voice_sip_address)
    return adapters


def make_plane(
    settings: Settings,
    db: Database,
    live: LiveCalls,
    *,
    bots: Any = None,
    adapters: dict[LineKind, TelephonyAdapter] | None = None,
) -> MediaPlane:
    engine = UnavailableEngine()
    services = VoiceServices(
        db=db,
        settings=settings,
        recogniser=engine,
        synthesiser=engine,
        live=live,
        bots=bots,
        upload_dir=settings.upload_dir,
    )
    plane = MediaPlane(
        services,
        adapters if adapters is not None else make_adapters(settings),
        instance_id=settings.instance_id,
        box=secret_box(settings.secret_key),
        robot=robot_talker,
        agent=agent_talker,
        lease_seconds=settings.voice_lease_seconds,
        poll_seconds=settings.voice_poll_seconds,
        ring_timeout_seconds=settings.voice_ring_timeout_seconds,
    )
    for adapter in plane.adapters.values():
        if hasattr(adapter, "check"):
            adapter.check = plane.check
    return plane

"""Builds the media plane from the settings: its adapters, its services (the speech engines of voice.engines) and
the talkers of each call: the robot (voice.robot) and the agent's side (voice.assist).
"""

from __future__ import annotations

from typing import Any

import structlog

from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.voice.assist import run_agent_call
from edudesk.voice.engines.factory import build_recogniser, build_synthesiser
from edudesk.voice.live import LiveCalls, VoiceServices
from edudesk.voice.models import LineKind
from edudesk.voice.robot import run_robot_call
from edudesk.voice.runtime import MediaPlane
from edudesk.voice.telephony.audiosocket import AudioSocketAdapter
from edudesk.voice.telephony.base import TelephonyAdapter
from edudesk.voice.telephony.lines import secret_box
from edudesk.voice.telephony.sip import SipAdapter
from edudesk.voice.telephony.websocket import MEDIA_PATH, WebSocketAdapter

log = structlog.get_logger(__name__)


robot_talker = run_robot_call
agent_talker = run_agent_call


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
    services = VoiceServices(
        db=db,
        settings=settings,
        recogniser=build_recogniser(settings),
        synthesiser=build_synthesiser(settings),
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

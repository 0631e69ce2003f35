"""Seeding for the voice admin tests: calls in given states with times, turns and recordings."""

from __future__ import annotations

import datetime as dt
import io
import wave
from typing import Any

from edudesk.apitokens import service as apitokens_service
from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.voice import service as voice_service
from edudesk.voice.models import Call, CallMode, CallOutcome, CallState

UTC = dt.UTC


def wav(seconds: float = 0.2, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(rate * seconds))
    return out.getvalue()


def token(database: Database, org_id: int, *scopes: str) -> dict[str, str]:
    with database.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(org_id, label="t"), name="t", scopes=list(scopes))
        session.commit()
    return {"Authorization": f"Bearer {raw}"}


def make_call(
    session: Any,
    org_id: int,
    phone: str,
    *,
    created: dt.datetime,
    state: CallState = CallState.completed,
    outcome: CallOutcome | None = CallOutcome.connected,
    answered: bool = True,
    talk: float = 0.0,
    campaign_id: int | None = None,
    mode: CallMode = CallMode.robot,
    agent_id: int | None = None,
    transferred: bool = False,
    ended: dt.datetime | None = None,
) -> Call:
    """A call as the runtime would leave it, with the times given (place_call's checks included)."""
    call = voice_service.place_call(
        session,
        voice_service.CallRequest(
            org_id=org_id, phone_e164=phone, line_id=None, mode=mode, campaign_id=campaign_id, agent_id=agent_id
        ),
    )
    if state != CallState.queued:
        voice_service.set_state(session, call, CallState.dialing)
    if answered:
        voice_service.set_state(session, call, CallState.in_progress)
    if state not in (CallState.queued, CallState.dialing, CallState.in_progress):
        voice_service.end_call(session, call, state, outcome=outcome, hangup_by="customer")
    call.created_at = call.queued_at = created
    call.answered_at = created + dt.timedelta(seconds=5) if answered else None
    call.ended_at = ended or (created + dt.timedelta(seconds=60) if state.value not in ("queued",) else None)
    call.talk_seconds = talk
    call.duration_seconds = 55.0 if answered else 0.0
    if transferred:
        call.meta = {"transferred": True}
    session.flush()
    return call

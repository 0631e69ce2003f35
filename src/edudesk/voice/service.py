"""The voice area's core service: placing a call, the do-not-call list, the transcript and the end of a call.

Campaigns (voice/campaigns), the runtime that dials and talks (voice/runtime, voice/robot), the telephony
adapters and the telesales assist build on these functions; each one is the only place its change happens.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edudesk import events, jobs
from edudesk.db import NotFoundError, utcnow
from edudesk.errors import DomainError
from edudesk.nlp.extract.common import fold
from edudesk.nlp.extract.phones import find_phones
from edudesk.voice.models import (
    ACTIVE_CALL_STATES,
    Call,
    CallDirection,
    CallMode,
    CallOutcome,
    CallState,
    CallTurn,
    DoNotCall,
    Speaker,
)

# The job every ended call enqueues in the transaction that ends it: campaigns count the attempt and schedule a
# retry, the lead's status and grade follow the outcome (voice/campaigns registers the handler).
CALL_ENDED_JOB = "voice.call_ended"
CALL_ENDED_EVENT = "call.ended"
CALL_TURN_EVENT = "call.turn"
CALL_STATE_EVENT = "call.state"


def call_topic(org_id: int, call_id: int) -> str:
    """The realtime topic of one call: its live transcript and alerts, for the agent and supervisors on it."""
    return f"org:{org_id}:call:{call_id}"


class VoiceError(DomainError):
    pass


class AlreadyInCall(VoiceError):
    def __init__(self) -> None:
        super().__init__("already_in_call", "该号码正在通话中", "phone")


class OnDoNotCallList(VoiceError):
    def __init__(self) -> None:
        super().__init__("do_not_call", "该号码在免打扰名单中，不能拨打", "phone")


def normalise_phone(raw: str) -> str:
    """The E.164 form of one valid Chinese phone number, or VoiceError. Its own output is accepted too: an E.164
    landline (+861012345678) has lost the trunk 0 the text reader looks for."""
    text = fold(raw.strip()[:40]).replace(" ", "").replace("-", "")
    if text.startswith("+86"):
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    elif text.startswith("+"):
        raise VoiceError("bad_phone", "只能拨打中国大陆的号码", "phone")
    found = find_phones(fold(raw.strip()[:40]))
    if len(found) != 1:
        raise VoiceError("bad_phone", "请输入一个有效的手机号或座机号", "phone")
    return found[0].e164


def is_do_not_call(session: Session, org_id: int, phone_e164: str) -> bool:
    return (
        session.scalar(select(DoNotCall.id).where(DoNotCall.org_id == org_id, DoNotCall.phone_e164 == phone_e164))
        is not None
    )


def add_do_not_call(
    session: Session, org_id: int, phone_e164: str, *, reason: str, source: str, created_by: str
) -> DoNotCall:
    """Idempotent: a number already on the list keeps its first entry. Queued calls to it are canceled."""
    row = session.scalar(select(DoNotCall).where(DoNotCall.org_id == org_id, DoNotCall.phone_e164 == phone_e164))
    if row is None:
        row = DoNotCall(
            org_id=org_id, phone_e164=phone_e164, reason=reason[:200], source=source, created_by=created_by[:100]
        )
        session.add(row)
        session.flush()
    for call in session.scalars(
        select(Call).where(Call.org_id == org_id, Call.phone_e164 == phone_e164, Call.state == CallState.queued)
    ):
        end_call(session, call, CallState.canceled, outcome=None, reason="免打扰")
    return row


@dataclass(frozen=True)
class CallRequest:
    org_id: int
    phone_e164: str
    line_id: int | None
    mode: CallMode = CallMode.robot
    campaign_id: int | None = None
    target_id: int | None = None
    contact_id: int | None = None
    agent_id: int | None = None
    flow_key: str | None = None
    caller_number: str = ""
    attempt: int = 1
    not_after: dt.datetime | None = None


def place_call(session: Session, request: CallRequest) -> Call:
    """Queue an outbound call for a media-plane process to dial. Refused for a number on the do-not-call list,
    and for a number already in an active call (the partial unique index decides, also across instances)."""
    if is_do_not_call(session, request.org_id, request.phone_e164):
        raise OnDoNotCallList()
    call = Call(
        org_id=request.org_id,
        public_id=secrets.token_urlsafe(18),
        direction=CallDirection.outbound,
        mode=request.mode,
        state=CallState.queued,
        phone_e164=request.phone_e164,
        line_id=request.line_id,
        campaign_id=request.campaign_id,
        target_id=request.target_id,
        contact_id=request.contact_id,
        agent_id=request.agent_id,
        flow_key=request.flow_key,
        caller_number=request.caller_number,
        attempt=request.attempt,
        not_after=request.not_after,
        queued_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(call)
            session.flush()
    except IntegrityError:
        raise AlreadyInCall() from None
    _state_event(session, call)
    return call


def get_call(session: Session, org_id: int, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None or call.org_id != org_id:
        raise NotFoundError("call", call_id)
    return call


def call_by_public_id(session: Session, public_id: str) -> Call | None:
    """For transports that name the call by its token (no org known yet): the caller checks the org after."""
    return session.scalar(select(Call).where(Call.public_id == public_id))


def set_state(session: Session, call: Call, state: CallState) -> None:
    """A transition of a live call (dialing → ringing → in_progress); ends go through ``end_call``."""
    if call.state not in ACTIVE_CALL_STATES:
        raise VoiceError("call_ended", "通话已结束")
    call.state = state
    now = utcnow()
    if state == CallState.dialing and call.dialed_at is None:
        call.dialed_at = now
    if state == CallState.in_progress and call.answered_at is None:
        call.answered_at = now
    _state_event(session, call)


def add_turn(
    session: Session,
    call: Call,
    speaker: Speaker,
    text: str,
    *,
    start_ms: int,
    end_ms: int,
    confidence: float | None = None,
    intent: str | None = None,
    alerts: list[str] | None = None,
) -> CallTurn:
    seq = (session.scalar(select(func.max(CallTurn.seq)).where(CallTurn.call_id == call.id)) or 0) + 1
    turn = CallTurn(
        org_id=call.org_id,
        call_id=call.id,
        seq=seq,
        speaker=speaker,
        text=text[:2000],
        start_ms=start_ms,
        end_ms=end_ms,
        confidence=confidence,
        intent=intent,
        alerts=list(alerts or []),
    )
    session.add(turn)
    session.flush()
    events.record(
        session,
        events.DomainEvent(
            CALL_TURN_EVENT,
            call.org_id,
            {
                "call_id": call.id,
                "seq": seq,
                "speaker": speaker.value,
                "text": turn.text,
                "start_ms": start_ms,
                "end_ms": end_ms,
                "intent": intent,
                "alerts": turn.alerts,
            },
            topics=(call_topic(call.org_id, call.id),),
        ),
    )
    return turn


def end_call(
    session: Session,
    call: Call,
    state: CallState,
    *,
    outcome: CallOutcome | None,
    reason: str = "",
    hangup_by: str = "",
    callback_at: dt.datetime | None = None,
) -> None:
    """The one way a call ends: its state, outcome and times, and the CALL_ENDED_JOB in the same transaction.
    Ending an ended call again changes nothing (a late hang-up after a network failure)."""
    if call.state not in ACTIVE_CALL_STATES:
        return
    now = utcnow()
    call.state = state
    call.outcome = outcome
    call.outcome_reason = reason[:200]
    call.hangup_by = hangup_by[:16]
    call.callback_at = callback_at
    call.ended_at = now
    call.claimed_by = None
    call.lease_until = None
    if call.answered_at is not None:
        call.duration_seconds = max(0.0, (now - call.answered_at).total_seconds())
    session.flush()
    jobs.enqueue(session, CALL_ENDED_JOB, {"call_id": call.id}, org_id=call.org_id)
    events.record(
        session,
        events.DomainEvent(
            CALL_ENDED_EVENT,
            call.org_id,
            {"call_id": call.id, "state": state.value, "outcome": outcome.value if outcome else None},
            topics=(call_topic(call.org_id, call.id), events.agents_topic(call.org_id)),
        ),
    )


def set_outcome(
    session: Session, call: Call, outcome: CallOutcome, *, reason: str = "", callback_at: dt.datetime | None = None
) -> None:
    """An agent's wrap-up code after the call (or a correction): replaces the outcome, runs the job again."""
    if call.state in ACTIVE_CALL_STATES:
        raise VoiceError("call_active", "通话结束后才能填写结果")
    call.outcome = outcome
    call.outcome_reason = reason[:200]
    call.callback_at = callback_at
    session.flush()
    jobs.enqueue(session, CALL_ENDED_JOB, {"call_id": call.id, "wrap_up": True}, org_id=call.org_id)


def _state_event(session: Session, call: Call) -> None:
    events.record(
        session,
        events.DomainEvent(
            CALL_STATE_EVENT,
            call.org_id,
            {"call_id": call.id, "state": call.state.value},
            topics=(call_topic(call.org_id, call.id),),
        ),
    )


def speaker_label(speaker: Speaker) -> str:
    return {"customer": "客户", "bot": "机器人", "agent": "坐席", "supervisor": "班长", "system": "系统"}[speaker]

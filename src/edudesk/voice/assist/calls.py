"""The console's side of calls: who may see which call, an agent's calls today, the org's live calls, the wrap-up
and the take-over.

Who sees a call: supervisors and admins every call of their org; an agent their own calls and the org's live
robot calls (which they may take over). Anything else is the same 404 as a call that does not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.auth.models import Role, User
from edudesk.db import NotFoundError, org_query
from edudesk.leads import service as leads_service
from edudesk.localtime import local_midnight, local_today
from edudesk.voice import service as voice_service
from edudesk.voice.live import LiveCall
from edudesk.voice.models import ACTIVE_CALL_STATES, Call, CallMode, CallOutcome, CallState, CallTurn
from edudesk.voice.service import VoiceError

MAX_NOTE = 2000
LIVE_STATES = (CallState.ringing, CallState.in_progress)
# The wrap-up codes an agent picks from (the network's own outcomes are not theirs to choose).
WRAP_UP_OUTCOMES = (
    CallOutcome.connected,
    CallOutcome.interested,
    CallOutcome.callback,
    CallOutcome.refused,
    CallOutcome.already_enrolled,
    CallOutcome.wrong_number,
    CallOutcome.no_answer,
    CallOutcome.busy,
)


def is_supervisor(user: User) -> bool:
    return user.role in (Role.admin, Role.supervisor)


def may_see(user: User, call: Call) -> bool:
    if call.org_id != user.org_id:
        return False
    if is_supervisor(user) or call.agent_id == user.id:
        return True
    return call.mode == CallMode.robot and call.state in ACTIVE_CALL_STATES


def visible_call(session: Session, user: User, call_id: int) -> Call:
    """The call, if ``user`` may see it; otherwise NotFoundError (the same answer as for no such call)."""
    call = voice_service.get_call(session, user.org_id, call_id)
    if not may_see(user, call):
        raise NotFoundError("call", call_id)
    return call


def calls_today(session: Session, user: User, limit: int = 100) -> list[Call]:
    since = local_midnight(local_today())
    return list(
        session.scalars(
            org_query(Call, user.org_id)
            .where(Call.agent_id == user.id, Call.created_at >= since)
            .order_by(Call.id.desc())
            .limit(limit)
        )
    )


def current_call(session: Session, user: User) -> Call | None:
    """The agent's call in progress (the newest if the network left an old one open)."""
    return session.scalar(
        org_query(Call, user.org_id)
        .where(Call.agent_id == user.id, Call.state.in_(LIVE_STATES))
        .order_by(Call.id.desc())
        .limit(1)
    )


def live_calls(session: Session, user: User, limit: int = 200) -> list[Call]:
    """The org's calls being talked now: all for supervisors, the robot's (to take over) for agents."""
    query = org_query(Call, user.org_id).where(Call.state.in_(LIVE_STATES))
    if not is_supervisor(user):
        query = query.where(or_(Call.mode == CallMode.robot, Call.agent_id == user.id))
    return list(session.scalars(query.order_by(Call.id.desc()).limit(limit)))


def turns_of(session: Session, call: Call, limit: int = 500) -> list[CallTurn]:
    return list(
        session.scalars(
            select(CallTurn)
            .where(CallTurn.call_id == call.id, CallTurn.org_id == call.org_id)
            .order_by(CallTurn.seq)
            .limit(limit)
        )
    )


def lead_id_of(session: Session, call: Call) -> int | None:
    if call.contact_id is None:
        return None
    lead = leads_service.leads_for_contacts(session, call.org_id, [call.contact_id]).get(call.contact_id)
    return lead.id if lead is not None else None


@dataclass(frozen=True)
class WrapUp:
    outcome: str
    note: str = ""
    callback_at: dt.datetime | None = None


def wrap_up(session: Session, actor: audit_service.Actor, user: User, call_id: int, data: WrapUp) -> Call:
    """The agent's outcome code and note after the call: the outcome through ``voice.service.set_outcome`` (which
    runs the call-ended job again, so the lead follows), the note onto the lead card."""
    call = visible_call(session, user, call_id)
    if not is_supervisor(user) and call.agent_id != user.id:
        raise NotFoundError("call", call_id)
    try:
        outcome = CallOutcome(data.outcome)
    except ValueError:
        raise VoiceError("bad_outcome", "请选择通话结果", "outcome") from None
    if outcome not in WRAP_UP_OUTCOMES:
        raise VoiceError("bad_outcome", "请选择通话结果", "outcome")
    note = data.note.strip()
    if len(note) > MAX_NOTE:
        raise VoiceError("too_long", f"备注不能超过 {MAX_NOTE} 个字", "note")
    if outcome == CallOutcome.callback and data.callback_at is None:
        raise VoiceError("callback_at", "预约回电请填写回电时间", "callback_at")
    voice_service.set_outcome(session, call, outcome, reason=note[:200], callback_at=data.callback_at)
    lead_id = lead_id_of(session, call)
    if note and lead_id is not None:
        leads_service.add_note(
            session, actor, lead_id, f"【通话小结】{note}", remind_at=data.callback_at, author=user.display_name
        )
    audit_service.record(
        session, actor, "voice.call.wrap_up", "call", call.id, outcome=outcome.value, note=bool(note), lead_id=lead_id
    )
    return call


def take_over(session: Session, actor: audit_service.Actor, user: User, call_id: int, live: LiveCall | None) -> Call:
    """An agent takes a robot call over (the database side; ``hand_to_agent`` then stops the robot): the robot
    returns, the media plane runs the agent's side with the assist, and the agent's browser audio reaches the
    phone."""
    call = voice_service.get_call(session, user.org_id, call_id)
    if live is None or live.call_id != call.id or live.org_id != user.org_id or call.state not in LIVE_STATES:
        raise VoiceError("not_live", "通话已结束或不在本机", "form")
    if call.mode != CallMode.robot or live.takeover.is_set():
        raise VoiceError("taken", "该通话已由坐席接管", "form")
    call.agent_id = user.id
    call.meta = {**(call.meta or {}), "taken_over_by": user.id}
    session.flush()
    audit_service.record(session, actor, "voice.call.take_over", "call", call.id)
    return call


def hand_to_agent(live: LiveCall, user_id: int) -> None:
    """After ``take_over`` committed: the robot's loop sees the flag and returns, the runtime runs the agent's side."""
    live.agent_id = user_id
    live.takeover.set()

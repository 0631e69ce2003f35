"""What an ended call does (the ``voice.call_ended`` job, docs/voice.md "How an outbound call happens"): count the
attempt, schedule the target's retry or close it, and move the lead.

The lead follows the outcome (every move through the leads service, so it is audited and the CRM hears it):

- interested: status new → contacted; grade "+20 电话外呼：有意向"; the lead gets an owner (round-robin among the
  active members of the campaign's skill group, else the campaign's default owner; an owner it has stays) and
  the agents hear ``lead.call_interested``; with ``book_trials`` and ``call.meta["trial_session_id"]`` (the time
  the callee chose, set by the robot) a trial class is booked.
- callback: new → contacted; the note carries a reminder at the callback time.
- already_enrolled: → enrolled.
- refused: new → contacted, grade "-20 电话外呼：明确拒绝"; a reason starting with 别再打了 puts the number on the
  do-not-call list and the lead to lost (not an enrolled one).
- wrong_number: a note asking to check the number. connected: new → contacted.
- no answer / busy / failed: a note only when the target's attempts are used up.

Every answered outcome writes a note ("电话外呼（任务名）：有意向 · reason"). A wrap-up (the agent corrects the
outcome: payload ``wrap_up``) runs this again: the attempt is not counted twice, and the lead moves for the new
outcome only if it differs from the one already applied (``call.meta["lead_outcome"]``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import events
from edudesk.audit import service as audit_service
from edudesk.db import utcnow
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead, LeadStatus
from edudesk.localtime import local_text
from edudesk.routing import service as routing_service
from edudesk.trials import service as trials_service
from edudesk.voice import service as voice_service
from edudesk.voice.campaigns import scheduling
from edudesk.voice.campaigns.models import CallCampaign, CallTarget, TargetState
from edudesk.voice.models import OUTCOME_LABELS, Call, CallOutcome, CallState

log = structlog.get_logger(__name__)

# The robot's reason for a refusal that must never be called again (agreed with voice.robot).
DO_NOT_CALL_PREFIX = "别再打了"
INTERESTED_EVENT = "lead.call_interested"
ACTOR_LABEL = "电话外呼"


def call_ended_job(session: Session, payload: dict[str, Any]) -> None:
    call = session.get(Call, int(payload["call_id"]))
    if call is None:
        return
    handle_call_ended(session, call, wrap_up=bool(payload.get("wrap_up")))


def handle_call_ended(session: Session, call: Call, *, wrap_up: bool = False, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    campaign = session.get(CallCampaign, call.campaign_id) if call.campaign_id else None
    if campaign is not None and campaign.org_id != call.org_id:
        campaign = None
    target = _locked_target(session, call) if campaign is not None else None
    asked_no_more = call.outcome == CallOutcome.refused and (call.outcome_reason or "").startswith(DO_NOT_CALL_PREFIX)
    if asked_no_more:
        voice_service.add_do_not_call(
            session, call.org_id, call.phone_e164, reason=call.outcome_reason, source="asked", created_by=ACTOR_LABEL
        )
    exhausted = False
    if campaign is not None and target is not None:
        exhausted = _follow_target(session, campaign, target, call, now=now)
    _move_lead(session, campaign, target, call, exhausted=exhausted, asked_no_more=asked_no_more)


def _locked_target(session: Session, call: Call) -> CallTarget | None:
    stmt = select(CallTarget).where(CallTarget.id == call.target_id, CallTarget.org_id == call.org_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def _follow_target(
    session: Session, campaign: CallCampaign, target: CallTarget, call: Call, *, now: dt.datetime
) -> bool:
    """Counts the attempt and decides the target's next step; True when its attempts just ran out."""
    dialled = call.dialed_at is not None or call.answered_at is not None or call.state != CallState.canceled
    if dialled and call.id not in (target.counted_calls or []):
        target.attempts += 1
        target.counted_calls = [*(target.counted_calls or []), call.id]
    if target.last_call_id not in (None, call.id) or target.state == TargetState.excluded:
        return False  # a later call of the target decides now (a late wrap-up of an earlier one moves the lead only)
    if call.outcome is not None:
        target.last_outcome = call.outcome.value
    target.updated_at = now
    if voice_service.is_do_not_call(session, call.org_id, call.phone_e164) and call.outcome not in (
        CallOutcome.refused,
    ):
        target.state, target.next_attempt_at, target.excluded_reason = TargetState.excluded, None, "免打扰名单"
        return False
    schedule = scheduling.call_schedule(
        campaign.windows, skip_holidays=campaign.skip_holidays, closed_days=campaign.closed_days, now=now
    )
    if not dialled:
        # Canceled before it was dialled (past the window, paused): not an attempt; the next window's turn.
        at = schedule.next_open(now)
        target.state = TargetState.pending if at else TargetState.exhausted
        target.next_attempt_at = at
        return False
    step = scheduling.next_step(
        call.outcome,
        attempts=target.attempts,
        max_attempts=campaign.max_attempts,
        retry_minutes=campaign.retry_minutes,
        retry_growth=campaign.retry_growth,
        callback_at=call.callback_at,
        schedule=schedule,
        now=now,
    )
    was = target.state
    target.state, target.next_attempt_at = step.state, step.next_attempt_at
    return step.state == TargetState.exhausted and was != TargetState.exhausted


def _lead_of(session: Session, target: CallTarget | None, call: Call) -> Lead | None:
    if target is not None and target.lead_id is not None:
        return leads_service.current_lead(session, call.org_id, target.lead_id)
    if call.contact_id is not None:
        lead = leads_service.lead_for_contact(session, call.org_id, call.contact_id)
        if lead is not None:
            return lead
    return leads_service.lead_by_phone(session, call.org_id, call.phone_e164)


def _move_lead(
    session: Session,
    campaign: CallCampaign | None,
    target: CallTarget | None,
    call: Call,
    *,
    exhausted: bool,
    asked_no_more: bool,
) -> None:
    lead = _lead_of(session, target, call)
    if lead is None:
        return
    actor = audit_service.Actor(call.org_id, label=ACTOR_LABEL)
    where = f"电话外呼（{campaign.name}）" if campaign is not None else "电话外呼"
    if exhausted:
        leads_service.add_note(
            session, actor, lead.id, f"{where}：呼叫 {target.attempts if target else 0} 次未接通", author=ACTOR_LABEL
        )
    outcome = call.outcome
    if outcome is None or outcome in (CallOutcome.no_answer, CallOutcome.busy, CallOutcome.failed):
        return
    meta = dict(call.meta or {})
    if meta.get("lead_outcome") == outcome.value:
        return  # already applied (the job ran again, or a wrap-up kept the outcome)
    call.meta = {**meta, "lead_outcome": outcome.value}
    text = f"{where}：{OUTCOME_LABELS[outcome.value]}"
    if call.outcome_reason:
        text += f" · {call.outcome_reason}"
    remind_at = None
    if outcome == CallOutcome.callback and call.callback_at is not None:
        text += f" · 约定回电 {local_text(call.callback_at)}"
        remind_at = call.callback_at
    if outcome == CallOutcome.wrong_number:
        text += " · 号码有误，请核实"
    leads_service.add_note(session, actor, lead.id, text[:2000], remind_at=remind_at, author=ACTOR_LABEL)

    talked = (CallOutcome.interested, CallOutcome.callback, CallOutcome.connected, CallOutcome.refused)
    if outcome in talked and lead.status == LeadStatus.new:
        leads_service.set_status(session, actor, lead.id, LeadStatus.contacted.value)
    if outcome == CallOutcome.interested:
        leads_service.add_signal(session, lead, "call_interested", drop=("call_refused",))
        _hand_over(session, actor, campaign, lead, call)
    elif outcome == CallOutcome.refused:
        leads_service.add_signal(session, lead, "call_refused", drop=("call_interested",))
        if asked_no_more and lead.status != LeadStatus.enrolled:
            leads_service.set_status(session, actor, lead.id, LeadStatus.lost.value)
    elif outcome == CallOutcome.already_enrolled:
        leads_service.set_status(session, actor, lead.id, LeadStatus.enrolled.value)


def _hand_over(
    session: Session, actor: audit_service.Actor, campaign: CallCampaign | None, lead: Lead, call: Call
) -> None:
    """An interested lead gets an owner who calls it back (or a trial class when the callee chose one)."""
    session_id = (call.meta or {}).get("trial_session_id")
    if campaign is not None and campaign.book_trials and isinstance(session_id, int):
        try:
            trials_service.book(session, call.org_id, session_id, lead.id)
        except (trials_service.TrialError, LookupError) as exc:
            log.info("campaign_trial_not_booked", call_id=call.id, reason=str(exc))
    owner_id = lead.owner_id
    if owner_id is None and campaign is not None:
        owner_id = _next_owner(session, campaign)
        if owner_id is not None:
            leads_service.assign(session, actor, [lead.id], owner_id)
    events.record(
        session,
        events.DomainEvent(
            INTERESTED_EVENT,
            call.org_id,
            {
                "lead_id": lead.id,
                "call_id": call.id,
                "owner_id": owner_id,
                "campaign_id": campaign.id if campaign else None,
                "campaign": campaign.name if campaign else "",
            },
            topics=(events.agents_topic(call.org_id),),
        ),
    )


def _next_owner(session: Session, campaign: CallCampaign) -> int | None:
    if campaign.handoff_group_id is not None:
        members = routing_service.members_by_group(session, campaign.org_id).get(campaign.handoff_group_id, [])
        active = sorted(user.id for user, _ in members if user.is_active)
        if active:
            owner = active[campaign.handoff_cursor % len(active)]
            campaign.handoff_cursor = (campaign.handoff_cursor + 1) % 1_000_000
            return owner
    return campaign.default_owner_id

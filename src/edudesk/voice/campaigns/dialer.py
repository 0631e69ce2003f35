"""The dialer: each tick, every running campaign inside its call window places calls for its due targets, up to
its concurrency and its line's.

Two instances may tick at once. Each campaign's pass begins with a conditional UPDATE of the campaign row (still
running → ``ticked_at``): on PostgreSQL that row lock, on SQLite the write lock, holds until the pass commits, so
passes over one campaign follow each other and see each other's calls when they count what is under way. A target
is taken with a conditional UPDATE (pending and due → calling), so even outside that lock it is called once; and
the core's partial unique index keeps a number out of two calls at once whatever happens here.
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from edudesk.db import utcnow
from edudesk.voice import service as voice_service
from edudesk.voice.campaigns import scheduling
from edudesk.voice.campaigns import service as campaigns_service
from edudesk.voice.campaigns.models import CallCampaign, CallTarget, CampaignError, CampaignState, TargetState
from edudesk.voice.models import ACTIVE_CALL_STATES, Call, CallMode, VoiceLine

log = structlog.get_logger(__name__)

# A number found in another call (a colleague dialled it by hand) is tried again this much later.
BUSY_ELSEWHERE = dt.timedelta(minutes=10)


def tick(session: Session, *, now: dt.datetime | None = None) -> int:
    """One pass over every running campaign (each committed on its own); returns how many calls were placed."""
    now = now or utcnow()
    ids = list(session.scalars(select(CallCampaign.id).where(CallCampaign.state == CampaignState.running)))
    session.commit()
    placed = 0
    for campaign_id in ids:
        try:
            placed += dial_campaign(session, campaign_id, now=now)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("campaign_tick_failed", campaign_id=campaign_id)
    return placed


def _active(session: Session, *conditions: object) -> int:
    stmt = select(func.count()).select_from(Call).where(Call.state.in_(ACTIVE_CALL_STATES), *conditions)  # type: ignore[arg-type]
    return int(session.scalar(stmt) or 0)


def dial_campaign(session: Session, campaign_id: int, *, now: dt.datetime) -> int:
    """Places the calls one campaign may place now (the caller commits)."""
    locked = session.execute(
        update(CallCampaign)
        .where(CallCampaign.id == campaign_id, CallCampaign.state == CampaignState.running)
        .values(ticked_at=now)
    )
    if not getattr(locked, "rowcount", 0):
        return 0
    campaign = session.scalars(
        select(CallCampaign).where(CallCampaign.id == campaign_id).execution_options(populate_existing=True)
    ).one()
    line = session.get(VoiceLine, campaign.line_id) if campaign.line_id else None
    if campaigns_service.finish_if_done(session, campaign, now=now):
        log.info("campaign_finished", campaign_id=campaign_id)
        return 0
    if campaign.mode != CallMode.robot or line is None or not line.enabled or line.org_id != campaign.org_id:
        return 0  # agents call an agent campaign's list themselves; a missing line places nothing
    schedule = scheduling.call_schedule(
        campaign.windows, skip_holidays=campaign.skip_holidays, closed_days=campaign.closed_days, now=now
    )
    window = scheduling.window_at(schedule, now)
    if not window.open:
        return 0
    free = min(
        campaign.max_concurrent - _active(session, Call.org_id == campaign.org_id, Call.campaign_id == campaign.id),
        line.max_concurrent - _active(session, Call.line_id == line.id),
    )
    if free <= 0:
        return 0
    due = (
        select(CallTarget.id)
        .where(
            CallTarget.campaign_id == campaign.id,
            CallTarget.state == TargetState.pending,
            CallTarget.next_attempt_at <= now,
        )
        .order_by(CallTarget.next_attempt_at, CallTarget.id)
        .limit(free)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    placed = 0
    for target_id in list(session.scalars(due)):
        if _place(session, campaign, line, target_id, not_after=window.end, now=now) is not None:
            placed += 1
    return placed


def call_for_agent(
    session: Session, org_id: int, campaign_id: int, agent_id: int, *, now: dt.datetime | None = None
) -> Call | None:
    """An agent campaign's next due target, dialled for ``agent_id`` (智能电销: the agent talks, the assist
    transcribes). The same rules as the robot's: running, inside the window, the line's limit, do-not-call, one
    call per number. None when no target is due now."""
    now = now or utcnow()
    campaign = campaigns_service.get(session, org_id, campaign_id)
    if campaign.state != CampaignState.running or campaign.mode != CallMode.agent:
        raise CampaignError("not_callable", "只有进行中的坐席外呼任务可以领取号码", "state")
    line = session.get(VoiceLine, campaign.line_id) if campaign.line_id else None
    if line is None or not line.enabled or line.org_id != org_id:
        raise CampaignError("no_line", "外呼线路不存在或已停用", "line_id")
    schedule = scheduling.call_schedule(
        campaign.windows, skip_holidays=campaign.skip_holidays, closed_days=campaign.closed_days, now=now
    )
    window = scheduling.window_at(schedule, now)
    if not window.open:
        raise CampaignError("outside_window", "现在不在呼叫时段内", "state")
    if _active(session, Call.line_id == line.id) >= line.max_concurrent:
        raise CampaignError("line_busy", "线路已满，请稍后再试", "line_id")
    due = (
        select(CallTarget.id)
        .where(
            CallTarget.campaign_id == campaign.id,
            CallTarget.state == TargetState.pending,
            CallTarget.next_attempt_at <= now,
        )
        .order_by(CallTarget.next_attempt_at, CallTarget.id)
        .limit(5)
    )
    for target_id in list(session.scalars(due)):
        call = _place(session, campaign, line, target_id, not_after=window.end, now=now, agent_id=agent_id)
        if call is not None:
            return call
    return None


def _place(
    session: Session,
    campaign: CallCampaign,
    line: VoiceLine,
    target_id: int,
    *,
    not_after: dt.datetime | None,
    now: dt.datetime,
    agent_id: int | None = None,
) -> Call | None:
    taken = session.execute(
        update(CallTarget)
        .where(CallTarget.id == target_id, CallTarget.state == TargetState.pending, CallTarget.next_attempt_at <= now)
        .values(state=TargetState.calling, updated_at=now)
    )
    if not getattr(taken, "rowcount", 0):
        return None
    target = session.scalars(
        select(CallTarget).where(CallTarget.id == target_id).execution_options(populate_existing=True)
    ).one()
    numbers = list(line.caller_numbers or [])
    caller = numbers[campaign.caller_cursor % len(numbers)] if numbers else ""
    request = voice_service.CallRequest(
        org_id=campaign.org_id,
        phone_e164=target.phone_e164,
        line_id=line.id,
        mode=CallMode.agent if agent_id is not None else CallMode.robot,
        agent_id=agent_id,
        campaign_id=campaign.id,
        target_id=target.id,
        contact_id=target.contact_id,
        flow_key=campaign.flow_key,
        caller_number=caller,
        attempt=target.attempts + 1,
        not_after=not_after,
    )
    try:
        call = voice_service.place_call(session, request)
    except voice_service.OnDoNotCallList:
        target.state, target.next_attempt_at, target.excluded_reason = TargetState.excluded, None, "免打扰名单"
        return None
    except voice_service.AlreadyInCall:
        target.state, target.next_attempt_at = TargetState.pending, now + BUSY_ELSEWHERE
        return None
    campaign.caller_cursor = (campaign.caller_cursor + 1) % max(1, len(numbers))
    target.last_call_id, target.last_attempt_at, target.updated_at = call.id, now, now
    return call

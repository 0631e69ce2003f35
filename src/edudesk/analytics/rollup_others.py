"""A day's leads, tickets, visits and agents' status time folded into their roll-up rows (docs/metrics.md)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from edudesk.analytics.attribution import NO_SOURCE, origin_of, origins
from edudesk.audit.models import AuditEntry
from edudesk.conversations.models import Conversation
from edudesk.leads.models import Lead, LeadStatus
from edudesk.localtime import utc_bounds
from edudesk.routing import presence
from edudesk.routing.models import AgentState, AgentStatusInterval
from edudesk.tickets.models import Ticket
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from edudesk.visitors.models import Visit

CHUNK = 1000
# Status stretches are read from this long before the day: a stretch that lasted longer is cut at that point.
LONGEST_STRETCH = dt.timedelta(days=31)
STATUS_COLUMNS = {"online": "online_seconds", "busy": "busy_seconds", "away": "away_seconds"}


def _after(later: dt.datetime | None, earlier: dt.datetime) -> int | None:
    return None if later is None else max(0, round((later - earlier).total_seconds()))


def _first(found: dict[int, dt.datetime], key: int, at: dt.datetime | None) -> None:
    if at is not None and (key not in found or at < found[key]):
        found[key] = at


def lead_rows(session: Session, org_id: int, day: dt.date, scenes: dict[str, int]) -> list[dict[str, Any]]:
    """The leads created on local ``day`` (a lead merged into an older one is the same person: left out)."""
    since, until = utc_bounds(day, day)
    leads = list(session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.created_at >= since,
                                                    Lead.created_at < until, Lead.merged_into_id.is_(None))))
    if not leads:
        return []
    ids = [lead.id for lead in leads]
    booked: dict[int, dt.datetime] = {}
    attended: dict[int, dt.datetime] = {}
    enrolled: dict[int, dt.datetime] = {}
    groups: dict[int, int | None] = {}
    first_convs = [lead.first_conversation_id for lead in leads if lead.first_conversation_id]
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        for lead_id, status, created, starts in session.execute(
                select(TrialBooking.lead_id, TrialBooking.status, TrialBooking.created_at, TrialSession.starts_at)
                .join(TrialSession, TrialSession.id == TrialBooking.session_id)
                .where(TrialBooking.org_id == org_id, TrialBooking.lead_id.in_(chunk),
                       TrialBooking.status != BookingStatus.cancelled)):
            _first(booked, lead_id, created)
            if status == BookingStatus.attended:
                _first(attended, lead_id, starts)
        for target, detail, at in session.execute(select(AuditEntry.target_id, AuditEntry.detail,
                                                         AuditEntry.created_at).where(
                AuditEntry.org_id == org_id, AuditEntry.action == "lead.status", AuditEntry.target_type == "lead",
                AuditEntry.target_id.in_([str(x) for x in chunk]))):
            if isinstance(detail, dict) and detail.get("status") == LeadStatus.enrolled.value:
                _first(enrolled, int(target), at)
    for i in range(0, len(first_convs), CHUNK):
        groups.update(session.execute(select(Conversation.id, Conversation.group_id).where(
            Conversation.org_id == org_id, Conversation.id.in_(first_convs[i:i + CHUNK]))).all())
    rows = []
    for lead in leads:
        origin = origin_of(lead.attribution or {}, lead.campaign, scenes)
        is_enrolled = lead.status == LeadStatus.enrolled
        enrolled_at = enrolled.get(lead.id, lead.updated_at if is_enrolled else None)
        rows.append({
            "org_id": org_id, "lead_id": lead.id, "contact_id": lead.contact_id, "day": day,
            "created_at": lead.created_at, "channel": lead.source_channel or "", "source": origin.source,
            "campaign_id": origin.campaign_id,
            "group_id": groups.get(lead.first_conversation_id) if lead.first_conversation_id else None,
            "agent_id": lead.owner_id, "level": lead.level or "C", "has_contact": bool(lead.has_contact),
            "contact_seconds": _after(lead.contact_captured_at, lead.created_at) if lead.has_contact else None,
            "booked": lead.id in booked, "booked_seconds": _after(booked.get(lead.id), lead.created_at),
            "attended": lead.id in attended, "attended_seconds": _after(attended.get(lead.id), lead.created_at),
            "enrolled": is_enrolled, "enrolled_seconds": _after(enrolled_at, lead.created_at) if is_enrolled else None,
        })
    return rows


def sla_outcome(due: dt.datetime | None, done: dt.datetime | None, breached: dt.datetime | None
                ) -> tuple[bool, bool]:
    """(met, missed) of one SLA target: missed when the timer job saw it breached or it was done late; met when
    done in time; neither while it is still running (or there is no target)."""
    if due is None:
        return False, False
    missed = breached is not None or (done is not None and done > due)
    return (done is not None and not missed), missed


def ticket_rows(session: Session, org_id: int, day: dt.date, scenes: dict[str, int]) -> list[dict[str, Any]]:
    since, until = utc_bounds(day, day)
    tickets = list(session.scalars(select(Ticket).where(Ticket.org_id == org_id, Ticket.created_at >= since,
                                                        Ticket.created_at < until)))
    who = origins(session, org_id, [t.contact_id for t in tickets if t.contact_id], scenes)
    rows = []
    for t in tickets:
        origin = who.get(t.contact_id) if t.contact_id else None
        frt_met, frt_missed = sla_outcome(t.first_response_due_at, t.first_responded_at,
                                          t.first_response_breached_at)
        res_met, res_missed = sla_outcome(t.resolution_due_at, t.solved_at or t.closed_at, t.resolution_breached_at)
        rows.append({"org_id": org_id, "ticket_id": t.id, "day": day, "channel": t.channel or "",
                     "source": origin.source if origin else NO_SOURCE,
                     "campaign_id": origin.campaign_id if origin else None, "group_id": t.group_id,
                     "agent_id": t.assignee_id, "first_response_met": frt_met, "first_response_missed": frt_missed,
                     "resolution_met": res_met, "resolution_missed": res_missed})
    return rows


def visit_rows(session: Session, org_id: int, day: dt.date, scenes: dict[str, int]) -> list[dict[str, Any]]:
    since, until = utc_bounds(day, day)
    counts: dict[tuple[str, int | None], int] = defaultdict(int)
    for kind, campaign, n in session.execute(select(Visit.source_kind, Visit.campaign, func.count()).where(
            Visit.org_id == org_id, Visit.started_at >= since, Visit.started_at < until, Visit.is_bot.is_(False))
            .group_by(Visit.source_kind, Visit.campaign)):
        counts[(str(kind or NO_SOURCE)[:16], scenes.get(campaign) if campaign else None)] += int(n)
    return [{"org_id": org_id, "day": day, "source": s, "campaign_id": c, "visits": n}
            for (s, c), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))]


def agent_rows(session: Session, org_id: int, day: dt.date, now: dt.datetime) -> list[dict[str, Any]]:
    """Seconds per agent and status on local ``day``; a stretch still open ends now, or at its console's last
    sign of life (+ ``presence.STALE_AFTER``) when the console went silent without saying goodbye."""
    since, until = utc_bounds(day, day)
    if since >= now:
        return []
    last_seen = dict(session.execute(select(AgentState.user_id, AgentState.last_seen_at).where(
        AgentState.org_id == org_id)).all())
    stretches = session.execute(select(AgentStatusInterval.user_id, AgentStatusInterval.status,
                                       AgentStatusInterval.started_at, AgentStatusInterval.ended_at).where(
        AgentStatusInterval.org_id == org_id, AgentStatusInterval.started_at < until,
        AgentStatusInterval.started_at >= since - LONGEST_STRETCH,
        or_(AgentStatusInterval.ended_at.is_(None), AgentStatusInterval.ended_at > since)))
    totals: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUS_COLUMNS.values(), 0))
    for user_id, status, started, ended in stretches:
        if status not in STATUS_COLUMNS:
            continue
        if ended is None:
            seen = last_seen.get(user_id)
            ended = min(now, seen + presence.STALE_AFTER) if seen is not None else now
        start, end = max(started, since), min(ended, until, now)
        if end > start:
            totals[user_id][STATUS_COLUMNS[status]] += round((end - start).total_seconds())
    return [{"org_id": org_id, "day": day, "agent_id": uid, **cols} for uid, cols in sorted(totals.items())]

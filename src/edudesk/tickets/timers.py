"""SLA policies applied to tickets, the durable SLA check and the automatic close after solving.

The SLA check is one job per ticket, scheduled for the ticket's next warning or breach moment. Every change to a
ticket goes through ``touch``, which stamps ``updated_at`` and schedules a fresh check carrying that stamp; a job
whose stamp no longer matches is stale (the ticket changed after it was scheduled, and a newer job exists) and does
nothing. So due times can move any number of times without a chain of duplicate jobs, and a job that runs twice
(at-least-once delivery) finds its warnings already recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.db import get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.hours import service as hours_service
from edudesk.localtime import LOCAL_TZ
from edudesk.tickets import core, sla
from edudesk.tickets.models import CommentKind, SlaPolicy, Ticket, TicketPriority, TicketStatus

log = structlog.get_logger(__name__)

SLA_CHECK_JOB = "tickets.sla_check"
AUTO_CLOSE_JOB = "tickets.auto_close"
# A solved ticket nobody reopens closes by itself after this many (calendar) days.
AUTO_CLOSE_AFTER = dt.timedelta(days=4)
# Never schedule a check sooner than this after the one running (a guard against a moment that will not pass).
MIN_CHECK_GAP = dt.timedelta(seconds=30)

CLOCK_LABELS = {"first_response": "首次响应", "resolution": "解决"}


def clock_for(session: Session, org_id: int, group_id: int | None) -> sla.BusinessClock:
    """The schedule the ticket's clocks run on: the group's own business hours, else the org's, else always open."""
    return hours_service.schedule_for(session, org_id, group_id)


def policy_for(session: Session, org_id: int, priority: TicketPriority, group_id: int | None) -> SlaPolicy | None:
    """The first enabled policy (by position) whose priority and group match; None on a policy means "any"."""
    stmt = (org_query(SlaPolicy, org_id)
            .where(SlaPolicy.enabled.is_(True))
            .where((SlaPolicy.priority.is_(None)) | (SlaPolicy.priority == priority))
            .where((SlaPolicy.group_id.is_(None)) | (SlaPolicy.group_id == group_id)
                   if group_id is not None else SlaPolicy.group_id.is_(None))
            .order_by(SlaPolicy.position, SlaPolicy.id)
            .limit(1))
    return session.scalars(stmt).first()


def targets_of(policy: SlaPolicy | None) -> sla.Targets | None:
    if policy is None:
        return None
    return sla.Targets.from_minutes(policy.first_response_minutes, policy.resolution_minutes, policy.warn_percent)


def policy_of(session: Session, ticket: Ticket) -> SlaPolicy | None:
    if ticket.sla_policy_id is None:
        return None
    policy = session.get(SlaPolicy, ticket.sla_policy_id)
    return policy if policy is not None and policy.org_id == ticket.org_id else None


def apply_policy(session: Session, ticket: Ticket, now: dt.datetime, *, recompute: bool = False) -> None:
    """Picks the policy for the ticket's priority and group and sets its due times (on creation, and with
    ``recompute`` after a priority or group change, carrying the pauses so far over to the new targets).

    A broken schedule must not stop a ticket from being created at 23:00: the ticket is kept without SLA and
    the problem logged."""
    previous = targets_of(policy_of(session, ticket)) if recompute else None
    policy = policy_for(session, ticket.org_id, ticket.priority, ticket.group_id)
    ticket.sla_policy_id = policy.id if policy is not None else None
    try:
        clock = clock_for(session, ticket.org_id, ticket.group_id)
        sla.apply(ticket, clock, targets_of(policy), now, previous=previous)
    except DomainError as exc:
        log.warning("ticket_sla_unavailable", ticket_id=ticket.id, error=exc.message)
        ticket.sla_policy_id = None
        sla.apply(ticket, _AlwaysOpen(), None, now)


class _AlwaysOpen:
    """Used only to clear due times when the schedule cannot be read."""

    def add_business_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    def business_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        return max(0.0, (end - start).total_seconds())


def resume(session: Session, ticket: Ticket, since: dt.datetime | None, now: dt.datetime) -> None:
    """The resolution clock runs again after a pause (pending or solved) that began at ``since``."""
    if since is None or ticket.resolution_due_at is None:
        return
    try:
        sla.resume(ticket, clock_for(session, ticket.org_id, ticket.group_id), since, now)
    except DomainError as exc:
        log.warning("ticket_sla_unavailable", ticket_id=ticket.id, error=exc.message)


def touch(session: Session, ticket: Ticket, now: dt.datetime) -> None:
    """Every change of a ticket ends here: the new ``updated_at`` is the stamp of the one SLA check that counts."""
    ticket.updated_at = now
    schedule_check(session, ticket, now)


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def schedule_check(session: Session, ticket: Ticket, now: dt.datetime) -> dt.datetime | None:
    """Enqueues the SLA check for the ticket's next warning or breach moment (none: nothing to watch)."""
    try:
        moment = sla.next_moment(_checks(session, ticket), now - dt.timedelta(microseconds=1))
    except DomainError as exc:
        log.warning("ticket_sla_unavailable", ticket_id=ticket.id, error=exc.message)
        return None
    if moment is None:
        return None
    jobs.enqueue(session, SLA_CHECK_JOB, {"ticket_id": ticket.id, "org_id": ticket.org_id,
                                          "stamp": _stamp(ticket.updated_at)},
                 org_id=ticket.org_id, run_at=max(moment, now))
    return moment


def _checks(session: Session, ticket: Ticket) -> list[sla.Check]:
    if ticket.first_response_due_at is None and ticket.resolution_due_at is None:
        return []
    return sla.checks(ticket, clock_for(session, ticket.org_id, ticket.group_id),
                      targets_of(policy_of(session, ticket)))


def run_sla_check(session: Session, ticket: Ticket, now: dt.datetime) -> list[sla.Check]:
    """Records every warning and breach due at ``now`` (system comment + event each) and schedules the next
    check. Returns what was recorded."""
    due = sla.due_now(_checks(session, ticket), now)
    for check in due:
        sla.mark(ticket, check, now)
        label = CLOCK_LABELS[check.clock]
        due_at = (ticket.first_response_due_at if check.clock == "first_response" else ticket.resolution_due_at)
        when = due_at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M") if due_at is not None else ""
        if check.kind == "warning":
            text = f"{label}时限即将到期（{when}），请尽快处理"
            event_type = "ticket.sla_warning"
        else:
            text = f"{label}已超时（时限 {when}）"
            event_type = "ticket.sla_breached"
        core.add_comment(session, ticket, CommentKind.system, text, now, author_name="系统")
        core.publish(session, ticket, event_type, clock=check.clock,
                     due_at=due_at.isoformat() if due_at is not None else None)
    if due:
        touch(session, ticket, now)
    else:
        # Nothing due yet (the job ran early, or the moment moved): check again at the next moment.
        moment = sla.next_moment(_checks(session, ticket), now)
        if moment is not None:
            jobs.enqueue(session, SLA_CHECK_JOB, {"ticket_id": ticket.id, "org_id": ticket.org_id,
                                                  "stamp": _stamp(ticket.updated_at)},
                         org_id=ticket.org_id, run_at=max(moment, now + MIN_CHECK_GAP))
    return due


def _ticket_of_job(session: Session, payload: dict[str, Any]) -> Ticket | None:
    try:
        return get_in_org(session, Ticket, int(payload["ticket_id"]), int(payload["org_id"]), for_update=True)
    except LookupError:
        return None  # deleted since


def sla_check_job(session: Session, payload: dict[str, Any], *, now: dt.datetime | None = None) -> None:
    """``tickets.sla_check``: idempotent; a stale job (the ticket changed after it was scheduled) does nothing.
    ``now`` is for tests."""
    ticket = _ticket_of_job(session, payload)
    if ticket is None or _stamp(ticket.updated_at) != payload.get("stamp"):
        return
    run_sla_check(session, ticket, now or utcnow())


def schedule_auto_close(session: Session, ticket: Ticket) -> None:
    assert ticket.solved_at is not None
    jobs.enqueue(session, AUTO_CLOSE_JOB, {"ticket_id": ticket.id, "org_id": ticket.org_id,
                                           "solved_at": _stamp(ticket.solved_at)},
                 org_id=ticket.org_id, run_at=ticket.solved_at + AUTO_CLOSE_AFTER)


def close_if_still_solved(session: Session, ticket: Ticket, solved_at: str | None, now: dt.datetime) -> bool:
    """Closes a ticket solved at ``solved_at`` and untouched by the visitor since (a reopened and solved-again
    ticket has a newer job of its own)."""
    if ticket.status != TicketStatus.solved or ticket.solved_at is None or _stamp(ticket.solved_at) != solved_at:
        return False
    ticket.status = TicketStatus.closed
    ticket.closed_at = now
    days = AUTO_CLOSE_AFTER.days
    core.add_comment(session, ticket, CommentKind.system, f"工单已解决 {days} 天无新消息，自动关闭", now,
                     author_name="系统")
    touch(session, ticket, now)
    core.publish(session, ticket, "ticket.updated", changes={"status": ["solved", "closed"]})
    core.emit_webhook(session, ticket, "ticket.status_changed", previous_status="solved")
    return True


def auto_close_job(session: Session, payload: dict[str, Any], *, now: dt.datetime | None = None) -> None:
    """``tickets.auto_close``: idempotent, and a no-op for a ticket reopened (or already closed) since."""
    ticket = _ticket_of_job(session, payload)
    if ticket is not None:
        close_if_still_solved(session, ticket, payload.get("solved_at"), now or utcnow())


def scheduled_checks(session: Session, org_id: int) -> list[jobs.Job]:
    """Pending SLA checks of an org (for tests and the admin's curiosity)."""
    stmt = select(jobs.Job).where(jobs.Job.kind == SLA_CHECK_JOB, jobs.Job.org_id == org_id,
                                  jobs.Job.status == jobs.JobStatus.pending).order_by(jobs.Job.run_at)
    return list(session.scalars(stmt))

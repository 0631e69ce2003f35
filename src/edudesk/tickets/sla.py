"""SLA clocks on business hours: due times, pauses, warnings and breaches of one ticket.

Pure: no session, no HTTP. The schedule (``edudesk.hours``' ``BusinessHours``, or anything with the same two
methods) is a parameter, so the arithmetic is tested with a schedule built in the test, and the service passes the
org's or group's schedule.

Semantics (docs/tickets.md):
- Both clocks start when the ticket is created and count business seconds only.
- First response is met by the first staff ``reply``; its clock never pauses.
- Resolution is met when the ticket is solved. It pauses while the ticket is ``pending`` (waiting for the visitor)
  and while ``solved``; when the ticket leaves such a state the due time moves on by the business time spent
  there. So the stored ``resolution_due_at`` is always "created + target + every pause so far".
- A warning is due when ``warn_percent`` of a target has run, a breach when the due time passes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Protocol

from edudesk.tickets.models import Ticket
from edudesk.tickets.states import FIRST_RESPONSE_RUNS, RESOLUTION_RUNS

ClockName = Literal["first_response", "resolution"]
CheckKind = Literal["warning", "breach"]
SlaState = Literal["breached", "at_risk", "ok"]


class BusinessClock(Protocol):
    """What the SLA needs of a schedule (``edudesk.hours.schedule.BusinessHours`` has exactly these)."""

    def add_business_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime: ...

    def business_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float: ...


@dataclass(frozen=True)
class Targets:
    """A policy's targets in business seconds, and when to warn (a share of the target, in percent)."""

    first_response_seconds: float
    resolution_seconds: float
    warn_percent: int = 80

    @classmethod
    def from_minutes(cls, first_response: int, resolution: int, warn_percent: int = 80) -> Targets:
        return cls(first_response * 60.0, resolution * 60.0, warn_percent)


@dataclass(frozen=True)
class Check:
    """A moment the ticket's SLA needs attention: a warning or a breach of one of its two clocks."""

    clock: ClockName
    kind: CheckKind
    at: dt.datetime


def paused_seconds(clock: BusinessClock, ticket: Ticket, targets: Targets) -> float:
    """Business seconds the resolution clock has been paused so far, read off the stored due time (pauses are
    folded into it when they end, so none needs a column of its own)."""
    if ticket.resolution_due_at is None:
        return 0.0
    spent = clock.business_seconds_between(ticket.created_at, ticket.resolution_due_at)
    return max(0.0, spent - targets.resolution_seconds)


def apply(ticket: Ticket, clock: BusinessClock, targets: Targets | None, now: dt.datetime, *,
          previous: Targets | None = None) -> None:
    """Sets the due times for ``targets`` (None: no SLA applies), measured from the ticket's creation.

    ``previous`` are the targets the current due times were computed with (a priority or group change picks
    another policy): the pauses folded into the old resolution due time carry over. A clock already met (first
    response given) keeps its record. Warnings and breaches are forgotten when the new moment lies ahead, so the
    job announces them again under the new targets."""
    if targets is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        ticket.first_response_warned = ticket.resolution_warned = False
        if ticket.first_responded_at is None:
            ticket.first_response_breached_at = None
        ticket.resolution_breached_at = None
        return
    paused = paused_seconds(clock, ticket, previous) if previous is not None else 0.0
    if ticket.first_responded_at is None:
        ticket.first_response_due_at = clock.add_business_seconds(ticket.created_at, targets.first_response_seconds)
        fr_warn = clock.add_business_seconds(ticket.created_at, _warn_share(targets.first_response_seconds, targets))
        if fr_warn > now:
            ticket.first_response_warned = False
        if ticket.first_response_due_at > now:
            ticket.first_response_breached_at = None
    ticket.resolution_due_at = clock.add_business_seconds(ticket.created_at, targets.resolution_seconds + paused)
    res_warn = clock.add_business_seconds(ticket.created_at,
                                          paused + _warn_share(targets.resolution_seconds, targets))
    if res_warn > now:
        ticket.resolution_warned = False
    if ticket.resolution_due_at > now:
        ticket.resolution_breached_at = None


def _warn_share(seconds: float, targets: Targets) -> float:
    return seconds * min(max(targets.warn_percent, 0), 100) / 100.0


def resume(ticket: Ticket, clock: BusinessClock, since: dt.datetime | None, now: dt.datetime) -> float:
    """The resolution clock runs again after a pause that began at ``since``: the due time moves on by the
    business time of the pause. Returns the business seconds added."""
    if since is None or ticket.resolution_due_at is None or ticket.resolution_breached_at is not None:
        return 0.0
    pause = clock.business_seconds_between(since, now)
    if pause > 0:
        ticket.resolution_due_at = clock.add_business_seconds(ticket.resolution_due_at, pause)
    return pause


def checks(ticket: Ticket, clock: BusinessClock, targets: Targets | None) -> list[Check]:
    """Every warning and breach still to come for the ticket as it stands, earliest first.

    Without ``targets`` (the policy was deleted since) only breaches are watched: the due times stay as set."""
    out: list[Check] = []
    if (ticket.status in FIRST_RESPONSE_RUNS and ticket.first_responded_at is None
            and ticket.first_response_due_at is not None and ticket.first_response_breached_at is None):
        if targets is not None and not ticket.first_response_warned:
            at = clock.add_business_seconds(ticket.created_at, _warn_share(targets.first_response_seconds, targets))
            out.append(Check("first_response", "warning", min(at, ticket.first_response_due_at)))
        out.append(Check("first_response", "breach", ticket.first_response_due_at))
    if (ticket.status in RESOLUTION_RUNS and ticket.resolution_due_at is not None
            and ticket.resolution_breached_at is None):
        if targets is not None and not ticket.resolution_warned:
            paused = paused_seconds(clock, ticket, targets)
            at = clock.add_business_seconds(ticket.created_at,
                                            paused + _warn_share(targets.resolution_seconds, targets))
            out.append(Check("resolution", "warning", min(at, ticket.resolution_due_at)))
        out.append(Check("resolution", "breach", ticket.resolution_due_at))
    out.sort(key=lambda c: (c.at, c.kind != "warning"))
    return out


def due_now(all_checks: list[Check], now: dt.datetime) -> list[Check]:
    """The checks whose moment has come. A warning whose breach is also due is dropped: the breach says more."""
    due = [c for c in all_checks if c.at <= now]
    breached = {c.clock for c in due if c.kind == "breach"}
    return [c for c in due if c.kind == "breach" or c.clock not in breached]


def next_moment(all_checks: list[Check], now: dt.datetime) -> dt.datetime | None:
    later = [c.at for c in all_checks if c.at > now]
    return min(later) if later else None


def mark(ticket: Ticket, check: Check, now: dt.datetime) -> None:
    """Records a warning or breach on the ticket (a breach also counts as warned)."""
    if check.clock == "first_response":
        ticket.first_response_warned = True
        if check.kind == "breach":
            ticket.first_response_breached_at = check.at
    else:
        ticket.resolution_warned = True
        if check.kind == "breach":
            ticket.resolution_breached_at = check.at


def settle_first_response(ticket: Ticket, now: dt.datetime) -> bool:
    """The first staff reply: stops the first-response clock. A late reply is recorded as breached at the due
    time even when the job had not run yet. Returns whether this was the first response."""
    if ticket.first_responded_at is not None:
        return False
    ticket.first_responded_at = now
    due = ticket.first_response_due_at
    if due is not None and now > due and ticket.first_response_breached_at is None:
        ticket.first_response_breached_at = due
    return True


def settle_resolution(ticket: Ticket, now: dt.datetime) -> None:
    """Solving stops the resolution clock; solving late is a breach even if the job had not run yet."""
    due = ticket.resolution_due_at
    if due is not None and now > due and ticket.resolution_breached_at is None:
        ticket.resolution_breached_at = due


def state(ticket: Ticket) -> SlaState | None:
    """The badge: breached (either clock), at risk (warned, not yet breached, still running), ok, or None when no
    SLA applies."""
    if ticket.first_response_due_at is None and ticket.resolution_due_at is None:
        return None
    if ticket.first_response_breached_at is not None or ticket.resolution_breached_at is not None:
        return "breached"
    fr_running = ticket.first_responded_at is None and ticket.status in FIRST_RESPONSE_RUNS
    if (fr_running and ticket.first_response_warned) or (
            ticket.status in RESOLUTION_RUNS and ticket.resolution_warned):
        return "at_risk"
    return "ok"

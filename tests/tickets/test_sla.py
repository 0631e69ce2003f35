"""The SLA arithmetic on a school's business hours (lunch break, weekend, a holiday), with explicit instants."""

from __future__ import annotations

import datetime as dt

import pytest

from edudesk.tickets import sla
from edudesk.tickets.models import Ticket, TicketPriority, TicketSource, TicketStatus
from tests.tickets.helpers import SCHOOL, at

TARGETS = sla.Targets.from_minutes(first_response=60, resolution=480, warn_percent=80)


def ticket(created: dt.datetime, status: TicketStatus = TicketStatus.new) -> Ticket:
    return Ticket(org_id=1, subject="s", status=status, priority=TicketPriority.normal, source=TicketSource.agent,
                  created_at=created, first_response_warned=False, resolution_warned=False)


@pytest.mark.parametrize(("created", "minutes", "due"), [
    (at(2, 9), 60, at(2, 10)),  # inside the morning
    (at(2, 11, 30), 60, at(2, 13, 30)),  # across the lunch break
    (at(6, 17), 120, at(9, 10)),  # Friday evening → Monday morning, the weekend skipped
    (at(3, 17, 30), 60, at(5, 9, 30)),  # Tuesday evening → Thursday: Wednesday is a holiday
    (at(7, 15), 30, at(9, 9, 30)),  # created on a Saturday: the clock starts on Monday morning
    (at(2, 20), 60, at(3, 10)),  # created after hours
])
def test_due_times_count_business_hours_only(created: dt.datetime, minutes: int, due: dt.datetime) -> None:
    t = ticket(created)
    sla.apply(t, SCHOOL, sla.Targets.from_minutes(minutes, minutes * 8), created)
    assert t.first_response_due_at == due


def test_warning_comes_at_the_share_of_the_target_in_business_time() -> None:
    t = ticket(at(2, 11, 30))
    sla.apply(t, SCHOOL, TARGETS, at(2, 11, 30))
    checks = sla.checks(t, SCHOOL, TARGETS)
    # 80 % of 60 business minutes = 48: 30 before lunch, 18 after.
    assert checks[0] == sla.Check("first_response", "warning", at(2, 13, 18))
    assert checks[1] == sla.Check("first_response", "breach", at(2, 13, 30))
    # 480 minutes from Monday 11:30: 30 + 300 Monday, 150 Tuesday → Tuesday 11:30; warning at 384 → Tue 09:54.
    assert sla.Check("resolution", "warning", at(3, 9, 54)) in checks
    assert sla.Check("resolution", "breach", at(3, 11, 30)) in checks
    assert sla.next_moment(checks, at(2, 11, 30)) == at(2, 13, 18)
    assert sla.due_now(checks, at(2, 13, 20)) == [checks[0]]
    # Once the breach is due too, the warning is dropped: the breach says more.
    assert sla.due_now(checks, at(2, 14)) == [checks[1]]


def test_pending_pauses_the_resolution_clock_by_business_time_only() -> None:
    t = ticket(at(2, 9))
    sla.apply(t, SCHOOL, TARGETS, at(2, 9))
    assert t.resolution_due_at == at(2, 18)
    # Pending from Monday 10:00 to Monday 14:00: 2 h before lunch + 1 h after = 3 business hours.
    added = sla.resume(t, SCHOOL, at(2, 10), at(2, 14))
    assert added == 3 * 3600
    assert t.resolution_due_at == at(3, 12)  # Monday 18:00 + 3 business hours = Tuesday 12:00
    # A pause over the weekend and the holiday costs only the business hours inside it.
    t2 = ticket(at(2, 9))
    sla.apply(t2, SCHOOL, TARGETS, at(2, 9))
    sla.resume(t2, SCHOOL, at(3, 17), at(5, 9))  # Tue 17:00 → Thu 09:00: 1 hour (Wednesday is a holiday)
    assert t2.resolution_due_at == at(3, 10)  # Monday 18:00 + 1 business hour = Tuesday 10:00


def test_the_warning_moves_with_the_pauses() -> None:
    t = ticket(at(2, 9))
    sla.apply(t, SCHOOL, TARGETS, at(2, 9))
    sla.resume(t, SCHOOL, at(2, 10), at(2, 14))
    assert sla.paused_seconds(SCHOOL, t, TARGETS) == 3 * 3600
    res_warning = next(c for c in sla.checks(t, SCHOOL, TARGETS) if c.clock == "resolution" and c.kind == "warning")
    # 384 minutes of work + 180 paused = 564 business minutes after Monday 09:00 → Tuesday 10:24.
    assert res_warning.at == at(3, 10, 24)


def test_no_resolution_checks_while_pending_or_solved_and_first_response_ends_with_the_reply() -> None:
    t = ticket(at(2, 9))
    sla.apply(t, SCHOOL, TARGETS, at(2, 9))
    t.status = TicketStatus.pending
    assert {c.clock for c in sla.checks(t, SCHOOL, TARGETS)} == {"first_response"}
    assert sla.settle_first_response(t, at(2, 9, 30))
    assert not sla.settle_first_response(t, at(2, 9, 40))  # only the first reply counts
    assert sla.checks(t, SCHOOL, TARGETS) == []
    t.status = TicketStatus.solved
    assert sla.checks(t, SCHOOL, TARGETS) == []
    assert sla.state(t) == "ok"


def test_late_reply_and_late_solve_are_breaches_even_before_the_job_ran() -> None:
    t = ticket(at(2, 9))
    sla.apply(t, SCHOOL, TARGETS, at(2, 9))
    sla.settle_first_response(t, at(2, 11))
    assert t.first_response_breached_at == at(2, 10)
    sla.settle_resolution(t, at(3, 9))
    assert t.resolution_breached_at == at(2, 18)
    assert sla.state(t) == "breached"


def test_marking_records_warnings_and_breaches() -> None:
    t = ticket(at(2, 9), TicketStatus.open)
    sla.apply(t, SCHOOL, TARGETS, at(2, 9))
    for check in sla.due_now(sla.checks(t, SCHOOL, TARGETS), at(2, 9, 50)):
        sla.mark(t, check, at(2, 9, 50))
    assert t.first_response_warned and t.first_response_breached_at is None
    assert sla.state(t) == "at_risk"
    for check in sla.due_now(sla.checks(t, SCHOOL, TARGETS), at(2, 10, 5)):
        sla.mark(t, check, at(2, 10, 5))
    assert t.first_response_breached_at == at(2, 10)
    assert [c.clock for c in sla.checks(t, SCHOOL, TARGETS)] == ["resolution", "resolution"]


def test_new_targets_carry_the_pauses_over_and_forget_warnings_that_moved_ahead() -> None:
    t = ticket(at(2, 9), TicketStatus.open)
    sla.apply(t, SCHOOL, TARGETS, at(2, 9))
    sla.resume(t, SCHOOL, at(2, 10), at(2, 11))  # one business hour paused
    t.resolution_warned = True
    urgent = sla.Targets.from_minutes(30, 960)
    sla.apply(t, SCHOOL, urgent, at(2, 11), previous=TARGETS)
    assert t.first_response_due_at == at(2, 9, 30)
    # 960 minutes (two working days) + the hour paused from Monday 09:00 → Wednesday is a holiday → Thursday 10:00.
    assert t.resolution_due_at == at(5, 10)
    assert not t.resolution_warned
    sla.apply(t, SCHOOL, None, at(2, 11))
    assert t.first_response_due_at is None and t.resolution_due_at is None and sla.state(t) is None

"""Roll-ups equal a recount from the raw rows after random activity.

A seeded generator writes rounds of activity (new conversations with messages, hand-overs, queues, assignments,
replies, resolutions, ratings, transfers, captured phones, leads, bookings, tickets) and, in later rounds, changes
what earlier rounds wrote — through sessions whose flushes mark their days, as the app's do. After each round the
refresh job runs. At the end every dashboard must equal (1) the same dashboard rolled up from scratch, and (2) an
independent recount written here from the raw rows, not from the roll-up code.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from edudesk.analytics import jobs as analytics_jobs
from edudesk.analytics import marks, rollups, service
from edudesk.analytics.models import FACT_TABLES
from edudesk.analytics.shapes import Filters
from edudesk.audit.models import AuditEntry
from edudesk.catalog.models import Course
from edudesk.contacts.models import Contact
from edudesk.conversations.models import Conversation, Message, SenderKind
from edudesk.conversations.states import ConversationState as S
from edudesk.db import Database
from edudesk.leads.models import Lead, LeadValue, ValueSource
from edudesk.localtime import utc_bounds
from edudesk.tickets.models import Ticket, TicketSource
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from tests.analytics.seed import DAY, at
from tests.conftest import TwoOrgs

NOW = at(DAY + dt.timedelta(days=10), "12:00")
DAYS = 3
PERIOD = Filters(DAY, DAY + dt.timedelta(days=DAYS - 1))


def _when(rng: random.Random) -> dt.datetime:
    day = DAY + dt.timedelta(days=rng.randrange(DAYS))
    return at(day, f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}")


def _new_conversation(s: Session, rng: random.Random, org: int, agents: list[int]) -> None:
    contact = Contact(org_id=org, name=rng.choice([None, "张", "李"]))
    s.add(contact)
    s.flush()
    start = _when(rng)
    conv = Conversation(org_id=org, contact_id=contact.id, channel=rng.choice(["web", "wechat"]), created_at=start)
    s.add(conv)
    s.flush()
    clock = start
    for _ in range(rng.randrange(0, 4)):
        clock += dt.timedelta(seconds=rng.randrange(1, 90))
        s.add(Message(org_id=org, conversation_id=conv.id, sender=rng.choice([SenderKind.visitor, SenderKind.bot]),
                      created_at=clock, text="…"))
    if rng.random() < 0.5:
        lead = Lead(org_id=org, contact_id=contact.id, created_at=start, source_channel=conv.channel,
                    level=rng.choice("ABC"), attribution={"source_kind": rng.choice(["search", "ad", "direct"])})
        s.add(lead)
        s.flush()
        if rng.random() < 0.3:
            s.add(Ticket(org_id=org, subject="t", source=TicketSource.agent, created_at=start,
                         first_response_due_at=start + dt.timedelta(hours=1), contact_id=contact.id,
                         first_responded_at=start + dt.timedelta(minutes=rng.randrange(10, 120)),
                         assignee_id=rng.choice(agents)))


def _change(s: Session, rng: random.Random, org: int, agents: list[int], trial_id: int) -> None:
    ids = list(s.scalars(select(Conversation.id).where(Conversation.org_id == org)))
    for conv_id in rng.sample(ids, min(len(ids), 6)):
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        clock = conv.created_at + dt.timedelta(minutes=rng.randrange(5, 50))
        step = rng.randrange(7)
        if step == 0 and conv.state == S.bot:  # asks for a human, waits
            conv.state, conv.queued_at, conv.handoff_reason = S.queued, clock, rng.choice(["visitor_request",
                                                                                          "bot_misses"])
        elif step == 1 and conv.state in (S.queued, S.bot):  # an agent takes it and answers
            conv.state, conv.assigned_at, conv.assignee_id = S.assigned, clock, rng.choice(agents)
            s.add(Message(org_id=org, conversation_id=conv.id, sender=SenderKind.agent, text="您好",
                          created_at=clock + dt.timedelta(seconds=rng.randrange(5, 200))))
        elif step == 2 and conv.state == S.assigned:  # resolved and rated
            conv.state, conv.resolved_at, conv.closed_at = S.closed, clock + dt.timedelta(hours=1), clock
            conv.csat_score, conv.csat_scale = rng.randrange(1, 6), 5
        elif step == 3 and conv.state == S.queued:  # gives up waiting
            conv.state = S.bot
        elif step == 4:  # the visitor writes again (only the message is touched, its conversation not loaded)
            s.expunge(conv)
            s.add(Message(org_id=org, conversation_id=conv_id, sender=SenderKind.visitor, text="在吗",
                          created_at=clock))
        elif step == 5:  # a phone taken in it
            lead = s.scalars(select(Lead).where(Lead.contact_id == conv.contact_id)).first()
            if lead is not None and not s.scalar(select(func.count()).select_from(LeadValue).where(
                    LeadValue.lead_id == lead.id)):
                lead.has_contact, lead.contact_captured_at = True, clock
                s.add(LeadValue(org_id=org, lead_id=lead.id, key="phone", value="1", value_text="1",
                                source=ValueSource.visitor, conversation_id=conv.id))
                if rng.random() < 0.5:
                    s.add(TrialBooking(org_id=org, session_id=trial_id, lead_id=lead.id, created_at=clock,
                                       status=rng.choice([BookingStatus.booked, BookingStatus.attended])))
        elif step == 6 and conv.state == S.assigned:  # transferred
            s.add(AuditEntry(org_id=org, action="conversation.transfer", target_type="conversation",
                             target_id=str(conv.id)))
            conv.assigned_at = clock
            conv.assignee_id = rng.choice(agents)


def recount(s: Session, org: int) -> dict[str, Any]:
    """The figures, counted straight from the raw rows."""
    since, until = utc_bounds(PERIOD.start, PERIOD.end)
    convs = list(s.scalars(select(Conversation).where(Conversation.org_id == org, Conversation.created_at >= since,
                                                      Conversation.created_at < until)))
    msgs: dict[int, list[Message]] = {}
    for m in s.scalars(select(Message).where(Message.org_id == org)):
        msgs.setdefault(m.conversation_id, []).append(m)
    valid = [c for c in convs if any(m.sender == SenderKind.visitor for m in msgs.get(c.id, []))]

    def served(c: Conversation) -> bool:
        return c.assigned_at is not None or any(m.sender == SenderKind.agent and not m.internal
                                                for m in msgs.get(c.id, []))

    def handed(c: Conversation) -> bool:
        return served(c) or c.queued_at is not None or c.handoff_reason is not None

    captured = set(s.scalars(select(LeadValue.conversation_id).where(LeadValue.org_id == org,
                                                                     LeadValue.key == "phone")))
    leads = list(s.scalars(select(Lead).where(Lead.org_id == org, Lead.created_at >= since,
                                              Lead.created_at < until)))
    booked = set(s.scalars(select(TrialBooking.lead_id).where(TrialBooking.org_id == org,
                                                              TrialBooking.status != BookingStatus.cancelled)))
    transfers = s.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.org_id == org, AuditEntry.action == "conversation.transfer",
        AuditEntry.target_id.in_([str(c.id) for c in convs]))) or 0

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    queued = [c for c in convs if c.queued_at is not None]
    return {
        ("data", "conversations"): len(convs), ("data", "valid"): len(valid),
        ("data", "bot_rate"): rate(sum(1 for c in valid if not handed(c)), len(valid)),
        ("data", "handover_rate"): rate(sum(1 for c in valid if handed(c)), len(valid)),
        ("data", "capture_rate"): rate(sum(1 for c in valid if c.id in captured), len(valid)),
        ("process", "queued"): len(queued),
        ("process", "abandoned"): sum(1 for c in queued if not served(c) and c.state != S.queued),
        ("process", "transfers"): transfers,
        ("process", "tickets"): s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.org_id == org, Ticket.created_at >= since, Ticket.created_at < until)),
        ("people", "served"): sum(1 for c in convs if served(c)),
        ("outcome", "contact"): sum(1 for lead in leads if lead.has_contact),
        ("outcome", "booked"): sum(1 for lead in leads if lead.id in booked),
    }


def _dashboards(database: Database, org: int) -> dict[str, Any]:
    with database.session() as s:
        return {key: (d.figures, d.panels) for key in ("people", "data", "process", "outcome")
                for d in [service.dashboard(s, org, key, PERIOD)]}


@pytest.mark.parametrize("seed", [7, 2026])
def test_rollups_equal_a_recount_after_random_activity(database: Database, orgs: TwoOrgs, seed: int) -> None:
    marks.attach(database.sessionmaker)
    rng = random.Random(seed)
    org = orgs.a.id
    agents = [orgs.a.users["agent"].id, orgs.a.users["agent2"].id]
    with database.session() as s:
        course = Course(org_id=org, name="试听", subject="数学")
        s.add(course)
        s.flush()
        trial = TrialSession(org_id=org, course_id=course.id, starts_at=at(DAY, "18:00"), capacity=99)
        s.add(trial)
        s.commit()
        trial_id = trial.id
    for _ in range(4):
        with database.session() as s:
            for _ in range(8):
                _new_conversation(s, rng, org, agents)
            _change(s, rng, org, agents, trial_id)
            s.commit()
            analytics_jobs.refresh(s, now=NOW)
    incremental = _dashboards(database, org)
    with database.session() as s:
        expected = recount(s, org)
        for model in FACT_TABLES:
            s.execute(delete(model))
        s.commit()
        rollups.recompute_range(s, org, PERIOD.start, PERIOD.end, now=NOW)
    assert _dashboards(database, org) == incremental
    figures = {(key, f.key): f.value for key, (figs, _) in incremental.items() for f in figs}
    assert {k: figures[k] for k in expected} == expected
    assert expected[("data", "valid")] > 5  # the generator did produce activity worth checking

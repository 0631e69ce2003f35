"""What an ended call does: the attempt counted once, the retry in the next window, the lead's status, grade
and notes, interested leads handed to the skill group's agents in turn, 别再打了 on the do-not-call list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from edudesk import events, jobs
from edudesk.audit.service import Actor
from edudesk.db import Database
from edudesk.leads.models import Lead, LeadNote, LeadStatus
from edudesk.routing import service as routing_service
from edudesk.trials.models import TrialBooking
from edudesk.voice import service as voice_service
from edudesk.voice.campaigns import dialer, outcomes
from edudesk.voice.campaigns import jobs as campaign_jobs
from edudesk.voice.campaigns.models import CallTarget, TargetState
from edudesk.voice.models import Call, CallOutcome, CallState, DoNotCall
from tests.conftest import TwoOrgs
from tests.trials import factories as trial_factories
from tests.voice.campaigns.helpers import MONDAY_10, add_lead, add_line, local, make_campaign, phone


def seed(database: Database, orgs: TwoOrgs, count: int = 1, **campaign: object) -> int:
    with database.session() as session:
        line = add_line(session, orgs.a.id)
        for n in range(count):
            add_lead(session, orgs.a.id, phone(n))
        cid = make_campaign(session, orgs.a.id, line.id, **campaign).id
        session.commit()
        assert dialer.tick(session, now=MONDAY_10) == count
        return cid


def end(
    database: Database,
    cid: int,
    outcome: CallOutcome,
    *,
    state: CallState = CallState.completed,
    reason: str = "",
    callback_at: dt.datetime | None = None,
    now: dt.datetime = MONDAY_10,
    number: int = 0,
) -> int:
    with database.session() as session:
        call = session.scalars(
            select(Call).where(
                Call.campaign_id == cid, Call.phone_e164 == phone(number), Call.state == CallState.queued
            )
        ).one()
        voice_service.set_state(session, call, CallState.dialing)
        if state == CallState.completed:
            voice_service.set_state(session, call, CallState.in_progress)
        voice_service.end_call(session, call, state, outcome=outcome, reason=reason, callback_at=callback_at)
        outcomes.handle_call_ended(session, call, now=now)
        session.commit()
        return call.id


def target(database: Database, cid: int, number: int = 0) -> CallTarget:
    with database.session() as session:
        row = session.scalars(
            select(CallTarget).where(CallTarget.campaign_id == cid, CallTarget.phone_e164 == phone(number))
        ).one()
        session.expunge(row)
        return row


def lead(database: Database, org_id: int, number: int = 0) -> tuple[Lead, list[str]]:
    with database.session() as session:
        row = session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.phone_e164 == phone(number))).one()
        notes = [n.text for n in session.scalars(select(LeadNote).where(LeadNote.lead_id == row.id))]
        session.expunge(row)
        return row, notes


def test_no_answer_retries_after_the_spacing_then_exhausts(database: Database, orgs: TwoOrgs) -> None:
    cid = seed(database, orgs, max_attempts="2")
    end(database, cid, CallOutcome.no_answer, state=CallState.no_answer)
    t = target(database, cid)
    assert (t.state, t.attempts, t.next_attempt_at) == (TargetState.pending, 1, local("2026-12-07", "10:30"))
    with database.session() as session:
        assert dialer.tick(session, now=local("2026-12-07", "10:29")) == 0
        assert dialer.tick(session, now=local("2026-12-07", "10:30")) == 1
    end(database, cid, CallOutcome.busy, state=CallState.busy, now=local("2026-12-07", "10:31"))
    t = target(database, cid)
    assert (t.state, t.attempts, t.next_attempt_at) == (TargetState.exhausted, 2, None)
    row, notes = lead(database, orgs.a.id)
    assert row.status == LeadStatus.new
    assert notes == ["电话外呼（秋季回访）：呼叫 2 次未接通"]


def test_callback_at_the_asked_time_with_a_reminder(database: Database, orgs: TwoOrgs) -> None:
    cid = seed(database, orgs)
    evening = local("2026-12-08", "22:00")  # outside the windows: the next morning
    end(database, cid, CallOutcome.callback, reason="在忙", callback_at=evening)
    t = target(database, cid)
    assert (t.state, t.next_attempt_at, t.last_outcome) == (
        TargetState.pending,
        local("2026-12-09", "09:00"),
        "callback",
    )
    row, notes = lead(database, orgs.a.id)
    assert row.status == LeadStatus.contacted
    assert notes == ["电话外呼（秋季回访）：预约回电 · 在忙 · 约定回电 2026-12-08 22:00"]
    with database.session() as session:
        note = session.scalars(select(LeadNote)).one()
        assert note.remind_at == evening


def test_interested_raises_the_grade_and_goes_to_the_groups_agents_in_turn(database: Database, orgs: TwoOrgs) -> None:
    actor = Actor(orgs.a.id, label="test")
    with database.session() as session:
        group = routing_service.create_group(session, actor, "外呼跟进")
        for role in ("agent", "agent2"):
            routing_service.add_member(session, actor, group.id, orgs.a.users[role].id)
        session.commit()
        group_id = group.id
    cid = seed(database, orgs, 3, handoff_group_id=str(group_id))
    for n in range(3):
        end(database, cid, CallOutcome.interested, reason="有兴趣", number=n)
    owners = []
    for n in range(3):
        row, notes = lead(database, orgs.a.id, n)
        assert row.status == LeadStatus.contacted
        assert "+20 电话外呼：有意向" in row.score_reasons
        assert notes == ["电话外呼（秋季回访）：有意向 · 有兴趣"]
        owners.append(row.owner_id)
        assert target(database, cid, n).state == TargetState.done
    agents = sorted([orgs.a.users["agent"].id, orgs.a.users["agent2"].id])
    assert owners == [agents[0], agents[1], agents[0]]


def test_refused_do_not_call_enrolled_wrong_number(database: Database, orgs: TwoOrgs) -> None:
    cid = seed(database, orgs, 4)
    end(database, cid, CallOutcome.refused, reason="别再打了，我投诉了", number=0)
    end(database, cid, CallOutcome.refused, reason="没兴趣", number=1)
    end(database, cid, CallOutcome.already_enrolled, number=2)
    end(database, cid, CallOutcome.wrong_number, number=3)
    first, _ = lead(database, orgs.a.id, 0)
    assert first.status == LeadStatus.lost and "-20 电话外呼：明确拒绝" in first.score_reasons
    second, _ = lead(database, orgs.a.id, 1)
    assert second.status == LeadStatus.contacted and "-20 电话外呼：明确拒绝" in second.score_reasons
    assert lead(database, orgs.a.id, 2)[0].status == LeadStatus.enrolled
    wrong, notes = lead(database, orgs.a.id, 3)
    assert wrong.status == LeadStatus.new and "号码有误" in notes[0]
    with database.session() as session:
        dnc = list(session.scalars(select(DoNotCall)))
        assert [(d.phone_e164, d.source) for d in dnc] == [(phone(0), "asked")]
    assert all(target(database, cid, n).state == TargetState.done for n in range(4))


def test_a_wrap_up_changes_the_outcome_without_counting_again(database: Database, orgs: TwoOrgs) -> None:
    cid = seed(database, orgs)
    call_id = end(database, cid, CallOutcome.no_answer, state=CallState.no_answer)
    with database.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        voice_service.set_outcome(session, call, CallOutcome.interested, reason="坐席回拨确认")
        job = session.scalars(
            select(jobs.Job).where(jobs.Job.kind == voice_service.CALL_ENDED_JOB).order_by(jobs.Job.id.desc())
        ).first()
        assert job is not None and job.payload == {"call_id": call_id, "wrap_up": True}
        outcomes.call_ended_job(session, job.payload)
        outcomes.call_ended_job(session, job.payload)  # a retried job changes nothing more
        session.commit()
    t = target(database, cid)
    assert (t.state, t.attempts) == (TargetState.done, 1)
    row, notes = lead(database, orgs.a.id)
    assert row.status == LeadStatus.contacted and notes.count("电话外呼（秋季回访）：有意向 · 坐席回拨确认") == 1


def test_jobs_are_registered() -> None:
    registry = jobs.JobRegistry()
    campaign_jobs.register(registry)
    assert set(registry.kinds) == {campaign_jobs.TICK_JOB, voice_service.CALL_ENDED_JOB}


def test_interested_tells_the_agents(database: Database, orgs: TwoOrgs) -> None:
    owner = orgs.a.users["agent2"].id
    cid = seed(database, orgs, default_owner_id=str(owner))
    with database.session() as session:
        call = session.scalars(select(Call).where(Call.campaign_id == cid)).one()
        voice_service.set_state(session, call, CallState.in_progress)
        voice_service.end_call(session, call, CallState.completed, outcome=CallOutcome.interested)
        session.info.pop(events.PENDING_KEY, None)
        outcomes.handle_call_ended(session, call, now=MONDAY_10)
        told = [e for e in session.info.get(events.PENDING_KEY, []) if e.type == outcomes.INTERESTED_EVENT]
        session.commit()
    assert len(told) == 1
    assert told[0].data["owner_id"] == owner and told[0].data["campaign"] == "秋季回访"
    assert told[0].topics == (events.agents_topic(orgs.a.id),)
    assert lead(database, orgs.a.id)[0].owner_id == owner


def test_interested_with_a_chosen_time_books_the_trial(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = trial_factories.catalog(database, orgs.a.id)
    session_id = trial_factories.trial(database, orgs.a.id, course_id, campus_id)
    cid = seed(database, orgs, book_trials="1")
    with database.session() as session:
        call = session.scalars(select(Call).where(Call.campaign_id == cid)).one()
        call.meta = {"trial_session_id": session_id}
        session.commit()
    end(database, cid, CallOutcome.interested, reason="周六上午可以")
    row, _ = lead(database, orgs.a.id)
    assert row.status == LeadStatus.trial_booked
    with database.session() as session:
        booking = session.scalars(select(TrialBooking)).one()
        assert (booking.session_id, booking.lead_id) == (session_id, row.id)


def test_the_tick_chain_runs_in_a_worker_and_schedules_its_next_run(database: Database, orgs: TwoOrgs) -> None:
    registry = jobs.JobRegistry()
    campaign_jobs.register(registry)
    campaign_jobs.ensure_scheduled(database)
    campaign_jobs.ensure_scheduled(database)  # idempotent: one chain
    worker = jobs.Worker(database, registry, worker_id="w1")
    assert worker.run_pending() == 1
    with database.session() as session:
        ticks = list(
            session.scalars(select(jobs.Job).where(jobs.Job.kind == campaign_jobs.TICK_JOB).order_by(jobs.Job.id))
        )
        assert [t.status for t in ticks] == [jobs.JobStatus.done, jobs.JobStatus.pending]
        assert ticks[1].run_at > ticks[0].run_at

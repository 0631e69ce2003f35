"""The voice core: a call is queued once per number (also from two sessions, as two instances would), never to a
number on the do-not-call list; ending a call enqueues its follow-up job once; turns are numbered in order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from edudesk import jobs
from edudesk.db import Database
from edudesk.voice import service as voice_service
from edudesk.voice.models import Call, CallOutcome, CallState, CallTurn, Speaker
from tests.conftest import TwoOrgs

PHONE = "+8613800138000"


def request(org_id: int, phone: str = PHONE) -> voice_service.CallRequest:
    return voice_service.CallRequest(org_id=org_id, phone_e164=phone, line_id=None)


def test_normalise_phone() -> None:
    assert voice_service.normalise_phone(" 138 0013 8000 ") == PHONE
    assert voice_service.normalise_phone("１３８００１３８０００") == PHONE
    assert voice_service.normalise_phone(PHONE) == PHONE
    landline = voice_service.normalise_phone("010-12345678")
    assert landline == "+861012345678" and voice_service.normalise_phone(landline) == landline
    for bad in ("", "12345", "13800138000 13900139000", "x" * 5000, "+8612345", "+1 650 253 0000"):
        with pytest.raises(voice_service.VoiceError):
            voice_service.normalise_phone(bad)


def test_a_number_is_never_in_two_calls(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as first, database.session() as second:
        voice_service.place_call(first, request(orgs.a.id))
        first.commit()
        with pytest.raises(voice_service.AlreadyInCall):
            voice_service.place_call(second, request(orgs.a.id))
        second.rollback()
        # Another org's call to the same number is its own business.
        voice_service.place_call(second, request(orgs.b.id))
        second.commit()
    with database.session() as session:
        call = session.scalars(select(Call).where(Call.org_id == orgs.a.id)).one()
        voice_service.end_call(session, call, CallState.no_answer, outcome=CallOutcome.no_answer)
        session.commit()
        again = voice_service.place_call(session, request(orgs.a.id))
        session.commit()
        assert again.state == CallState.queued and again.public_id != call.public_id


def test_do_not_call_refuses_and_cancels_queued(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        queued = voice_service.place_call(session, request(orgs.a.id))
        voice_service.add_do_not_call(session, orgs.a.id, PHONE, reason="别再打了", source="asked", created_by="bot")
        voice_service.add_do_not_call(session, orgs.a.id, PHONE, reason="again", source="manual", created_by="x")
        session.commit()
        assert queued.state == CallState.canceled
        with pytest.raises(voice_service.OnDoNotCallList):
            voice_service.place_call(session, request(orgs.a.id))
        assert voice_service.place_call(session, request(orgs.b.id)).state == CallState.queued


def test_end_call_once_with_job_and_turns_in_order(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        call = voice_service.place_call(session, request(orgs.a.id))
        voice_service.set_state(session, call, CallState.dialing)
        voice_service.set_state(session, call, CallState.in_progress)
        voice_service.add_turn(session, call, Speaker.bot, "您好", start_ms=0, end_ms=800)
        voice_service.add_turn(
            session, call, Speaker.customer, "有兴趣", start_ms=900, end_ms=1500, intent="interested"
        )
        voice_service.end_call(session, call, CallState.completed, outcome=CallOutcome.interested, hangup_by="customer")
        voice_service.end_call(session, call, CallState.failed, outcome=CallOutcome.failed)
        session.commit()
        assert call.state == CallState.completed and call.outcome == CallOutcome.interested
        assert call.ended_at is not None and call.answered_at is not None
        turns = session.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq)).all()
        assert [(t.seq, t.speaker) for t in turns] == [(1, Speaker.bot), (2, Speaker.customer)]
        ended = session.scalars(select(jobs.Job).where(jobs.Job.kind == voice_service.CALL_ENDED_JOB)).all()
        assert [j.payload for j in ended] == [{"call_id": call.id}]
        with pytest.raises(voice_service.VoiceError):
            voice_service.set_state(session, call, CallState.ringing)

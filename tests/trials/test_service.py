"""Trial sessions and bookings on SQLite and PostgreSQL: validation, seats, double bookings, cancellation, the lead's
status, webhooks only when subscribed, and other orgs' rows out of reach."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database, NotFoundError, utcnow
from edudesk.leads.models import Lead, LeadStatus
from edudesk.trials import service as trials_service
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from edudesk.webhooks.models import WebhookDelivery, WebhookEvent
from tests.conftest import TwoOrgs
from tests.trials.factories import actor, catalog, lead, subscribe, trial


def booked_count(database: Database, session_id: int) -> int:
    with database.session() as session:
        ts = session.get(TrialSession, session_id)
        assert ts is not None
        return ts.booked_count


def book(database: Database, org_id: int, session_id: int, lead_id: int, **kw: object) -> TrialBooking:
    with database.session() as session:
        booking = trials_service.book(session, org_id, session_id, lead_id, **kw)  # type: ignore[arg-type]
        session.commit()
        return booking


@pytest.mark.parametrize(("change", "code"), [
    ({"starts_at": utcnow() - dt.timedelta(minutes=1)}, "past_start"),
    ({"capacity": 0}, "bad_capacity"), ({"capacity": 201}, "bad_capacity"),
    ({"duration_minutes": 14}, "bad_duration"), ({"duration_minutes": 481}, "bad_duration"),
    ({"teacher": "王" * 51}, "teacher_too_long"),
])
def test_session_validation(database: Database, orgs: TwoOrgs, change: dict[str, object], code: str) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    data = {"course_id": course_id, "campus_id": campus_id, "starts_at": utcnow() + dt.timedelta(days=1),
            "capacity": 5, **change}
    with database.session() as session:
        with pytest.raises(trials_service.TrialError) as err:
            trials_service.create_session(session, actor(orgs.a.id), trials_service.SessionInput(**data))  # type: ignore[arg-type]
        assert err.value.code == code
        assert session.scalars(select(TrialSession)).first() is None


def test_limits_are_accepted_and_creation_is_audited(database: Database, orgs: TwoOrgs) -> None:
    course_id, _ = catalog(database, orgs.a.id, campus=None)
    with database.session() as session:
        ts = trials_service.create_session(session, actor(orgs.a.id), trials_service.SessionInput(
            course_id=course_id, starts_at=utcnow() + dt.timedelta(hours=1), capacity=200, duration_minutes=480))
        trials_service.create_session(session, actor(orgs.a.id), trials_service.SessionInput(
            course_id=course_id, starts_at=utcnow() + dt.timedelta(hours=1), capacity=1, duration_minutes=15))
        session.commit()
        assert ts.campus_id is None and ts.booked_count == 0
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == orgs.a.id)).all()
        assert actions.count("trial_session.create") == 2


def test_another_orgs_course_or_campus_is_not_found(database: Database, orgs: TwoOrgs) -> None:
    course_a, campus_a = catalog(database, orgs.a.id)
    course_b, _ = catalog(database, orgs.b.id)
    with database.session() as session:
        for course, campus in ((course_a, None), (course_b, campus_a)):
            with pytest.raises(NotFoundError):
                trials_service.create_session(session, actor(orgs.b.id), trials_service.SessionInput(
                    course_id=course, campus_id=campus, starts_at=utcnow() + dt.timedelta(days=1), capacity=3))


def test_booking_fills_the_seats_and_refuses_one_more(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=3)
    leads = [lead(database, orgs.a.id, f"v{i}", child=f"孩子{i}") for i in range(4)]
    for n, lead_id in enumerate(leads[:3], start=1):
        booking = book(database, orgs.a.id, session_id, lead_id)
        assert booking.status == BookingStatus.booked and booking.booked_via == "bot"
        assert booked_count(database, session_id) == n
    assert booking.child_name == "孩子2" and booking.grade == "三年级"
    with pytest.raises(trials_service.TrialFullError) as err:
        book(database, orgs.a.id, session_id, leads[3])
    assert err.value.code == "full" and err.value.status_code == 409
    assert booked_count(database, session_id) == 3


def test_the_same_lead_is_booked_once_until_cancelled(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=5)
    lead_id = lead(database, orgs.a.id, "v1")
    first = book(database, orgs.a.id, session_id, lead_id)
    with pytest.raises(trials_service.TrialError) as err:
        book(database, orgs.a.id, session_id, lead_id)
    assert err.value.code == "already_booked" and "已预约" in err.value.message
    assert booked_count(database, session_id) == 1
    with database.session() as session:
        cancelled = trials_service.cancel_booking(session, actor(orgs.a.id), first.id)
        session.commit()
        assert cancelled.status == BookingStatus.cancelled and cancelled.cancelled_at is not None
    assert booked_count(database, session_id) == 0
    again = book(database, orgs.a.id, session_id, lead_id)  # a cancelled booking does not block a new one
    assert again.id != first.id and booked_count(database, session_id) == 1


def test_cancel_frees_a_seat_once(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=1)
    first = book(database, orgs.a.id, session_id, lead(database, orgs.a.id, "v1"))
    second_lead = lead(database, orgs.a.id, "v2")
    with pytest.raises(trials_service.TrialFullError):
        book(database, orgs.a.id, session_id, second_lead)
    with database.session() as session:
        trials_service.cancel_booking(session, actor(orgs.a.id), first.id)
        session.commit()
        with pytest.raises(trials_service.TrialError) as err:
            trials_service.cancel_booking(session, actor(orgs.a.id), first.id)
        assert err.value.code == "not_booked"
    assert booked_count(database, session_id) == 0
    book(database, orgs.a.id, session_id, second_lead)
    assert booked_count(database, session_id) == 1


def test_cancelled_and_started_sessions_refuse_bookings(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id)
    lead_id = lead(database, orgs.a.id, "v1")
    with pytest.raises(trials_service.TrialError) as err:
        book(database, orgs.a.id, session_id, lead_id, now=utcnow() + dt.timedelta(days=3))
    assert err.value.code == "started"
    with database.session() as session:
        trials_service.cancel_session(session, actor(orgs.a.id), session_id)
        session.commit()
    with pytest.raises(trials_service.TrialError) as err:
        book(database, orgs.a.id, session_id, lead_id)
    assert err.value.code == "cancelled" and booked_count(database, session_id) == 0


def test_booking_moves_a_new_lead_to_trial_booked_but_not_an_enrolled_one(database: Database,
                                                                          orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id)
    new_lead, enrolled = lead(database, orgs.a.id, "v1"), lead(database, orgs.a.id, "v2")
    with database.session() as session:
        row = session.get(Lead, enrolled)
        assert row is not None
        row.status = LeadStatus.enrolled
        session.commit()
    book(database, orgs.a.id, session_id, new_lead)
    book(database, orgs.a.id, session_id, enrolled)
    with database.session() as session:
        assert session.get(Lead, new_lead).status == LeadStatus.trial_booked  # type: ignore[union-attr]
        assert session.get(Lead, enrolled).status == LeadStatus.enrolled  # type: ignore[union-attr]


def test_events_are_queued_only_for_a_subscribed_endpoint(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id)
    book(database, orgs.a.id, session_id, lead(database, orgs.a.id, "before"))
    with database.session() as session:
        assert session.scalars(select(WebhookEvent)).first() is None
    subscribe(database, orgs.a.id, ["trial.booked", "lead.status_changed"])
    lead_id = lead(database, orgs.a.id, "v1", child="小红", grade="初一")
    booking = book(database, orgs.a.id, session_id, lead_id, by_user_id=orgs.a.users["supervisor"].id)
    with database.session() as session:
        events = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
        assert [e.type for e in events] == ["lead.status_changed", "trial.booked"]
        assert {e.subject_key for e in events} == {f"lead:{lead_id}"}
        assert [e.sequence for e in events] == [1, 2]  # the CRM sees the status change first, in order
        status, booked = events[0].payload, events[1].payload
        assert status["status"] == "trial_booked" and status["previous_status"] == "new"
        assert booked["lead_id"] == lead_id
        assert booked["booking"] == {**booked["booking"], "id": booking.id, "child_name": "小红", "grade": "初一",
                                     "booked_via": "agent", "booked_by_user_id": orgs.a.users["supervisor"].id}
        assert booked["session"]["id"] == session_id and booked["session"]["booked_count"] == 2
        assert booked["course"]["name"] == "少儿英语" and booked["campus"]["name"] == "西湖校区"
        assert len(session.scalars(select(WebhookDelivery)).all()) == 2


def test_a_failed_booking_leaves_nothing_behind(database: Database, orgs: TwoOrgs) -> None:
    """The bot catches the error and commits its turn: the refused booking must not have moved the counter."""
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=2)
    lead_id = lead(database, orgs.a.id, "v1")
    book(database, orgs.a.id, session_id, lead_id)
    with database.session() as session:
        with pytest.raises(trials_service.TrialError):
            trials_service.book(session, orgs.a.id, session_id, lead_id)
        session.commit()
    assert booked_count(database, session_id) == 1


def test_other_orgs_session_and_lead_are_not_found(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_a = trial(database, orgs.a.id, course_id, campus_id)
    lead_a = lead(database, orgs.a.id, "v1")
    course_b, _ = catalog(database, orgs.b.id, campus=None)
    session_b = trial(database, orgs.b.id, course_b)
    lead_b = lead(database, orgs.b.id, "v1")
    booking_a = book(database, orgs.a.id, session_a, lead_a)
    with database.session() as session:
        for session_id, lead_id in ((session_a, lead_b), (session_b, lead_a)):
            with pytest.raises(NotFoundError):
                trials_service.book(session, orgs.b.id, session_id, lead_id)
        with pytest.raises(NotFoundError):
            trials_service.cancel_booking(session, actor(orgs.b.id), booking_a.id)
        with pytest.raises(NotFoundError):
            trials_service.cancel_session(session, actor(orgs.b.id), session_a)
        with pytest.raises(NotFoundError):
            trials_service.bookings_of(session, orgs.b.id, session_a)
        assert trials_service.upcoming(session, orgs.b.id)[0].session.id == session_b
        session.rollback()
    assert booked_count(database, session_a) == 1 and booked_count(database, session_b) == 0


def test_upcoming_offers_only_bookable_sessions_matching_the_course(database: Database, orgs: TwoOrgs) -> None:
    english, campus_id = catalog(database, orgs.a.id)
    maths, _ = catalog(database, orgs.a.id, course="小学奥数", subject="数学", campus=None)
    later = trial(database, orgs.a.id, english, campus_id, starts_in=dt.timedelta(days=3))
    sooner = trial(database, orgs.a.id, english, campus_id, starts_in=dt.timedelta(days=1))
    trial(database, orgs.a.id, english, campus_id, starts_in=dt.timedelta(hours=1))  # within 2 h: not offered
    full = trial(database, orgs.a.id, english, campus_id, capacity=1)
    cancelled = trial(database, orgs.a.id, english, campus_id)
    online = trial(database, orgs.a.id, maths, None)
    book(database, orgs.a.id, full, lead(database, orgs.a.id, "v1"))
    with database.session() as session:
        trials_service.cancel_session(session, actor(orgs.a.id), cancelled)
        session.commit()
        ids = [v.session.id for v in trials_service.upcoming(session, orgs.a.id)]
        assert ids == [sooner, online, later]
        assert [v.session.id for v in trials_service.upcoming(session, orgs.a.id, course_text="英语")] == [sooner,
                                                                                                         later]
        assert [v.session.id for v in trials_service.upcoming(session, orgs.a.id, course_text="数学、英语")] == ids
        math = trials_service.upcoming(session, orgs.a.id, course_text="奥数")
        assert [(v.session.id, v.campus_name) for v in math] == [(online, None)]
        assert trials_service.upcoming(session, orgs.a.id, course_text="美术") == []
        assert len(trials_service.upcoming(session, orgs.a.id, limit=1)) == 1
        buttons = trials_service.offer_buttons(session, orgs.a.id, course_text="美术")
        assert buttons == []
        buttons = trials_service.offer_buttons(session, orgs.a.id, course_text="美术", fallback_to_all=True)
        assert [b.payload for b in buttons] == [f"trial:{sooner}", f"trial:{online}", f"trial:{later}", "暂时不用"]
        assert "西湖校区 少儿英语" in buttons[0].label and "线上 小学奥数" in buttons[1].label


def test_book_from_payload(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id)
    soon = trial(database, orgs.a.id, course_id, campus_id, starts_in=dt.timedelta(minutes=90))
    lead_id = lead(database, orgs.a.id, "v1")
    with database.session() as session:
        for payload in ("trial:", "trial:abc", "你好", f"trial:{session_id}x"):
            with pytest.raises(trials_service.TrialError) as err:
                trials_service.book_from_payload(session, orgs.a.id, payload, lead_id)
            assert err.value.code == "bad_payload"
        with pytest.raises(trials_service.TrialError) as err:
            trials_service.book_from_payload(session, orgs.a.id, f"trial:{soon}", lead_id)
        assert err.value.code == "too_late"
        with pytest.raises(NotFoundError):
            trials_service.book_from_payload(session, orgs.b.id, f"trial:{session_id}", lead_id)
        assert trials_service.picked_session(f"trial:{session_id}") == session_id
        assert trials_service.picked_session("暂时不用") is None
        booking = trials_service.book_from_payload(session, orgs.a.id, f" trial:{session_id} ", lead_id)
        session.commit()
        assert booking.session_id == session_id and booking.booked_via == "bot"
        text = trials_service.booked_text(session, orgs.a.id, booking)
        assert text.startswith("已为您预约：") and text.endswith("西湖校区 少儿英语 试听课。")


def test_update_keeps_capacity_above_the_booked_seats(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=3)
    book(database, orgs.a.id, session_id, lead(database, orgs.a.id, "v1"))
    book(database, orgs.a.id, session_id, lead(database, orgs.a.id, "v2"))
    starts = utcnow() + dt.timedelta(days=4)
    with database.session() as session:
        with pytest.raises(trials_service.TrialError) as err:
            trials_service.update_session(session, actor(orgs.a.id), session_id, trials_service.SessionInput(
                course_id=course_id, campus_id=campus_id, starts_at=starts, capacity=1))
        assert err.value.code == "capacity_below_booked"
        session.rollback()
        ts = trials_service.update_session(session, actor(orgs.a.id), session_id, trials_service.SessionInput(
            course_id=course_id, campus_id=None, starts_at=starts, capacity=2, duration_minutes=90, teacher=" Bob "))
        session.commit()
        assert (ts.capacity, ts.campus_id, ts.duration_minutes, ts.teacher) == (2, None, 90, "Bob")
    with pytest.raises(trials_service.TrialFullError):
        book(database, orgs.a.id, session_id, lead(database, orgs.a.id, "v3"))

"""Trial attendance (到课 / 未到课 / undo): the booking row, the lead following along the pipeline with its webhook,
the audit trail, the rules of when it may be recorded, concurrent clicks, the admin page and the summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.db import Database, NotFoundError, utcnow
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead, LeadStatus
from edudesk.trials import service as trials_service
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from edudesk.webhooks.models import WebhookEvent
from tests.conftest import TwoOrgs, login
from tests.trials.factories import actor, catalog, lead, subscribe, trial
from tests.trials.test_concurrency import race

XSS = "<script>alert(1)</script>"


def booked(database: Database, orgs: TwoOrgs, *, visitor: str = "v1", starts_in: dt.timedelta = dt.timedelta(days=2),
           session_id: int | None = None) -> tuple[int, int, int]:
    """(session id, lead id, booking id) of a fresh booking."""
    if session_id is None:
        course_id, campus_id = catalog(database, orgs.a.id)
        session_id = trial(database, orgs.a.id, course_id, campus_id, starts_in=starts_in)
    lead_id = lead(database, orgs.a.id, visitor)
    with database.session() as session:
        b = trials_service.book(session, orgs.a.id, session_id, lead_id)
        session.commit()
        return session_id, lead_id, b.id


def starts_at(database: Database, session_id: int) -> dt.datetime:
    with database.session() as session:
        ts = session.get(TrialSession, session_id)
        assert ts is not None
        return ts.starts_at


def move_start(database: Database, session_id: int, when: dt.datetime) -> None:
    """Classes cannot be created in the past: tests that need one held already move its start."""
    with database.session() as session:
        session.execute(update(TrialSession).where(TrialSession.id == session_id).values(starts_at=when))
        session.commit()


def mark(database: Database, org_id: int, booking_id: int, status: str, *, now: dt.datetime,
         who: Actor | None = None) -> TrialBooking:
    with database.session() as session:
        b = trials_service.mark_attendance(session, who or actor(org_id), booking_id, status, now=now)
        session.commit()
        return b


def lead_status(database: Database, lead_id: int) -> LeadStatus:
    with database.session() as session:
        row = session.get(Lead, lead_id)
        assert row is not None
        return row.status


def set_lead_status(database: Database, org_id: int, lead_id: int, status: str) -> None:
    with database.session() as session:
        leads_service.set_status(session, actor(org_id), lead_id, status)
        session.commit()


def test_attended_moves_the_lead_and_undo_moves_it_back(database: Database, orgs: TwoOrgs) -> None:
    session_id, lead_id, booking_id = booked(database, orgs)
    subscribe(database, orgs.a.id, ["lead.status_changed"])
    during = starts_at(database, session_id) + dt.timedelta(minutes=10)
    assert lead_status(database, lead_id) == LeadStatus.trial_booked
    assert mark(database, orgs.a.id, booking_id, "attended", now=during).status == BookingStatus.attended
    assert lead_status(database, lead_id) == LeadStatus.attended
    assert mark(database, orgs.a.id, booking_id, "attended", now=during).status == BookingStatus.attended  # no-op
    assert mark(database, orgs.a.id, booking_id, "booked", now=during).status == BookingStatus.booked
    assert lead_status(database, lead_id) == LeadStatus.trial_booked
    with database.session() as session:
        events = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
        assert [(e.payload["previous_status"], e.payload["status"]) for e in events] == [
            ("trial_booked", "attended"), ("attended", "trial_booked")]
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(("trial.attendance", "lead.status")))
                                .order_by(AuditEntry.id)).all()
        assert [(a.action, a.detail.get("status")) for a in audit] == [
            ("trial.attendance", "attended"), ("lead.status", "attended"),
            ("trial.attendance", "booked"), ("lead.status", "trial_booked")]
        assert audit[0].detail["previous"] == "booked" and audit[0].target_id == str(booking_id)
        ts = session.get(TrialSession, session_id)
        assert ts is not None and ts.booked_count == 1  # the seat was used: attendance does not free it


def test_no_show_keeps_the_lead_and_correcting_attended_to_no_show_moves_it_back(database: Database,
                                                                                 orgs: TwoOrgs) -> None:
    session_id, lead_id, booking_id = booked(database, orgs)
    during = starts_at(database, session_id) + dt.timedelta(minutes=10)
    mark(database, orgs.a.id, booking_id, "no_show", now=during)
    assert lead_status(database, lead_id) == LeadStatus.trial_booked
    mark(database, orgs.a.id, booking_id, "attended", now=during)
    assert lead_status(database, lead_id) == LeadStatus.attended
    mark(database, orgs.a.id, booking_id, "no_show", now=during)
    assert lead_status(database, lead_id) == LeadStatus.trial_booked


def test_a_lead_further_along_or_with_another_attended_trial_stays(database: Database, orgs: TwoOrgs) -> None:
    session_id, lead_id, booking_id = booked(database, orgs)
    during = starts_at(database, session_id) + dt.timedelta(minutes=10)
    set_lead_status(database, orgs.a.id, lead_id, "enrolled")
    mark(database, orgs.a.id, booking_id, "attended", now=during)
    assert lead_status(database, lead_id) == LeadStatus.enrolled
    mark(database, orgs.a.id, booking_id, "booked", now=during)
    assert lead_status(database, lead_id) == LeadStatus.enrolled
    # Two trials attended: undoing one leaves the lead at attended.
    set_lead_status(database, orgs.a.id, lead_id, "trial_booked")
    course_id, campus_id = catalog(database, orgs.a.id, course="少儿数学", campus=None)
    second = trial(database, orgs.a.id, course_id, campus_id)
    with database.session() as session:
        other = trials_service.book(session, orgs.a.id, second, lead_id)
        session.commit()
    mark(database, orgs.a.id, booking_id, "attended", now=during)
    mark(database, orgs.a.id, other.id, "attended", now=starts_at(database, second) + dt.timedelta(minutes=5))
    assert lead_status(database, lead_id) == LeadStatus.attended
    mark(database, orgs.a.id, other.id, "booked", now=during)
    assert lead_status(database, lead_id) == LeadStatus.attended


@pytest.mark.parametrize(("status", "code"), [("enrolled", "bad_status"), ("cancelled", "bad_status"),
                                              ("", "bad_status")])
def test_bad_status_is_refused(database: Database, orgs: TwoOrgs, status: str, code: str) -> None:
    session_id, _, booking_id = booked(database, orgs)
    with pytest.raises(trials_service.TrialError) as err:
        mark(database, orgs.a.id, booking_id, status, now=starts_at(database, session_id))
    assert err.value.code == code


def test_when_attendance_may_be_recorded(database: Database, orgs: TwoOrgs) -> None:
    session_id, lead_id, booking_id = booked(database, orgs)
    start = starts_at(database, session_id)
    with pytest.raises(trials_service.TrialError) as err:
        mark(database, orgs.a.id, booking_id, "no_show", now=start - dt.timedelta(hours=2))
    assert err.value.code == "too_early"
    assert mark(database, orgs.a.id, booking_id, "attended",
                now=start - dt.timedelta(minutes=30)).status == BookingStatus.attended
    # A cancelled booking is history; a cancelled class has no attendance (undo is still possible).
    _, _, cancelled_id = booked(database, orgs, visitor="v2", session_id=session_id)
    with database.session() as session:
        trials_service.cancel_booking(session, actor(orgs.a.id), cancelled_id)
        trials_service.cancel_session(session, actor(orgs.a.id), session_id)
        session.commit()
    with pytest.raises(trials_service.TrialError) as err:
        mark(database, orgs.a.id, cancelled_id, "attended", now=start)
    assert err.value.code == "cancelled_booking"
    assert mark(database, orgs.a.id, booking_id, "booked", now=start).status == BookingStatus.booked
    with pytest.raises(trials_service.TrialError) as err:
        mark(database, orgs.a.id, booking_id, "attended", now=start)
    assert err.value.code == "cancelled"
    assert lead_status(database, lead_id) == LeadStatus.trial_booked


def test_another_orgs_booking_is_not_found(database: Database, orgs: TwoOrgs) -> None:
    session_id, _, booking_id = booked(database, orgs)
    with pytest.raises(NotFoundError):
        mark(database, orgs.b.id, booking_id, "attended", now=starts_at(database, session_id))
    with database.session() as session:
        assert session.get(TrialBooking, booking_id).status == BookingStatus.booked  # type: ignore[union-attr]


def test_concurrent_clicks_record_once(database: Database, orgs: TwoOrgs) -> None:
    session_id, lead_id, booking_id = booked(database, orgs)
    subscribe(database, orgs.a.id, ["lead.status_changed"])
    during = starts_at(database, session_id) + dt.timedelta(minutes=10)

    def click(status: str) -> Callable[[], None]:
        def run() -> None:
            mark(database, orgs.a.id, booking_id, status, now=during)
        return run

    ok, refused, crashed = race(database, [click("attended") for _ in range(6)])
    assert crashed == [] and refused == [] and ok == 6
    with database.session() as session:
        assert [a.detail["status"] for a in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "trial.attendance"))] == ["attended"]
        events = session.scalars(select(WebhookEvent)).all()
        assert [e.payload["status"] for e in events] == ["attended"]
    assert lead_status(database, lead_id) == LeadStatus.attended
    # Different clicks at once: one wins, the others are told to look again (never a crash).
    ok, refused, crashed = race(database, [click(s) for s in ("no_show", "booked", "no_show", "booked")])
    assert crashed == [] and ok >= 1 and set(refused) <= {"changed"}
    with database.session() as session:
        final = session.get(TrialBooking, booking_id)
        assert final is not None and final.status in (BookingStatus.no_show, BookingStatus.booked)
    assert lead_status(database, lead_id) == LeadStatus.trial_booked


def test_summary_counts_upcoming_and_held_classes(database: Database, orgs: TwoOrgs) -> None:
    now = utcnow()
    upcoming_session, _, _ = booked(database, orgs, visitor="u1")
    booked(database, orgs, visitor="u2", session_id=upcoming_session)
    held, _, came = booked(database, orgs, visitor="h1")
    _, _, missed = booked(database, orgs, visitor="h2", session_id=held)
    booked(database, orgs, visitor="h3", session_id=held)  # nobody recorded it
    move_start(database, held, now - dt.timedelta(hours=3))
    mark(database, orgs.a.id, came, "attended", now=now)
    mark(database, orgs.a.id, missed, "no_show", now=now)
    with database.session() as session:
        summary = trials_service.booking_summary(session, orgs.a.id, now - dt.timedelta(days=1), now, now=now)
        other = trials_service.booking_summary(session, orgs.b.id, now - dt.timedelta(days=1), now, now=now)
    assert (summary.upcoming, summary.attended, summary.no_show, summary.unmarked) == (2, 1, 1, 1)
    assert summary.attendance_rate == 0.5
    assert (other.upcoming, other.attended, other.no_show, other.unmarked, other.attendance_rate) == (0, 0, 0, 0, 0.0)


def test_the_admin_page_records_attendance(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    session_id, lead_id, booking_id = booked(database, orgs)
    with database.session() as session:
        session.execute(update(TrialBooking).where(TrialBooking.id == booking_id).values(child_name="小明" + XSS))
        session.commit()
    csrf = login(client, "alpha", "supervisor")
    page = client.get(f"/admin/trials/{session_id}").text
    assert "开课前 1 小时起可以登记到课" in page and f"/admin/trials/bookings/{booking_id}/attendance" not in page
    early = client.post(f"/admin/trials/bookings/{booking_id}/attendance",
                        data={"status": "attended", "csrf_token": csrf})
    assert early.status_code == 422 and "试听课开始前 1 小时起才能登记到课" in early.text
    move_start(database, session_id, utcnow() - dt.timedelta(minutes=5))
    page = client.get(f"/admin/trials/{session_id}").text
    assert f"/admin/trials/bookings/{booking_id}/attendance" in page and XSS not in page
    url = f"/admin/trials/bookings/{booking_id}/attendance"
    assert client.post(url, data={"status": "attended"}).status_code == 400  # no CSRF token
    assert lead_status(database, lead_id) == LeadStatus.trial_booked
    resp = client.post(url, data={"status": "attended", "csrf_token": csrf})
    assert resp.status_code == 200 and "已登记到课" in resp.text and "到课 1" in resp.text
    assert lead_status(database, lead_id) == LeadStatus.attended
    bad = client.post(url, data={"status": "enrolled", "csrf_token": csrf})
    assert bad.status_code == 422 and "到课状态只能是" in bad.text
    resp = client.post(url, data={"status": "booked", "csrf_token": csrf})
    assert resp.status_code == 200 and "已改回已预约" in resp.text
    assert lead_status(database, lead_id) == LeadStatus.trial_booked
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "trial.attendance")
                                .order_by(AuditEntry.id)).first()
        assert entry is not None and entry.actor_user_id == orgs.a.users["supervisor"].id


def test_agents_may_not_record_attendance(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    session_id, _, booking_id = booked(database, orgs)
    move_start(database, session_id, utcnow() - dt.timedelta(minutes=5))
    csrf = login(client, "alpha", "agent")
    resp = client.post(f"/admin/trials/bookings/{booking_id}/attendance",
                       data={"status": "attended", "csrf_token": csrf})
    assert resp.status_code == 403
    with database.session() as session:
        assert session.get(TrialBooking, booking_id).status == BookingStatus.booked  # type: ignore[union-attr]

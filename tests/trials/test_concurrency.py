"""No overbooking under concurrent bookings, on SQLite and PostgreSQL: many threads, each with its own connection
and transaction, book one session at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from edudesk.db import Database
from edudesk.trials import service as trials_service
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from tests.conftest import TwoOrgs
from tests.trials.factories import catalog, lead, trial

THREADS = 12
CAPACITY = 5


def race(database: Database, attempts: list[Callable[[], None]]) -> tuple[int, list[str], list[BaseException]]:
    """Runs the attempts at once (a barrier releases them together); returns successes, domain error codes and
    any other exception."""
    barrier = threading.Barrier(len(attempts))
    lock = threading.Lock()
    ok: list[int] = []
    refused: list[str] = []
    crashed: list[BaseException] = []

    def run(attempt: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=30)
            attempt()
        except trials_service.TrialError as exc:
            with lock:
                refused.append(exc.code)
        except BaseException as exc:  # collected and asserted on below
            with lock:
                crashed.append(exc)
        else:
            with lock:
                ok.append(1)

    threads = [threading.Thread(target=run, args=(a,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return len(ok), refused, crashed


def attempt(database: Database, org_id: int, session_id: int, lead_id: int) -> Callable[[], None]:
    def book() -> None:
        with database.session() as session:
            trials_service.book(session, org_id, session_id, lead_id)
            session.commit()
    return book


def seats(database: Database, session_id: int) -> tuple[int, int]:
    with database.session() as session:
        ts = session.get(TrialSession, session_id)
        assert ts is not None
        active = session.scalar(select(func.count()).select_from(TrialBooking).where(
            TrialBooking.session_id == session_id, TrialBooking.status == BookingStatus.booked))
        return ts.booked_count, int(active or 0)


def test_concurrent_bookings_never_overbook(database: Database, orgs: TwoOrgs) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=CAPACITY)
    leads = [lead(database, orgs.a.id, f"v{i}") for i in range(THREADS)]
    ok, refused, crashed = race(database, [attempt(database, orgs.a.id, session_id, x) for x in leads])
    assert crashed == []
    assert ok == CAPACITY and refused == ["full"] * (THREADS - CAPACITY)
    assert seats(database, session_id) == (CAPACITY, CAPACITY)


def test_concurrent_double_booking_of_one_lead_books_once(database: Database, orgs: TwoOrgs) -> None:
    """A parent double-clicking, or the bot and an agent at once: one booking, one seat."""
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=CAPACITY)
    lead_id = lead(database, orgs.a.id, "v1")
    ok, refused, crashed = race(database, [attempt(database, orgs.a.id, session_id, lead_id) for _ in range(6)])
    assert crashed == []
    assert ok == 1 and refused == ["already_booked"] * 5
    assert seats(database, session_id) == (1, 1)

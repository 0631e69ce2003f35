"""A contact's trial bookings as the contact page's timeline reads them (re-exported by ``trials.service``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from edudesk.catalog.models import Campus, Course
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession


@dataclass(frozen=True)
class BookingItem:
    """A booking as the contact page's timeline shows it: which class, when it is, and how it went."""

    id: int
    status: BookingStatus
    created_at: dt.datetime
    starts_at: dt.datetime
    course: str
    campus: str | None
    booked_via: str


def bookings_of_contact(session: Session, org_id: int, contact_id: int, *, limit: int = 50) -> list[BookingItem]:
    """The contact's trial bookings (cancelled ones included), newest booking first, in one query."""
    rows = session.execute(
        select(TrialBooking.id, TrialBooking.status, TrialBooking.created_at, TrialSession.starts_at,
               Course.name.label("course"), Campus.name.label("campus"), TrialBooking.booked_via)
        .join(TrialSession, and_(TrialSession.id == TrialBooking.session_id, TrialSession.org_id == org_id))
        .join(Course, and_(Course.id == TrialSession.course_id, Course.org_id == org_id))
        .outerjoin(Campus, and_(Campus.id == TrialSession.campus_id, Campus.org_id == org_id))
        .where(TrialBooking.org_id == org_id, TrialBooking.contact_id == contact_id)
        .order_by(TrialBooking.created_at.desc(), TrialBooking.id.desc()).limit(limit))
    return [BookingItem(r.id, r.status, r.created_at, r.starts_at, r.course, r.campus, r.booked_via) for r in rows]

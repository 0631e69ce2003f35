"""Trial classes (试听课): the sessions an institution opens for trial bookings, and who booked a seat.

``TrialSession.booked_count`` is the seat counter that bookings move with one conditional UPDATE each (see
``trials.service.book``): counting booking rows instead would need a lock to stay correct under concurrent bookings.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class BookingStatus(enum.StrEnum):
    booked = "booked"
    cancelled = "cancelled"
    attended = "attended"
    no_show = "no_show"


class TrialSession(OrgScoped, Base):
    """One bookable trial class: a course at a campus (or online) at a time, with a number of seats."""

    __tablename__ = "trial_sessions"
    __table_args__ = (Index("ix_trial_sessions_org_starts", "org_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    campus_id: Mapped[int | None] = mapped_column(ForeignKey("campuses.id", ondelete="SET NULL"), nullable=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    capacity: Mapped[int] = mapped_column(Integer)
    booked_count: Mapped[int] = mapped_column(Integer, default=0)
    teacher: Mapped[str] = mapped_column(String(50), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrialBooking(OrgScoped, Base):
    """A lead's seat in a session, with the child's name and grade as they were when booked (the teacher's list
    must not change when the card is edited later)."""

    __tablename__ = "trial_bookings"
    # One active booking per lead and session; a cancelled one does not block booking again.
    __table_args__ = (Index("uq_trial_bookings_active", "session_id", "lead_id", unique=True,
                            sqlite_where=text("status != 'cancelled'"),
                            postgresql_where=text("status != 'cancelled'")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("trial_sessions.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    child_name: Mapped[str] = mapped_column(String(50), default="")
    grade: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[BookingStatus] = mapped_column(Enum(BookingStatus, native_enum=False, length=16),
                                                  default=BookingStatus.booked)
    # Who booked: the bot (no user) or a staff member — who to ask when a parent says they never booked.
    booked_via: Mapped[str] = mapped_column(String(16), default="bot")
    booked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

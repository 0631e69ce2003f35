"""Trial classes (试听课): sessions staff open, that the bot offers and books inside a script and staff book for a lead.

**No overbooking, without locks.** A seat is taken by one conditional statement,
``UPDATE trial_sessions SET booked_count = booked_count + 1 WHERE id = :id AND org_id = :org
AND booked_count < capacity AND NOT cancelled``, and its row count says whether a seat was free. On PostgreSQL a
concurrent booking waits on the row the first one updated and re-checks the condition on the committed count; on
SQLite writers are serialised. Both give exactly ``capacity`` bookings, whatever the concurrency, and the same code.

The seat is taken *before* the "is this lead already booked?" check: on PostgreSQL the row lock of the update
then also serialises two bookings of one lead for one session (a double click), so the check sees the other's
booking; the partial unique index (session, lead) over active bookings is the last line of defence. A refused
booking gives its seat back in the same transaction, so a caller that catches the ``TrialError`` and commits
(the bot does) leaves the counter right.

Everything a booking causes — the booking row, the lead moving to trial_booked, the ``trial.booked`` and
``lead.status_changed`` webhooks — is written in the caller's transaction (outbox): all or nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, update
from sqlalchemy.orm import Session

from edudesk.audit import service as audit_service
from edudesk.catalog.models import Campus, Course
from edudesk.db import NotFoundError, get_in_org, org_query, utcnow
from edudesk.errors import DomainError
from edudesk.leads import service as leads_service
from edudesk.trials import offer
from edudesk.trials.contact_rows import BookingItem as BookingItem  # re-exported: areas read trials through service
from edudesk.trials.contact_rows import bookings_of_contact as bookings_of_contact
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from edudesk.webhooks import service as webhooks_service

MIN_CAPACITY, MAX_CAPACITY = 1, 200
MIN_DURATION, MAX_DURATION = 15, 480
# The bot offers only sessions that start at least this much later: staff need time to call the parent back and
# prepare a seat, and a parent reading the offer at 9:55 cannot be at a 10:00 class.
BOOKING_LEAD_TIME = dt.timedelta(hours=2)
MAX_TEACHER, MAX_NOTE = 50, 500


class TrialError(DomainError):
    pass


class TrialFullError(TrialError):
    """No free seat: the one error concurrent bookings of a full session may see."""

    status_code = 409


class TrialConflictError(TrialError):
    """Someone else changed the booking between this request reading it and writing it."""

    status_code = 409


@dataclass(frozen=True)
class SessionInput:
    course_id: int
    starts_at: dt.datetime  # aware
    capacity: int
    duration_minutes: int = 60
    campus_id: int | None = None  # None: online
    teacher: str = ""
    note: str = ""


@dataclass(frozen=True)
class SessionView:
    """A session with the names a page or a bot button shows."""

    session: TrialSession
    course_name: str
    campus_name: str | None

    @property
    def seats_left(self) -> int:
        return max(0, self.session.capacity - self.session.booked_count)

    @property
    def slot(self) -> offer.Slot:
        return offer.Slot(self.session.id, self.session.starts_at, self.course_name, self.campus_name)


# --- sessions ----------------------------------------------------------------------------------------------------

def _clean(session: Session, org_id: int, data: SessionInput, *, now: dt.datetime, booked: int = 0) -> SessionInput:
    """Validates a session; the course and campus must be the org's own (another org's id is a 404)."""
    if data.starts_at.tzinfo is None:
        raise TrialError("naive_time", "开课时间缺少时区", "starts_at")
    if data.starts_at <= now:
        raise TrialError("past_start", "开课时间必须晚于现在", "starts_at")
    if not MIN_CAPACITY <= data.capacity <= MAX_CAPACITY:
        raise TrialError("bad_capacity", f"名额应在 {MIN_CAPACITY}–{MAX_CAPACITY} 之间", "capacity")
    if data.capacity < booked:
        raise TrialError("capacity_below_booked", f"已有 {booked} 人预约，名额不能少于 {booked}", "capacity")
    if not MIN_DURATION <= data.duration_minutes <= MAX_DURATION:
        raise TrialError("bad_duration", f"时长应在 {MIN_DURATION}–{MAX_DURATION} 分钟之间", "duration_minutes")
    teacher, note = data.teacher.strip(), data.note.strip()
    if len(teacher) > MAX_TEACHER:
        raise TrialError("teacher_too_long", f"老师姓名不超过 {MAX_TEACHER} 个字", "teacher")
    if len(note) > MAX_NOTE:
        raise TrialError("note_too_long", f"备注不超过 {MAX_NOTE} 个字", "note")
    course = get_in_org(session, Course, data.course_id, org_id)
    if not course.active:
        raise TrialError("inactive_course", "该课程已停用", "course_id")
    if data.campus_id is not None:
        get_in_org(session, Campus, data.campus_id, org_id)
    return SessionInput(data.course_id, data.starts_at.astimezone(dt.UTC), data.capacity, data.duration_minutes,
                        data.campus_id, teacher, note)


def create_session(session: Session, actor: audit_service.Actor, data: SessionInput, *,
                   now: dt.datetime | None = None) -> TrialSession:
    clean = _clean(session, actor.org_id, data, now=now or utcnow())
    ts = TrialSession(org_id=actor.org_id, course_id=clean.course_id, campus_id=clean.campus_id,
                      starts_at=clean.starts_at, duration_minutes=clean.duration_minutes, capacity=clean.capacity,
                      booked_count=0, teacher=clean.teacher, note=clean.note, cancelled=False)
    session.add(ts)
    session.flush()
    audit_service.record(session, actor, "trial_session.create", "trial_session", ts.id,
                         starts_at=ts.starts_at.isoformat(), capacity=ts.capacity, course_id=ts.course_id)
    return ts


def get_session(session: Session, org_id: int, session_id: int) -> TrialSession:
    return get_in_org(session, TrialSession, session_id, org_id)


def update_session(session: Session, actor: audit_service.Actor, session_id: int, data: SessionInput, *,
                   now: dt.datetime | None = None) -> TrialSession:
    """Changes a session. The capacity may not drop below the seats already booked. The update takes the row
    lock (PostgreSQL) so a booking cannot slip in between the check and the write."""
    ts = get_in_org(session, TrialSession, session_id, actor.org_id, for_update=True)
    if ts.cancelled:
        raise TrialError("cancelled", "该试听课已取消，不能再修改")
    clean = _clean(session, actor.org_id, data, now=now or utcnow(), booked=ts.booked_count)
    ts.course_id, ts.campus_id, ts.starts_at = clean.course_id, clean.campus_id, clean.starts_at
    ts.duration_minutes, ts.capacity, ts.teacher, ts.note = (clean.duration_minutes, clean.capacity, clean.teacher,
                                                             clean.note)
    session.flush()
    audit_service.record(session, actor, "trial_session.update", "trial_session", ts.id,
                         starts_at=ts.starts_at.isoformat(), capacity=ts.capacity, course_id=ts.course_id)
    return ts


def cancel_session(session: Session, actor: audit_service.Actor, session_id: int) -> TrialSession:
    """Stops a session from being offered or booked. Its bookings stay as they are, listed on the session's
    page: staff call those parents to move them, which the system cannot do for them."""
    ts = get_session(session, actor.org_id, session_id)
    if not ts.cancelled:
        ts.cancelled = True
        session.flush()
        audit_service.record(session, actor, "trial_session.cancel", "trial_session", ts.id,
                             booked=ts.booked_count)
    return ts


def _views(session: Session, org_id: int, where: list[Any], *, limit: int) -> list[SessionView]:
    # Course and campus names come with the sessions in one query: the bot asks on a visitor's turn.
    stmt = (select(TrialSession, Course.name, Campus.name)
            .join(Course, and_(Course.id == TrialSession.course_id, Course.org_id == org_id))
            .outerjoin(Campus, and_(Campus.id == TrialSession.campus_id, Campus.org_id == org_id))
            .where(TrialSession.org_id == org_id, *where)
            .order_by(TrialSession.starts_at, TrialSession.id).limit(limit))
    return [SessionView(ts, course, campus) for ts, course, campus in session.execute(stmt)]


def upcoming(session: Session, org_id: int, *, course_text: str | None = None, limit: int = 6,
             now: dt.datetime | None = None) -> list[SessionView]:
    """Sessions a visitor can book now: not cancelled, not full, starting more than ``BOOKING_LEAD_TIME`` from
    now, earliest first. ``course_text`` (a script's course, or the subjects on the lead card: "数学、英语")
    keeps the sessions whose course name or subject it names, or whose name contains it."""
    now = now or utcnow()
    where: list[Any] = [TrialSession.cancelled.is_(False), TrialSession.booked_count < TrialSession.capacity,
                        TrialSession.starts_at > now + BOOKING_LEAD_TIME]
    text = (course_text or "").strip()[:100]
    if text:
        where.append(or_(Course.name.contains(text, autoescape=True),
                         Course.subject.contains(text, autoescape=True),
                         and_(Course.subject != "", literal(text).contains(Course.subject)),
                         and_(Course.name != "", literal(text).contains(Course.name))))
    return _views(session, org_id, where, limit=max(1, min(limit, 50)))


def list_sessions(session: Session, org_id: int, *, now: dt.datetime | None = None,
                  limit: int = 200) -> list[SessionView]:
    """The admin list: sessions from a day ago on, full and cancelled ones included."""
    since = (now or utcnow()) - dt.timedelta(days=1)
    return _views(session, org_id, [TrialSession.starts_at >= since], limit=limit)


def view_of(session: Session, org_id: int, session_id: int) -> SessionView:
    views = _views(session, org_id, [TrialSession.id == session_id], limit=1)
    if not views:
        raise NotFoundError("TrialSession", session_id)
    return views[0]


def offer_buttons(session: Session, org_id: int, *, course_text: str | None = None, fallback_to_all: bool = False,
                  now: dt.datetime | None = None) -> list[offer.TrialButton]:
    """The bot's buttons for an ``offer_trial`` step (empty: nothing to offer → the flow's "unavailable" route).
    With ``fallback_to_all`` a text that matches no course offers every session instead (a guess from the card's
    subjects should not hide the sessions there are; a script's explicit course should)."""
    now = now or utcnow()
    views = upcoming(session, org_id, course_text=course_text, limit=offer.MAX_SESSIONS, now=now)
    if not views and course_text and fallback_to_all:
        views = upcoming(session, org_id, limit=offer.MAX_SESSIONS, now=now)
    return offer.buttons([v.slot for v in views], now=now)


# --- bookings ----------------------------------------------------------------------------------------------------

def _active_booking(session: Session, org_id: int, session_id: int, lead_id: int) -> TrialBooking | None:
    return session.scalars(org_query(TrialBooking, org_id).where(
        TrialBooking.session_id == session_id, TrialBooking.lead_id == lead_id,
        TrialBooking.status != BookingStatus.cancelled)).first()


def _take_seat(session: Session, org_id: int, session_id: int) -> bool:
    result = session.execute(
        update(TrialSession)
        .where(TrialSession.id == session_id, TrialSession.org_id == org_id,
               TrialSession.booked_count < TrialSession.capacity, TrialSession.cancelled.is_(False))
        .values(booked_count=TrialSession.booked_count + 1),
        execution_options={"synchronize_session": False})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _free_seat(session: Session, org_id: int, session_id: int) -> None:
    session.execute(
        update(TrialSession)
        .where(TrialSession.id == session_id, TrialSession.org_id == org_id, TrialSession.booked_count > 0)
        .values(booked_count=TrialSession.booked_count - 1),
        execution_options={"synchronize_session": False})


def book(session: Session, org_id: int, session_id: int, lead_id: int, *, by_user_id: int | None = None,
         actor: audit_service.Actor | None = None, now: dt.datetime | None = None) -> TrialBooking:
    """Books the lead into the session, in the caller's transaction (see the module docstring for why this
    cannot overbook). Refuses a cancelled, started or full session and a lead already booked into it. Another
    org's session or lead is a ``NotFoundError``. Staff bookings pass ``actor`` (audited) or ``by_user_id``."""
    now = now or utcnow()
    if actor is not None:
        by_user_id = actor.user_id
    ts = get_session(session, org_id, session_id)
    lead = leads_service.get_lead(session, org_id, lead_id)
    if ts.cancelled:
        raise TrialError("cancelled", "该试听课已取消")
    if ts.starts_at <= now:
        raise TrialError("started", "该试听课已开始，不能再预约")
    if _active_booking(session, org_id, session_id, lead_id) is not None:
        raise TrialError("already_booked", "该线索已预约这节试听课", "lead_id")
    if not _take_seat(session, org_id, session_id):
        session.refresh(ts)
        if ts.cancelled:
            raise TrialError("cancelled", "该试听课已取消")
        raise TrialFullError("full", "这节试听课已约满，请选择其他时间")
    if _active_booking(session, org_id, session_id, lead_id) is not None:
        # Booked by a concurrent request while this one waited for the seat: give the seat back.
        _free_seat(session, org_id, session_id)
        raise TrialError("already_booked", "该线索已预约这节试听课", "lead_id")
    session.refresh(ts, ["booked_count"])
    values = leads_service.values_of(session, lead)
    child = values.get("child_name")
    grade = values.get("grade")
    booking = TrialBooking(org_id=org_id, session_id=ts.id, lead_id=lead.id, contact_id=lead.contact_id,
                           child_name=(child.value_text if child else "")[:50],
                           grade=(grade.value_text if grade else "")[:20], status=BookingStatus.booked,
                           booked_via="bot" if by_user_id is None else "agent", booked_by_user_id=by_user_id,
                           created_at=now)
    session.add(booking)
    session.flush()
    leads_service.mark_trial_booked(session, lead)
    if actor is not None:
        audit_service.record(session, actor, "trial.book", "trial_booking", booking.id, session_id=ts.id,
                             lead_id=lead.id)
    webhooks_service.emit_if_subscribed(session, org_id, "trial.booked", f"lead:{lead.id}",
                                        lambda: booking_payload(session, booking))
    return booking


def picked_session(text: str) -> int | None:
    """The session id when a visitor's message is a click on a trial button (``trial:<id>``), else None: the bot
    host asks this before reading the message as an answer."""
    return offer.parse_payload(text)


def booked_text(session: Session, org_id: int, booking: TrialBooking, *, now: dt.datetime | None = None) -> str:
    """The bot's confirmation of a booking ("已为您预约：周六 10:00 西湖校区 少儿英语 试听课。")."""
    return offer.booked_text(view_of(session, org_id, booking.session_id).slot, now=now or utcnow())


def book_from_payload(session: Session, org_id: int, payload: str, lead_id: int, *,
                      now: dt.datetime | None = None) -> TrialBooking:
    """Books the session a visitor picked: ``payload`` is the ``trial:<id>`` of the button they clicked. The
    bot's lead time applies (the offer may have been read hours ago)."""
    session_id = offer.parse_payload(payload)
    if session_id is None:
        raise TrialError("bad_payload", "无法识别的试听课选项")
    now = now or utcnow()
    ts = get_session(session, org_id, session_id)
    if not ts.cancelled and now < ts.starts_at <= now + BOOKING_LEAD_TIME:
        raise TrialError("too_late", "这节试听课马上就要开始了，请选择其他时间")
    return book(session, org_id, session_id, lead_id, now=now)


def cancel_booking(session: Session, actor: audit_service.Actor, booking_id: int, *,
                   now: dt.datetime | None = None) -> TrialBooking:
    """Cancels a booked seat and frees it. Conditional like booking: of two concurrent cancels only one frees the
    seat. Attended / no-show bookings are history and stay. The lead keeps its status (sales decide)."""
    booking = get_booking(session, actor.org_id, booking_id)
    result = session.execute(
        update(TrialBooking)
        .where(TrialBooking.id == booking.id, TrialBooking.org_id == actor.org_id,
               TrialBooking.status == BookingStatus.booked)
        .values(status=BookingStatus.cancelled, cancelled_at=now or utcnow()),
        execution_options={"synchronize_session": False})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(booking)
        raise TrialError("not_booked", "该预约已取消或已结束，不能再取消")
    _free_seat(session, actor.org_id, booking.session_id)
    session.refresh(booking)
    audit_service.record(session, actor, "trial.cancel_booking", "trial_booking", booking.id,
                         session_id=booking.session_id, lead_id=booking.lead_id)
    return booking


# Attendance opens this long before the class (the teacher ticks off the list as children arrive); a no-show of a
# class that has not begun cannot be known.
ATTENDANCE_OPENS = dt.timedelta(hours=1)
ATTENDANCE_STATUSES = (BookingStatus.booked, BookingStatus.attended, BookingStatus.no_show)


def mark_attendance(session: Session, actor: audit_service.Actor, booking_id: int, status: str, *,
                    now: dt.datetime | None = None) -> TrialBooking:
    """Records whether the child came: ``attended``, ``no_show``, or ``booked`` again to undo a mistake.

    Conditional like booking: the row changes only from the status this request saw, so two staff clicking at once
    change it once (the same click twice is a no-op; a different one is a 409 to refresh and look again). The
    lead follows through ``leads.service.set_status`` (audited, ``lead.status_changed`` to the CRM): attended
    moves a lead at trial_booked to attended; leaving attended (undo, or corrected to no-show) moves a lead at
    attended back to trial_booked unless another of its trials was attended. A lead further along (enrolled,
    lost) is never moved: sales decided. The seat stays taken either way (the class was held)."""
    target = {s.value: s for s in ATTENDANCE_STATUSES}.get(status)
    if target is None:
        raise TrialError("bad_status", "到课状态只能是：已到课、未到课、已预约", "status")
    now = now or utcnow()
    booking = get_booking(session, actor.org_id, booking_id)
    previous = booking.status
    if previous == BookingStatus.cancelled:
        raise TrialError("cancelled_booking", "该预约已取消，不能登记到课")
    if previous == target:
        return booking
    ts = get_session(session, actor.org_id, booking.session_id)
    if target != BookingStatus.booked:
        if ts.cancelled:
            raise TrialError("cancelled", "该试听课已取消，不能登记到课")
        if now < ts.starts_at - ATTENDANCE_OPENS:
            raise TrialError("too_early", "试听课开始前 1 小时起才能登记到课")
    result = session.execute(
        update(TrialBooking)
        .where(TrialBooking.id == booking.id, TrialBooking.org_id == actor.org_id, TrialBooking.status == previous)
        .values(status=target),
        execution_options={"synchronize_session": False})
    session.refresh(booking)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if booking.status == target:
            return booking  # a colleague recorded the same at the same moment
        raise TrialConflictError("changed", "该预约的状态刚被其他人修改，请刷新后再试")
    audit_service.record(session, actor, "trial.attendance", "trial_booking", booking.id, session_id=ts.id,
                         lead_id=booking.lead_id, previous=previous.value, status=target.value)
    _lead_follows(session, actor, booking, previous, target)
    return booking


def _lead_follows(session: Session, actor: audit_service.Actor, booking: TrialBooking, previous: BookingStatus,
                  target: BookingStatus) -> None:
    if target == BookingStatus.attended:
        leads_service.mark_trial_attended(session, actor, booking.lead_id)
    elif previous == BookingStatus.attended:
        lead = leads_service.current_lead(session, actor.org_id, booking.lead_id)
        other = session.scalars(org_query(TrialBooking, actor.org_id).where(
            TrialBooking.lead_id.in_({lead.id, booking.lead_id}), TrialBooking.id != booking.id,
            TrialBooking.status == BookingStatus.attended).limit(1)).first()
        leads_service.unmark_trial_attended(session, actor, booking.lead_id, attended_another=other is not None)


@dataclass(frozen=True)
class BookingSummary:
    """Trial bookings for the dashboard: seats booked in classes still to come, and how the period's classes went."""

    upcoming: int
    attended: int
    no_show: int
    unmarked: int  # held in the period, nobody recorded attendance yet

    @property
    def attendance_rate(self) -> float:
        marked = self.attended + self.no_show
        return self.attended / marked if marked else 0.0


def booking_summary(session: Session, org_id: int, since: dt.datetime, until: dt.datetime, *,
                    now: dt.datetime | None = None) -> BookingSummary:
    """Bookings of classes that start after ``now`` (``upcoming``), and of classes held in [since, until) up to
    now, by attendance. Cancelled bookings and cancelled classes are left out."""
    now = now or utcnow()
    counted = (select(TrialBooking.status, func.count())
               .join(TrialSession, TrialSession.id == TrialBooking.session_id)
               .where(TrialBooking.org_id == org_id, TrialSession.org_id == org_id,
                      TrialSession.cancelled.is_(False), TrialBooking.status != BookingStatus.cancelled)
               .group_by(TrialBooking.status))
    ahead = dict(session.execute(counted.where(TrialSession.starts_at > now)).all())
    held = dict(session.execute(counted.where(TrialSession.starts_at >= since,
                                              TrialSession.starts_at < min(until, now))).all())
    return BookingSummary(int(ahead.get(BookingStatus.booked, 0)), int(held.get(BookingStatus.attended, 0)),
                          int(held.get(BookingStatus.no_show, 0)), int(held.get(BookingStatus.booked, 0)))


def get_booking(session: Session, org_id: int, booking_id: int) -> TrialBooking:
    return get_in_org(session, TrialBooking, booking_id, org_id)


def bookings_of(session: Session, org_id: int, session_id: int) -> list[TrialBooking]:
    get_session(session, org_id, session_id)
    return list(session.scalars(org_query(TrialBooking, org_id).where(TrialBooking.session_id == session_id)
                                .order_by(TrialBooking.id)))


def booking_payload(session: Session, booking: TrialBooking) -> dict[str, Any]:
    """``trial.booked`` as the CRM receives it: the booking, the session, its course and campus, the lead."""
    ts = get_session(session, booking.org_id, booking.session_id)
    course = get_in_org(session, Course, ts.course_id, booking.org_id)
    campus = get_in_org(session, Campus, ts.campus_id, booking.org_id) if ts.campus_id is not None else None
    return {
        "lead_id": booking.lead_id,
        "booking": {"id": booking.id, "status": booking.status.value, "child_name": booking.child_name,
                    "grade": booking.grade, "booked_via": booking.booked_via,
                    "booked_by_user_id": booking.booked_by_user_id, "created_at": booking.created_at.isoformat()},
        "session": {"id": ts.id, "starts_at": ts.starts_at.isoformat(), "duration_minutes": ts.duration_minutes,
                    "capacity": ts.capacity, "booked_count": ts.booked_count, "teacher": ts.teacher,
                    "online": ts.campus_id is None},
        "course": {"id": course.id, "name": course.name, "subject": course.subject},
        "campus": ({"id": campus.id, "name": campus.name, "city": campus.city, "district": campus.district,
                    "address": campus.address} if campus is not None else None),
    }


# --- privacy: export, erasure and retention (called by privacy.service) -----------------------------------------

def export_for_leads(session: Session, org_id: int, lead_ids: list[int]) -> list[dict[str, Any]]:
    """The person's trial bookings as the CRM would receive them."""
    rows = session.scalars(select(TrialBooking).where(TrialBooking.org_id == org_id,
                                                      TrialBooking.lead_id.in_(lead_ids or [-1]))
                           .order_by(TrialBooking.id))
    return [booking_payload(session, b) for b in rows]


def erase_for_leads(session: Session, org_id: int, lead_ids: list[int], now: dt.datetime) -> int:
    """Blanks the child's name and grade on the person's bookings; a seat booked for a class still to come is
    cancelled and freed (nobody is coming under an erased name). The rows stay for the attendance report.
    Returns the bookings touched."""
    rows = list(session.scalars(select(TrialBooking).where(TrialBooking.org_id == org_id,
                                                           TrialBooking.lead_id.in_(lead_ids or [-1]))))
    for b in rows:
        b.child_name, b.grade = "", ""
        if b.status == BookingStatus.booked:
            ts = session.get(TrialSession, b.session_id)
            if ts is not None and ts.starts_at > now:
                b.status, b.cancelled_at = BookingStatus.cancelled, now
                _free_seat(session, org_id, b.session_id)
    return len(rows)


def leads_with_bookings(org_id: int) -> Select[Any]:
    """Leads that ever booked a trial (any status): they are not "unconverted"."""
    return select(TrialBooking.lead_id).where(TrialBooking.org_id == org_id)


"""Admin pages for trial classes: upcoming sessions with their seats, opening and cancelling sessions, the
bookings of a session, and booking a lead into one (supervisors and admins; agents book from the lead card later).

Times are entered and shown in Asia/Shanghai, stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from edudesk.auth import service as auth_service
from edudesk.auth.deps import actor_of, supervisor
from edudesk.auth.models import User
from edudesk.catalog import service as catalog_service
from edudesk.context import get_ctx
from edudesk.db import utcnow
from edudesk.forms import Rejected, conflict_or_unprocessable, submit
from edudesk.inputs import PathId
from edudesk.localtime import LOCAL_TZ
from edudesk.trials import service as trials_service
from edudesk.web import page

router = APIRouter(prefix="/admin/trials", include_in_schema=False)
Supervisor = Annotated[User, Depends(supervisor)]
CsrfField = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=40)]
Text = Annotated[str, Form(max_length=1000)]


def _list_page(request: Request, user: User, *, form: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None, notice: str | None = None, code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        sessions = trials_service.list_sessions(session, user.org_id)
        courses = catalog_service.list_courses(session, user.org_id)
        campuses = catalog_service.list_campuses(session, user.org_id)
    form = form or {"course_id": "", "campus_id": "", "starts_at": "", "duration_minutes": "60", "capacity": "8",
                    "teacher": "", "note": ""}
    return page(request, "admin/trials.html", status_code=code, user=user, sessions=sessions, courses=courses,
                campuses=campuses, form=form, errors=errors or {}, notice=notice)


@router.get("", response_class=HTMLResponse)
def trials_page(request: Request, user: Supervisor) -> Response:
    return _list_page(request, user)


def _int(raw: str, field: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise trials_service.TrialError("bad_number", "请输入整数", field) from None


def _input(form: dict[str, str]) -> trials_service.SessionInput:
    try:
        local = dt.datetime.fromisoformat(form["starts_at"].strip())
    except ValueError:
        raise trials_service.TrialError("bad_time", "请填写开课时间", "starts_at") from None
    starts_at = (local.replace(tzinfo=LOCAL_TZ) if local.tzinfo is None else local).astimezone(dt.UTC)
    campus = form["campus_id"].strip()
    return trials_service.SessionInput(
        course_id=_int(form["course_id"], "course_id"), starts_at=starts_at,
        capacity=_int(form["capacity"], "capacity"),
        duration_minutes=_int(form["duration_minutes"], "duration_minutes"),
        campus_id=_int(campus, "campus_id") if campus else None, teacher=form["teacher"], note=form["note"])


@router.post("/new", response_class=HTMLResponse)
def create_session(request: Request, user: Supervisor, course_id: Short = "", campus_id: Short = "",
                   starts_at: Short = "", duration_minutes: Short = "60", capacity: Short = "",
                   teacher: Short = "", note: Text = "", csrf_token: CsrfField = "") -> Response:
    form = {"course_id": course_id, "campus_id": campus_id, "starts_at": starts_at,
            "duration_minutes": duration_minutes, "capacity": capacity, "teacher": teacher, "note": note}
    done = submit(request, csrf_token,
                  lambda session: trials_service.create_session(session, actor_of(request, user), _input(form)))
    if isinstance(done, Rejected):
        return _list_page(request, user, form=form, errors=done.beside("form"), code=done.status)
    return _list_page(request, user, notice="试听课已创建")


@router.post("/{session_id}/cancel", response_class=HTMLResponse)
def cancel_session(request: Request, user: Supervisor, session_id: PathId, csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token,
                  lambda session: trials_service.cancel_session(session, actor_of(request, user), session_id))
    if isinstance(done, Rejected):
        return _list_page(request, user, errors=done.beside("form"), code=done.status)
    return _list_page(request, user, notice="试听课已取消，请联系已预约的家长")


def _session_page(request: Request, user: User, session_id: int, *, errors: dict[str, str] | None = None,
                  notice: str | None = None, lead_id: str = "", attendance: str = "", code: int = 200) -> Response:
    with get_ctx(request).db.session() as session:
        view = trials_service.view_of(session, user.org_id, session_id)
        bookings = trials_service.bookings_of(session, user.org_id, session_id)
        staff = {u.id: u.display_name for u in auth_service.list_users(session, user.org_id)}
    return page(request, "admin/trial_session.html", status_code=code, user=user, view=view, bookings=bookings,
                staff=staff, errors=errors or {}, notice=notice, lead_id=lead_id, attendance=attendance,
                now=utcnow(), opens=trials_service.ATTENDANCE_OPENS,
                counts=Counter(b.status.value for b in bookings))


@router.get("/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, user: Supervisor, session_id: PathId) -> Response:
    return _session_page(request, user, session_id)


@router.post("/{session_id}/book", response_class=HTMLResponse)
def book(request: Request, user: Supervisor, session_id: PathId, lead_id: Short = "",
         csrf_token: CsrfField = "") -> Response:
    done = submit(request, csrf_token, lambda session: trials_service.book(
        session, user.org_id, session_id, _int(lead_id, "lead_id"), actor=actor_of(request, user)),
        status=conflict_or_unprocessable)
    if isinstance(done, Rejected):
        return _session_page(request, user, session_id, errors=done.beside("form"), lead_id=lead_id,
                             code=done.status)
    return _session_page(request, user, session_id, notice="已预约")


@router.post("/bookings/{booking_id}/cancel", response_class=HTMLResponse)
def cancel_booking(request: Request, user: Supervisor, booking_id: PathId, csrf_token: CsrfField = "") -> Response:
    with get_ctx(request).db.session() as session:
        booking = trials_service.get_booking(session, user.org_id, booking_id)
        session_id = booking.session_id
    done = submit(request, csrf_token,
                  lambda session: trials_service.cancel_booking(session, actor_of(request, user), booking_id))
    if isinstance(done, Rejected):
        return _session_page(request, user, session_id, errors={"form": done.message}, code=done.status)
    return _session_page(request, user, session_id, notice="预约已取消，名额已释放")


@router.post("/bookings/{booking_id}/attendance", response_class=HTMLResponse)
def mark_attendance(request: Request, user: Supervisor, booking_id: PathId, status: Short = "",
                    csrf_token: CsrfField = "") -> Response:
    with get_ctx(request).db.session() as session:
        session_id = trials_service.get_booking(session, user.org_id, booking_id).session_id
    done = submit(request, csrf_token,
                  lambda session: trials_service.mark_attendance(session, actor_of(request, user), booking_id, status),
                  status=conflict_or_unprocessable)
    if isinstance(done, Rejected):
        return _session_page(request, user, session_id, errors={"form": done.message}, code=done.status)
    return _session_page(request, user, session_id, attendance=status)

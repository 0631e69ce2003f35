"""The trial-class admin pages: who may use them, CSRF on every form, times in Beijing time, text escaped."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.db import Database
from edudesk.localtime import LOCAL_TZ
from edudesk.trials.models import BookingStatus, TrialBooking, TrialSession
from tests.conftest import TwoOrgs, login
from tests.trials.factories import catalog, lead, trial

XSS = "<script>alert(1)</script>"


def local_input(days: int) -> str:
    when = dt.datetime.now(LOCAL_TZ).replace(hour=10, minute=0, second=0, microsecond=0) + dt.timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M")


def test_agents_may_not_open_the_pages(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    login(client, "alpha", "agent")
    assert client.get("/admin/trials").status_code == 403
    assert "/admin/trials" not in client.get("/leads").text  # no nav link either


def test_supervisor_creates_a_session_and_books_a_lead(client: TestClient, orgs: TwoOrgs,
                                                       database: Database) -> None:
    course_id, campus_id = catalog(database, orgs.a.id, course="少儿英语" + XSS)
    lead_id = lead(database, orgs.a.id, "v1", child="小明" + XSS)
    csrf = login(client, "alpha", "supervisor")
    page = client.get("/admin/trials")
    assert page.status_code == 200 and 'href="/admin/trials"' in page.text and XSS not in page.text
    form = {"course_id": str(course_id), "campus_id": str(campus_id), "starts_at": local_input(3),
            "duration_minutes": "90", "capacity": "2", "teacher": "Amy", "note": "带水杯" + XSS}
    assert client.post("/admin/trials/new", data=form).status_code == 400  # no CSRF token
    resp = client.post("/admin/trials/new", data={**form, "csrf_token": csrf})
    assert resp.status_code == 200 and "试听课已创建" in resp.text
    assert "0 / 2" in resp.text and XSS not in resp.text and "&lt;script&gt;" in resp.text
    with database.session() as session:
        ts = session.scalars(select(TrialSession)).one()
        assert ts.starts_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M") == form["starts_at"]
        assert (ts.capacity, ts.duration_minutes, ts.campus_id) == (2, 90, campus_id)
    assert client.post(f"/admin/trials/{ts.id}/book", data={"lead_id": str(lead_id)}).status_code == 400
    resp = client.post(f"/admin/trials/{ts.id}/book", data={"lead_id": str(lead_id), "csrf_token": csrf})
    assert resp.status_code == 200 and "已预约" in resp.text and "1 / 2" in resp.text
    assert XSS not in resp.text and "小明&lt;script&gt;" in resp.text
    again = client.post(f"/admin/trials/{ts.id}/book", data={"lead_id": str(lead_id), "csrf_token": csrf})
    assert again.status_code == 422 and "该线索已预约这节试听课" in again.text
    with database.session() as session:
        booking = session.scalars(select(TrialBooking)).one()
        assert booking.booked_via == "agent" and booking.booked_by_user_id == orgs.a.users["supervisor"].id
    assert client.post(f"/admin/trials/bookings/{booking.id}/cancel", data={}).status_code == 400
    resp = client.post(f"/admin/trials/bookings/{booking.id}/cancel", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "0 / 2" in resp.text
    with database.session() as session:
        assert session.get(TrialBooking, booking.id).status == BookingStatus.cancelled  # type: ignore[union-attr]


def test_bad_input_is_shown_on_the_form(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    course_id, _ = catalog(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    base = {"course_id": str(course_id), "starts_at": local_input(2), "duration_minutes": "60", "capacity": "5",
            "csrf_token": csrf}
    for change, message in (({"capacity": "300"}, "名额应在"), ({"starts_at": local_input(-1)}, "开课时间必须晚于现在"),
                            ({"starts_at": ""}, "请填写开课时间"), ({"capacity": "abc"}, "请输入整数"),
                            ({"duration_minutes": "5"}, "时长应在")):
        resp = client.post("/admin/trials/new", data={**base, **change})
        assert resp.status_code == 422 and message in resp.text, change
    with database.session() as session:
        assert session.scalars(select(TrialSession)).first() is None


def test_full_session_and_cancel(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    course_id, campus_id = catalog(database, orgs.a.id)
    session_id = trial(database, orgs.a.id, course_id, campus_id, capacity=1)
    first, second = lead(database, orgs.a.id, "v1"), lead(database, orgs.a.id, "v2")
    csrf = login(client, "alpha", "supervisor")
    assert client.post(f"/admin/trials/{session_id}/book", data={"lead_id": str(first), "csrf_token": csrf}
                       ).status_code == 200
    full = client.post(f"/admin/trials/{session_id}/book", data={"lead_id": str(second), "csrf_token": csrf})
    assert full.status_code == 409 and "已约满" in full.text
    assert "已约满" in client.get("/admin/trials").text
    assert client.post(f"/admin/trials/{session_id}/cancel", data={}).status_code == 400
    resp = client.post(f"/admin/trials/{session_id}/cancel", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "已取消" in resp.text
    with database.session() as session:
        assert session.get(TrialSession, session_id).cancelled  # type: ignore[union-attr]


def test_english_page(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    catalog(database, orgs.a.id)
    client.cookies.set("edudesk_lang", "en")
    login(client, "alpha", "admin")
    text = client.get("/admin/trials").text
    assert "Trial classes" in text and "New trial class" in text

"""The business-hours admin page: admins edit the org's and each skill group's hours, supervisors only look; bad input
is shown beside its field and stores nothing; statutory days are merged into the form; other orgs' groups are 404."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.hours import service as hours_service
from edudesk.hours.models import BusinessHoursRecord
from edudesk.hours.views import parse_dates, parse_intervals
from edudesk.localtime import local_today
from edudesk.orgs import service as orgs_service
from edudesk.routing.models import SkillGroup
from tests.conftest import TwoOrgs, login

FORM = {"enabled": "1", "timezone": "Asia/Shanghai", "mon": "08:30-12:00, 13:30-21:00", "tue": "08:30-21:00",
        "wed": "08:30-21:00", "thu": "08:30-21:00", "fri": "08:30-21:00", "sat": "09:00-17:00", "sun": "",
        "makeup_weekday": "mon", "holidays": "2026-10-01\n2026-10-02", "workdays": "2026-10-10",
        "closed_message": ""}


def post(client: TestClient, token: str, **fields: Any) -> Any:
    return client.post("/admin/hours", data={**FORM, "csrf_token": token, **fields})


def record(database: Database, org_id: int, group_id: int | None = None) -> BusinessHoursRecord | None:
    with database.session() as session:
        row = hours_service.record_for(session, org_id, group_id)
        if row is not None:
            session.expunge(row)
        return row


def make_group(database: Database, org_id: int, name: str) -> int:
    with database.session() as session:
        group = SkillGroup(org_id=org_id, name=name)
        session.add(group)
        session.commit()
        return group.id


def error_after(html: str, field: str) -> str:
    """The field error shown right after the named control (its input, textarea or select)."""
    start = html.index(f'name="{field}"')
    close = {"holidays": "</textarea>", "workdays": "</textarea>", "closed_message": "</textarea>",
             "makeup_weekday": "</select>"}.get(field, ">")
    end = html.index(close, start)
    error = html.index('<p class="field-error">', end)
    assert error - end < 120, f"the error is not beside {field}"
    return html[error:html.index("</p>", error)]


def test_parsing_what_admins_type() -> None:
    assert parse_intervals("mon", "8:30 - 12:00，13：30~21:00  ") == [["8:30", "12:00"], ["13:30", "21:00"]]
    assert parse_intervals("sun", "  ") == []
    assert parse_intervals("tue", "09:00至18:00") == [["09:00", "18:00"]]
    assert parse_dates("2026-10-01\n2026/10/2, 2026年10月3日、 2026.1.4\n\n") == [
        "2026-10-01", "2026-10-02", "2026-10-03", "2026-01-04"]


def test_admin_saves_the_org_hours(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    page = client.get("/admin/hours")
    assert page.status_code == 200 and "营业时间" in page.text and "未设置（全天视为营业）" in page.text
    assert "现在：营业中" in page.text
    resp = post(client, token, mon="8:30 - 12:00，13:30~21:00", closed_message="老师{next_open}上班，请先留言")
    assert resp.status_code == 200 and "营业时间已保存" in resp.text
    saved = record(database, orgs.a.id)
    assert saved is not None and saved.enabled
    assert saved.spec["weekly"]["mon"] == [["08:30", "12:00"], ["13:30", "21:00"]]
    assert saved.spec["weekly"]["sun"] == [] and saved.spec["holidays"] == ["2026-10-01", "2026-10-02"]
    assert saved.spec["workdays"] == ["2026-10-10"] and saved.closed_message == "老师{next_open}上班，请先留言"
    assert record(database, orgs.b.id) is None
    # The form shows what is stored, in the form people type.
    page = client.get("/admin/hours").text
    assert 'value="08:30-12:00, 13:30-21:00"' in page and "已启用" in page
    assert re.search(r"现在：(营业中|已下班，下次上线 .+)</p>", page)
    assert "访客看到的提示：老师" in page
    with database.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.org_id == orgs.a.id,
                                                        AuditEntry.action == "business_hours.create")).one()
        assert orgs_service.bot_version(session, orgs.a.id) == 1


def test_supervisor_sees_read_only_and_cannot_save(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "supervisor")
    page = client.get("/admin/hours")
    assert page.status_code == 200 and "只有管理员可以修改营业时间" in page.text
    assert "<fieldset disabled" in page.text and 'class="primary"' not in page.text
    resp = post(client, token)
    assert resp.status_code == 403
    assert record(database, orgs.a.id) is None


def test_agents_and_strangers_are_kept_out(client: TestClient, orgs: TwoOrgs) -> None:
    assert client.get("/admin/hours", follow_redirects=False).status_code == 303
    login(client, "alpha", "agent")
    assert client.get("/admin/hours").status_code == 403


def test_stale_csrf_is_refused_and_keeps_the_form(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    login(client, "alpha", "admin")
    resp = post(client, "forged", mon="07:00-08:00")
    assert resp.status_code == 400 and "页面已过期" in resp.text and 'value="07:00-08:00"' in resp.text
    assert record(database, orgs.a.id) is None


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"mon": "25:00-26:00"}, "mon", "不是有效的时间"),
    ({"tue": "09:00"}, "tue", "请写成 开始-结束"),
    ({"wed": "08:00-12:00, 11:00-13:00"}, "wed", "重叠"),
    ({"thu": "12:00-08:00"}, "thu", "开始时间须早于结束时间"),
    ({"timezone": "Mars/Olympus"}, "timezone", "未知的时区"),
    ({"holidays": "2026-10-01\n国庆"}, "holidays", "不是有效日期"),
    ({"workdays": "2026-10-01"}, "workdays", "不能既是节假日又是调休工作日"),
    ({"makeup_weekday": "someday"}, "makeup_weekday", "调休工作日"),
    ({"closed_message": "长" * 501}, "closed_message", "不能超过 500 个字"),
])
def test_bad_input_is_shown_beside_its_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                             fields: dict[str, str], field: str, message: str) -> None:
    token = login(client, "alpha", "admin")
    assert post(client, token).status_code == 200
    before = record(database, orgs.a.id)
    resp = post(client, token, **fields)
    assert resp.status_code == 422
    assert message in error_after(resp.text, field)
    for value in fields.values():  # what was typed is still there to fix
        assert value.split("\n")[0][:20] in resp.text
    after = record(database, orgs.a.id)
    assert before is not None and after is not None and after.spec == before.spec
    assert after.closed_message == before.closed_message


def test_import_statutory_days_merges_into_the_form_without_saving(client: TestClient, database: Database,
                                                                   orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    page = client.get("/admin/hours").text
    this_year = local_today().year
    assert f'name="import_year" value="{this_year}"' in page and f"导入 {this_year} 年法定节假日" in page
    resp = post(client, token, import_year="2026", holidays="2026-03-03\n2026-10-01", workdays="", mon="07:00-09:00")
    assert resp.status_code == 200 and "已导入 2026 年法定节假日 33 天、调休工作日 6 天" in resp.text
    holidays = resp.text.split('name="holidays"', 1)[1].split("</textarea>", 1)[0]
    assert "2026-03-03" in holidays and "2026-10-07" in holidays and holidays.count("2026-10-01") == 1
    workdays = resp.text.split('name="workdays"', 1)[1].split("</textarea>", 1)[0]
    assert "2026-09-20" in workdays and "2026-10-10" in workdays
    assert 'value="07:00-09:00"' in resp.text  # the rest of the form is kept
    assert record(database, orgs.a.id) is None  # nothing saved until the admin says so

    resp = post(client, token, import_year="2099")
    assert resp.status_code == 422 and "暂无 2099 年的法定节假日安排" in resp.text
    assert record(database, orgs.a.id) is None


def test_group_hours_and_isolation(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    ours = make_group(database, orgs.a.id, "<b>少儿英语</b>")
    theirs = make_group(database, orgs.b.id, "乙机构的秘密组")
    token = login(client, "alpha", "admin")
    page = client.get("/admin/hours").text
    assert "&lt;b&gt;少儿英语&lt;/b&gt;" in page and "<b>少儿英语" not in page and "乙机构的秘密组" not in page
    assert f'href="/admin/hours?group={ours}"' in page and "未设置（沿用机构的营业时间）" in page

    page = client.get(f"/admin/hours?group={ours}").text
    assert f'name="group_id" value="{ours}"' in page and "使用本组自己的营业时间" in page
    resp = post(client, token, group_id=str(ours), sun="10:00-16:00")
    assert resp.status_code == 200
    own = record(database, orgs.a.id, ours)
    assert own is not None and own.spec["weekly"]["sun"] == [["10:00", "16:00"]]
    assert record(database, orgs.a.id) is None  # the org's hours are another record

    assert client.get(f"/admin/hours?group={theirs}").status_code == 404
    resp = post(client, token, group_id=str(theirs))
    assert resp.status_code == 404 and "乙机构的秘密组" not in resp.text
    assert record(database, orgs.b.id, theirs) is None
    with database.session() as session:
        assert session.scalars(select(BusinessHoursRecord).where(BusinessHoursRecord.org_id == orgs.b.id)).all() == []


def test_closed_message_is_escaped(client: TestClient, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    evil = '<script>alert("x")</script>{next_open}'
    assert post(client, token, closed_message=evil, mon="", tue="", wed="", thu="", fri="", sat="").status_code == 200
    page = client.get("/admin/hours").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "现在：已下班，下次上线 工作时间" in page

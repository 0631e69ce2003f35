"""The CSAT pages: the report (supervisors and admins, date range, low-score comments escaped, own org only) and
the settings (admins edit, supervisors look; CSRF; errors beside the field)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.csat import service as csat_service
from edudesk.db import Database
from tests.conftest import TwoOrgs, login
from tests.csat.factories import seed


def settings(database: Database, org_id: int) -> csat_service.CsatSettings:
    with database.session() as session:
        return csat_service.get_settings(session, org_id)


def post_settings(client: TestClient, token: str, **fields: Any) -> Any:
    return client.post("/admin/csat/settings", data={"question": "老师讲得清楚吗？", "scale": "3",
                                                     "csrf_token": token, **fields})


def test_report_page_numbers_filters_and_escaping(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    seeded = seed(database, orgs)
    login(client, "alpha", "supervisor")
    page = client.get("/admin/csat?since=2026-11-01&until=2026-11-07")
    assert page.status_code == 200
    html = page.text
    assert 'value="2026-11-01"' in html and 'value="2026-11-07"' in html
    agents = html.split('id="csat-agents"', 1)[1].split("</table>", 1)[0]
    li_row = agents.split("李老师", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td><td>2</td><td>100.0%</td>" in li_row and "62.5%" in li_row and "50.0%" in li_row
    assert "王老师" in agents and "无接待人" in agents
    groups = html.split('id="csat-groups"', 1)[1].split("</table>", 1)[0]
    assert f'data-key="{seeded.math}"' in groups and "数学" in groups and "未分组" in groups
    assert "合计：已解决 8，评价 6，参评率 75.0%，平均分 58.3%，满意占比 50.0%" in html
    low = html.split('id="csat-low"', 1)[1].split("</table>", 1)[0]
    assert "&lt;b&gt;回复太慢&lt;/b&gt;" in low and "<b>回复太慢" not in low
    assert "1/2 不满意" in low and f"/console?c={seeded.low_comment_conv}" in low
    assert "乙机构的差评" not in html and "期外的差评" not in html

    html = client.get("/admin/csat?since=2026-10-31&until=2026-10-31").text
    assert "期外的差评" in html and "回复太慢" not in html


@pytest.mark.parametrize(("query", "field", "message"), [
    ("since=2026-99-01", "since", "不是有效日期"),
    ("since=2026-11-07&until=2026-11-01", "until", "结束日期不能早于开始日期"),
    ("since=2020-01-01&until=2026-11-01", "until", "时间范围不能超过 366 天"),
])
def test_bad_dates_are_shown_beside_the_field(client: TestClient, orgs: TwoOrgs, query: str, field: str,
                                              message: str) -> None:
    login(client, "alpha", "admin")
    resp = client.get(f"/admin/csat?{query}")
    assert resp.status_code == 422
    html = resp.text
    end = html.index(">", html.index(f'name="{field}"'))
    error = html.index('<p class="field-error">', end)
    assert error - end < 40 and message in html[error:error + 200]


def test_who_may_see_the_report(client: TestClient, orgs: TwoOrgs) -> None:
    assert client.get("/admin/csat", follow_redirects=False).status_code == 303
    login(client, "alpha", "agent")
    assert client.get("/admin/csat").status_code == 403
    assert client.get("/admin/csat/settings").status_code == 403


def test_admin_saves_settings(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "admin")
    page = client.get("/admin/csat/settings").text
    assert 'value="您对本次服务满意吗？"' in page and 'name="scale" value="5" checked' in page
    resp = post_settings(client, token, question="<i>老师</i>讲得清楚吗？", scale="2")
    assert resp.status_code == 200 and "满意度设置已保存" in resp.text
    assert settings(database, orgs.a.id) == csat_service.CsatSettings("<i>老师</i>讲得清楚吗？", 2)
    assert settings(database, orgs.b.id).scale == 5
    assert "&lt;i&gt;老师&lt;/i&gt;" in resp.text and "<i>老师" not in resp.text
    assert 'name="scale" value="2" checked' in resp.text
    report = client.get("/admin/csat").text
    assert "&lt;i&gt;老师&lt;/i&gt;讲得清楚吗？" in report and "两级：满意 / 不满意" in report
    with database.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "csat.settings",
                                                        AuditEntry.org_id == orgs.a.id)).one()


def test_supervisor_sees_settings_but_cannot_change_them(client: TestClient, database: Database,
                                                        orgs: TwoOrgs) -> None:
    token = login(client, "alpha", "supervisor")
    page = client.get("/admin/csat/settings")
    assert page.status_code == 200 and "只有管理员可以修改满意度设置" in page.text
    assert "<fieldset disabled" in page.text
    assert post_settings(client, token).status_code == 403
    assert settings(database, orgs.a.id).scale == 5


@pytest.mark.parametrize(("fields", "field", "message", "status"), [
    ({"question": ""}, "question", "请填写满意度问题", 422),
    ({"question": "问" * 201}, "question", "不能超过 200 个字", 422),
    ({"scale": "4"}, "scale", "评分方式只能是两级、三级或五星", 422),
    ({"scale": "abc"}, "scale", "请选择评分方式", 422),
    ({"csrf_token": "forged"}, "form", "页面已过期", 400),
])
def test_bad_settings_are_refused(client: TestClient, database: Database, orgs: TwoOrgs, fields: dict[str, str],
                                  field: str, message: str, status: int) -> None:
    token = login(client, "alpha", "admin")
    resp = post_settings(client, token, **fields)
    assert resp.status_code == status and message in resp.text
    if field == "question":
        html = resp.text
        end = html.index(">", html.index('name="question"'))
        assert html.index('<p class="field-error">', end) - end < 40
    assert settings(database, orgs.a.id) == csat_service.CsatSettings("您对本次服务满意吗？", 5)

"""Exports of a dashboard panel and of a drill-down list (CSV with BOM, XLSX with numbers as numbers, formula
injection neutralised, one audit row each), and the drill-down pages themselves, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from tests.analytics.pages.fakes import FORMULA, HOSTILE, FakeSource
from tests.conftest import TwoOrgs, login


def audit_rows(database: Database, org_id: int) -> list[AuditEntry]:
    with database.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.org_id == org_id,
                                                             AuditEntry.action == "analytics.export")))


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_panel_csv_is_the_table_with_formulas_neutralised(client: TestClient, orgs: TwoOrgs, database: Database,
                                                          fake_source: FakeSource) -> None:
    login(client, "alpha", "supervisor")
    resp = client.get("/admin/dashboards/data/export?panel=unanswered&format=csv&start=2026-12-01&end=2026-12-07")
    assert resp.status_code == 200 and resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"] == 'attachment; filename="data-unanswered-20261201-20261207.csv"'
    rows = read_csv(resp.content)
    assert rows[0] == ["问题", "次数"]
    assert rows[1] == ["'" + FORMULA, "12"] and rows[2] == [HOSTILE, "3"]
    trend = read_csv(client.get("/admin/dashboards/data/export?panel=trend&format=csv").content)
    assert trend[0] == ["日期", "对话", "转人工率"] and trend[1] == ["12-05", "700", "30.0%"]
    people = read_csv(client.get("/admin/dashboards/people/export?panel=agents&format=csv").content)
    assert people[0][2:4] == ["平均首次响应（秒）", "平均处理时长（秒）"]
    assert people[1] == ["王老师", "700", "42", "3725", "4.8", "90.0%"] and people[2][4] == ""
    entries = audit_rows(database, orgs.a.id)
    assert [(e.target_type, e.target_id, e.detail["format"], e.detail["rows"]) for e in entries] == [
        ("dashboard_panel", "data.unanswered", "csv", 3), ("dashboard_panel", "data.trend", "csv", 2),
        ("dashboard_panel", "people.agents", "csv", 2)]
    assert entries[0].detail["filters"] == {"start": "2026-12-01", "end": "2026-12-07"}
    assert entries[0].actor_user_id == orgs.a.users["supervisor"].id
    assert audit_rows(database, orgs.b.id) == []


def test_panel_xlsx_keeps_numbers_numeric(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource) -> None:
    login(client, "alpha", "admin")
    resp = client.get("/admin/dashboards/people/export?panel=agents&format=xlsx")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(resp.content)).active
    assert sheet is not None and sheet.title.startswith("people-agents-")
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["坐席", "接待对话", "平均首次响应（秒）", "平均处理时长（秒）", "满意度", "饱和度"]
    assert values[1] == ["王老师", 700, 42, 3725, 4.8, 0.9]
    assert sheet["F2"].number_format == "0.0%" and sheet["B2"].number_format == "#,##0"
    unanswered = openpyxl.load_workbook(io.BytesIO(client.get(
        "/admin/dashboards/data/export?panel=unanswered&format=xlsx").content)).active
    assert unanswered is not None and unanswered["A2"].value == "'" + FORMULA and unanswered["A2"].data_type == "s"


@pytest.mark.parametrize(("query", "status", "code", "field"), [
    ("panel=agents&format=pdf", 422, "bad_format", "format"),
    ("panel=nope&format=csv", 404, "not_found", "panel"),
    ("panel=&format=csv", 404, "not_found", "panel"),
    ("panel=agents&format=csv&start=2026-12-09&end=2026-12-01", 400, "bad_filter", "end"),
])
def test_panel_export_refusals(client: TestClient, orgs: TwoOrgs, database: Database, fake_source: FakeSource,
                               query: str, status: int, code: str, field: str) -> None:
    login(client, "alpha", "admin")
    resp = client.get(f"/admin/dashboards/people/export?{query}")
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code and resp.json()["error"]["field"] == field
    assert audit_rows(database, orgs.a.id) == []


DRILL = "/admin/dashboards/drill?kind=conversations&from=data&hour=20&start=2026-12-01&end=2026-12-07"


def test_the_drill_page_lists_records_page_by_page(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource
                                                   ) -> None:
    login(client, "alpha", "supervisor")
    resp = client.get(DRILL)
    assert resp.status_code == 200
    name, org, (drill, filters, page, per_page, masked) = fake_source.calls[-1]
    assert (name, org, drill.kind, dict(drill.params), page, per_page, masked) == (
        "drill", orgs.a.id, "conversations", {"hour": "20"}, 1, 50, True)
    assert str(filters.start) == "2026-12-01"
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', resp.text)]
    assert "/console/c/1" in hrefs and "/console/c/50" in hrefs and "/console/c/51" not in hrefs
    assert not any(h.startswith("javascript:") for h in hrefs) and "138****0000" in resp.text
    assert HOSTILE not in resp.text and "共 120 条" in resp.text and "第 1 / 3 页" in resp.text
    assert "/admin/dashboards/data?start=2026-12-01&end=2026-12-07" in hrefs  # back to the dashboard
    assert '<input type="hidden" name="hour" value="20">' in resp.text  # the bar keeps the drill
    next_page = next(h for h in hrefs if "page=2" in h)
    last = client.get("/admin/dashboards/drill" + next_page.replace("page=2", "page=3"))
    assert last.status_code == 200 and "/console/c/101" in last.text and "/console/c/121" not in last.text
    assert "第 3 / 3 页" in last.text and 'rel="next"' not in last.text and 'rel="prev"' in last.text


@pytest.mark.parametrize(("query", "field"), [
    ("kind=secrets", "form"), ("", "form"), ("kind=leads&page=0", "form"), ("kind=leads&page=abc", "form"),
    ("kind=leads&page=99999999999999999999", "form"),
    ("kind=leads&" + "&".join(f"p{n}=1" for n in range(9)), "form"),
    ("kind=leads&bad-name=1", "form"), ("kind=leads&x=" + "a" * 201, "form"),
    ("kind=conversations&hour=%3Cb%3E", "hour"),  # the numbers refuse it (FilterError): beside its field
])
def test_bad_drill_requests_answer_400(client: TestClient, orgs: TwoOrgs, fake_source: FakeSource, query: str,
                                       field: str) -> None:
    login(client, "alpha", "admin")
    resp = client.get(f"/admin/dashboards/drill?{query}")
    assert resp.status_code == 400 and f'id="error-{field}"' in resp.text and "<b>" not in resp.text
    export = client.get(f"/admin/dashboards/drill/export?format=csv&{query}")
    assert export.status_code == 400 and export.json()["error"]["field"] == field


def test_the_drill_export_holds_every_row_with_links(client: TestClient, orgs: TwoOrgs, database: Database,
                                                     fake_source: FakeSource) -> None:
    fake_source.total = 2345
    login(client, "alpha", "admin")
    resp = client.get(DRILL.replace("/drill?", "/drill/export?") + "&format=csv")
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == 'attachment; filename="drill-conversations-20261201-20261207.csv"'
    rows = read_csv(resp.content)
    assert rows[0] == ["编号", "访客", "手机号", "摘要", "等待（秒）", "链接"]
    assert len(rows) == 1 + 2345 and rows[-1][0] == "2345"
    assert rows[2][3] == "'" + FORMULA and rows[1][2] == "138****0000" and rows[1][4] == "65"
    assert rows[1][5] == "http://127.0.0.1:8000/console/c/1" and rows[4][5] == ""
    assert [c[2][2:4] for c in fake_source.calls] == [(1, 1000), (2, 1000), (3, 1000)]
    [entry] = audit_rows(database, orgs.a.id)
    assert (entry.target_type, entry.target_id) == ("drill", "conversations")
    assert entry.detail == {"format": "csv", "rows": 2345, "total": 2345, "params": {"hour": "20"},
                            "filters": {"start": "2026-12-01", "end": "2026-12-07"}}
    xlsx = client.get(DRILL.replace("/drill?", "/drill/export?") + "&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == 2346 and sheet["A2"].value == 1 and sheet["E2"].value == 65


def test_the_drill_export_stops_at_its_limit(client: TestClient, orgs: TwoOrgs, database: Database,
                                             fake_source: FakeSource) -> None:
    fake_source.total = 25_000
    login(client, "alpha", "admin")
    rows = read_csv(client.get("/admin/dashboards/drill/export?kind=leads&format=csv").content)
    assert len(rows) == 1 + 20_000
    assert audit_rows(database, orgs.a.id)[0].detail["total"] == 25_000

"""The leads page: filters, phone search, masking by role, bulk assignment and audited export."""

from __future__ import annotations

import csv
import io

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.leads.models import Lead
from tests.conftest import TwoOrgs, login
from tests.leads.test_service import say


def seed(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1, visitor="v1")
    say(database, orgs.a.id, "孩子上初二，想学物理，电话 13900139000", 1, visitor="v2")
    say(database, orgs.a.id, "=HYPERLINK(\"http://evil\") 我姓<b>赵</b>，孩子五岁", 1, visitor="v3")
    say(database, orgs.b.id, "孩子三年级，电话 13700137000", 1, visitor="v4")


def test_supervisor_filters_and_sees_numbers_agents_see_them_masked(client: TestClient, database: Database,
                                                                   orgs: TwoOrgs) -> None:
    seed(database, orgs)
    login(client, "alpha", "supervisor")
    page = client.get("/leads").text
    assert "共 3 条线索" in page and "13800138000" in page and "13700137000" not in page
    assert "<b>赵</b>" not in page
    assert "共 1 条线索" in client.get("/leads?grade=初二").text
    found = client.get("/leads?phone=8000").text
    assert "13800138000" in found and "13900139000" not in found
    assert client.get("/leads?phone=' OR 1=1 --").status_code == 200
    client.cookies.clear()
    login(client, "alpha", "agent")
    page = client.get("/leads").text
    assert "138****8000" in page and "13800138000" not in page
    assert client.get("/leads/export?format=csv").status_code == 403


def test_export_is_audited_escapes_formulas_and_keeps_to_the_org(client: TestClient, database: Database,
                                                                  orgs: TwoOrgs) -> None:
    seed(database, orgs)
    login(client, "alpha", "admin")
    resp = client.get("/leads/export?format=csv")
    assert resp.status_code == 200 and resp.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["线索ID", "意向", "分数", "称呼", "手机号"] and len(rows) == 4
    assert "13700137000" not in resp.text
    xlsx = client.get("/leads/export?format=xlsx&grade=三年级")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and [c.value for c in sheet[2]][4] == "13800138000" and sheet.max_row == 2
    assert client.get("/leads/export?format=pdf").status_code == 422
    with database.session() as session:
        audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "leads.export")).all()
        assert len(audits) == 2 and {a.org_id for a in audits} == {orgs.a.id}


def test_bulk_assign_needs_csrf_and_refuses_other_orgs_leads(client: TestClient, database: Database,
                                                            orgs: TwoOrgs) -> None:
    seed(database, orgs)
    csrf = login(client, "alpha", "supervisor")
    with database.session() as session:
        mine = [lead.id for lead in session.scalars(select(Lead).where(Lead.org_id == orgs.a.id))]
        theirs = session.scalars(select(Lead.id).where(Lead.org_id == orgs.b.id)).one()
    wang = orgs.a.users["agent"].id
    assert client.post("/leads/assign", data={"lead_ids": mine, "owner_id": wang}).status_code == 400
    resp = client.post("/leads/assign", data={"lead_ids": [mine[0], theirs], "owner_id": wang, "csrf_token": csrf})
    assert resp.status_code == 404
    resp = client.post("/leads/assign", data={"lead_ids": mine[:2], "owner_id": wang, "csrf_token": csrf})
    assert resp.status_code == 200 and "已分配 2 条线索" in resp.text
    with database.session() as session:
        owners = {lead.id: lead.owner_id for lead in session.scalars(select(Lead))}
    assert owners[mine[0]] == wang and owners[mine[1]] == wang and owners[theirs] is None
    client.cookies.clear()
    agent_csrf = login(client, "alpha", "agent")
    assert client.post("/leads/assign", data={"lead_ids": mine, "csrf_token": agent_csrf}).status_code == 403


def test_due_follow_up_reminders_are_listed_for_their_author(client: TestClient, database: Database,
                                                            orgs: TwoOrgs) -> None:
    import datetime as dt

    from edudesk.audit.service import Actor
    from edudesk.leads import service as leads_service

    seed(database, orgs)
    with database.session() as session:
        lead_id = session.scalars(select(Lead.id).where(Lead.org_id == orgs.a.id)).first()
        assert lead_id is not None
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        actor = Actor(orgs.a.id, user_id=orgs.a.users["supervisor"].id, label="zhu")
        leads_service.add_note(session, actor, lead_id, "回电确认试听时间", remind_at=past)
        leads_service.add_note(session, actor, lead_id, "下周再联系", remind_at=past + dt.timedelta(days=8))
        session.commit()
    login(client, "alpha", "supervisor")
    page = client.get("/leads").text
    assert "待跟进提醒" in page and "回电确认试听时间" in page and "下周再联系" not in page
    client.cookies.clear()
    login(client, "alpha", "agent")
    assert "回电确认试听时间" not in client.get("/leads").text

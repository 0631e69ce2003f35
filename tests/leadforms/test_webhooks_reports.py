"""A submission reaches the CRM as a chat's lead does (signed webhooks to a real receiver), counts in the 套电率 as
the form row, and is part of the person's privacy export and erasure."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from edudesk.apitokens import service as apitokens_service
from edudesk.audit.service import Actor
from edudesk.db import Database, utcnow
from edudesk.leadforms.models import LeadFormSubmission, LeadFormView
from edudesk.leads import report_rows, reports
from edudesk.leads.models import Lead
from edudesk.localtime import local_today
from edudesk.privacy import service as privacy_service
from edudesk.settings import Settings
from edudesk.webhooks.signing import verify
from tests.conftest import TwoOrgs, login
from tests.leadforms.conftest import make_form, post
from tests.leads.test_dashboard import say
from tests.webhooks.conftest import Receiver, create_endpoint, drain, make_deliverer, make_worker

HOSTILE = '</script><script>alert("x")</script>'


def by_channel(session: Session, org_id: int, start: dt.date, end: dt.date) -> list[reports.CaptureRow]:
    """The report by channel as the API and the dashboard build it (conversations, then the form row)."""
    return reports.capture_report(session, org_id, start, end, by="channel",
                                  extra_channels=report_rows.extra_channels(session, org_id, start, end))[0]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_the_crm_gets_signed_lead_created_then_lead_updated(client: TestClient, database: Database, orgs: TwoOrgs,
                                                            receiver: Receiver) -> None:
    _, secret = create_endpoint(database, orgs.a.id, receiver.url, ["lead.created", "lead.updated"])
    form = make_form(database, orgs.a.id)
    other = make_form(database, orgs.b.id, name="乙")
    assert post(client, form.public_id, {"name": HOSTILE, "phone": "13800138000"},
                attribution={"utm_campaign": "summer-math", "bd_vid": "b1"}).status_code == 201
    assert post(client, form.public_id, {"name": HOSTILE, "phone": "13800138000", "grade": "三年级"},
                key="second-render-key").status_code == 201
    assert post(client, other.public_id, {"name": "乙", "phone": "13800138000"}).status_code == 201  # org B
    drain(database, make_worker(database, make_deliverer()))
    got = receiver.accepted()
    assert len(got) == 2
    for r in got:
        assert verify(secret, r.headers["x-edudesk-timestamp"], r.body,
                      r.headers["x-edudesk-signature"])
    created, updated = (r.json for r in got)
    assert (created["type"], updated["type"]) == ("lead.created", "lead.updated")
    data = created["data"]
    assert data["source_channel"] == "form" and data["campaign"] == "summer-math"
    assert data["attribution"]["bd_vid"] == "b1" and data["attribution"]["form"] == form.public_id
    assert data["fields"]["name"] == {"value": HOSTILE, "source": "form", "evidence": "表单「暑期数学落地页」",
                                      "message_id": None}
    assert json.loads(got[0].body)["data"]["fields"]["name"]["value"] == HOSTILE  # JSON-escaped, not HTML-mangled
    assert updated["data"]["changed"] == ["grade"] and updated["data"]["lead_id"] == data["lead_id"]


def test_forms_are_a_row_of_the_capture_rate_by_channel(client: TestClient, database: Database,
                                                        orgs: TwoOrgs) -> None:
    today = local_today()
    say(database, orgs.a.id, "v1", "我电话13900139000")
    with database.session() as session:
        assert [r.key for r in by_channel(session, orgs.a.id, today, today)] == ["web"]
    form = make_form(database, orgs.a.id)
    second = make_form(database, orgs.a.id, name="第二个表单")
    for public_id in (form.public_id, form.public_id, form.public_id, second.public_id):
        assert client.get(f"/f/{public_id}.js").status_code == 200
    assert post(client, form.public_id, {"name": "王", "phone": "13800138000"}).status_code == 201
    assert post(client, second.public_id, {"name": "李", "phone": "13700137000"}).status_code == 201
    assert post(client, form.public_id, {"name": "王", "phone": "13800138000"}).status_code == 201  # merged
    with database.session() as session:  # yesterday's views and submissions are another day's
        session.add(LeadFormView(org_id=orgs.a.id, form_id=form.id, day=today - dt.timedelta(days=1), views=50))
        session.execute(update(LeadFormSubmission).where(LeadFormSubmission.form_id == second.id).values(
            created_at=utcnow() - dt.timedelta(days=1)))
        session.commit()
        rows = by_channel(session, orgs.a.id, today, today)
        two_days = by_channel(session, orgs.a.id, today - dt.timedelta(days=1), today)
        breakdown = reports.breakdown(session, orgs.a.id, today, today,
                                      extra_channels=report_rows.extra_channels(session, orgs.a.id, today, today))
        org_b = by_channel(session, orgs.b.id, today, today)
    assert [r.as_dict() for r in rows] == [{"key": "web", "conversations": 1, "captured": 1, "rate": 1.0},
                                           {"key": "form", "conversations": 4, "captured": 1, "rate": 0.25}]
    assert two_days[-1].as_dict() == {"key": "form", "conversations": 54, "captured": 2, "rate": 0.037}
    assert breakdown.by_channel[-1].key == "form" and breakdown.total.conversations == 1  # not in the total
    assert org_b == []
    with database.session() as session:
        _, raw = apitokens_service.create_token(session, Actor(orgs.a.id, label="t"), name="报表",
                                                    scopes=["leads:read"])
        session.commit()
    api = client.get(f"/api/v1/reports/capture-rate?since={today}&until={today}&by=channel",
                     headers={"authorization": f"Bearer {raw}"})
    assert api.status_code == 200 and api.json()["rows"][-1] == {"key": "form", "conversations": 4, "captured": 1,
                                                                 "rate": 0.25}
    assert api.json()["total"]["conversations"] == 1
    login(client, "alpha", "supervisor")
    dashboard = client.get("/leads/dashboard?days=7").text
    table = dashboard.split('id="capture-by-channel"', 1)[1].split("</table>", 1)[0]
    assert "<th scope=\"row\">表单</th>" in table and "<td>54</td>" in table and 'id="form-rate-note"' in dashboard


def test_a_persons_submissions_are_exported_and_erased(client: TestClient, database: Database,
                                                       orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id)
    assert post(client, form.public_id, {"name": "王妈妈", "phone": "13800138000"},
                attribution={"utm_campaign": "c1"}).status_code == 201
    registry = client.app.state.privacy  # type: ignore[attr-defined]
    actor = Actor(orgs.a.id, label="test")
    with database.session() as session:
        lead = session.scalars(select(Lead)).one()
        export = privacy_service.prepare_export(session, registry, actor, lead.contact_id)
        assert [(s["form"], s["values"]["phone"], s["attribution"]) for s in export.data["lead_form_submissions"]] \
            == [("暑期数学落地页", "13800138000", {"utm_campaign": "c1"})]
        report = privacy_service.erase_contact(session, registry, actor, lead.contact_id)
        session.commit()
    assert report.counts["lead_form_submissions"] == 1
    with database.session() as session:
        sub = session.scalars(select(LeadFormSubmission)).one()
    assert (sub.values, sub.attribution, sub.phone_e164, sub.page_url, sub.referrer, sub.ip_hash, sub.user_agent) \
        == ({}, {}, None, None, None, "", "")
    today = local_today()
    with database.session() as session:  # the report of the day still counts it
        assert by_channel(session, orgs.a.id, today, today)[-1].captured == 1

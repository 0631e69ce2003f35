"""Submitting a lead form through the public API, on SQLite and PostgreSQL: the lead is created or merged exactly
as a chat's, attribution is kept, and abuse (honeypot, repeats, bad and hostile input) stores nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from edudesk.campaigns.models import Campaign, CampaignDay
from edudesk.channels.base import InboundMessage
from edudesk.contacts.models import Contact, ContactIdentity
from edudesk.conversations.models import Conversation
from edudesk.db import Database
from edudesk.inbound import service as inbound_service
from edudesk.leadforms import intake
from edudesk.leadforms.models import LeadFormSubmission
from edudesk.leads import service as leads_service
from edudesk.leads.models import Lead, LeadValue
from tests.conftest import TwoOrgs, login
from tests.leadforms.conftest import SITE, FormFixture, body, make_form, post

ATTRIBUTION = {"utm_source": "baidu", "utm_medium": "cpc", "utm_campaign": "summer-math", "utm_content": "banner-2",
               "utm_term": "小学数学", "bd_vid": "1234567890abc", "gclid": "EAIaIQ", "qz_gdt": "gdt-1",
               "gdt_vid": "wx0a1b", "clickid": "B.douyin.1", "callback": "https://ad.oceanengine.com/cb?x=1",
               "fbclid": "IwAR0"}
PARENT = {"name": "王妈妈", "phone": "138 0013 8000", "grade": "三年级", "subject": ["数学", "英语"]}


def counts(database: Database, org_id: int) -> tuple[int, int, int, int]:
    """(submissions, leads, contacts, lead values) of the org."""
    with database.session() as session:
        return tuple(int(session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id)) or 0)
                     for model in (LeadFormSubmission, Lead, Contact, LeadValue))  # type: ignore[return-value]


def only_lead(database: Database, org_id: int) -> tuple[Lead, dict[str, LeadValue]]:
    with database.session() as session:
        lead = session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.merged_into_id.is_(None))).one()
        values = leads_service.values_of(session, lead)
        session.expunge_all()
        return lead, values


def say(database: Database, org_id: int, text: str, visitor: str = "chat-visitor", n: int = 1) -> None:
    with database.session() as session:
        inbound_service.receive(session, InboundMessage(org_id, "web", visitor, f"{visitor}-{n}", text=text),
                                agents_online=False)
        session.commit()


@pytest.fixture
def form(database: Database, orgs: TwoOrgs) -> FormFixture:
    return make_form(database, orgs.a.id)


def test_a_submission_creates_the_lead_with_its_fields_source_and_campaign(
        client: TestClient, database: Database, orgs: TwoOrgs, form: FormFixture) -> None:
    resp = post(client, form.public_id, PARENT, attribution=ATTRIBUTION)
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"status": "accepted", "message": "提交成功！老师会尽快与您联系。"}
    lead, values = only_lead(database, orgs.a.id)
    assert {k: (v.value, v.source.value) for k, v in values.items()} == {
        "name": ("王妈妈", "form"), "phone": ("13800138000", "form"), "grade": ("三年级", "form"),
        "subject": (["数学", "英语"], "form")}
    assert values["grade"].evidence == "表单「暑期数学落地页」"
    assert lead.source_channel == "form" and lead.campaign == "summer-math"
    assert lead.phone_e164 == "+8613800138000" and lead.has_contact and lead.contact_captured_at is not None
    assert lead.landing_page == f"{SITE}/summer?utm_campaign=summer-math"
    assert {k: lead.attribution[k] for k in ATTRIBUTION} == ATTRIBUTION
    assert lead.attribution["form"] == form.public_id and lead.attribution["landing_page"] == lead.landing_page
    with database.session() as session:
        sub = session.scalars(select(LeadFormSubmission)).one()
        contact = session.get(Contact, lead.contact_id)
        identity = session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id == lead.contact_id)).one()
        assert contact is not None and contact.name == "王妈妈" and contact.phone == "13800138000"
    assert identity.channel == "form" and "13800138000" not in identity.external_id
    assert (sub.org_id, sub.form_id, sub.lead_id, sub.contact_id) == (orgs.a.id, form.id, lead.id, lead.contact_id)
    assert sub.values == {"name": "王妈妈", "phone": "13800138000", "grade": "三年级", "subject": ["数学", "英语"]}
    assert sub.attribution == ATTRIBUTION and sub.phone_e164 == "+8613800138000"
    assert sub.referrer == "https://www.baidu.com/" and sub.user_agent == "testclient"
    assert sub.ip_hash and "testclient" not in sub.ip_hash and len(sub.ip_hash) == 32
    assert counts(database, orgs.b.id) == (0, 0, 0, 0)
    with database.session() as session:  # the campaign report counts the arrival, as a chat's
        day = session.scalars(select(CampaignDay).join(Campaign, Campaign.id == CampaignDay.campaign_id).where(
            Campaign.org_id == orgs.a.id, Campaign.scene == "summer-math")).one()
    assert (day.touches, day.new_contacts) == (1, 1)


def test_the_same_phone_as_a_chat_merges_into_the_chats_lead(
        client: TestClient, database: Database, orgs: TwoOrgs, form: FormFixture) -> None:
    say(database, orgs.a.id, "孩子想学数学，我电话13800138000")
    say(database, orgs.b.id, "我电话13800138000", visitor="org-b-visitor")  # the same number elsewhere: not ours
    chat_lead, _ = only_lead(database, orgs.a.id)
    assert chat_lead.source_channel == "web" and chat_lead.campaign is None
    resp = post(client, form.public_id, {"name": "王妈妈", "phone": "+86 13800138000", "grade": "三年级"},
                attribution={"utm_campaign": "summer-math", "bd_vid": "v1"})
    assert resp.status_code == 201, resp.text
    lead, values = only_lead(database, orgs.a.id)
    assert lead.id == chat_lead.id and lead.source_channel == "web"
    assert lead.campaign == "summer-math" and lead.attribution["bd_vid"] == "v1"
    assert values["phone"].source.value == "visitor" and values["phone"].conversation_id is not None
    assert (values["grade"].value, values["grade"].source.value) == ("三年级", "form")
    assert values["subject"].value == ["数学"] and values["name"].value == "王妈妈"
    with database.session() as session:
        sub = session.scalars(select(LeadFormSubmission)).one()
        kinds = set(session.scalars(select(ContactIdentity.channel).where(
            ContactIdentity.contact_id == lead.contact_id)))
        org_b_lead = session.scalars(select(Lead).where(Lead.org_id == orgs.b.id)).one()
        org_b_values = {v.key for v in session.scalars(select(LeadValue).where(LeadValue.lead_id == org_b_lead.id))}
    assert sub.lead_id == lead.id and sub.contact_id == lead.contact_id and kinds == {"web", "form"}
    assert org_b_lead.campaign is None and org_b_values == {"phone"}
    assert counts(database, orgs.a.id)[1] == 1
    with database.session() as session:  # an arrival through the campaign, of a person the school knew
        day = session.scalars(select(CampaignDay)).one()
    assert (day.org_id, day.touches, day.new_contacts) == (orgs.a.id, 1, 0)


def test_a_chat_after_the_form_joins_the_forms_lead(client: TestClient, database: Database, orgs: TwoOrgs,
                                                   form: FormFixture) -> None:
    assert post(client, form.public_id, PARENT, attribution={"utm_campaign": "summer-math"}).status_code == 201
    form_lead, _ = only_lead(database, orgs.a.id)
    say(database, orgs.a.id, "我是王妈妈，电话 138-0013-8000，孩子在杭州")
    lead, values = only_lead(database, orgs.a.id)
    assert lead.id == form_lead.id and lead.source_channel == "form" and lead.campaign == "summer-math"
    assert values["city"].value == "杭州市"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def test_a_filled_honeypot_is_answered_as_accepted_and_stores_nothing(
        client: TestClient, database: Database, orgs: TwoOrgs, form: FormFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(intake, "log", recorder)
    resp = post(client, form.public_id, PARENT, website="http://spam.example")
    assert resp.status_code == 201
    assert counts(database, orgs.a.id) == (0, 0, 0, 0)
    assert resp.json() == post(client, form.public_id, PARENT).json()  # what a real submission is answered
    assert [e for e, _ in recorder.events] == ["lead_form_honeypot", "lead_form_submitted"]
    assert recorder.events[0][1]["form"] == form.public_id and "testclient" not in str(recorder.events[0][1])


def test_the_same_key_twice_gets_the_first_answer_and_changes_nothing(
        client: TestClient, database: Database, orgs: TwoOrgs, form: FormFixture) -> None:
    first = post(client, form.public_id, PARENT, key="render-key-0001")
    again = post(client, form.public_id, {**PARENT, "grade": "五年级", "phone": "13900139000"}, key="render-key-0001")
    assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()
    _, values = only_lead(database, orgs.a.id)
    assert values["grade"].value == "三年级" and values["phone"].value == "13800138000"
    assert counts(database, orgs.a.id)[:3] == (1, 1, 1)


def test_the_same_phone_within_minutes_is_one_submission_later_a_new_one(
        client: TestClient, database: Database, orgs: TwoOrgs, form: FormFixture) -> None:
    assert post(client, form.public_id, PARENT, attribution={"utm_source": "baidu"}).status_code == 201
    assert post(client, form.public_id, {"name": "王妈妈", "phone": "13800138000", "grade": "四年级"},
                attribution={"utm_campaign": "later"}).status_code == 201
    with database.session() as session:
        sub = session.scalars(select(LeadFormSubmission)).one()
        assert sub.values["grade"] == "四年级" and sub.values["subject"] == ["数学", "英语"]
        assert sub.attribution == {"utm_source": "baidu", "utm_campaign": "later"}
        session.execute(update(LeadFormSubmission).values(
            created_at=sub.created_at - intake.DEDUPE_WINDOW - dt.timedelta(seconds=1)))
        session.commit()
    _, values = only_lead(database, orgs.a.id)
    assert values["grade"].value == "四年级"  # the parent's correction reached the card
    assert post(client, form.public_id, PARENT).status_code == 201
    assert counts(database, orgs.a.id)[:2] == (2, 1)


# The refusals of each kind in one test per database (each stores nothing, so they share one app, org and form).
BAD_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "王妈妈", "phone": "1380013800"}, "bad_phone", "phone"),
    ({"name": "王妈妈", "phone": "我的电话"}, "bad_phone", "phone"),
    ({"name": "王妈妈"}, "required", "phone"),
    ({"phone": "13800138000", "grade": "三年级"}, "required", "name"),
    ({"name": "  ", "phone": "13800138000"}, "required", "name"),
    ({"name": "王妈妈", "phone": "13800138000", "grade": "研究生"}, "bad_option", "grade"),
]


def test_bad_values_are_refused_beside_their_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                                   form: FormFixture) -> None:
    for fields, code, field in BAD_VALUES:
        resp = post(client, form.public_id, fields)
        assert resp.status_code == 422, (fields, resp.text)
        error = resp.json()["error"]
        assert (error["code"], error["field"]) == (code, field) and error["message"], fields
        assert resp.headers["access-control-allow-origin"] == SITE  # the form can read why and show it
        assert counts(database, orgs.a.id) == (0, 0, 0, 0), fields


HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


MALFORMED: list[tuple[dict[str, Any], int, str]] = [
    (body({"name": "王" * 501, "phone": "13800138000"}), 422, "invalid_request"),
    (body({f"f{i}": "x" for i in range(61)} | {"phone": "13800138000"}), 422, "invalid_request"),
    (body({"name": "王", "phone": "13800138000"}, nickname="x"), 422, "invalid_request"),
    (body({"name": "王\x00", "phone": "13800138000"}), 422, "invalid_text"),
    (body({"name": "王", "phone": "13800138000"}, key="../../etc/passwd"), 422, "invalid_request"),
    (body({"name": "王", "phone": "13800138000"}, page_url="https://x.example/" + "a" * 1000), 422,
     "invalid_request"),
    (body({"name": "王", "phone": "13800138000"}, attribution={"utm_campaign": "c", "evil": "1"}), 422,
     "invalid_request"),
    (body({"Name": "王", "phone": "13800138000"}), 422, "invalid_request"),
]


def test_malformed_and_oversized_bodies_store_nothing(client: TestClient, database: Database, orgs: TwoOrgs,
                                                      form: FormFixture) -> None:
    for payload, status, code in MALFORMED:
        resp = client.post(f"/api/v1/forms/{form.public_id}/submissions", json=payload, headers={"origin": SITE})
        assert resp.status_code == status and resp.json()["error"]["code"] == code, resp.text
        assert counts(database, orgs.a.id) == (0, 0, 0, 0), str(payload)[:80]


def test_a_huge_body_is_refused_before_it_is_read(client: TestClient, database: Database, orgs: TwoOrgs,
                                                  form: FormFixture) -> None:
    huge = b'{"idempotency_key": "k0000000", "fields": {"name": "' + b"a" * (3 * 1024 * 1024) + b'"}}'
    resp = client.post(f"/api/v1/forms/{form.public_id}/submissions", content=huge,
                       headers={"origin": SITE, "content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
    assert counts(database, orgs.a.id) == (0, 0, 0, 0)


def test_hostile_text_is_stored_as_text_and_escaped_on_every_page(
        client: TestClient, database: Database, orgs: TwoOrgs, form: FormFixture) -> None:
    say(database, orgs.a.id, "我电话13800138000")  # a chat, so the console shows the card
    assert post(client, form.public_id, {"name": HOSTILE, "phone": "13800138000", "subject": HOSTILE[:40]},
                attribution={"utm_campaign": HOSTILE}).status_code == 201
    lead, values = only_lead(database, orgs.a.id)
    assert values["name"].value == HOSTILE and lead.campaign == HOSTILE
    login(client, "alpha", "admin")
    with database.session() as session:
        conv_id = session.scalars(select(Conversation.id).where(Conversation.org_id == orgs.a.id)).one()
    pages = [client.get(f"/admin/forms/{form.id}/submissions").text, client.get("/leads").text,
             client.get(f"/console/c/{conv_id}/lead", headers={"hx-request": "true"}).text]
    for html in pages:
        assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0] and "&lt;script&gt;alert(1)" in pages[2]

"""The admin pages: admins build forms, supervisors look, agents read submissions with numbers masked."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.leadforms.models import LeadForm, LeadFormSubmission
from tests.conftest import TwoOrgs, login
from tests.leadforms.conftest import make_form, post

BUILDER = {"name": "抖音暑期班", "title": "0 元领取试听课", "intro": "留下电话，老师 24 小时内联系您",
           "submit_text": "立即领取", "success_message": "领取成功", "allowed_origins": "https://www.school-a.example",
           "enabled": "1",
           "field_keys": ["name", "phone", "grade", "wechat"], "use_name": "1", "required_name": "1",
           "label_name": "家长称呼", "order_name": "10", "order_phone": "20", "use_grade": "1", "order_grade": "5"}


def test_an_admin_builds_a_form_and_gets_its_embed_code(client: TestClient, database: Database,
                                                        orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/forms/new")
    assert page.status_code == 200 and 'name="field_keys" value="phone"' in page.text
    resp = client.post("/admin/forms/new", data={**BUILDER, "csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with database.session() as session:
        form = session.scalars(select(LeadForm)).one()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "lead_form.create")).one()
    assert (form.org_id, form.name, form.title) == (orgs.a.id, "抖音暑期班", "0 元领取试听课")
    assert form.submit_text == "立即领取"
    assert form.fields == [{"key": "grade", "label": "", "required": False},
                           {"key": "name", "label": "家长称呼", "required": True},
                           {"key": "phone", "label": "", "required": True}]
    assert form.allowed_origins == ["https://www.school-a.example"] and form.enabled and audit.target_id == str(form.id)
    edit = client.get(resp.headers["location"])
    embed = html.unescape(edit.text.split('id="embed-code"', 1)[1].split("</textarea>", 1)[0])
    assert embed.endswith(f'<div data-edudesk-form="{form.public_id}"></div>\n'
                          f'<script src="http://127.0.0.1:8000/f/{form.public_id}.js" async></script>')
    assert "表单已创建" in edit.text
    listing = client.get("/admin/forms")
    assert "抖音暑期班" in listing.text and f"/f/{form.public_id}" in listing.text


def test_a_refused_form_is_shown_again_with_the_reason_beside_the_input(client: TestClient, database: Database,
                                                                         orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post("/admin/forms/new", data={**BUILDER, "allowed_origins": "ftp://bad.example",
                                                 "csrf_token": csrf})
    assert resp.status_code == 422 and 'id="err-allowed_origins"' in resp.text
    assert 'value="抖音暑期班"' in resp.text and 'value="家长称呼"' in resp.text  # what was typed is kept
    resp = client.post("/admin/forms/new", data={**BUILDER, "order_name": "x", "csrf_token": csrf})
    assert resp.status_code == 422 and "排序须为" in resp.text
    stale = client.post("/admin/forms/new", data={**BUILDER, "csrf_token": "stale"})
    assert stale.status_code == 400
    make_form(database, orgs.a.id, name="抖音暑期班")
    duplicate = client.post("/admin/forms/new", data={**BUILDER, "csrf_token": csrf})
    assert duplicate.status_code == 422 and 'id="err-name"' in duplicate.text
    with database.session() as session:
        assert len(session.scalars(select(LeadForm)).all()) == 1


def test_an_admin_edits_switches_off_and_deletes(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    saved = client.post(f"/admin/forms/{form.id}", data={**BUILDER, "enabled": "", "csrf_token": csrf})
    assert saved.status_code == 200 and "已保存" in saved.text
    with database.session() as session:
        row = session.get(LeadForm, form.id)
        assert row is not None and not row.enabled and row.name == "抖音暑期班"
    assert client.get(f"/f/{form.public_id}.js").status_code == 404
    gone = client.post(f"/admin/forms/{form.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    with database.session() as session:
        assert session.get(LeadForm, form.id) is None


def test_supervisors_look_and_agents_only_read_masked_submissions(client: TestClient, database: Database,
                                                                   orgs: TwoOrgs) -> None:
    form = make_form(database, orgs.a.id)
    assert post(client, form.public_id, {"name": "王妈妈", "phone": "13800138000"},
                attribution={"utm_source": "douyin", "clickid": "c1"}).status_code == 201
    csrf = login(client, "alpha", "supervisor")
    looked = client.get(f"/admin/forms/{form.id}")
    assert looked.status_code == 200 and "disabled" in looked.text
    assert 'type="submit" class="primary"' not in looked.text
    assert client.post(f"/admin/forms/{form.id}", data={**BUILDER, "csrf_token": csrf}).status_code == 403
    assert client.get("/admin/forms/new").status_code == 403
    full = client.get(f"/admin/forms/{form.id}/submissions")
    assert full.status_code == 200 and "13800138000" in full.text and "utm_source=douyin" in full.text
    assert "clickid" in full.text
    with database.session() as session:
        seen = session.scalars(select(AuditEntry).where(AuditEntry.action == "phone.view")).all()
        contact_id = session.scalars(select(LeadFormSubmission.contact_id)).one()
    assert [e.detail["where"] for e in seen] == ["leadforms.submissions"] and seen[0].detail["contact_ids"] == [
        contact_id]
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "alpha", "agent")
    masked = client.get(f"/admin/forms/{form.id}/submissions")
    assert masked.status_code == 200 and "138****8000" in masked.text and "13800138000" not in masked.text
    assert client.get(f"/admin/forms/{form.id}").status_code == 403
    assert client.get("/admin/forms").status_code == 403

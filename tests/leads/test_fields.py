"""The lead card's fields: adding the org's own, editing, switching off and on without losing values, audited;
and the admin page (admins only, CSRF, errors beside the input, hostile text escaped)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.contacts.models import Contact
from edudesk.db import Database, NotFoundError
from edudesk.leads import field_rules, fields
from edudesk.leads import service as leads_service
from edudesk.leads.models import FieldType, LeadFieldDef, ValueSource
from tests.conftest import TwoOrgs, login
from tests.leads.test_service import say

XSS = "<script>alert(1)</script>"


def actor(org_id: int) -> Actor:
    return Actor(org_id, user_id=None, label="test")


def create(database: Database, org_id: int, **kw: str) -> LeadFieldDef:
    data = {"label": "学历", "key": "education", "type": "single", "options": "大专\n本科\n", "position": ""} | kw
    with database.session() as session:
        d = fields.create_field(session, actor(org_id), fields.FieldInput(**data))
        session.commit()
        return d


def defs(database: Database, org_id: int) -> dict[str, LeadFieldDef]:
    with database.session() as session:
        out = {d.key: d for d in leads_service.field_defs(session, org_id)}
        session.commit()
        return out


def test_a_custom_field_is_added_after_the_last_one_and_audited(database: Database, orgs: TwoOrgs) -> None:
    d = create(database, orgs.a.id, label="  学 历 ", key=" Education ")
    assert (d.key, d.label, d.type, d.options, d.builtin, d.enabled) == (
        "education", "学 历", FieldType.single, ["大专", "本科"], False, True)
    all_defs = defs(database, orgs.a.id)
    assert d.position == max(x.position for x in all_defs.values() if x.key != "education") + 1
    assert "education" not in defs(database, orgs.b.id)  # the other org's card is its own
    placed = create(database, orgs.a.id, label="来源活动", key="campaign", type="text", options="", position="0")
    assert placed.position == 0
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "lead_field.create")
                                .order_by(AuditEntry.id)).first()
        assert entry is not None and entry.detail["key"] == "education" and entry.detail["options"] == ["大专", "本科"]


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"key": "phone"}, "duplicate", "key"),  # a built-in key
    ({"key": "1st"}, "bad_key", "key"),
    ({"key": "a-b"}, "bad_key", "key"),
    ({"key": "学历"}, "bad_key", "key"),
    ({"key": ""}, "bad_key", "key"),
    ({"key": "x" * 41}, "bad_key", "key"),
    ({"label": "  "}, "bad_label", "label"),
    ({"label": "长" * 41}, "bad_label", "label"),
    ({"label": "手机号"}, "duplicate_label", "label"),  # a built-in's label
    ({"type": "bool"}, "bad_type", "type"),
    ({"type": "single", "options": "\n \n"}, "options_required", "options"),
    ({"type": "multi", "options": ""}, "options_required", "options"),
    ({"type": "text", "options": "甲"}, "options_not_allowed", "options"),
    ({"options": "本科\n本科"}, "duplicate_option", "options"),
    ({"options": "长" * 41}, "bad_option", "options"),
    ({"options": "\n".join(str(i) for i in range(51))}, "too_many_options", "options"),
    ({"position": "abc"}, "bad_position", "position"),
    ({"position": "-1"}, "bad_position", "position"),
    ({"position": "1000"}, "bad_position", "position"),
])
def test_bad_definitions_are_refused(database: Database, orgs: TwoOrgs, change: dict[str, str], code: str,
                                     field: str) -> None:
    with pytest.raises(field_rules.FieldError) as err:
        create(database, orgs.a.id, **change)
    assert (err.value.code, err.value.field) == (code, field)
    assert "education" not in defs(database, orgs.a.id)


def test_a_duplicate_key_is_refused(database: Database, orgs: TwoOrgs) -> None:
    create(database, orgs.a.id)
    with pytest.raises(field_rules.FieldError) as err:
        create(database, orgs.a.id, label="最高学历")
    assert err.value.code == "duplicate"
    create(database, orgs.b.id)  # another org may use the same key


def test_editing_changes_label_options_and_order_but_not_key_or_type(database: Database, orgs: TwoOrgs) -> None:
    d = create(database, orgs.a.id)
    with database.session() as session:
        fields.update_field(session, actor(orgs.a.id), d.id, fields.FieldInput(
            label="最高学历", options="高中\n大专\n本科\n硕士", position="3", key="other", type="text"))
        session.commit()
    after = defs(database, orgs.a.id)["education"]
    assert (after.label, after.options, after.position, after.type) == (
        "最高学历", ["高中", "大专", "本科", "硕士"], 3, FieldType.single)
    with database.session() as session:
        with pytest.raises(field_rules.FieldError) as err:
            fields.update_field(session, actor(orgs.a.id), d.id, fields.FieldInput(label="最高学历", options=""))
        assert err.value.code == "options_required"
        with pytest.raises(field_rules.FieldError) as err:
            fields.update_field(session, actor(orgs.a.id), d.id, fields.FieldInput(label="年级", options="本科"))
        assert err.value.code == "duplicate_label"
        # Unchanged: no audit entry. A built-in select may have no options (意向校区 takes what parents say).
        fields.update_field(session, actor(orgs.a.id), d.id, fields.FieldInput(
            label="最高学历", options="高中\n大专\n本科\n硕士", position="3"))
        campus = defs(database, orgs.a.id)["campus"]
        fields.update_field(session, actor(orgs.a.id), campus.id, fields.FieldInput(label="校区", options=""))
        fields.update_field(session, actor(orgs.a.id), campus.id, fields.FieldInput(
            label="校区", options="西湖校区\n滨江校区"))
        with pytest.raises(field_rules.FieldError):
            fields.update_field(session, actor(orgs.a.id), defs(database, orgs.a.id)["name"].id,
                                fields.FieldInput(label="称呼", options="王"))
        session.commit()
        updates = session.scalars(select(AuditEntry).where(AuditEntry.action == "lead_field.update")
                                  .order_by(AuditEntry.id)).all()
    assert len(updates) == 3
    assert updates[0].detail["changed"]["label"] == {"from": "学历", "to": "最高学历"}
    assert defs(database, orgs.a.id)["campus"].options == ["西湖校区", "滨江校区"]


def test_switching_off_hides_the_field_and_keeps_its_values(database: Database, orgs: TwoOrgs) -> None:
    say(database, orgs.a.id, "孩子三年级，电话 13800138000", 1)
    grade = defs(database, orgs.a.id)["grade"]
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == orgs.a.id)).one()
        fields.set_enabled(session, actor(orgs.a.id), grade.id, False)
        session.commit()
        card = leads_service.card(session, orgs.a.id, contact.id, show_phone=True) or []
        assert "grade" not in {f.key for f in card}
        assert leads_service.known_values(session, orgs.a.id, contact.id)["grade"] == "三年级"
        rows = {r.field.key: r for r in fields.list_fields(session, orgs.a.id)}
        assert rows["grade"].values == 1 and not rows["grade"].field.enabled
        fields.set_enabled(session, actor(orgs.a.id), grade.id, True)
        session.commit()
        card = leads_service.card(session, orgs.a.id, contact.id, show_phone=True) or []
        assert {f.key: f.value for f in card}["grade"] == "三年级"
        actions = [a.action for a in session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("lead_field.%")).order_by(AuditEntry.id))]
    assert actions == ["lead_field.disable", "lead_field.enable"]


def test_contact_fields_stay_on_and_other_orgs_fields_are_out_of_reach(database: Database, orgs: TwoOrgs) -> None:
    phone, wechat = defs(database, orgs.a.id)["phone"], defs(database, orgs.a.id)["wechat"]
    with database.session() as session:
        for d in (phone, wechat):
            with pytest.raises(field_rules.FieldError) as err:
                fields.set_enabled(session, actor(orgs.a.id), d.id, False)
            assert err.value.code == "always_enabled"
        with pytest.raises(NotFoundError):
            fields.set_enabled(session, actor(orgs.b.id), phone.id, True)
        with pytest.raises(NotFoundError):
            fields.update_field(session, actor(orgs.b.id), phone.id, fields.FieldInput(label="劫持"))


def test_a_custom_field_shows_on_the_card(database: Database, orgs: TwoOrgs) -> None:
    create(database, orgs.a.id)
    say(database, orgs.a.id, "电话 13800138000", 1)
    with database.session() as session:
        contact = session.scalars(select(Contact).where(Contact.org_id == orgs.a.id)).one()
        leads_service.record_values(session, contact, [("education", "本科", "")], source=ValueSource.agent,
                                    channel="web", conversation_id=None, message_id=None)
        session.commit()
        card = {f.key: f.value for f in leads_service.card(session, orgs.a.id, contact.id, show_phone=True) or []}
    assert card["education"] == "本科"


# --- the admin page -------------------------------------------------------------------------------------------------

def test_only_admins_manage_fields(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    for role in ("agent", "supervisor"):
        client.cookies.clear()
        csrf = login(client, "alpha", role)
        assert client.get("/admin/lead-fields").status_code == 403
        resp = client.post("/admin/lead-fields", data={"label": "学历", "key": "education", "type": "text",
                                                        "csrf_token": csrf})
        assert resp.status_code == 403
    assert "education" not in defs(database, orgs.a.id)


def test_admin_adds_edits_and_switches_fields(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/lead-fields")
    assert page.status_code == 200 and "手机号" in page.text and "<code>grade</code>" in page.text
    form = {"label": "学历" + XSS, "key": "education", "type": "single", "options": "大专\n本科" + XSS,
            "position": ""}
    assert client.post("/admin/lead-fields", data=form).status_code == 400  # no CSRF token
    assert "education" not in defs(database, orgs.a.id)
    resp = client.post("/admin/lead-fields", data={**form, "csrf_token": csrf})
    assert resp.status_code == 200 and "已添加字段" in resp.text
    assert XSS not in resp.text and "学历&lt;script&gt;" in resp.text
    d = defs(database, orgs.a.id)["education"]
    assert d.options == ["大专", "本科" + XSS]
    # Errors beside the input, with what was typed kept.
    again = client.post("/admin/lead-fields", data={**form, "label": "另一个", "csrf_token": csrf})
    assert again.status_code == 422 and 'id="err-key"' in again.text and "已存在" in again.text
    assert 'value="另一个"' in again.text
    empty = client.post("/admin/lead-fields", data={"label": "意向班型", "key": "klass", "type": "single",
                                                    "options": "", "csrf_token": csrf})
    assert empty.status_code == 422 and 'id="err-options"' in empty.text and "至少需要一个选项" in empty.text
    bad_type = client.post("/admin/lead-fields", data={"label": "x", "key": "x1", "type": "<b>",
                                                       "csrf_token": csrf})
    assert bad_type.status_code == 422 and 'id="err-type"' in bad_type.text
    # Edit.
    edit = client.get(f"/admin/lead-fields/{d.id}")
    assert edit.status_code == 200 and XSS not in edit.text and "<code>education</code>" in edit.text
    assert client.post(f"/admin/lead-fields/{d.id}", data={"label": "学历"}).status_code == 400
    saved = client.post(f"/admin/lead-fields/{d.id}", data={"label": "学历", "options": "本科\n硕士",
                                                           "position": "2", "csrf_token": csrf})
    assert saved.status_code == 200 and "已保存" in saved.text
    after = defs(database, orgs.a.id)["education"]
    assert (after.label, after.options, after.position) == ("学历", ["本科", "硕士"], 2)
    refused = client.post(f"/admin/lead-fields/{d.id}", data={"label": "", "options": "本科",
                                                             "position": "2", "csrf_token": csrf})
    assert refused.status_code == 422 and 'id="err-label"' in refused.text
    # Switch off and on; the phone stays on.
    off = client.post(f"/admin/lead-fields/{d.id}/enabled", data={"enabled": "0", "csrf_token": csrf})
    assert off.status_code == 200 and "已停用：学历" in off.text
    assert not defs(database, orgs.a.id)["education"].enabled
    on = client.post(f"/admin/lead-fields/{d.id}/enabled", data={"enabled": "1", "csrf_token": csrf})
    assert on.status_code == 200 and defs(database, orgs.a.id)["education"].enabled
    phone = defs(database, orgs.a.id)["phone"]
    kept = client.post(f"/admin/lead-fields/{phone.id}/enabled", data={"enabled": "0", "csrf_token": csrf})
    assert kept.status_code == 422 and "不能停用" in kept.text and defs(database, orgs.a.id)["phone"].enabled
    assert client.post(f"/admin/lead-fields/{d.id}/enabled",
                       data={"enabled": "x", "csrf_token": csrf}).status_code == 422
    with database.session() as session:
        who = {a.actor_user_id for a in session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("lead_field.%")))}
    assert who == {orgs.a.users["admin"].id}


def test_the_page_is_english_on_request(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    client.cookies.set("edudesk_lang", "en")
    login(client, "alpha", "admin")
    page = client.get("/admin/lead-fields").text
    assert "Add a field" in page and "添加字段" not in page

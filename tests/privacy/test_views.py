"""The admin's privacy pages: retention settings, and one contact's export and erasure, admin only, with CSRF."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.privacy import retention
from edudesk.privacy.models import RetentionPolicy
from edudesk.settings import Settings
from tests.conftest import TwoOrgs, login
from tests.privacy.factories import Person, seed_person


@pytest.fixture
def pair(database: Database, orgs: TwoOrgs, settings: Settings) -> tuple[Person, Person]:
    up = settings.upload_dir
    return (seed_person(database, orgs.a.id, up, visitor="t", phone="13912345678", name="张", secret="张家的秘密"),
            seed_person(database, orgs.a.id, up, visitor="n", phone="13800001111", name="李", secret="李家的秘密"))


def _audit(database: Database, action: str) -> list[AuditEntry]:
    with database.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_only_admins_export_or_erase(client: TestClient, orgs: TwoOrgs, database: Database, role: str,
                                     pair: tuple[Person, Person]) -> None:
    target, _ = pair
    csrf = login(client, "alpha", role)
    base = f"/admin/privacy/contacts/{target.contact_id}"
    assert client.get("/admin/privacy").status_code == 403
    assert client.get(base).status_code == 403
    assert client.post(f"{base}/export", data={"csrf_token": csrf}).status_code == 403
    resp = client.post(f"{base}/erase", data={"csrf_token": csrf, "confirm": str(target.contact_id)})
    assert resp.status_code == 403
    assert client.post("/admin/privacy/retention", data={"csrf_token": csrf, "leads_days": "7"}).status_code == 403
    assert target.file.exists()
    assert not _audit(database, "privacy.export") and not _audit(database, "privacy.erase")


def test_export_is_a_zip_of_the_person_and_nobody_else(client: TestClient, orgs: TwoOrgs, database: Database,
                                                       pair: tuple[Person, Person]) -> None:
    target, neighbour = pair
    csrf = login(client, "alpha", "admin")
    page = client.get(f"/admin/privacy/contacts/{target.contact_id}")
    assert page.status_code == 200 and "导出个人信息" in page.text and "删除个人信息" in page.text
    assert "13912345678" not in page.text, "the confirmation page names the person with a masked number"
    assert client.post(f"/admin/privacy/contacts/{target.contact_id}/export", data={}).status_code == 400

    resp = client.post(f"/admin/privacy/contacts/{target.contact_id}/export", data={"csrf_token": csrf})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert resp.headers["cache-control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = zf.namelist()
        data = json.loads(zf.read("data.json"))
        everything = zf.read("data.json").decode() + "".join(names)
        attachment = [n for n in names if n.startswith("attachments/")]
        assert len(attachment) == 1 and zf.read(attachment[0]) == target.file.read_bytes()
    assert data["contact"]["id"] == target.contact_id
    assert data["contact"]["identities"] == [{"channel": "web", "external_id": "t",
                                              "created_at": data["contact"]["identities"][0]["created_at"]}]
    assert target.secret in everything and "13912345678" in everything
    assert data["lead"]["lead_id"] == target.lead_id and data["lead"]["fields"]["phone"]["evidence"]
    assert [t["id"] for t in data["tickets"]] == [target.ticket_id]
    assert data["tickets"][0]["comments"], "ticket texts are the person's data too"
    assert [b["booking"]["id"] for b in data["trial_bookings"]] == [target.booking_id]
    assert data["unanswered_questions"] and data["lead"]["notes"]
    assert neighbour.secret not in everything and "13800001111" not in everything
    entries = _audit(database, "privacy.export")
    assert len(entries) == 1 and entries[0].target_id == str(target.contact_id)
    assert target.secret not in json.dumps(entries[0].detail, ensure_ascii=False), "counts only, never the data"


def test_erase_needs_the_typed_number_and_csrf(client: TestClient, orgs: TwoOrgs, database: Database,
                                              pair: tuple[Person, Person]) -> None:
    target, neighbour = pair
    csrf = login(client, "alpha", "admin")
    url = f"/admin/privacy/contacts/{target.contact_id}/erase"
    assert client.post(url, data={"confirm": str(target.contact_id)}).status_code == 400
    wrong = client.post(url, data={"csrf_token": csrf, "confirm": str(neighbour.contact_id)})
    assert wrong.status_code == 422 and "请在确认框中输入联系人编号" in wrong.text
    assert target.file.exists()

    done = client.post(url, data={"csrf_token": csrf, "confirm": f"#{target.contact_id}"})
    assert done.status_code == 200 and "已删除联系人" in done.text
    assert not target.file.exists() and neighbour.file.exists()
    with database.session() as session:
        contact = session.get(Contact, target.contact_id)
        assert contact is not None and contact.erased_at is not None
    entry = _audit(database, "privacy.erase")[0]
    assert entry.actor_user_id == orgs.a.users["admin"].id and entry.target_id == str(target.contact_id)


def test_another_orgs_admin_finds_nothing(client: TestClient, orgs: TwoOrgs, database: Database,
                                          pair: tuple[Person, Person]) -> None:
    target, _ = pair
    csrf = login(client, "beta", "admin")
    base = f"/admin/privacy/contacts/{target.contact_id}"
    assert client.get(base).status_code == 404
    assert client.post(f"{base}/export", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"{base}/erase", data={"csrf_token": csrf, "confirm": str(target.contact_id)}
                       ).status_code == 404
    assert target.file.exists()
    assert client.get(f"/admin/privacy/contacts/{2**63}").status_code == 422
    assert client.get("/admin/privacy/contacts?contact=abc").status_code == 422


def test_retention_form(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get("/admin/privacy")
    assert page.status_code == 200 and "当前使用默认期限" in page.text and 'value="365"' in page.text
    bad = client.post("/admin/privacy/retention", data={
        "csrf_token": csrf, "conversations_days": "3", "attachments_days": "<script>", "recordings_days": "",
        "leads_days": "99999999999999999999"})
    assert bad.status_code == 422 and "<script>" not in bad.text.replace('value="&lt;script&gt;"', "")
    with database.session() as session:
        assert session.scalars(select(RetentionPolicy)).first() is None, "nothing stored from a bad form"
    good = client.post("/admin/privacy/retention", data={
        "csrf_token": csrf, "conversations_days": "30", "attachments_days": "14", "recordings_days": "",
        "recordings_forever": "1", "leads_days": "90"})
    assert good.status_code == 200 and "已保存" in good.text
    with database.session() as session:
        assert retention.policy(session, orgs.a.id).days == {"conversations": 30, "attachments": 14,
                                                             "recordings": None, "leads": 90}
        assert retention.policy(session, orgs.b.id).days == retention.DEFAULTS
    entry = _audit(database, "privacy.retention")[0]
    assert entry.detail["after"]["recordings"] is None and entry.detail["before"]["conversations"] == 365

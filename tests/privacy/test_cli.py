"""``edudesk privacy export|erase``: the zip, the erasure, and one line on stderr with a non-zero exit on error."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from edudesk import cli
from edudesk.audit.models import AuditEntry
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.voice import service as voice_service
from edudesk.voice.models import CallState, CallTurn, Speaker
from tests.conftest import TwoOrgs
from tests.privacy.factories import seed_person


def privacy(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["privacy", *args, "--database-url", db_url])


def one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code != 0, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edudesk: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_export_and_erase(database: Database, db_url: str, orgs: TwoOrgs, settings: Settings, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDUDESK_DATA_DIR", str(settings.data_dir))
    person = seed_person(database, orgs.a.id, settings.upload_dir, visitor="c", phone="13912345678", name="张",
                         secret="命令行的秘密")
    # A call to the same person: areas above privacy (voice) are in the CLI's export and erasure as in the app's.
    with database.session() as session:
        call = voice_service.place_call(session, voice_service.CallRequest(
            org_id=orgs.a.id, phone_e164="+8613912345678", line_id=None, contact_id=person.contact_id))
        voice_service.add_turn(session, call, Speaker.customer, "电话里的秘密", start_ms=0, end_ms=1)
        voice_service.end_call(session, call, CallState.completed, outcome=None)
        session.commit()
    out = tmp_path / "张家.zip"
    result = privacy(db_url, "export", str(out), "--org", "alpha", "--contact", str(person.contact_id))
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    with zipfile.ZipFile(out) as zf:
        data = json.loads(zf.read("data.json"))
        assert any(n.startswith("attachments/") for n in zf.namelist())
    assert data["contact"]["phone"] == "13912345678"
    assert "电话里的秘密" in json.dumps(data, ensure_ascii=False)

    one_line_error(privacy(db_url, "erase", "--org", "alpha", "--contact", str(person.contact_id)), "--yes")
    assert person.file.exists()
    result = privacy(db_url, "erase", "--org", "alpha", "--contact", str(person.contact_id), "--yes")
    assert result.exit_code == 0 and "已删除联系人" in result.stdout, result.stderr
    assert not person.file.exists()
    with database.session() as session:
        contact = session.get(Contact, person.contact_id)
        assert contact is not None and contact.erased_at is not None
        assert "电话里的秘密" not in [t.text for t in session.scalars(select(CallTurn))]
        actions = [(e.action, e.actor_label) for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["privacy.export", "privacy.erase"])).order_by(AuditEntry.id))]
    assert actions == [("privacy.export", "cli"), ("privacy.erase", "cli")]


def test_errors_are_one_line(database: Database, db_url: str, orgs: TwoOrgs, settings: Settings, tmp_path: Path
                             ) -> None:
    person = seed_person(database, orgs.b.id, settings.upload_dir, visitor="c", phone="13912345678", name="张",
                         secret="乙")
    one_line_error(privacy(db_url, "export", str(tmp_path / "x.zip"), "--org", "nope", "--contact", "1"), "nope")
    one_line_error(privacy(db_url, "export", str(tmp_path / "x.zip"), "--org", "alpha", "--contact",
                           str(person.contact_id)), "Contact")
    one_line_error(privacy(db_url, "erase", "--org", "alpha", "--contact", str(person.contact_id), "--yes"),
                   "Contact")
    one_line_error(privacy(db_url, "export", str(tmp_path / "missing" / "x.zip"), "--org", "alpha", "--contact",
                           "1"), "目录不存在")
    assert not (tmp_path / "x.zip").exists()
    bad = privacy(db_url, "erase", "--org", "alpha", "--contact", str(2**63), "--yes")
    assert bad.exit_code != 0 and "Traceback" not in bad.stderr
    assert person.file.exists()

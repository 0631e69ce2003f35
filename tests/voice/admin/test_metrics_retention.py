"""Metrics on a seeded set of calls (every additive figure's rows sum to the total), and the recordings'
retention job (only recordings past the org's own retention go, audited as a system deletion)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from edudesk import jobs
from edudesk.audit.models import AuditEntry
from edudesk.audit.service import Actor
from edudesk.contacts.models import Contact
from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.voice import jobs as voice_jobs
from edudesk.voice import metrics, org_settings, recordings
from edudesk.voice import service as voice_service
from edudesk.voice.models import Call, CallMode, CallOutcome, CallState, CallTurn, Speaker
from edudesk.voice.privacy_holder import CallsHolder
from tests.conftest import TwoOrgs
from tests.voice.admin.helpers import make_call, wav

# Local days (Asia/Shanghai): 16:30 UTC on the 1st is 00:30 on the 2nd.
D1 = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)  # 2026-11-01 10:00 local
D2 = dt.datetime(2026, 11, 1, 16, 30, tzinfo=dt.UTC)  # 2026-11-02 00:30 local
ADDITIVE = ("placed", "connected", "talk_seconds", "interested", "callbacks", "transfers")


def seed_calls(database: Database, orgs: TwoOrgs) -> None:
    with database.session() as s:
        a = orgs.a.id
        make_call(s, a, "+8613800000001", created=D1, outcome=CallOutcome.interested, talk=30, campaign_id=7)
        make_call(
            s,
            a,
            "+8613800000002",
            created=D1,
            state=CallState.no_answer,
            outcome=CallOutcome.no_answer,
            answered=False,
            campaign_id=7,
        )
        make_call(
            s,
            a,
            "+8613800000003",
            created=D1,
            outcome=CallOutcome.callback,
            talk=12.5,
            campaign_id=8,
            transferred=True,
            mode=CallMode.agent,
        )
        # The same number reached again the next day: two connected calls, one lead in the total.
        make_call(s, a, "+8613800000001", created=D2, outcome=CallOutcome.refused, talk=7.5, campaign_id=7)
        make_call(s, a, "+8613800000004", created=D2, state=CallState.busy, outcome=CallOutcome.busy, answered=False)
        # Neither placed: canceled before dialling, and still queued.
        make_call(s, a, "+8613800000005", created=D2, state=CallState.canceled, outcome=None, answered=False)
        make_call(s, a, "+8613800000006", created=D2, state=CallState.queued, outcome=None, answered=False)
        # Another org's call on the same day never counts for org A.
        make_call(s, orgs.b.id, "+8613800000007", created=D1, outcome=CallOutcome.interested, talk=99)
        s.commit()


def test_metrics_by_campaign_and_day_add_up(database: Database, orgs: TwoOrgs) -> None:
    seed_calls(database, orgs)
    with database.session() as session:
        report = metrics.compute(session, orgs.a.id, dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    total = report.total
    assert total["placed"] == 5 and total["connected"] == 3 and total["connect_rate"] == 0.6
    assert total["talk_seconds"] == 50.0 and total["avg_talk_seconds"] == round(50 / 3, 1)
    assert total["leads_reached"] == 2 and total["interested"] == 1 and total["callbacks"] == 1
    assert total["transfers"] == 1
    assert total["outcomes"] == {
        "connected": 0,
        "no_answer": 1,
        "busy": 1,
        "wrong_number": 0,
        "refused": 1,
        "interested": 1,
        "callback": 1,
        "already_enrolled": 0,
        "failed": 0,
    }
    assert [r["campaign_id"] for r in report.campaigns] == [None, 7, 8]
    assert report.campaigns[0]["name"] == "手动外呼" and report.campaigns[1]["name"] == "任务 #7"
    assert [r["day"] for r in report.days] == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    for rows in (report.campaigns, report.days):
        for key in ADDITIVE:
            assert sum(r[key] for r in rows) == total[key], key
        for code in total["outcomes"]:
            assert sum(r["outcomes"][code] for r in rows) == total["outcomes"][code], code
        assert sum(r["leads_reached"] for r in rows) >= total["leads_reached"]
    assert sum(total["outcomes"].values()) == total["placed"]
    assert report.days[0]["leads_reached"] + report.days[1]["leads_reached"] == 3  # the number on both days
    with database.session() as session:
        only = metrics.compute(session, orgs.a.id, dt.date(2026, 11, 1), dt.date(2026, 11, 1), campaign_id=7)
        other = metrics.compute(session, orgs.b.id, dt.date(2026, 11, 2), dt.date(2026, 11, 2))
    assert only.total["placed"] == 2 and [r["campaign_id"] for r in only.campaigns] == [7]
    assert other.total["placed"] == 0 and other.campaigns == [] and other.total["connect_rate"] == 0.0


def _recorded(database: Database, settings: Settings, org_id: int, phone: str, ended: dt.datetime) -> int:
    with database.session() as s:
        call = make_call(s, org_id, phone, created=ended - dt.timedelta(minutes=2), ended=ended)
        recordings.save_recording(settings, call, wav())
        s.commit()
        return call.id


def test_retention_deletes_only_old_recordings_of_each_org(
    database: Database, orgs: TwoOrgs, settings: Settings
) -> None:
    now = dt.datetime(2026, 12, 7, 4, 0, tzinfo=dt.UTC)
    with database.session() as s:
        org_settings.save_settings(
            s, Actor(orgs.a.id, label="t"), record_calls=True, retention_days="30", robot_notice=""
        )
        s.commit()  # org B keeps the default, 90 days
    old_a = _recorded(database, settings, orgs.a.id, "+8613800000011", now - dt.timedelta(days=31))
    new_a = _recorded(database, settings, orgs.a.id, "+8613800000012", now - dt.timedelta(days=29))
    mid_b = _recorded(database, settings, orgs.b.id, "+8613800000013", now - dt.timedelta(days=31))
    with database.session() as s:
        paths = {c.id: settings.upload_dir / str(c.recording_key) for c in s.scalars(select(Call))}
    assert all(p.is_file() for p in paths.values())

    with database.session() as s:
        voice_jobs.schedule_job(s, {})
        s.commit()
        purges = s.scalars(select(jobs.Job).where(jobs.Job.kind == voice_jobs.PURGE_JOB)).all()
        assert sorted(j.org_id for j in purges) == sorted([orgs.a.id, orgs.b.id])
    with database.session() as s:
        assert voice_jobs.purge_org(s, settings, orgs.a.id, now=now) is True
        assert voice_jobs.purge_org(s, settings, orgs.b.id, now=now) is True
    with database.session() as s:
        keys = {c.id: c.recording_key for c in s.scalars(select(Call))}
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "voice.recordings_purge")).all()
    assert keys[old_a] is None and keys[new_a] is not None and keys[mid_b] is not None
    assert not paths[old_a].exists() and paths[new_a].is_file() and paths[mid_b].is_file()
    assert [(e.org_id, e.actor_label, e.detail["count"], e.detail["days"]) for e in entries] == [
        (orgs.a.id, "retention", 1, 30)
    ]


def test_recording_storage_refuses_bad_input(database: Database, orgs: TwoOrgs, settings: Settings) -> None:
    with database.session() as s:
        call = make_call(s, orgs.a.id, "+8613800000021", created=D1)
        for bad in (b"", b"not a wav", b"RIFF\x00\x00\x00\x00AVI "):
            try:
                recordings.save_recording(settings, call, bad)
            except recordings.RecordingError:
                continue
            raise AssertionError(f"accepted {bad!r}")
        key = recordings.save_recording(settings, call, wav())
        assert recordings.open_recording(settings, call).read_bytes()[:4] == b"RIFF"
        call.recording_key = "voice/1/202611/../../../secret_key"  # an altered key never becomes a path
        try:
            recordings.open_recording(settings, call)
            raise AssertionError("opened a path outside the recordings")
        except LookupError:
            pass
        call.recording_key = key
        assert recordings.delete_recording(settings, call) is True and call.recording_key is None
        assert not Path(settings.upload_dir / key).exists()


def test_a_persons_calls_in_export_and_erasure(database: Database, orgs: TwoOrgs, settings: Settings) -> None:
    with database.session() as s:
        contact = Contact(org_id=orgs.a.id, name="张家长")
        s.add(contact)
        s.flush()
        call = make_call(s, orgs.a.id, "+8613800000031", created=D1, outcome=CallOutcome.interested, talk=9)
        call.contact_id = contact.id
        voice_service.add_turn(s, call, Speaker.customer, "我家孩子三年级", start_ms=0, end_ms=900)
        recordings.save_recording(settings, call, wav())
        s.commit()
        contact_id, call_id, path = contact.id, call.id, settings.upload_dir / str(call.recording_key)
    holder = CallsHolder(settings.upload_dir)
    with database.session() as s:
        data, files = holder.export(s, orgs.a.id, contact_id)
        assert data[0]["phone"] == "+8613800000031" and data[0]["transcript"][0]["text"] == "我家孩子三年级"
        assert [p for _, p in files] == [path]
        assert holder.export(s, orgs.b.id, contact_id) == ([], [])
        batch = holder.erase(s, orgs.a.id, contact_id, dt.datetime.now(dt.UTC))
        s.commit()
    assert batch.count == 1 and batch.files == [path] and batch.detail["call_turns"] == 1
    with database.session() as s:
        erased = s.get(Call, call_id)
        assert erased is not None and erased.phone_e164 == "" and erased.recording_key is None
        assert erased.outcome == CallOutcome.interested  # still counted, anonymously
        assert s.scalars(select(CallTurn).where(CallTurn.call_id == call_id)).all() == []
        assert metrics.compute(s, orgs.a.id, D1.date(), D1.date()).total["placed"] == 1

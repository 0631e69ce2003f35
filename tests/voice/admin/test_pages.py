"""The voice admin pages as staff use them: who may see and change what, and what bad input gets."""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from edudesk.audit.models import AuditEntry
from edudesk.db import Database
from edudesk.settings import Settings
from edudesk.voice import lines, recordings
from edudesk.voice import service as voice_service
from edudesk.voice.models import Call, CallOutcome, CallState, DoNotCall, Speaker, VoiceLine, VoiceSettings
from tests.conftest import TwoOrgs, login
from tests.voice.admin.helpers import make_call, wav

PAGES = (
    "/admin/voice",
    "/admin/voice/metrics",
    "/admin/voice/lines",
    "/admin/voice/lines/new?kind=sip",
    "/admin/voice/settings",
    "/admin/voice/dnc",
    "/admin/voice/dnc/export?format=csv",
    "/admin/voice/calls",
)
XSS = "<script>alert(1)</script>"


def actions(database: Database) -> list[str]:
    with database.session() as s:
        return [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_roles(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "agent")
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    for url, form in (
        ("/admin/voice/dnc", {"phone": "13800138000"}),
        ("/admin/voice/settings", {}),
        ("/admin/voice/lines/new", {"kind": "sip"}),
    ):
        assert client.post(url, data={**form, "csrf_token": csrf}).status_code == 403, url
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "alpha", "supervisor")
    for url in PAGES[:3] + PAGES[4:]:
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/voice/lines/new?kind=sip").status_code == 403  # lines: admins only
    assert (
        client.post("/admin/voice/settings", data={"recording_retention_days": "1", "csrf_token": csrf}).status_code
        == 403
    )
    overview = client.get("/admin/voice").text
    assert "未配置语音识别" in overview and "EDUDESK_ASR_MODEL_DIR" in overview
    with database.session() as s:
        assert s.scalars(select(DoNotCall)).all() == [] and s.scalars(select(VoiceSettings)).all() == []


def _line_form(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "kind": "sip",
        "name": "电信中继",
        "caller_numbers": "010-12345678\n13800138000",
        "max_concurrent": "20",
        "enabled": "1",
        "trunk_host": "sip.carrier.example",
        "trunk_port": "5060",
        "transport": "udp",
        "username": "u1",
        "password": "trunk-Pa55word",
        "allowed_peers": "10.1.2.0/24",
        "codecs": "PCMA\nPCMU",
        **extra,
    }


def test_lines(client: TestClient, orgs: TwoOrgs, database: Database, settings: Settings) -> None:
    csrf = login(client, "alpha", "admin")
    bad = {
        "name": ("", "请填写线路名称"),
        "caller_numbers": ("13800138000\n138 0013 8000", "主叫号码重复"),
        "max_concurrent": ("0", "最大并发数须在"),
        "trunk_host": ("http://x y", "不是有效的主机名"),
    }
    for field, (value, message) in bad.items():
        resp = client.post("/admin/voice/lines/new", data=_line_form(csrf, **{field: value}))
        assert resp.status_code == 422 and message in resp.text, field
    for value in ("12345", "+14155550100", "x" * 3000):
        resp = client.post("/admin/voice/lines/new", data=_line_form(csrf, caller_numbers=value))
        assert resp.status_code == 422 and "主叫号码" in resp.text
    assert client.post("/admin/voice/lines/new", data=_line_form(csrf, name="x" * 65)).status_code == 422
    assert client.get("/admin/voice/lines/new?kind=fax").status_code == 404
    for kind, field in (("audiosocket", "ami_secret"), ("websocket", "signing_secret")):
        form = client.get(f"/admin/voice/lines/new?kind={kind}").text
        assert f'type="password" name="{field}"' in form, kind

    made = client.post("/admin/voice/lines/new", data=_line_form(csrf, name=XSS), follow_redirects=False)
    assert made.status_code == 303
    page = client.get(made.headers["location"]).text
    assert (
        XSS not in page and "&lt;script&gt;" in page and "trunk-Pa55word" not in page and "已保存，留空则不修改" in page
    )
    assert client.post("/admin/voice/lines/new", data=_line_form(csrf, name=XSS)).status_code == 422  # duplicate
    with database.session() as s:
        line = s.scalars(select(VoiceLine)).one()
        assert b"trunk-Pa55word" not in (line.config_encrypted or b"")
        assert line.caller_numbers == ["+861012345678", "+8613800138000"] and line.max_concurrent == 20
        config = lines.config_of(line, lines.secret_box(settings.secret_key))
        assert config.password.get_secret_value() == "trunk-Pa55word"  # type: ignore[attr-defined]
        line_id = line.id
    # Saved with the password left empty: the stored one stays; the peers list changes.
    resp = client.post(f"/admin/voice/lines/{line_id}", data=_line_form(csrf, password="", allowed_peers="10.9.9.9"))
    assert resp.status_code == 200 and "已保存" in resp.text
    with database.session() as s:
        config = lines.config_of(s.get(VoiceLine, line_id), lines.secret_box(settings.secret_key))  # type: ignore[arg-type]
        assert config.password.get_secret_value() == "trunk-Pa55word"  # type: ignore[attr-defined]
        assert config.allowed_peers == ["10.9.9.9/32"]  # type: ignore[attr-defined]
    assert (
        client.post(
            f"/admin/voice/lines/{line_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert [a for a in actions(database) if a.startswith("voice_line")] == [
        "voice_line.create",
        "voice_line.update",
        "voice_line.delete",
    ]
    assert "trunk-Pa55word" not in json.dumps([str(a) for a in actions(database)])


def test_settings(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    csrf = login(client, "alpha", "admin")
    for days in ("-1", "3651", "abc", "", "1e3", "9" * 30):
        resp = client.post("/admin/voice/settings", data={"recording_retention_days": days, "csrf_token": csrf})
        assert resp.status_code == 422 and "保留天数须为 0–3650" in resp.text, days
    resp = client.post(
        "/admin/voice/settings", data={"recording_retention_days": "0", "robot_notice": "x" * 301, "csrf_token": csrf}
    )
    assert resp.status_code == 422 and "开场提示不能超过" in resp.text
    resp = client.post(
        "/admin/voice/settings",
        data={"record_calls": "1", "recording_retention_days": "0", "robot_notice": XSS, "csrf_token": csrf},
    )
    assert resp.status_code == 200 and XSS not in resp.text and "&lt;script&gt;" in resp.text
    assert client.post("/admin/voice/settings", data={"recording_retention_days": "7"}).status_code == 400  # no CSRF
    with database.session() as s:
        row = s.scalars(select(VoiceSettings)).one()
        assert (row.org_id, row.record_calls, row.recording_retention_days, row.robot_notice) == (
            orgs.a.id,
            True,
            0,
            XSS,
        )


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_do_not_call(client: TestClient, orgs: TwoOrgs, database: Database) -> None:
    with database.session() as s:
        queued = voice_service.place_call(
            s, voice_service.CallRequest(org_id=orgs.a.id, phone_e164="+8613800138000", line_id=None)
        )
        s.commit()
        queued_id = queued.id
    csrf = login(client, "alpha", "supervisor")
    for phone in ("", "12345", "x" * 200, "13800138000 13900139000", "'; DROP TABLE do_not_call; --"):
        resp = client.post("/admin/voice/dnc", data={"phone": phone, "csrf_token": csrf})
        assert resp.status_code == 422 and "请输入一个有效的手机号或座机号" in resp.text, phone
    resp = client.post("/admin/voice/dnc", data={"phone": "138-0013-8000", "reason": XSS, "csrf_token": csrf})
    assert resp.status_code == 200 and XSS not in resp.text and "+8613800138000" in resp.text
    resp = client.post("/admin/voice/dnc", data={"phone": "+86 138 0013 8000", "csrf_token": csrf})
    assert resp.status_code == 200  # already listed: the first entry stays
    with database.session() as s:
        assert s.get(Call, queued_id).state == CallState.canceled  # type: ignore[union-attr]
        assert [(r.phone_e164, r.reason) for r in s.scalars(select(DoNotCall))] == [("+8613800138000", XSS)]

    def listed() -> list[str]:
        with database.session() as s:
            return sorted(s.scalars(select(DoNotCall.phone_e164)))

    def upload(name: str, data: bytes) -> object:
        return client.post("/admin/voice/dnc/import", data={"csrf_token": csrf}, files={"file": (name, data)})

    before = listed()
    for name, data, message in (
        ("bad.csv", "号码,原因\n13900139000,甲\n不是号码,乙\n".encode(), "第 3 行的号码无效"),
        ("empty.csv", b"", "文件是空的"),
        ("header.csv", "号码,原因\n".encode(), "没有号码"),
        ("broken.xlsx", b"PK\x03\x04garbage", "XLSX"),
        ("nul.csv", b"139\x00", "空字符"),
    ):
        resp = upload(name, data)
        assert resp.status_code == 422 and message in resp.text, name  # type: ignore[attr-defined]
        assert listed() == before, name
    resp = upload("ok.csv", "号码,原因\n13900139000,家长要求\n010-12345678,\n13900139000,重复\n".encode("gb18030"))
    assert resp.status_code == 200 and "新增 2 个号码，1 个已在名单中" in resp.text  # type: ignore[attr-defined]
    resp = upload("ok.xlsx", _xlsx([["phone"], [13700137000], ["+861012345678"]]))
    assert resp.status_code == 200 and "新增 1 个号码" in resp.text  # type: ignore[attr-defined]
    assert listed() == ["+861012345678", "+8613700137000", "+8613800138000", "+8613900139000"]

    export = client.get("/admin/voice/dnc/export?format=csv")
    assert export.status_code == 200 and "+8613900139000" in export.content.decode("utf-8-sig")
    assert client.get("/admin/voice/dnc/export?format=pdf").status_code == 422
    # The export re-imports as it is (landlines in E.164 included).
    assert upload("again.csv", export.content).status_code == 200 and listed() == [
        "+861012345678",
        "+8613700137000",
        "+8613800138000",
        "+8613900139000",
    ]
    assert (
        client.post("/admin/voice/dnc/remove", data={"phone": "+861012345678", "csrf_token": csrf}).status_code == 200
    )
    assert client.post("/admin/voice/dnc/remove", data={"phone": "13600136000", "csrf_token": csrf}).status_code == 404
    assert "+861012345678" not in listed()
    assert client.get("/admin/voice/dnc?phone=0013").text.count("+8613800138000") >= 1
    audited = actions(database)
    assert audited.count("voice_dnc.import") == 3 and "voice_dnc.export" in audited and "voice_dnc.remove" in audited


def test_calls(client: TestClient, orgs: TwoOrgs, database: Database, settings: Settings) -> None:
    created = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)
    with database.session() as s:
        call = make_call(
            s,
            orgs.a.id,
            "+8613800138000",
            created=created,
            outcome=CallOutcome.interested,
            talk=20,
            campaign_id=5,
            transferred=True,
        )
        voice_service.add_turn(s, call, Speaker.bot, "您好，这里是阿尔法教育", start_ms=0, end_ms=900)
        voice_service.add_turn(
            s, call, Speaker.customer, f"有兴趣 {XSS}", start_ms=1500, end_ms=2500, intent="interested"
        )
        recordings.save_recording(settings, call, wav(1.0))
        other = make_call(
            s,
            orgs.a.id,
            "+8613900139000",
            created=created,
            state=CallState.no_answer,
            outcome=CallOutcome.no_answer,
            answered=False,
        )
        s.commit()
        call_id, other_id = call.id, other.id
    login(client, "alpha", "supervisor")
    listing = client.get("/admin/voice/calls?outcome=interested&since=2026-11-03&until=2026-11-03&campaign_id=5")
    assert listing.status_code == 200 and f"call-{call_id}" in listing.text and f"call-{other_id}" not in listing.text
    assert f"call-{other_id}" in client.get("/admin/voice/calls?mode=robot&phone=139").text
    for query in ("since=2026-13-01", "campaign_id=abc", "agent_id=99999999999999", f"since={XSS}"):
        resp = client.get(f"/admin/voice/calls?{query}")
        assert resp.status_code == 422 and XSS not in resp.text, query
    detail = client.get(f"/admin/voice/calls/{call_id}").text
    assert "机器人" in detail and "客户" in detail and "您好，这里是阿尔法教育" in detail and XSS not in detail
    assert "有意向" in detail and "已转人工" in detail and f"/admin/voice/calls/{call_id}/recording" in detail
    audio = client.get(f"/admin/voice/calls/{call_id}/recording")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF" and audio.headers["content-type"] == "audio/wav"
    part = client.get(f"/admin/voice/calls/{call_id}/recording", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and len(part.content) == 100
    assert client.get(f"/admin/voice/calls/{other_id}/recording").status_code == 404  # none recorded
    assert actions(database).count("voice.recording_play") == 1  # the seek is not a new playback
    csrf = login(client, "alpha", "admin")
    assert (
        client.post(
            f"/admin/voice/calls/{call_id}/recording/delete", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get(f"/admin/voice/calls/{call_id}/recording").status_code == 404
    assert "voice.recording_delete" in actions(database)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/voice/metrics?since=2026-11-05&until=2026-11-01",
        "/admin/voice/metrics?since=2020-01-01&until=2026-01-01",
        "/admin/voice/metrics?since=junk",
    ],
)
def test_metrics_page_bad_ranges(client: TestClient, orgs: TwoOrgs, path: str) -> None:
    login(client, "alpha", "admin")
    resp = client.get(path)
    assert resp.status_code == 422 and "field-error" in resp.text

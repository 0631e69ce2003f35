"""/admin/reports/mail: admins only, CSRF, messages beside the field, the password never echoed, a real test mail,
the send log, each org its own settings (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from edudesk.analytics import digest_jobs, digest_settings
from edudesk.analytics.digest_models import ReportMailLog, ReportMailSettings, SendStatus
from edudesk.audit.models import AuditEntry
from edudesk.db import Database, utcnow
from edudesk.jobs import Job
from tests.analytics.dashboards import FakeSource
from tests.analytics.smtp import PASSWORD, USER, SmtpServer, start_server
from tests.conftest import TwoOrgs, login
from tests.ports import free_port

URL = "/admin/reports/mail"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_server(auth=True)
    yield server
    server.stop()


def smtp_form(csrf: str, smtp_port: int, **changes: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "host": "127.0.0.1", "port": str(smtp_port), "security": "none", "username": USER,
            "password": PASSWORD, "from_address": "report@alpha.example", "from_name": "阿尔法报表"}
    form.update(changes)
    return form


def stored(database: Database, org_id: int) -> ReportMailSettings | None:
    with database.session() as session:
        row = session.scalars(select(ReportMailSettings).where(ReportMailSettings.org_id == org_id)).first()
        if row is not None:
            session.expunge(row)
        return row


def test_an_admin_sets_up_smtp_and_the_password_stays_secret(client: TestClient, database: Database,
                                                             orgs: TwoOrgs, smtp: SmtpServer) -> None:
    csrf = login(client, "alpha", "admin")
    page = client.get(URL)
    assert page.status_code == 200 and "邮件服务器（SMTP）" in page.text and "发送测试邮件" in page.text
    assert "还没有发送记录" in page.text
    resp = client.post(f"{URL}/smtp", data=smtp_form(csrf, smtp.port))
    assert resp.status_code == 200 and "邮件服务器设置已保存" in resp.text
    assert PASSWORD not in resp.text and "已保存，留空则不修改" in resp.text
    row = stored(database, orgs.a.id)
    assert row is not None and row.host == "127.0.0.1" and row.port == smtp.port
    assert PASSWORD not in row.password_encrypted
    assert digest_settings.secret_box("test-secret-" + "x" * 20).decrypt(row.password_encrypted) == PASSWORD
    assert stored(database, orgs.b.id) is None
    # Saved again with the password left empty: the stored one is kept and still works.
    resp = client.post(f"{URL}/smtp", data=smtp_form(csrf, smtp.port, password="", from_name="新名称"))
    assert resp.status_code == 200
    again = stored(database, orgs.a.id)
    assert again is not None and again.password_encrypted == row.password_encrypted and again.from_name == "新名称"
    resp = client.post(f"{URL}/test", data={"csrf_token": csrf, "test_to": "principal@alpha.example"})
    assert resp.status_code == 200 and "测试邮件已发送到 principal@alpha.example" in resp.text
    [got] = smtp.received
    assert got.rcpt_tos == ["principal@alpha.example"] and got.message["Subject"] == "edudesk 测试邮件"
    assert got.message["From"].addresses[0].display_name == "新名称"
    with database.session() as session:
        actions = [(e.action, e.detail) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.org_id == orgs.a.id, AuditEntry.action.like("report_mail.%"))
            .order_by(AuditEntry.id))]
    assert [a for a, _ in actions] == ["report_mail.smtp", "report_mail.smtp", "report_mail.test"]
    assert actions[0][1]["password_changed"] is True and actions[1][1]["password_changed"] is False
    assert all(PASSWORD not in str(detail) for _, detail in actions)


def test_a_failing_test_mail_says_why_beside_the_button(client: TestClient, database: Database,
                                                        orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post(f"{URL}/test", data={"csrf_token": csrf, "test_to": "principal@alpha.example"})
    assert "尚未设置邮件服务器（SMTP）" in resp.text
    port = free_port()
    client.post(f"{URL}/smtp", data=smtp_form(csrf, port))
    resp = client.post(f"{URL}/test", data={"csrf_token": csrf, "test_to": "principal@alpha.example"})
    assert f"无法连接邮件服务器 127.0.0.1:{port}：连接被拒绝" in resp.text
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "report_mail.test")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.detail["ok"] is False and entry.detail["code"] == "refused"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("host", "", "请填写邮件服务器地址"),
    ("host", "smtp example.com", "服务器地址只能是域名或 IP 地址"),
    ("host", "<script>alert(1)</script>", "服务器地址只能是域名或 IP 地址"),
    ("port", "0", "端口须是 1–65535 之间的整数"),
    ("port", "65536", "端口须是 1–65535 之间的整数"),
    ("port", "25abc", "端口须是 1–65535 之间的整数"),
    ("port", "٢٥", "端口须是 1–65535 之间的整数"),
    ("security", "ssl3", "请选择列表中的一种加密方式"),
    ("from_address", "not-an-address", "发件地址格式不正确"),
    ("from_address", "a@b", "发件地址格式不正确"),
    ("from_address", "x'); DROP TABLE orgs;--@a.com", "发件地址格式不正确"),
    ("from_name", "名\r\nBcc: all@evil.example", "发件人名称含有不可见的控制字符"),
    ("username", "u" * 201, "用户名不能超过 200 个字符"),
])
def test_bad_smtp_settings_are_shown_beside_the_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                                      field: str, value: str, message: str) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post(f"{URL}/smtp", data=smtp_form(csrf, 2525, **{field: value}))
    assert resp.status_code == 422 and message in resp.text
    assert "<script>alert(1)</script>" not in resp.text and PASSWORD not in resp.text
    assert stored(database, orgs.a.id) is None


def test_huge_input_is_refused_without_a_trace(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post(f"{URL}/smtp", data=smtp_form(csrf, 2525, host="a" * 100_000))
    assert resp.status_code == 422
    resp = client.post(f"{URL}/schedule", data={"csrf_token": csrf, "daily_recipients": "a@b.cn\n" * 50_000,
                                                "send_hour": "8"})
    assert resp.status_code == 422
    assert stored(database, orgs.a.id) is None


def test_recipients_and_hour(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post(f"{URL}/schedule", data={
        "csrf_token": csrf,
        "daily_recipients": "principal@alpha.example\nmanager@alpha.example，PRINCIPAL@alpha.example",
        "weekly_recipients": "boss@alpha.example", "send_hour": "7"})
    assert resp.status_code == 200 and "收件人和发送时间已保存" in resp.text
    row = stored(database, orgs.a.id)
    assert row is not None and row.daily_recipients == ["principal@alpha.example", "manager@alpha.example"]
    assert row.weekly_recipients == ["boss@alpha.example"] and row.send_hour == 7
    assert '<option value="7" selected>07:00</option>' in resp.text


@pytest.mark.parametrize(("form", "message"), [
    ({"daily_recipients": "ok@alpha.example\n<img src=x onerror=alert(1)>"}, "收件人地址格式不正确"),
    ({"weekly_recipients": "张三@例子.中国"}, "收件人地址格式不正确"),
    ({"daily_recipients": "\n".join(f"m{i}@alpha.example" for i in range(51))}, "收件人最多 50 个"),
    ({"send_hour": "24"}, "发送时间须是 0–23 点之间的整点"),
    ({"send_hour": ""}, "发送时间须是 0–23 点之间的整点"),
])
def test_bad_recipients_or_hour_are_shown_beside_the_field(client: TestClient, database: Database, orgs: TwoOrgs,
                                                           form: dict[str, str], message: str) -> None:
    csrf = login(client, "alpha", "admin")
    resp = client.post(f"{URL}/schedule", data={"csrf_token": csrf, "send_hour": "8", **form})
    assert resp.status_code == 422 and message in resp.text
    assert "<img src=x" not in resp.text
    assert stored(database, orgs.a.id) is None


def test_without_csrf_nothing_changes(client: TestClient, database: Database, orgs: TwoOrgs,
                                      smtp: SmtpServer) -> None:
    csrf = login(client, "alpha", "admin")
    assert client.post(f"{URL}/smtp", data=smtp_form("forged", smtp.port)).status_code == 400
    assert client.post(f"{URL}/schedule", data={"csrf_token": "forged", "daily_recipients": "a@alpha.example",
                                                "send_hour": "8"}).status_code == 400
    client.post(f"{URL}/smtp", data=smtp_form(csrf, smtp.port))
    assert client.post(f"{URL}/test", data={"csrf_token": "", "test_to": "a@alpha.example"}).status_code == 400
    assert smtp.received == []
    row = stored(database, orgs.a.id)
    assert row is not None and row.daily_recipients == []


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_only_admins(client: TestClient, database: Database, orgs: TwoOrgs, role: str) -> None:
    csrf = login(client, "alpha", role)
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}/smtp", data=smtp_form(csrf, 2525)).status_code == 403
    assert client.post(f"{URL}/test", data={"csrf_token": csrf, "test_to": "a@alpha.example"}).status_code == 403
    assert stored(database, orgs.a.id) is None


def test_each_org_sees_its_own_settings_and_log(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        session.add(ReportMailSettings(org_id=orgs.a.id, host="smtp.alpha-secret.example", port=465, security="ssl",
                                       username="alpha-user", password_encrypted="", from_address="a@alpha.example",
                                       from_name="", daily_recipients=["secret-principal@alpha.example"],
                                       weekly_recipients=[], send_hour=8, updated_by="t"))
        session.add(ReportMailLog(org_id=orgs.a.id, kind="daily", period_start=dt.date(2026, 12, 6),
                                  period_end=dt.date(2026, 12, 6), status=SendStatus.failed, recipients=[],
                                  attempts=1, error="甲机构的失败原因", created_at=utcnow(), partial=False))
        session.commit()
    csrf = login(client, "beta", "admin")
    page = client.get(URL).text
    assert "alpha-secret" not in page and "secret-principal" not in page and "甲机构的失败原因" not in page
    resp = client.post(f"{URL}/test", data={"csrf_token": csrf, "test_to": "b@beta.example"})
    assert "尚未设置邮件服务器（SMTP）" in resp.text
    login(client, "alpha", "admin")
    page = client.get(URL).text
    assert "smtp.alpha-secret.example" in page and "甲机构的失败原因" in page and "发送失败" in page


def test_the_log_shows_what_happened(client: TestClient, database: Database, orgs: TwoOrgs) -> None:
    with database.session() as session:
        session.add(ReportMailLog(org_id=orgs.a.id, kind="weekly", period_start=dt.date(2026, 11, 30),
                                  period_end=dt.date(2026, 12, 6), status=SendStatus.failed,
                                  recipients=["a@alpha.example"], attempts=2, error="<b>连接被拒绝</b>",
                                  created_at=utcnow(), next_attempt_at=dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC),
                                  partial=False))
        session.commit()
    login(client, "alpha", "admin")
    page = client.get(URL).text
    assert "每周摘要" in page and "2026-11-30 至 2026-12-06" in page and "下次重试：2026-12-07 09:00" in page
    assert "&lt;b&gt;连接被拒绝&lt;/b&gt;" in page
    assert "统计看板尚未接入" not in page  # the app mails the dashboards' own numbers


def failed_row(database: Database, org_id: int) -> int:
    with database.session() as session:
        row = ReportMailLog(org_id=org_id, kind="daily", period_start=dt.date(2026, 12, 6),
                            period_end=dt.date(2026, 12, 6), status=SendStatus.failed, recipients=[], attempts=6,
                            error="连接被拒绝", created_at=utcnow(), partial=False)
        session.add(row)
        session.commit()
        return row.id


def test_retry_needs_the_numbers_and_is_the_orgs_own(app: FastAPI, client: TestClient, database: Database,
                                                     orgs: TwoOrgs) -> None:
    # A deployment whose summary has no numbers to read (no dashboards source) refuses to retry rather than
    # queueing a send that could only fail.
    app.state.report_mail = digest_jobs.ReportMail(digest_settings.secret_box("k" * 32), "https://kefu.example",
                                                   dashboards=None)
    log_id = failed_row(database, orgs.a.id)
    csrf = login(client, "beta", "admin")
    assert client.post(f"{URL}/log/{log_id}/retry", data={"csrf_token": csrf}).status_code == 404
    csrf = login(client, "alpha", "admin")
    assert f'action="/admin/reports/mail/log/{log_id}/retry"' in client.get(URL).text
    resp = client.post(f"{URL}/log/{log_id}/retry", data={"csrf_token": csrf})
    assert resp.status_code == 409 and "统计看板尚未接入，暂不能发送摘要" in resp.text  # nothing would send it
    assert client.post(f"{URL}/log/{log_id}/retry", data={"csrf_token": "forged"}).status_code == 400
    with database.session() as session:
        assert session.scalars(select(Job)).first() is None


def test_retry_sends_a_failed_summary_again(app: FastAPI, client: TestClient, database: Database,
                                            orgs: TwoOrgs) -> None:
    app.state.report_mail = digest_jobs.ReportMail(digest_settings.secret_box("k" * 32), "https://kefu.example",
                                                   dashboards=FakeSource())
    log_id = failed_row(database, orgs.a.id)
    csrf = login(client, "alpha", "admin")
    resp = client.post(f"{URL}/log/{log_id}/retry", data={"csrf_token": csrf})
    assert resp.status_code == 200 and "已安排重新发送" in resp.text
    with database.session() as session:
        [job] = session.scalars(select(Job)).all()
        assert job.kind == digest_jobs.SEND_JOB and job.payload == {"org_id": orgs.a.id, "log_id": log_id}
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "report_mail.retry")).one()
        session.execute(update(ReportMailLog).values(status=SendStatus.sent))
        session.commit()
    resp = client.post(f"{URL}/log/{log_id}/retry", data={"csrf_token": csrf})  # a sent summary: never again
    assert resp.status_code == 409 and "只有发送失败的记录可以重试" in resp.text

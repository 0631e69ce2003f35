"""The job chain that mails due summaries: when each is due, sent once, failures logged and retried (SQLite and
PostgreSQL, a real SMTP server on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select, update

from edudesk import jobs
from edudesk.analytics import digest, digest_jobs, digest_settings
from edudesk.analytics.digest_models import ReportMailLog, SendStatus
from edudesk.audit.service import Actor
from edudesk.db import Database, utcnow
from edudesk.localtime import LOCAL_TZ
from tests.analytics.dashboards import PHONE, FakeSource
from tests.analytics.smtp import PASSWORD, USER, SmtpServer, start_server
from tests.conftest import TwoOrgs
from tests.ports import free_port

SECRET = "test-secret-" + "x" * 20
BOX = digest_settings.secret_box(SECRET)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LOCAL_TZ).astimezone(dt.UTC)  # type: ignore[misc]


# --- when (no database) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("now", "expected"), [
    (local(2026, 12, 7, 8, 0, 30), dt.date(2026, 12, 6)),  # at the send hour: yesterday
    (local(2026, 12, 7, 7, 59), dt.date(2026, 12, 5)),  # before it: the day before (still due from yesterday 8:00)
    (local(2026, 12, 7, 23, 59), dt.date(2026, 12, 6)),
    (local(2026, 12, 8, 0, 30), dt.date(2026, 12, 6)),  # after local midnight (16:30 UTC the day before)
])
def test_the_daily_summary_is_due_at_the_send_hour_local_time(now: dt.datetime, expected: dt.date) -> None:
    assert digest_jobs.latest_period("daily", 8, now) == digest.Period("daily", expected, expected)
    assert digest_jobs.due_period("daily", 8, now) == digest.Period("daily", expected, expected)


def test_the_weekly_summary_is_due_on_monday() -> None:
    last_week = digest.Period("weekly", dt.date(2026, 11, 30), dt.date(2026, 12, 6))  # Monday to Sunday
    assert digest_jobs.due_period("weekly", 8, local(2026, 12, 7, 8, 0, 30)) == last_week  # Monday 08:00
    assert digest_jobs.due_period("weekly", 8, local(2026, 12, 8, 7, 0)) == last_week  # Tuesday early: still
    assert digest_jobs.due_period("weekly", 8, local(2026, 12, 8, 9, 0)) is None  # more than a day late: skipped
    assert digest_jobs.due_period("weekly", 8, local(2026, 12, 11, 9, 0)) is None  # Friday
    before = digest_jobs.latest_period("weekly", 8, local(2026, 12, 7, 7, 59))
    assert before == digest.Period("weekly", dt.date(2026, 11, 23), dt.date(2026, 11, 29))


def test_the_send_time_is_the_local_hour() -> None:
    assert digest_jobs.send_time(digest.Period("daily", dt.date(2026, 12, 6), dt.date(2026, 12, 6)), 8) == \
        dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)
    assert digest_jobs.next_tick(dt.datetime(2026, 12, 7, 0, 0, 31, tzinfo=dt.UTC)) == \
        dt.datetime(2026, 12, 7, 1, 0, 30, tzinfo=dt.UTC)


# --- with a database and an SMTP server -----------------------------------------------------------------------------

@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_server(auth=True)
    yield server
    server.stop()


def configure(database: Database, org_id: int, port: int, *, password: str = PASSWORD, daily: bool = True,
              weekly: bool = False, hour: int = 8) -> None:
    with database.session() as session:
        actor = Actor(org_id, label="test")
        digest_settings.save_smtp(session, actor, BOX, digest_settings.SmtpInput(
            host="127.0.0.1", port=port, security="none", username=USER, password=password,
            from_address="report@alpha.example", from_name="报表"))
        digest_settings.save_schedule(session, actor, daily=("principal@alpha.example",) if daily else (),
                                      weekly=("boss@alpha.example",) if weekly else (), send_hour=hour)
        session.commit()


def worker(database: Database, source: FakeSource, name: str = "w1") -> jobs.Worker:
    registry = jobs.JobRegistry()
    digest_jobs.ReportMail(BOX, "https://kefu.example", dashboards=source).register(registry)
    return jobs.Worker(database, registry, worker_id=name)


def schedule(database: Database, now: dt.datetime) -> list[int]:
    with database.session() as session:
        created = digest_jobs.schedule(session, now)
        session.commit()
        return created


def log_rows(database: Database, org_id: int) -> list[ReportMailLog]:
    with database.session() as session:
        rows = list(session.scalars(select(ReportMailLog).where(ReportMailLog.org_id == org_id)
                                    .order_by(ReportMailLog.id)))
        session.expunge_all()
        return rows


def send_jobs(database: Database) -> list[jobs.Job]:
    with database.session() as session:
        rows = list(session.scalars(select(jobs.Job).where(jobs.Job.kind == digest_jobs.SEND_JOB)
                                    .order_by(jobs.Job.id)))
        session.expunge_all()
        return rows


def make_due_now(database: Database) -> None:
    """The clock moves on: every waiting job is due."""
    with database.session() as session:
        session.execute(update(jobs.Job).where(jobs.Job.status == jobs.JobStatus.pending).values(run_at=utcnow()))
        session.commit()


MONDAY_8 = local(2026, 12, 7, 8, 0, 30)


def test_a_due_summary_is_sent_once(database: Database, orgs: TwoOrgs, smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port, weekly=True)
    source = FakeSource()
    assert len(schedule(database, MONDAY_8)) == 2  # Monday 08:00: yesterday's daily and last week's weekly
    assert schedule(database, MONDAY_8 + dt.timedelta(hours=1)) == []  # the next hourly run: nothing new
    assert worker(database, source).run_pending() == 2
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["boss@alpha.example", "principal@alpha.example"]
    daily = next(r.message for r in smtp.received if r.rcpt_tos == ["principal@alpha.example"])
    assert daily["Subject"] == "【阿尔法教育】每日服务摘要 2026-12-06（周日）"
    body = daily.get_body(("html",))
    assert body is not None and "接待会话" in body.get_content() and PHONE not in body.get_content()
    d = dt.date
    assert {(org, f.start, f.end) for org, _, f in source.calls} == {
        (orgs.a.id, d(2026, 12, 6), d(2026, 12, 6)), (orgs.a.id, d(2026, 12, 5), d(2026, 12, 5)),
        (orgs.a.id, d(2026, 11, 30), d(2026, 12, 6)), (orgs.a.id, d(2026, 11, 23), d(2026, 11, 29))}
    assert len(source.calls) == 16  # four dashboards, this period and the one before, two summaries
    rows = log_rows(database, orgs.a.id)
    assert [(r.kind, r.status, r.attempts, r.error) for r in rows] == [
        ("daily", SendStatus.sent, 1, None), ("weekly", SendStatus.sent, 1, None)]
    assert log_rows(database, orgs.b.id) == []
    # Later that day, and on a second worker: nothing is sent again.
    assert schedule(database, MONDAY_8 + dt.timedelta(hours=10)) == []
    assert worker(database, source, "w2").run_pending() == 0
    assert len(smtp.received) == 2


def test_nothing_before_the_send_hour_or_without_recipients(database: Database, orgs: TwoOrgs,
                                                            smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port, hour=9)
    configure(database, orgs.b.id, smtp.port, daily=False)
    before_nine = local(2026, 12, 7, 8, 30)
    created = schedule(database, before_nine)  # org A: the 5th (due yesterday at 9) is still within a day
    assert [(r.period_start, r.kind) for r in log_rows(database, orgs.a.id)] == [(dt.date(2026, 12, 5), "daily")]
    assert len(created) == 1 and log_rows(database, orgs.b.id) == []
    assert len(schedule(database, local(2026, 12, 7, 9, 0, 30))) == 1  # at nine: the 6th


def test_two_schedulers_at_once_create_one_row(database: Database, orgs: TwoOrgs, smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port)
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(schedule(database, MONDAY_8))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 1]
    assert len(log_rows(database, orgs.a.id)) == 1 and len(send_jobs(database)) == 1


def test_a_refused_connection_is_logged_and_retried_later(database: Database, orgs: TwoOrgs) -> None:
    port = free_port()
    configure(database, orgs.a.id, port)
    schedule(database, MONDAY_8)
    source = FakeSource()
    assert worker(database, source).run_pending() == 1
    [row] = log_rows(database, orgs.a.id)
    assert row.status == SendStatus.failed and row.attempts == 1
    assert row.error == f"无法连接邮件服务器 127.0.0.1:{port}：连接被拒绝（请检查地址和端口）"
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow() + dt.timedelta(minutes=4)
    retry = [j for j in send_jobs(database) if j.status == jobs.JobStatus.pending]
    assert len(retry) == 1 and retry[0].run_at == row.next_attempt_at
    assert worker(database, source).run_pending() == 0  # not before its time
    assert schedule(database, MONDAY_8 + dt.timedelta(hours=1)) == []  # the scheduler does not start a second one
    server = start_server(port=port, auth=True)  # the server is back
    try:
        make_due_now(database)
        assert worker(database, source).run_pending() == 1
        [row] = log_rows(database, orgs.a.id)
        assert row.status == SendStatus.sent and row.attempts == 2 and row.error is None
        assert row.next_attempt_at is None
        assert len(server.received) == 1
        make_due_now(database)
        assert worker(database, source).run_pending() == 0
        assert len(server.received) == 1
    finally:
        server.stop()


def test_a_wrong_password_is_logged_then_fixed(database: Database, orgs: TwoOrgs, smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port, password="wrong")
    schedule(database, MONDAY_8)
    source = FakeSource()
    worker(database, source).run_pending()
    [row] = log_rows(database, orgs.a.id)
    assert row.status == SendStatus.failed and "用户名或密码错误" in (row.error or "")
    configure(database, orgs.a.id, smtp.port)  # the admin types the right one
    make_due_now(database)
    worker(database, source).run_pending()
    [row] = log_rows(database, orgs.a.id)
    assert row.status == SendStatus.sent and len(smtp.received) == 1


def test_retries_stop_after_the_last_delay(database: Database, orgs: TwoOrgs) -> None:
    configure(database, orgs.a.id, free_port())
    schedule(database, MONDAY_8)
    source = FakeSource()
    for _ in range(len(digest_jobs.RETRY_DELAYS) + 3):
        make_due_now(database)
        worker(database, source).run_pending()
    [row] = log_rows(database, orgs.a.id)
    assert row.status == SendStatus.failed and row.attempts == len(digest_jobs.RETRY_DELAYS) + 1
    assert row.next_attempt_at is None
    assert all(j.status == jobs.JobStatus.done for j in send_jobs(database))


def test_a_summary_another_worker_is_sending_is_not_sent_twice(database: Database, orgs: TwoOrgs,
                                                              smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port)
    [log_id] = schedule(database, MONDAY_8)
    with database.session() as session:  # another worker claimed it a minute ago and is talking to the server
        session.execute(update(ReportMailLog).where(ReportMailLog.id == log_id).values(
            status=SendStatus.sending, claimed_at=utcnow() - dt.timedelta(minutes=1), attempts=1))
        session.commit()
    source = FakeSource()
    worker(database, source).run_pending()
    assert smtp.received == []
    follow_up = [j for j in send_jobs(database) if j.status == jobs.JobStatus.pending]
    assert len(follow_up) == 1 and follow_up[0].run_at > utcnow() + dt.timedelta(minutes=10)
    # That worker died mid-send: once the claim is stale, the follow-up sends it.
    with database.session() as session:
        session.execute(update(ReportMailLog).where(ReportMailLog.id == log_id).values(
            claimed_at=utcnow() - digest_jobs.STUCK_AFTER - dt.timedelta(minutes=1)))
        session.commit()
    make_due_now(database)
    worker(database, source).run_pending()
    assert len(smtp.received) == 1 and log_rows(database, orgs.a.id)[0].status == SendStatus.sent


def test_without_smtp_settings_the_row_says_why(database: Database, orgs: TwoOrgs, smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port)
    schedule(database, MONDAY_8)
    with database.session() as session:  # the subscription is emptied before the job runs
        digest_settings.save_schedule(session, Actor(orgs.a.id, label="t"), daily=(), weekly=(), send_hour=8)
        session.commit()
    worker(database, FakeSource()).run_pending()
    [row] = log_rows(database, orgs.a.id)
    assert row.status == SendStatus.failed and row.error == "没有收件人：订阅已被清空" and row.next_attempt_at is None
    assert smtp.received == []


def test_the_chain_reschedules_itself_hourly(database: Database, orgs: TwoOrgs) -> None:
    report_mail = digest_jobs.ReportMail(BOX, "https://kefu.example", dashboards=FakeSource())
    report_mail.ensure_scheduled(database)
    report_mail.ensure_scheduled(database)
    registry = jobs.JobRegistry()
    report_mail.register(registry)
    assert jobs.Worker(database, registry, worker_id="w").run_pending() == 1
    with database.session() as session:
        chain = list(session.scalars(select(jobs.Job).where(jobs.Job.kind == digest_jobs.SCHEDULE_JOB)
                                     .order_by(jobs.Job.id)))
    assert [j.status for j in chain] == [jobs.JobStatus.done, jobs.JobStatus.pending]
    assert dt.timedelta(0) < chain[1].run_at - utcnow() <= dt.timedelta(hours=1, minutes=1)


def test_without_the_numbers_nothing_is_scheduled(database: Database) -> None:
    report_mail = digest_jobs.ReportMail(BOX, "https://kefu.example", dashboards=None)
    registry = jobs.JobRegistry()
    report_mail.register(registry)
    report_mail.ensure_scheduled(database)
    assert registry.kinds == [] and not report_mail.connected
    with database.session() as session:
        assert session.scalars(select(jobs.Job)).first() is None


def test_a_deleted_orgs_summary_is_dropped_quietly(database: Database, orgs: TwoOrgs, smtp: SmtpServer) -> None:
    configure(database, orgs.a.id, smtp.port)
    schedule(database, MONDAY_8)
    with database.session() as session:
        session.execute(delete(ReportMailLog))  # what deleting the org cascades to
        session.commit()
    worker(database, FakeSource()).run_pending()
    assert [j.status for j in send_jobs(database)] == [jobs.JobStatus.done] and smtp.received == []

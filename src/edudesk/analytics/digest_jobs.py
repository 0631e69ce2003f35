"""The durable chain that mails due summaries: ``report_mail.schedule`` (hourly, no org) and ``report_mail.send``.

Every hour the scheduler looks at each org's subscription: the daily summary of day D is due from D+1 at the send
hour (local time, Asia/Shanghai), the weekly summary of a Monday–Sunday week from the next Monday at the send hour.
A due period gets its log row (unique per org, kind and first day; INSERT … ON CONFLICT DO NOTHING) and a send job
in one transaction, so any number of workers create it once. A summary more than ``MAX_LATE`` late (the server was
off) is skipped: the next one comes on time.

The sender moves the row to ``sending`` with a conditional UPDATE and commits before it talks to the SMTP server:
a second worker holding a copy of the job finds nothing to claim. A failure is written to the row (what went
wrong, in words the admin can act on) and the sender enqueues its own retry with backoff (``RETRY_DELAYS``), so a
failure is neither lost nor sent twice. Only a process killed between the server's "250 OK" and our commit can
cause a second copy (the row stays ``sending`` and is taken again after ``STUCK_AFTER``): at-least-once there, as
every mail system is.

The numbers come through ``DashboardSource``, the seam to ``analytics.service.dashboard``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from edudesk import jobs
from edudesk.analytics import digest, digest_settings, mail
from edudesk.analytics.digest_models import ReportMailLog, ReportMailSettings, SendStatus
from edudesk.analytics.shapes import DASHBOARD_KEYS, Dashboard, DashboardKey, Filters
from edudesk.db import Database, NotFoundError, get_in_org, org_query, utcnow
from edudesk.localtime import LOCAL_TZ
from edudesk.orgs import service as orgs_service
from edudesk.secretbox import SecretBox

log = structlog.get_logger(__name__)

SCHEDULE_JOB = "report_mail.schedule"
SEND_JOB = "report_mail.send"
MAX_LATE = dt.timedelta(days=1)
STUCK_AFTER = dt.timedelta(minutes=15)
# 5 min, 15 min, 1 h, 3 h, 6 h: a wrong password fixed in the morning still gets yesterday's summary out.
RETRY_DELAYS = (dt.timedelta(minutes=5), dt.timedelta(minutes=15), dt.timedelta(hours=1), dt.timedelta(hours=3),
                dt.timedelta(hours=6))
KINDS: tuple[digest.DigestKind, ...] = ("daily", "weekly")


class DashboardSource(Protocol):
    """``analytics.service.dashboard``: one dashboard of one org for the given filters."""

    def __call__(self, session: Session, org_id: int, key: DashboardKey, filters: Filters, *,
                 now: dt.datetime | None = None) -> Dashboard: ...


# --- when is what due -----------------------------------------------------------------------------------------------

def send_time(period: digest.Period, send_hour: int) -> dt.datetime:
    """The UTC instant a period's summary is due: the local day after its last day, at the send hour."""
    local = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(send_hour), LOCAL_TZ)
    return local.astimezone(dt.UTC)


def latest_period(kind: digest.DigestKind, send_hour: int, now: dt.datetime) -> digest.Period:
    """The newest period whose summary is due at ``now`` (perhaps long ago)."""
    today = now.astimezone(LOCAL_TZ).date()
    if kind == "daily":
        day = today - dt.timedelta(days=1)
        period = digest.Period("daily", day, day)
    else:
        monday = today - dt.timedelta(days=today.weekday())
        period = digest.Period("weekly", monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    return period if send_time(period, send_hour) <= now else period.previous()


def due_period(kind: digest.DigestKind, send_hour: int, now: dt.datetime) -> digest.Period | None:
    """The period to send now, or None when the newest due one is more than ``MAX_LATE`` late."""
    period = latest_period(kind, send_hour, now)
    return period if now - send_time(period, send_hour) <= MAX_LATE else None


def next_tick(now: dt.datetime) -> dt.datetime:
    """Half a minute past the next full hour (local hours are whole hours in UTC for Asia/Shanghai)."""
    return now.replace(minute=0, second=30, microsecond=0) + dt.timedelta(hours=1)


def _create_log(session: Session, org_id: int, period: digest.Period, recipients: Sequence[str]) -> int | None:
    """The period's log row; None when it exists already (sent, sending, failed or being retried)."""
    values = {"org_id": org_id, "kind": period.kind, "period_start": period.start, "period_end": period.end,
              "status": SendStatus.pending.value, "recipients": list(recipients), "attempts": 0,
              "created_at": utcnow(), "partial": False}
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    stmt = (insert(ReportMailLog).values(**values)
            .on_conflict_do_nothing(index_elements=["org_id", "kind", "period_start"]).returning(ReportMailLog.id))
    row = session.execute(stmt).first()
    return int(row[0]) if row is not None else None


def schedule(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Creates the log row and send job of every due summary of every org; returns the new log ids."""
    now = now or utcnow()
    created = []
    # Every org's subscription, each handled in its own org (a system job, like privacy's daily purge).
    for row in session.scalars(select(ReportMailSettings).order_by(ReportMailSettings.org_id)):
        if not row.host or not row.from_address:
            continue
        for kind in KINDS:
            recipients = row.daily_recipients if kind == "daily" else row.weekly_recipients
            period = due_period(kind, row.send_hour, now) if recipients else None
            if period is None:
                continue
            log_id = _create_log(session, row.org_id, period, recipients)
            if log_id is not None:
                jobs.enqueue(session, SEND_JOB, {"org_id": row.org_id, "log_id": log_id}, org_id=row.org_id)
                created.append(log_id)
    return created


def schedule_job(session: Session, payload: dict[str, Any]) -> None:
    """``report_mail.schedule``: the due summaries, then the next hourly run of itself."""
    now = utcnow()
    schedule(session, now)
    if not jobs.waiting(session, SCHEDULE_JOB):
        jobs.enqueue(session, SCHEDULE_JOB, {}, run_at=next_tick(now))


# --- sending --------------------------------------------------------------------------------------------------------

def dashboards_for(source: DashboardSource, session: Session, org_id: int, period: digest.Period,
                   now: dt.datetime) -> tuple[dict[str, Dashboard], dict[str, Dashboard]]:
    current: dict[str, Dashboard] = {key: source(session, org_id, key, period.filters(), now=now)
                                     for key in DASHBOARD_KEYS}
    before = period.previous()
    previous: dict[str, Dashboard] = {key: source(session, org_id, key, before.filters(), now=now)
                                      for key in DASHBOARD_KEYS}
    return current, previous


def _claim(session: Session, entry_id: int, now: dt.datetime) -> bool:
    """Moves the row to ``sending`` unless another worker has it (or it was sent); True when this one has it."""
    takeable = or_(ReportMailLog.status.in_([SendStatus.pending, SendStatus.failed]),
                   (ReportMailLog.status == SendStatus.sending) & (ReportMailLog.claimed_at < now - STUCK_AFTER))
    result = session.execute(
        update(ReportMailLog).where(ReportMailLog.id == entry_id, takeable)
        .values(status=SendStatus.sending, claimed_at=now, attempts=ReportMailLog.attempts + 1)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class Sender:
    """The ``report_mail.send`` handler."""

    source: DashboardSource
    box: SecretBox
    base_url: str
    timeout: float = mail.DEFAULT_TIMEOUT

    def __call__(self, session: Session, payload: dict[str, Any]) -> None:
        org_id, entry_id = int(payload["org_id"]), int(payload["log_id"])
        try:
            entry = get_in_org(session, ReportMailLog, entry_id, org_id)
        except NotFoundError:  # the org was deleted meanwhile, its log with it: nothing to send
            return
        if entry.status == SendStatus.sent:
            return
        now = utcnow()
        settings = digest_settings.settings_of(session, org_id)
        recipients = list(settings.daily_recipients if entry.kind == "daily" else settings.weekly_recipients)
        period = digest.Period("daily" if entry.kind == "daily" else "weekly", entry.period_start, entry.period_end)
        try:
            config = digest_settings.smtp_config(session, org_id, self.box, timeout=self.timeout)
            if not recipients:
                raise mail.MailError("no_recipients", "没有收件人：订阅已被清空")
        except mail.MailError as exc:
            if _claim(session, entry_id, now):
                self._failed(session, entry_id, payload, exc, retry=False)
            return
        # Built before the claim: a bug in the numbers fails the job (the worker retries it), not the log row.
        current, previous = dashboards_for(self.source, session, org_id, period, now)
        summary = digest.build(orgs_service.get(session, org_id).name, period, current, previous, self.base_url)
        message = mail.compose(config, recipients, summary.subject, summary.text, summary.html)
        if not _claim(session, entry_id, now):
            session.rollback()
            self._look_again(session, entry_id, payload)
            return
        session.commit()
        try:
            refused = mail.send(config, message)
        except mail.MailError as exc:
            log.warning("report_mail_failed", org_id=org_id, log_id=entry_id, code=exc.code)
            self._failed(session, entry_id, payload, exc, retry=True)
            return
        entry = get_in_org(session, ReportMailLog, entry_id, org_id)
        entry.status, entry.sent_at, entry.next_attempt_at = SendStatus.sent, utcnow(), None
        entry.recipients = recipients
        entry.partial = bool(refused)
        refusals = "；".join(f"{address}（{reply}）" for address, reply in refused.items())
        entry.error = f"部分收件人被拒绝：{refusals}"[:2000] if refused else None
        log.info("report_mail_sent", org_id=org_id, log_id=entry_id, kind=entry.kind)

    def _look_again(self, session: Session, entry_id: int, payload: dict[str, Any]) -> None:
        """Another worker is sending this summary: if that worker dies mid-send the row stays ``sending``, so look
        again once it would count as stuck (the look finds it sent, normally, and does nothing)."""
        entry = session.get(ReportMailLog, entry_id)
        if entry is not None and entry.status == SendStatus.sending and entry.claimed_at is not None:
            jobs.enqueue(session, SEND_JOB, dict(payload), org_id=entry.org_id,
                         run_at=entry.claimed_at + STUCK_AFTER + dt.timedelta(minutes=1))

    def _failed(self, session: Session, entry_id: int, payload: dict[str, Any], exc: mail.MailError, *,
                retry: bool) -> None:
        entry = session.get(ReportMailLog, entry_id)
        assert entry is not None
        session.refresh(entry)
        entry.status, entry.error = SendStatus.failed, exc.message[:2000]
        entry.next_attempt_at = None
        if retry and entry.attempts <= len(RETRY_DELAYS):
            entry.next_attempt_at = utcnow() + RETRY_DELAYS[entry.attempts - 1]
            jobs.enqueue(session, SEND_JOB, dict(payload), org_id=entry.org_id, run_at=entry.next_attempt_at)


@dataclass
class ReportMail:
    """What the app factory holds: the jobs' wiring, connected once the dashboards' numbers exist."""

    box: SecretBox
    base_url: str
    dashboards: DashboardSource | None

    @property
    def connected(self) -> bool:
        return self.dashboards is not None

    def register(self, registry: jobs.JobRegistry) -> None:
        if self.dashboards is None:
            return
        registry.register(SCHEDULE_JOB, schedule_job)
        registry.register(SEND_JOB, Sender(self.dashboards, self.box, self.base_url))

    def ensure_scheduled(self, db: Database) -> None:
        """Starts the hourly chain when no run is waiting (called when a worker starts; idempotent)."""
        if self.dashboards is None:
            return
        with db.session() as session:
            running = select(jobs.Job.id).where(
                jobs.Job.kind == SCHEDULE_JOB, jobs.Job.status.in_([jobs.JobStatus.pending, jobs.JobStatus.running]))
            if session.scalars(running.limit(1)).first() is None:
                jobs.enqueue(session, SCHEDULE_JOB, {})
                session.commit()


def retry_now(session: Session, org_id: int, entry_id: int, *, connected: bool) -> ReportMailLog:
    """An admin's "重试": a failed summary (retries running or given up) is sent again now. Another org's row is a
    ``NotFoundError``; a row that is not failed is refused (a sent summary is never sent twice), and so is any row
    while no send job is registered (``connected``: the dashboards' numbers are wired in)."""
    entry = get_in_org(session, ReportMailLog, entry_id, org_id, for_update=True)
    if not connected:
        raise digest_settings.MailSettingsError("not_connected", "统计看板尚未接入，暂不能发送摘要", "log")
    if entry.status != SendStatus.failed:
        raise digest_settings.MailSettingsError("not_failed", "只有发送失败的记录可以重试", "log")
    entry.next_attempt_at = None
    jobs.enqueue(session, SEND_JOB, {"org_id": org_id, "log_id": entry.id}, org_id=org_id)
    return entry


def recent_log(session: Session, org_id: int, limit: int = 30) -> list[ReportMailLog]:
    stmt = org_query(ReportMailLog, org_id).order_by(ReportMailLog.id.desc()).limit(limit)
    return list(session.scalars(stmt))

"""Tables of the e-mailed management summary: an org's SMTP account and subscription, and the send log.

The log row of (org, kind, period) is unique: it is created once by whichever scheduler gets there first (INSERT …
ON CONFLICT DO NOTHING), and a sender must move it to ``sending`` with a conditional UPDATE before it talks to the
SMTP server, so two workers never send the same day's summary.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, Date, Enum, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class ReportMailSettings(OrgScoped, Base):
    """One row per org once an admin saved the page. The password is a Fernet token (``secretbox``, purpose
    ``report-mail``); it is never shown again."""

    __tablename__ = "report_mail_settings"
    __table_args__ = (UniqueConstraint("org_id", name="uq_report_mail_settings_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=465)
    security: Mapped[str] = mapped_column(String(16), default="ssl")  # mail.Security
    username: Mapped[str] = mapped_column(String(200), default="")
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(100), default="")
    daily_recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    weekly_recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    send_hour: Mapped[int] = mapped_column(Integer, default=8)  # local hour (Asia/Shanghai), 0–23
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class SendStatus(enum.StrEnum):
    pending = "pending"  # due, a send job is waiting
    sending = "sending"  # a worker holds it (``claimed_at``) and is talking to the SMTP server
    sent = "sent"  # the server accepted it: never sent again
    failed = "failed"  # the last try failed; ``next_attempt_at`` says when the next one runs (None: gave up)


class ReportMailLog(OrgScoped, Base):
    __tablename__ = "report_mail_log"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "period_start", name="uq_report_mail_log_period"),
        Index("ix_report_mail_log_org_recent", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # daily, weekly
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[SendStatus] = mapped_column(Enum(SendStatus, native_enum=False, length=16),
                                               default=SendStatus.pending)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)  # sent, but some recipients were refused

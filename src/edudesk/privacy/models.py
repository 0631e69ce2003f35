"""An org's retention policy: how many days each kind of personal data is kept (None = kept until erased)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class RetentionPolicy(OrgScoped, Base):
    """One row per org once an admin saved the retention page; without a row ``privacy.retention.DEFAULTS``
    apply. A None column means "keep forever", which only an admin's explicit choice stores."""

    __tablename__ = "privacy_retention"
    __table_args__ = (UniqueConstraint("org_id", name="uq_privacy_retention_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversations_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attachments_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recordings_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    leads_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")

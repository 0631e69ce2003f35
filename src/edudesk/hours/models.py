from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class BusinessHoursRecord(OrgScoped, Base):
    """An org's opening hours (``group_id`` None) or one skill group's own hours, overriding the org's.

    ``spec`` is the JSON form of ``edudesk.hours.schedule.BusinessHours`` (weekly intervals, holidays, make-up
    workdays, time zone). An org without a record, or with ``enabled`` false, is always open."""

    __tablename__ = "business_hours"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), nullable=True,
                                                 index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the bot says off hours before the off-hours flow; empty = a standard sentence with the next open time.
    closed_message: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

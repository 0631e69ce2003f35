from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, UTCDateTime, utcnow


class Org(Base):
    """An institution (tenant). ``public_key`` is published in the widget tag; it grants nothing but chatting."""

    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    widget_color: Mapped[str] = mapped_column(String(16), default="#2563eb")
    # Bumped by every change to the org's bot or knowledge base, in the same transaction: an instance that missed
    # the change event (no Redis, or a CLI import in another process) still notices within seconds.
    bot_version: Mapped[int] = mapped_column(Integer, default=0)
    # Satisfaction survey after a resolved conversation: the question and the scale (2 = 满意/不满意, 3 or 5 stars).
    csat_question: Mapped[str] = mapped_column(String(200), default="您对本次服务满意吗？")
    csat_scale: Mapped[int] = mapped_column(Integer, default=5)
    # Web origins ("https://www.example.com") whose pages may use the widget; empty means any origin (docs/limits.md).
    widget_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

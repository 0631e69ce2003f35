"""The browsing trail: visits (one browsing session of one visitor) and the page views inside them.

Page views are high-volume, append-only data: they are written in batches, off the message path, and purged by
age (docs/visitors.md). A visitor is known by ``visitor_key`` from the first page view on — the widget's visitor id,
which is also the ``external_id`` of the contact's ``web`` identity once the visitor's socket opens — so rows
written before the contact exists need no rewrite: ``contact_id`` is filled in when it becomes known.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow

# 64-bit on PostgreSQL (page views add up); SQLite's INTEGER PRIMARY KEY is 64-bit already and must stay INTEGER
# to remain the rowid alias that autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Visit(OrgScoped, Base):
    """One browsing session: page views of one visitor with no gap longer than the session timeout (30 min).

    ``source`` is the attribution of the visit's landing (the keys of ``visitors.attribution``: utm_*, click ids,
    search engine and keyword, referrer host, landing page, device, os, browser, province, city); the columns
    beside it repeat what reports filter and group by, so they can be indexed."""

    __tablename__ = "visitor_visits"
    __table_args__ = (
        Index("ix_visitor_visits_org_key_seen", "org_id", "visitor_key", "last_seen_at"),
        Index("ix_visitor_visits_org_seen", "org_id", "last_seen_at"),
        Index("ix_visitor_visits_org_started", "org_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visitor_key: Mapped[str] = mapped_column(String(64))
    # Set once the visitor is a contact (their socket opened, or a later merge); erasure deletes the rows.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    page_views: Mapped[int] = mapped_column(Integer, default=0)
    landing_url: Mapped[str] = mapped_column(String(1000), default="")
    referrer: Mapped[str] = mapped_column(String(1000), default="")
    current_url: Mapped[str] = mapped_column(String(1000), default="")
    current_title: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "search" | "ad" | "social" | "referral" | "campaign" | "direct"
    source_kind: Mapped[str] = mapped_column(String(16), default="direct")
    campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    device: Mapped[str] = mapped_column(String(16), default="")  # "mobile" | "tablet" | "desktop" | "other"
    os: Mapped[str] = mapped_column(String(40), default="")
    browser: Mapped[str] = mapped_column(String(40), default="")
    # Crawlers and headless browsers: stored (an admin can see them) but left out of every report and list.
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    province: Mapped[str] = mapped_column(String(32), default="")
    city: Mapped[str] = mapped_column(String(32), default="")
    # The address cut after the location lookup (IPv4 /24, IPv6 /48): never the full address.
    ip_prefix: Mapped[str] = mapped_column(String(48), default="")


class PageView(OrgScoped, Base):
    """One page shown to a visitor. ``view_key`` is the widget's id for the view, so a beacon sent twice is
    stored once and the time on the page (reported when the visitor moves on) finds its row."""

    __tablename__ = "visitor_page_views"
    __table_args__ = (
        UniqueConstraint("visit_id", "view_key", name="uq_visitor_page_views_visit_view"),
        Index("ix_visitor_page_views_org_viewed", "org_id", "viewed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visitor_visits.id", ondelete="CASCADE"), index=True)
    view_key: Mapped[str] = mapped_column(String(24))
    url: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(300), default="")
    referrer: Mapped[str] = mapped_column(String(1000), default="")
    viewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Seconds the page stayed shown (visible), known once the visitor left it; None while unknown.
    seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)


class VisitorSettings(OrgScoped, Base):
    """One row per org once an admin saved the visitor settings; without one the trail is on and kept 90 days
    (``visitors.settings.DEFAULTS``)."""

    __tablename__ = "visitor_settings"
    __table_args__ = (UniqueConstraint("org_id", name="uq_visitor_settings_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trail_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=90)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")

"""Campaigns (推广活动): the parametric QR codes and links an org places, and how many people each one brought.

A campaign is a *scene*: the string a channel hands back when someone arrives through it (a WeChat QR code's
``scene_str``, a 微信客服 link's ``scene_param``, an ad's ``utm_campaign``). Touches are counted per local day in
``campaign_days``, in the transaction that records the arrival, so the report is a SUM and never a scan of
messages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class Campaign(OrgScoped, Base):
    __tablename__ = "campaigns"
    # ``inbox_ref`` is the inbox id, or 0 for a campaign of no connected account (a landing page's utm_campaign):
    # NULLs never collide in a unique index, so the nullable foreign key cannot carry the uniqueness itself.
    __table_args__ = (UniqueConstraint("org_id", "inbox_ref", "scene", name="uq_campaigns_org_inbox_scene"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The connected account whose QR code / link this is; its campaigns go with it when it is deleted (the codes
    # can no longer bring anyone), while the leads keep the scene they came by.
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=True,
                                                 index=True)
    inbox_ref: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(32), default="")
    # As the channel reports it; what ``Lead.campaign`` holds for the leads it brought (same length).
    scene: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8), default="qr")  # "qr" or "link"
    # What the provider returned (a QR code's ticket, its content url and image url; a link's url).
    provider: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "admin": created on a page; "auto": a scene nobody created arrived and was kept as 未命名 (an admin who later
    # creates that scene adopts the row and its counts).
    origin: Mapped[str] = mapped_column(String(8), default="admin")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignDay(OrgScoped, Base):
    """A campaign's touches (arrivals through it: scans, link opens) and the new contacts among them, per local
    day (Asia/Shanghai)."""

    __tablename__ = "campaign_days"
    __table_args__ = (UniqueConstraint("campaign_id", "day", name="uq_campaign_days_campaign_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    touches: Mapped[int] = mapped_column(Integer, default=0)
    new_contacts: Mapped[int] = mapped_column(Integer, default=0)

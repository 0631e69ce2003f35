from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class Contact(OrgScoped, Base):
    """A person who talks to the institution: a parent, a student, an adult learner."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    wechat_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_page_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    last_page_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    visits: Mapped[int] = mapped_column(Integer, default=1)
    # Set by staff (or the CRM): VIP contacts jump queues and go to senior agents when the rules say so.
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Set when the person's data was erased (on request or by retention): the row stays, empty, for reports.
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ContactIdentity(OrgScoped, Base):
    """How a contact is known on one channel (a widget visitor id, a WeChat openid, …)."""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("org_id", "channel", "external_id", name="uq_identity_org_channel_ext"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

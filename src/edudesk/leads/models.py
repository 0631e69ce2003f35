"""Lead cards: one lead per contact, its field values with where each came from, and the org's field definitions."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class FieldType(enum.StrEnum):
    text = "text"
    number = "number"
    phone = "phone"
    single = "single"
    multi = "multi"
    date = "date"


class LeadStatus(enum.StrEnum):
    new = "new"
    contacted = "contacted"
    trial_booked = "trial_booked"
    attended = "attended"
    enrolled = "enrolled"
    lost = "lost"


# How the pipeline statuses read in the console and exports.
STATUS_LABELS: dict[str, str] = {"new": "新线索", "contacted": "已联系", "trial_booked": "已约试听",
                                 "attended": "已试听", "enrolled": "已报名", "lost": "已流失"}


class ValueSource(enum.StrEnum):
    visitor = "visitor"  # extracted from a visitor message
    agent = "agent"  # typed by staff on the card
    flow = "flow"  # answered to a bot script's question
    form = "form"  # filled in by the visitor on a landing-page form (leadforms)


class LeadFieldDef(OrgScoped, Base):
    """One field of the org's lead card (名片): the built-ins and the org's own."""

    __tablename__ = "lead_field_defs"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_lead_field_defs_org_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(40))
    type: Mapped[FieldType] = mapped_column(Enum(FieldType, native_enum=False, length=16))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Lead(OrgScoped, Base):
    __tablename__ = "leads"
    # org + created: the dashboards' roll-up job reads a day's leads (analytics.rollups).
    __table_args__ = (UniqueConstraint("org_id", "contact_id", name="uq_leads_org_contact"),
                      Index("ix_leads_org_created", "org_id", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    status: Mapped[LeadStatus] = mapped_column(Enum(LeadStatus, native_enum=False, length=16),
                                              default=LeadStatus.new)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    # Phone or WeChat known: the lead can be called back (套电). Kept as a column for the capture-rate report.
    has_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # Normalised E.164 phone, for duplicate detection across conversations and channels.
    phone_e164: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    source_channel: Mapped[str] = mapped_column(String(32), default="")
    # The campaign the person came from (a WeChat QR code's scene, a 微信客服 link's scene, an ad's utm_campaign)
    # and the rest of the attribution (utm_*, click ids, the inbox): set by the first touch, kept afterwards.
    campaign: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    attribution: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    landing_page: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    first_conversation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    contact_captured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when this lead turned out to be the same person as an older lead (same phone or WeChat): the older one
    # carries on and this one only points to it.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), nullable=True,
                                                       index=True)
    # Intent grade (A/B/C) from the org's grading rules, and the reasons shown on the card ("+25 留下了手机号").
    score: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[str] = mapped_column(String(1), default="C", index=True)
    score_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)


class LeadValue(OrgScoped, Base):
    """One field's value on a lead and its provenance (which message, or which agent)."""

    __tablename__ = "lead_values"
    __table_args__ = (UniqueConstraint("lead_id", "key", name="uq_lead_values_lead_key"),
                      Index("ix_lead_values_org_key_text", "org_id", "key", "value_text"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    value: Mapped[Any] = mapped_column(JSON)
    # The value as shown ("数学、英语"): what lists filter and search on (JSON is not comparable everywhere).
    value_text: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[ValueSource] = mapped_column(Enum(ValueSource, native_enum=False, length=16))
    # The visitor's words the value was taken from, and where they were said.
    evidence: Mapped[str] = mapped_column(String(200), default="")
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadGrading(OrgScoped, Base):
    """An org's own grading rules; without a row the defaults of ``leads.grading`` apply."""

    __tablename__ = "lead_grading"
    __table_args__ = (UniqueConstraint("org_id", name="uq_lead_grading_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # [[signal, points, label], …]
    rules: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    a_threshold: Mapped[int] = mapped_column(Integer, default=60)
    b_threshold: Mapped[int] = mapped_column(Integer, default=30)


class LeadNote(OrgScoped, Base):
    """A follow-up note on a lead (电话已沟通，周六带孩子来试听), optionally with a reminder time."""

    __tablename__ = "lead_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(String(2000))
    remind_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

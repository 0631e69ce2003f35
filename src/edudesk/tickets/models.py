from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class TicketStatus(enum.StrEnum):
    new = "new"
    open = "open"
    pending = "pending"  # waiting for the visitor; the resolution clock pauses
    solved = "solved"
    closed = "closed"


class TicketPriority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketSource(enum.StrEnum):
    off_hours = "off_hours"
    queue_timeout = "queue_timeout"
    agent = "agent"
    api = "api"
    callback = "callback"  # the visitor chose "leave details, call me back" while queued


class Ticket(OrgScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_org_status", "org_id", "status"),
        Index("ix_tickets_org_assignee", "org_id", "assignee_id"),
        # The dashboards' roll-up job reads a day's tickets (analytics.rollups).
        Index("ix_tickets_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[TicketStatus] = mapped_column(Enum(TicketStatus, native_enum=False, length=16),
                                                 default=TicketStatus.new)
    priority: Mapped[TicketPriority] = mapped_column(Enum(TicketPriority, native_enum=False, length=16),
                                                     default=TicketPriority.normal)
    source: Mapped[TicketSource] = mapped_column(Enum(TicketSource, native_enum=False, length=16))
    channel: Mapped[str] = mapped_column(String(32), default="web")
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True,
                                                   index=True)
    # The conversation replies are delivered into (the latest one of the contact on the ticket's channel).
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"),
                                                        nullable=True, index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), nullable=True)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"),
                                                      nullable=True)
    first_response_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    first_response_breached_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_breached_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # While pending (waiting for the visitor) the resolution clock stops; the due time moves on by the pause.
    pending_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    solved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommentKind(enum.StrEnum):
    reply = "reply"  # staff → visitor, delivered through the ticket's channel
    note = "note"  # staff only
    visitor = "visitor"  # the visitor's own words (the first message, or a later reply)
    system = "system"  # status changes, SLA events


class TicketComment(OrgScoped, Base):
    __tablename__ = "ticket_comments"
    __table_args__ = (Index("ix_ticket_comments_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[CommentKind] = mapped_column(Enum(CommentKind, native_enum=False, length=16))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text)
    # Staff mentioned with @name in a note: told at once and listed under "提到我的".
    mentions: Mapped[list[int]] = mapped_column(JSON, default=list)
    # The chat message a reply became (or the visitor message a visitor comment came from).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaPolicy(OrgScoped, Base):
    """First-response and resolution targets, in business minutes, for tickets of a priority and/or group.
    The first enabled policy (by ``position``) whose priority and group match (None = any) applies."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[TicketPriority | None] = mapped_column(Enum(TicketPriority, native_enum=False, length=16),
                                                            nullable=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), nullable=True)
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    # A warning goes out when this share of the target has passed (e.g. 80 %).
    warn_percent: Mapped[int] = mapped_column(Integer, default=80)


class TicketView(OrgScoped, Base):
    """A saved ticket list filter; ``owner_id`` None = shared with the org."""

    __tablename__ = "ticket_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketFieldDef(OrgScoped, Base):
    """An org's own ticket field (e.g. 校区, 订单号, 退费金额)."""

    __tablename__ = "ticket_field_defs"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_ticket_field_defs_org_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text, number, select, date
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

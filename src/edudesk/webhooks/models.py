"""Webhook tables: endpoints, the emitted events (the outbox), one delivery per event × endpoint, and its attempts.

Deliveries carry the event's subject and sequence next to them so that "is an earlier event of this subject still
waiting for this endpoint?" is one indexed query on one table, asked inside the claiming UPDATE.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # not tried yet (or replayed)
    succeeded = "succeeded"  # answered 2xx; never sent again except by a manual replay
    failed = "failed"  # last attempt failed; another one is scheduled at next_attempt_at
    dead = "dead"  # retried for the whole retry window without success


UNFINISHED = (DeliveryStatus.pending, DeliveryStatus.failed)


class WebhookEndpoint(OrgScoped, Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Fernet token (edudesk.secretbox) of the whsec_… signing secret; the plain secret is shown once.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    # Empty: one of the org's own subscriptions (/admin/webhooks), sent every event type it subscribes to.
    # Otherwise what manages the endpoint ("inbox:12", the API channel's inbox): it gets only the events emitted
    # to it by id, and its URL is changed (and the endpoint deleted) by its owner, not on the webhooks page.
    owner: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookSubject(OrgScoped, Base):
    """The last sequence number handed out per subject; its row lock orders concurrent emits of one subject."""

    __tablename__ = "webhook_subjects"
    __table_args__ = (UniqueConstraint("org_id", "subject_key", name="uq_webhook_subjects_org_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(200))
    last_sequence: Mapped[int] = mapped_column(Integer, default=0)


class WebhookEvent(OrgScoped, Base):
    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("org_id", "subject_key", "sequence", name="uq_webhook_events_subject_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(OrgScoped, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_queue", "endpoint_id", "subject_key", "sequence"),
        Index("ix_webhook_deliveries_log", "endpoint_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16), default=DeliveryStatus.pending)
    # Attempts in the current series (a manual replay starts a new series at 0); the log keeps every attempt.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    series_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Lease of the worker that is sending it right now: no second worker claims it before this time.
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAttempt(OrgScoped, Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # The first KB of what the receiver answered, for the admin's delivery log.
    response_body: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

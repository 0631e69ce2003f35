"""An org's connected channel accounts (inboxes): a WeChat Official Account, a WeCom customer-service account,
an API inbox. One row each, settings in JSON and secrets encrypted at rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class Inbox(OrgScoped, Base):
    __tablename__ = "inboxes"
    __table_args__ = (UniqueConstraint("public_id", name="uq_inboxes_public_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    # In the provider-facing URL (/channels/wechat/<public_id>): random, so one org's URL reveals nothing of others.
    public_id: Mapped[str] = mapped_column(String(40))
    # The adapter's config model without its secret fields …
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # … which are here, as one Fernet token of a JSON object (edudesk.secretbox, purpose "channel-secrets").
    secrets_encrypted: Mapped[str] = mapped_column(Text, default="")
    # What the adapter keeps between requests (a message-pull cursor); never secret.
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxReceipt(OrgScoped, Base):
    """A provider callback already handled (a WeChat event, by sender + CreateTime; messages are deduplicated by
    their client id instead): platforms resend what they think was lost, and a resent "subscribe" must not greet
    twice or count a QR scan twice."""

    __tablename__ = "inbox_receipts"
    __table_args__ = (UniqueConstraint("inbox_id", "key", name="uq_inbox_receipts_inbox_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

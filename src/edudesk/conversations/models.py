from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.conversations.states import ConversationState
from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class SenderKind(enum.StrEnum):
    visitor = "visitor"
    bot = "bot"
    agent = "agent"
    system = "system"


class Conversation(OrgScoped, Base):
    __tablename__ = "conversations"
    # org + start: the dashboards' roll-up job reads a day's conversations (analytics.rollups).
    __table_args__ = (Index("ix_conversations_org_state", "org_id", "state"),
                      Index("ix_conversations_org_created", "org_id", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    # The connected account (edudesk.inboxes) the visitor writes through; None for the web widget. Messages of a
    # conversation with an inbox go out through its channel adapter (channel_deliveries).
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"), nullable=True)
    # The visitor's last message: the start of the channel's reply window (WeChat: 48 hours).
    last_visitor_message_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[ConversationState] = mapped_column(
        Enum(ConversationState, native_enum=False, length=16), default=ConversationState.bot
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                    index=True)
    page_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    page_title: Mapped[str | None] = mapped_column(String(300), nullable=True)
    referrer: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Routing: the skill group whose queue (or member) has the conversation, and its place in that queue
    # (higher priority first, then the longest waiting). ``senior_first`` offers it to senior members first.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    senior_first: Mapped[bool] = mapped_column(Boolean, default=False)
    # The menu button the visitor chose (a routing fact), e.g. "menu:售后".
    menu_choice: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_agent_reply_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_message_text: Mapped[str] = mapped_column(String(200), default="")
    last_message_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    csat_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The scale the visitor rated on (the org may change it later; reports normalise by it).
    csat_scale: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when retention (or an erasure) removed the transcript's content; the row stays for reports.
    content_purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Attachment(OrgScoped, Base):
    """An uploaded file; stored under the data directory by its content hash, never by the visitor's name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), nullable=True)
    storage_key: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    original_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(OrgScoped, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "client_id", name="uq_messages_conversation_client"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender: Mapped[SenderKind] = mapped_column(Enum(SenderKind, native_enum=False, length=16))
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    sender_name: Mapped[str] = mapped_column(String(100), default="")
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    # Internal notes between staff: stored in the transcript, never sent to or shown to the visitor.
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id", ondelete="SET NULL"),
                                                      nullable=True)
    # Buttons and other structured parts of bot replies.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryState(enum.StrEnum):
    pending = "pending"  # waiting for its turn (or for the next try after a failure)
    sending = "sending"  # claimed by a worker until ``lease_until``
    sent = "sent"
    failed = "failed"  # can never go out this way (outside the reply window, blocked): the agents are told


class ChannelDelivery(OrgScoped, Base):
    """One message on its way out through the conversation's channel adapter: the outbox of push channels.

    Written in the transaction that stores the message, so nothing is lost if the process dies; sent by the
    ``channels.deliver`` job in message order per conversation, retried with backoff while the channel is down.
    """

    __tablename__ = "channel_deliveries"
    __table_args__ = (Index("ix_channel_deliveries_conv_state", "conversation_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[DeliveryState] = mapped_column(Enum(DeliveryState, native_enum=False, length=16),
                                                 default=DeliveryState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # "message", or "template" when it went out as a template message outside the reply window.
    via: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

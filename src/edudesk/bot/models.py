from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class BotSettings(OrgScoped, Base):
    __tablename__ = "bot_settings"
    __table_args__ = (UniqueConstraint("org_id", name="uq_bot_settings_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    welcome_text: Mapped[str] = mapped_column(Text)
    fallback_text: Mapped[str] = mapped_column(Text)
    handoff_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Consecutive questions the bot could not answer before it hands over by itself.
    max_misses: Mapped[int] = mapped_column(Integer, default=3)
    # Masked in visitor and bot text, on top of the built-in list.
    sensitive_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    # FAQ thresholds for this org; NULL means the calibrated defaults of the matcher.
    answer_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    suggest_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)


class KeywordRule(OrgScoped, Base):
    """If the visitor's message contains any of ``keywords``, the bot answers ``reply``."""

    __tablename__ = "bot_keyword_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    reply: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    label: Mapped[str] = mapped_column(String(100), default="")


class BotConversationState(OrgScoped, Base):
    """What the bot remembers about one conversation (misses in a row; later, the running flow step)."""

    __tablename__ = "bot_conversation_state"
    __table_args__ = (UniqueConstraint("conversation_id", name="uq_bot_state_conversation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer, index=True)
    misses: Mapped[int] = mapped_column(Integer, default=0)
    # Category paths of the entries answered in this conversation, newest last (for "猜你所想").
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The bot script (话术流程) running in this conversation (FlowState JSON), the scripts it finished, and the
    # visitor's messages so far (the "N turns without contact details" trigger).
    flow_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    flows_done: Mapped[list[str]] = mapped_column(JSON, default=list)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    # What the bot said in its last turn, so it never says the same sentence twice in a row (``bot.manners``).
    said: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class BotFlow(OrgScoped, Base):
    """One bot script of the org, stored as its exported JSON (``bot.flows.spec.Flow``); ``version`` counts saves
    and every saved version is kept in ``BotFlowVersion`` so an edit can be looked back on or rolled back."""

    __tablename__ = "bot_flows"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_bot_flows_org_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BotFlowVersion(OrgScoped, Base):
    __tablename__ = "bot_flow_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("bot_flows.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped


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

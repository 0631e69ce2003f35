"""Knowledge-base tables. Every text that finds an entry (standard or similar question) is stored with its
normalised form next to it, so uniqueness checks and imports compare in SQL instead of normalising in Python."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow

# Normalised texts can be longer than what was typed (NFKC expands a few ligatures), hence the wider columns.
NORM_LENGTH = 400


class KbCategory(OrgScoped, Base):
    """A folder of the category tree (课程/价格). Names are unique among siblings."""

    __tablename__ = "kb_categories"
    __table_args__ = (
        UniqueConstraint("org_id", "parent_id", "name", name="uq_kb_categories_org_parent_name"),
        # NULL parents are never equal in a UNIQUE constraint, so top-level names need a partial index of their own.
        Index("uq_kb_categories_org_root_name", "org_id", "name", unique=True,
              sqlite_where=sql_text("parent_id IS NULL"), postgresql_where=sql_text("parent_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NO ACTION, not RESTRICT: checked at the end of a statement, so deleting an org (which cascades to all its
    # categories at once) works, while the service refuses to delete a category that still has children.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbEntry(OrgScoped, Base):
    """One FAQ entry: a standard question (标准问), its answer and what the bot shows with it."""

    __tablename__ = "kb_entries"
    __table_args__ = (
        # Unique among live entries only: a deleted entry must not block re-creating the same question.
        Index("uq_kb_entries_org_question", "org_id", "question_norm", unique=True,
              sqlite_where=sql_text("deleted_at IS NULL"), postgresql_where=sql_text("deleted_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(String(200))
    question_norm: Mapped[str] = mapped_column(String(NORM_LENGTH))
    # Plain text; http(s) links in it are allowed and turned into links by the widget, never HTML.
    answer: Mapped[str] = mapped_column(Text)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Quick replies: [{"label": "预约试听", "payload": "我想预约试听课"}].
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Calendar days in Asia/Shanghai, both inclusive; NULL means open-ended.
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    related_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    hot_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    hot_position: Mapped[int] = mapped_column(Integer, default=0)
    # How often the bot answered a visitor with this entry; bumped by one UPDATE per answer (kb.service).
    ask_count: Mapped[int] = mapped_column(Integer, default=0)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the service on real edits only: counting answers must not look like an edit.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class KbSimilarQuestion(OrgScoped, Base):
    """A paraphrase (相似问) that should find its entry. A text belongs to at most one live entry of an org."""

    __tablename__ = "kb_similar_questions"
    __table_args__ = (
        UniqueConstraint("entry_id", "text_norm", name="uq_kb_similar_questions_entry_text"),
        Index("ix_kb_similar_questions_org_text", "org_id", "text_norm"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    text_norm: Mapped[str] = mapped_column(String(NORM_LENGTH))


class MissReason(enum.StrEnum):
    unanswered = "unanswered"  # the bot fell back: nothing matched
    suggested = "suggested"  # the bot only offered "did you mean" choices
    downvoted = "downvoted"  # the bot answered and the visitor said it did not help
    flagged = "flagged"  # the bot answered and a staff member marked the answer wrong (console)


class KbMiss(OrgScoped, Base):
    """A visitor question the knowledge base did not answer well, kept until someone resolves it."""

    __tablename__ = "kb_misses"
    __table_args__ = (Index("ix_kb_misses_org_resolved", "org_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    query_norm: Mapped[str] = mapped_column(Text)
    reason: Mapped[MissReason] = mapped_column(Enum(MissReason, native_enum=False, length=16))
    # Plain ids, no foreign keys: a miss outlives its conversation for the statistics.
    conversation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # What the bot answered when the visitor down-voted it.
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolution: Mapped[str] = mapped_column(String(500), default="")


class AnswerFeedback(OrgScoped, Base):
    """The visitor's 有用/没用 on one bot answer; one row per answer message, a second vote overwrites it."""

    __tablename__ = "kb_answer_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(Integer, unique=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbQualityReport(OrgScoped, Base):
    """One run of the answer-quality report (``kb.quality``): per-category results, wrong pairs and the threshold
    sweep on the org's labelled misses and on a hold-out of its own similar questions, as computed JSON."""

    __tablename__ = "kb_quality_reports"
    __table_args__ = (Index("ix_kb_quality_reports_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Quality-inspection tables: rule-set revisions, sampling settings, automatic results with their hits, and the
review cases (sampled or appealed) with their workflow state."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class QcRuleRevision(OrgScoped, Base):
    """One saved state of an org's rule set; never changed once written. The highest revision is in force, and
    every result names the revision it was inspected with."""

    __tablename__ = "qc_rule_revisions"
    __table_args__ = (UniqueConstraint("org_id", "revision", name="uq_qc_rule_revisions_org_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class QcSettings(OrgScoped, Base):
    """How the daily sample for manual review is drawn."""

    __tablename__ = "qc_settings"
    __table_args__ = (UniqueConstraint("org_id", name="uq_qc_settings_org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    random_percent: Mapped[int] = mapped_column(Integer, default=5)
    below_score: Mapped[int] = mapped_column(Integer, default=60)  # every result below this score; 0 = none
    all_severe: Mapped[bool] = mapped_column(Boolean, default=True)
    all_complaints: Mapped[bool] = mapped_column(Boolean, default=True)


class QcInspection(OrgScoped, Base):
    """The automatic result of one conversation (or, later, one call). Re-inspection replaces it in place."""

    __tablename__ = "qc_inspections"
    __table_args__ = (
        UniqueConstraint("org_id", "conversation_id", name="uq_qc_inspections_org_conversation"),
        Index("ix_qc_inspections_org_closed", "org_id", "closed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True)
    score: Mapped[int] = mapped_column(Integer)
    deducted: Mapped[int] = mapped_column(Integer, default=0)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    severe: Mapped[bool] = mapped_column(Boolean, default=False)
    complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    # The rules that hit (keys), for the results filter without a join per row.
    rule_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    closed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    inspected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QcHit(OrgScoped, Base):
    __tablename__ = "qc_hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("qc_inspections.id", ondelete="CASCADE"), index=True)
    rule_key: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    rule_name: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start: Mapped[int] = mapped_column(Integer, default=0)
    end: Mapped[int] = mapped_column(Integer, default=0)
    # The words that hit (cleared when the transcript's content is purged or erased).
    matched: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(String(300))


class ReviewState(enum.StrEnum):
    pending = "pending"  # sampled, waiting for a reviewer
    reviewed = "reviewed"  # scored by a reviewer; the agent may appeal once
    appealed = "appealed"  # the agent appealed; waiting for a supervisor's decision
    upheld = "upheld"  # the decision kept the score
    overturned = "overturned"  # the decision changed the score


REVIEW_STATE_LABELS = {
    ReviewState.pending: "待复核", ReviewState.reviewed: "已复核", ReviewState.appealed: "申诉中",
    ReviewState.upheld: "申诉驳回（维持）", ReviewState.overturned: "申诉成立（改判）",
}


class QcReview(OrgScoped, Base):
    """The manual side of one conversation's inspection: why it was picked, the reviewer's score and comment, the
    agent's one appeal and the supervisor's decision."""

    __tablename__ = "qc_reviews"
    __table_args__ = (
        UniqueConstraint("org_id", "conversation_id", name="uq_qc_reviews_org_conversation"),
        Index("ix_qc_reviews_org_state", "org_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("qc_inspections.id", ondelete="SET NULL"),
                                                      nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    state: Mapped[ReviewState] = mapped_column(Enum(ReviewState, native_enum=False, length=16),
                                               default=ReviewState.pending)
    # random / low_score / severe / complaint / manual / appeal
    reason: Mapped[str] = mapped_column(String(16))
    sample_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    review_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    appeal_reason: Mapped[str] = mapped_column(Text, default="")
    appealed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decision_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

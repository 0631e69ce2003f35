"""A call campaign (外呼任务) and its targets: one row per number to reach, snapshotted from the lead list when the
campaign starts.

The tables are ``call_campaigns``/``call_targets``: ``campaigns`` belongs to the WeChat QR campaigns
(edudesk/campaigns). ``calls.campaign_id``/``calls.target_id`` point here as plain integers, so the voice core does
not depend on this package.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow
from edudesk.errors import DomainError
from edudesk.voice.models import CallMode


class CampaignError(DomainError):
    pass


class CampaignState(enum.StrEnum):
    """draft → running ⇄ paused → finished / canceled; ``move_to`` refuses any other step."""

    draft = "draft"
    running = "running"
    paused = "paused"
    finished = "finished"
    canceled = "canceled"

    def can_move_to(self, target: CampaignState) -> bool:
        return target in _MOVES[self]

    def move_to(self, target: CampaignState) -> CampaignState:
        if not self.can_move_to(target):
            raise CampaignError(
                "bad_transition",
                f"外呼任务不能从“{CAMPAIGN_STATE_LABELS[self]}”变为“{CAMPAIGN_STATE_LABELS[target]}”",
                "state",
            )
        return target


_MOVES: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.draft: frozenset({CampaignState.running, CampaignState.canceled}),
    CampaignState.running: frozenset({CampaignState.paused, CampaignState.finished, CampaignState.canceled}),
    CampaignState.paused: frozenset({CampaignState.running, CampaignState.finished, CampaignState.canceled}),
    CampaignState.finished: frozenset(),
    CampaignState.canceled: frozenset(),
}

CAMPAIGN_STATE_LABELS: dict[CampaignState, str] = {
    CampaignState.draft: "草稿",
    CampaignState.running: "进行中",
    CampaignState.paused: "已暂停",
    CampaignState.finished: "已完成",
    CampaignState.canceled: "已取消",
}


class TargetState(enum.StrEnum):
    pending = "pending"  # waiting for its next attempt (``next_attempt_at``)
    calling = "calling"  # a call is queued or under way
    done = "done"  # reached with a final outcome
    exhausted = "exhausted"  # every attempt used without a final outcome
    excluded = "excluded"  # never called: on the do-not-call list, a duplicate number… (``excluded_reason``)


TARGET_STATE_LABELS: dict[TargetState, str] = {
    TargetState.pending: "待呼叫",
    TargetState.calling: "呼叫中",
    TargetState.done: "已完成",
    TargetState.exhausted: "已达上限",
    TargetState.excluded: "已排除",
}


class CallCampaign(OrgScoped, Base):
    __tablename__ = "call_campaigns"
    __table_args__ = (Index("ix_call_campaigns_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    mode: Mapped[CallMode] = mapped_column(Enum(CallMode, native_enum=False, length=16), default=CallMode.robot)
    state: Mapped[CampaignState] = mapped_column(
        Enum(CampaignState, native_enum=False, length=16), default=CampaignState.draft
    )
    line_id: Mapped[int | None] = mapped_column(ForeignKey("voice_lines.id", ondelete="SET NULL"), nullable=True)
    # The bot flow the robot runs (None: the org's default call flow).
    flow_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The lead-list filters the targets are built from at start (schedule.LeadSelection.to_dict()).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Call windows: {"mon": [["09:00", "12:00"], ["14:00", "20:30"]], …} in the org's local time.
    windows: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Skip China's statutory holidays and call on 调休 make-up workdays (with Monday's windows).
    skip_holidays: Mapped[bool] = mapped_column(Boolean, default=True)
    # The org's own closed days for this campaign (ISO dates).
    closed_days: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    # Minutes between attempts, multiplied by ``retry_growth`` after each further attempt (1.0: even spacing).
    retry_minutes: Mapped[int] = mapped_column(Integer, default=60)
    retry_growth: Mapped[float] = mapped_column(Float, default=1.0)
    # Calls of this campaign under way at once (also bounded by the line's own ``max_concurrent``).
    max_concurrent: Mapped[int] = mapped_column(Integer, default=2)
    # Rotates through the line's caller numbers.
    caller_cursor: Mapped[int] = mapped_column(Integer, default=0)
    # "interested": the lead goes to an agent of this skill group (round-robin) or to the default owner; with
    # ``book_trials`` a time the callee chose books a trial class instead.
    handoff_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("skill_groups.id", ondelete="SET NULL"), nullable=True
    )
    default_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    handoff_cursor: Mapped[int] = mapped_column(Integer, default=0)
    book_trials: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The dialer's last pass over this campaign (also the row every pass locks first, so two instances' passes over
    # one campaign follow each other).
    ticked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CallTarget(OrgScoped, Base):
    __tablename__ = "call_targets"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone_e164", name="uq_call_targets_campaign_phone"),
        Index("ix_call_targets_due", "campaign_id", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("call_campaigns.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), nullable=True, index=True)
    contact_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    state: Mapped[TargetState] = mapped_column(
        Enum(TargetState, native_enum=False, length=16), default=TargetState.pending
    )
    excluded_reason: Mapped[str] = mapped_column(String(100), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_call_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The call ids already counted as attempts (a wrap-up re-run of voice.call_ended must not count twice).
    counted_calls: Mapped[list[int]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

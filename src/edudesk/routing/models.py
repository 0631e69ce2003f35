"""Who can serve whom: skill groups and their members, agents' presence and capacity, and the org's routing rules."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow

# Minutes a visitor waits in a queue before the wait becomes a ticket, unless the group sets its own.
DEFAULT_QUEUE_TIMEOUT_MINUTES = 10


class Strategy(enum.StrEnum):
    """How a group picks among members with free capacity."""

    least_busy = "least_busy"
    round_robin = "round_robin"
    # The agent who last served this contact, when they are free; otherwise least busy.
    last_agent = "last_agent"
    # No automatic assignment: agents pick conversations from the group's queue (抢单).
    manual = "manual"


STRATEGY_LABELS = {
    Strategy.least_busy: "最空闲优先",
    Strategy.round_robin: "轮流分配",
    Strategy.last_agent: "优先上次接待的老师",
    Strategy.manual: "手动接入（抢单）",
}


class AgentStatus(enum.StrEnum):
    online = "online"  # takes new conversations
    busy = "busy"  # keeps serving, takes no new ones
    away = "away"  # gone for a moment; takes no new ones
    offline = "offline"


STATUS_LABELS = {
    AgentStatus.online: "在线",
    AgentStatus.busy: "忙碌",
    AgentStatus.away: "离开",
    AgentStatus.offline: "离线",
}


class SkillGroup(OrgScoped, Base):
    """A team that serves one kind of question (小学数学, 少儿英语, 职业考试, 售后 …)."""

    __tablename__ = "skill_groups"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_skill_groups_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300), default="")
    strategy: Mapped[Strategy] = mapped_column(Enum(Strategy, native_enum=False, length=16),
                                               default=Strategy.least_busy)
    # Minutes a visitor may wait in this group's queue before the wait turns into a ticket; 0 = wait forever.
    queue_timeout_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_QUEUE_TIMEOUT_MINUTES)
    # Round robin: the member who got the group's last conversation.
    last_assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                              nullable=True)


class SkillGroupMember(OrgScoped, Base):
    __tablename__ = "skill_group_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id", name="uq_skill_group_members_group_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # 1 (new) … 5 (senior): VIP and A-grade contacts go to higher levels first.
    level: Mapped[int] = mapped_column(Integer, default=1)


class AgentState(OrgScoped, Base):
    """An agent's chosen status and capacity. The row is also the lock that serialises assignments to the agent:
    whoever assigns a conversation locks it first, so two instances never both fill the last free seat."""

    __tablename__ = "agent_states"
    __table_args__ = (UniqueConstraint("user_id", name="uq_agent_states_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # What the agent chose. The effective status is "offline" whenever no console of theirs is connected, and
    # returns to this choice when one reconnects.
    status: Mapped[AgentStatus] = mapped_column(Enum(AgentStatus, native_enum=False, length=16),
                                                default=AgentStatus.online)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=5)
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Refreshed by the agent's console connection; a stale value means every console of theirs is gone.
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AgentStatusInterval(OrgScoped, Base):
    """One stretch of an agent's *effective* status (online, busy or away; offline is the absence of a stretch):
    the history behind the people dashboard's time online / busy / away. Written by ``presence`` wherever the
    effective status changes; ``ended_at`` is None while it lasts. A console that died without saying goodbye leaves
    its stretch open: readers end it at ``AgentState.last_seen_at`` + ``presence.STALE_AFTER``."""

    __tablename__ = "agent_status_intervals"
    __table_args__ = (Index("ix_agent_status_intervals_org_started", "org_id", "started_at"),
                      Index("ix_agent_status_intervals_user_ended", "user_id", "ended_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RoutingRule(OrgScoped, Base):
    """One ordered rule: when every condition holds, the conversation goes to ``group_id`` with ``priority``.

    ``conditions`` keys (all optional, all must match): ``channel`` (list), ``page_contains`` (list of substrings of
    the entry page URL or title), ``button`` (list of menu-button payloads), ``faq_category`` (list of category
    prefixes), ``contact_tags`` (list, any), ``vip`` (bool), ``lead_grade`` (list of A/B/C)."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), nullable=True)
    # Higher first in the queue; VIP and A-grade rules usually set 10.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Offer the conversation to the group's most senior free members first.
    senior_first: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Roll-up tables of the management dashboards (docs/metrics.md): the raw rows folded once, by jobs, into rows a
dashboard page groups and sums.

The grain is one row per *thing counted* (conversation, lead, ticket) with its dimensions and its measures already
worked out (the first response, the sums of response times, the hand-over reason, …), plus per-day rows for what
is counted by the day (visits, agents' time per status). So a page is a few indexed GROUP BY queries on tables
that hold a row per conversation — not per message — and a drill-down lists the very rows a figure counted, with
the same WHERE, so the list and the figure cannot disagree. Medians (conversion times) need the single rows too.

Every row belongs to a local day (Asia/Shanghai) of the thing's start; a day is recomputed whole by
``analytics.rollups.recompute_day`` (delete and insert, under the day's lock), so a recomputation is idempotent
and the same day recomputed by two workers ends in the same rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from edudesk.db import Base, OrgScoped, UTCDateTime, utcnow


class RollupDay(OrgScoped, Base):
    """One org's local day: when its roll-up rows were last computed. The row is also the lock that keeps two
    workers from recomputing the same day at once (``FOR UPDATE`` on PostgreSQL)."""

    __tablename__ = "analytics_days"
    __table_args__ = (UniqueConstraint("org_id", "day", name="uq_analytics_days_org_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirtyDay(OrgScoped, Base):
    """A day whose raw rows changed since it was rolled up: written in the transaction of the change (see
    ``analytics.marks``), consumed by the ``analytics.refresh`` job. Duplicates are harmless (deleted together)."""

    __tablename__ = "analytics_dirty"
    __table_args__ = (Index("ix_analytics_dirty_org_day", "org_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)


class ConversationFact(OrgScoped, Base):
    """One conversation, rolled up from its row, its messages, its lead and its audit trail."""

    __tablename__ = "analytics_conversations"
    __table_args__ = (UniqueConstraint("conversation_id", name="uq_analytics_conversations_conversation"),
                      Index("ix_analytics_conversations_org_day", "org_id", "day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    hour: Mapped[int] = mapped_column(Integer)  # local hour of the start, 0..23
    dow: Mapped[int] = mapped_column(Integer)  # local weekday of the start, 0 = Monday
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    visitor_messages: Mapped[int] = mapped_column(Integer, default=0)
    agent_messages: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[bool] = mapped_column(Boolean, default=False)
    bot_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    handed_over: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queued: Mapped[bool] = mapped_column(Boolean, default=False)
    served: Mapped[bool] = mapped_column(Boolean, default=False)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    wait_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_sum: Mapped[int] = mapped_column(Integer, default=0)
    response_count: Mapped[int] = mapped_column(Integer, default=0)
    handling_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_rated: Mapped[bool] = mapped_column(Boolean, default=False)
    csat_value: Mapped[float | None] = mapped_column(Float, nullable=True)  # normalised 0..1
    csat_satisfied: Mapped[bool] = mapped_column(Boolean, default=False)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    captured: Mapped[bool] = mapped_column(Boolean, default=False)
    votes_up: Mapped[int] = mapped_column(Integer, default=0)
    votes_down: Mapped[int] = mapped_column(Integer, default=0)
    misses: Mapped[int] = mapped_column(Integer, default=0)


class ConversationFlow(OrgScoped, Base):
    """A bot script (话术流程) that ran in a conversation: the 套电率 rows by flow (a conversation may have several)."""

    __tablename__ = "analytics_conversation_flows"
    __table_args__ = (UniqueConstraint("conversation_id", "flow_key", name="uq_analytics_conversation_flows"),
                      Index("ix_analytics_conversation_flows_org_day", "org_id", "day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    flow_key: Mapped[str] = mapped_column(String(64))


class QuestionFact(OrgScoped, Base):
    """A visitor question the knowledge base could not answer (``kb_misses`` reason ``unanswered``), under the
    conversation it was asked in: the "top unanswered questions" panel."""

    __tablename__ = "analytics_questions"
    __table_args__ = (Index("ix_analytics_questions_org_day", "org_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    query_norm: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(String(200))


class LeadFact(OrgScoped, Base):
    """One lead (not merged into another), with its funnel steps and the seconds from its creation to each."""

    __tablename__ = "analytics_leads"
    __table_args__ = (UniqueConstraint("lead_id", name="uq_analytics_leads_lead"),
                      Index("ix_analytics_leads_org_day", "org_id", "day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level: Mapped[str] = mapped_column(String(1))
    has_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    booked: Mapped[bool] = mapped_column(Boolean, default=False)
    booked_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attended: Mapped[bool] = mapped_column(Boolean, default=False)
    attended_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TicketFact(OrgScoped, Base):
    """One ticket with its SLA outcome: met, missed, or neither yet (no policy, or not due and not answered)."""

    __tablename__ = "analytics_tickets"
    __table_args__ = (UniqueConstraint("ticket_id", name="uq_analytics_tickets_ticket"),
                      Index("ix_analytics_tickets_org_day", "org_id", "day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_response_met: Mapped[bool] = mapped_column(Boolean, default=False)
    first_response_missed: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_met: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_missed: Mapped[bool] = mapped_column(Boolean, default=False)


class VisitDay(OrgScoped, Base):
    """Visits (browsing sessions of people, crawlers left out) begun on a local day, per source kind and campaign:
    the top of the funnel."""

    __tablename__ = "analytics_visit_days"
    __table_args__ = (Index("ix_analytics_visit_days_org_day", "org_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)


class AgentDay(OrgScoped, Base):
    """Seconds an agent spent online / busy / away on a local day (from ``agent_status_intervals``)."""

    __tablename__ = "analytics_agent_days"
    __table_args__ = (Index("ix_analytics_agent_days_org_day", "org_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    agent_id: Mapped[int] = mapped_column(Integer)
    online_seconds: Mapped[int] = mapped_column(Integer, default=0)
    busy_seconds: Mapped[int] = mapped_column(Integer, default=0)
    away_seconds: Mapped[int] = mapped_column(Integer, default=0)


FACT_TABLES = (ConversationFact, ConversationFlow, QuestionFact, LeadFact, TicketFact, VisitDay, AgentDay)

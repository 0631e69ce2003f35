"""Management dashboards' roll-up tables (analytics_*), agents' status history (agent_status_intervals) and the
org + created indexes the roll-up job reads a day by (conversations, leads, tickets)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 09:43:33.232355
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_agent_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("online_seconds", sa.Integer(), nullable=False),
        sa.Column("busy_seconds", sa.Integer(), nullable=False),
        sa.Column("away_seconds", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_agent_days_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_agent_days")),
    )
    with op.batch_alter_table("analytics_agent_days", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_agent_days_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_agent_days_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_conversation_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("flow_key", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_conversation_flows_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_conversation_flows")),
        sa.UniqueConstraint("conversation_id", "flow_key", name="uq_analytics_conversation_flows"),
    )
    with op.batch_alter_table("analytics_conversation_flows", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_conversation_flows_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_conversation_flows_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("dow", sa.Integer(), nullable=False),
        sa.Column("started_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("visitor_messages", sa.Integer(), nullable=False),
        sa.Column("agent_messages", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("bot_resolved", sa.Boolean(), nullable=False),
        sa.Column("handed_over", sa.Boolean(), nullable=False),
        sa.Column("handoff_reason", sa.String(length=64), nullable=True),
        sa.Column("queued", sa.Boolean(), nullable=False),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("response_sum", sa.Integer(), nullable=False),
        sa.Column("response_count", sa.Integer(), nullable=False),
        sa.Column("handling_seconds", sa.Integer(), nullable=True),
        sa.Column("csat_rated", sa.Boolean(), nullable=False),
        sa.Column("csat_value", sa.Float(), nullable=True),
        sa.Column("csat_satisfied", sa.Boolean(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("captured", sa.Boolean(), nullable=False),
        sa.Column("votes_up", sa.Integer(), nullable=False),
        sa.Column("votes_down", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_conversations_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_conversations")),
        sa.UniqueConstraint("conversation_id", name="uq_analytics_conversations_conversation"),
    )
    with op.batch_alter_table("analytics_conversations", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_conversations_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_conversations_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_days_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_days")),
        sa.UniqueConstraint("org_id", "day", name="uq_analytics_days_org_day"),
    )
    with op.batch_alter_table("analytics_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_days_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_dirty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_dirty_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_dirty")),
    )
    with op.batch_alter_table("analytics_dirty", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_dirty_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_dirty_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=1), nullable=False),
        sa.Column("has_contact", sa.Boolean(), nullable=False),
        sa.Column("contact_seconds", sa.Integer(), nullable=True),
        sa.Column("booked", sa.Boolean(), nullable=False),
        sa.Column("booked_seconds", sa.Integer(), nullable=True),
        sa.Column("attended", sa.Boolean(), nullable=False),
        sa.Column("attended_seconds", sa.Integer(), nullable=True),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.Column("enrolled_seconds", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_leads_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_leads")),
        sa.UniqueConstraint("lead_id", name="uq_analytics_leads_lead"),
    )
    with op.batch_alter_table("analytics_leads", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_leads_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_leads_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("query_norm", sa.String(length=200), nullable=False),
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_questions_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_questions")),
    )
    with op.batch_alter_table("analytics_questions", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_questions_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_questions_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("first_response_met", sa.Boolean(), nullable=False),
        sa.Column("first_response_missed", sa.Boolean(), nullable=False),
        sa.Column("resolution_met", sa.Boolean(), nullable=False),
        sa.Column("resolution_missed", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_tickets_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_tickets")),
        sa.UniqueConstraint("ticket_id", name="uq_analytics_tickets_ticket"),
    )
    with op.batch_alter_table("analytics_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_tickets_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_tickets_org_id"), ["org_id"], unique=False)

    op.create_table(
        "analytics_visit_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_analytics_visit_days_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_visit_days")),
    )
    with op.batch_alter_table("analytics_visit_days", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_visit_days_org_day", ["org_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_visit_days_org_id"), ["org_id"], unique=False)

    op.create_table(
        "agent_status_intervals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_agent_status_intervals_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_status_intervals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_status_intervals")),
    )
    with op.batch_alter_table("agent_status_intervals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_status_intervals_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_agent_status_intervals_org_started", ["org_id", "started_at"], unique=False)
        batch_op.create_index("ix_agent_status_intervals_user_ended", ["user_id", "ended_at"], unique=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_org_created", ["org_id", "created_at"], unique=False)

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_org_created", ["org_id", "created_at"], unique=False)

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_org_created", ["org_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_org_created")

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_org_created")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_org_created")

    with op.batch_alter_table("agent_status_intervals", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_status_intervals_user_ended")
        batch_op.drop_index("ix_agent_status_intervals_org_started")
        batch_op.drop_index(batch_op.f("ix_agent_status_intervals_org_id"))

    op.drop_table("agent_status_intervals")
    with op.batch_alter_table("analytics_visit_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_visit_days_org_id"))
        batch_op.drop_index("ix_analytics_visit_days_org_day")

    op.drop_table("analytics_visit_days")
    with op.batch_alter_table("analytics_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_tickets_org_id"))
        batch_op.drop_index("ix_analytics_tickets_org_day")

    op.drop_table("analytics_tickets")
    with op.batch_alter_table("analytics_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_questions_org_id"))
        batch_op.drop_index("ix_analytics_questions_org_day")

    op.drop_table("analytics_questions")
    with op.batch_alter_table("analytics_leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_leads_org_id"))
        batch_op.drop_index("ix_analytics_leads_org_day")

    op.drop_table("analytics_leads")
    with op.batch_alter_table("analytics_dirty", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_dirty_org_id"))
        batch_op.drop_index("ix_analytics_dirty_org_day")

    op.drop_table("analytics_dirty")
    with op.batch_alter_table("analytics_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_days_org_id"))

    op.drop_table("analytics_days")
    with op.batch_alter_table("analytics_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_conversations_org_id"))
        batch_op.drop_index("ix_analytics_conversations_org_day")

    op.drop_table("analytics_conversations")
    with op.batch_alter_table("analytics_conversation_flows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_conversation_flows_org_id"))
        batch_op.drop_index("ix_analytics_conversation_flows_org_day")

    op.drop_table("analytics_conversation_flows")
    with op.batch_alter_table("analytics_agent_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_agent_days_org_id"))
        batch_op.drop_index("ix_analytics_agent_days_org_day")

    op.drop_table("analytics_agent_days")

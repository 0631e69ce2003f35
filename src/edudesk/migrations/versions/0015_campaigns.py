"""Campaigns: parametric QR codes and links per org, and their touches per day

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("inbox_ref", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("scene", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"], name=op.f("fk_campaigns_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_campaigns_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("org_id", "inbox_ref", "scene", name="uq_campaigns_org_inbox_scene"),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_inbox_id"), ["inbox_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_org_id"), ["org_id"], unique=False)

    op.create_table(
        "campaign_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("touches", sa.Integer(), nullable=False),
        sa.Column("new_contacts", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_days_campaign_id_campaigns"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_campaign_days_org_id_orgs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_days")),
        sa.UniqueConstraint("campaign_id", "day", name="uq_campaign_days_campaign_day"),
    )
    with op.batch_alter_table("campaign_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_days_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_days_org_id"))
    op.drop_table("campaign_days")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_org_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_inbox_id"))
    op.drop_table("campaigns")

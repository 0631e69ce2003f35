"""Visitor settings: the per-org trail switch and the trail's retention period

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 06:23:39.578591
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trail_enabled", sa.Boolean(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_settings_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_settings")),
        sa.UniqueConstraint("org_id", name="uq_visitor_settings_org"),
    )
    with op.batch_alter_table("visitor_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_settings_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visitor_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_settings_org_id"))

    op.drop_table("visitor_settings")

"""Privacy: per-org retention policy; erased and purged markers on contacts and conversations

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversations_days", sa.Integer(), nullable=True),
        sa.Column("attachments_days", sa.Integer(), nullable=True),
        sa.Column("recordings_days", sa.Integer(), nullable=True),
        sa.Column("leads_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", edudesk.db.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_privacy_retention_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_retention")),
        sa.UniqueConstraint("org_id", name="uq_privacy_retention_org"),
    )
    with op.batch_alter_table("privacy_retention", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_retention_org_id"), ["org_id"], unique=False)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", edudesk.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_purged_at", edudesk.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("content_purged_at")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("privacy_retention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_retention_org_id"))
    op.drop_table("privacy_retention")

"""Answer-quality reports of an org's knowledge base (kb_quality_reports), computed by the kb.quality job

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_quality_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_kb_quality_reports_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_quality_reports")),
    )
    with op.batch_alter_table("kb_quality_reports", schema=None) as batch_op:
        batch_op.create_index("ix_kb_quality_reports_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_quality_reports_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kb_quality_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_quality_reports_org_id"))
        batch_op.drop_index("ix_kb_quality_reports_org_created")
    op.drop_table("kb_quality_reports")

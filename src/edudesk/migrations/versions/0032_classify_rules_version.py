"""classification rules' version: per org, and the one each contact was last classified with

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 20:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visitor_profile_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("visitor_contact_classes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visitor_contact_classes", schema=None) as batch_op:
        batch_op.drop_column("rules_version")
    with op.batch_alter_table("visitor_profile_state", schema=None) as batch_op:
        batch_op.drop_column("rules_version")

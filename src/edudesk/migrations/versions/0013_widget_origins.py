"""Limits and security: the per-org allow-list of web origins that may embed the chat widget

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing orgs get an empty list: "any origin", what the widget allowed before this revision.
    with op.batch_alter_table("orgs", schema=None) as batch:
        batch.add_column(sa.Column("widget_origins", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("orgs", schema=None) as batch:
        batch.alter_column("widget_origins", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("orgs", schema=None) as batch:
        batch.drop_column("widget_origins")

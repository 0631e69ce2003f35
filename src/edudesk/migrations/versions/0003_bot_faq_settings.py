"""Bot settings for the FAQ engine (sensitive words, per-org thresholds), the categories a conversation asked,
and the org's bot version that tells every instance to rebuild.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get "[]" through a temporary server default; the models supply the value from then on.
    with op.batch_alter_table("bot_settings") as batch:
        batch.add_column(sa.Column("sensitive_words", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("answer_threshold", sa.Float(), nullable=True))
        batch.add_column(sa.Column("suggest_threshold", sa.Float(), nullable=True))
    with op.batch_alter_table("bot_conversation_state") as batch:
        batch.add_column(sa.Column("categories", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("orgs") as batch:
        batch.add_column(sa.Column("bot_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("orgs") as batch:
        batch.alter_column("bot_version", server_default=None)
    with op.batch_alter_table("bot_settings") as batch:
        batch.alter_column("sensitive_words", server_default=None)
    with op.batch_alter_table("bot_conversation_state") as batch:
        batch.alter_column("categories", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("orgs") as batch:
        batch.drop_column("bot_version")
    with op.batch_alter_table("bot_conversation_state") as batch:
        batch.drop_column("categories")
    with op.batch_alter_table("bot_settings") as batch:
        batch.drop_column("suggest_threshold")
        batch.drop_column("answer_threshold")
        batch.drop_column("sensitive_words")

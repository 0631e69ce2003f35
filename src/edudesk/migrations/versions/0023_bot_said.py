"""What the bot said in its last turn (bot_conversation_state.said), so it never says a sentence twice in a row

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-07 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bot_conversation_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("said", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bot_conversation_state", schema=None) as batch_op:
        batch_op.drop_column("said")

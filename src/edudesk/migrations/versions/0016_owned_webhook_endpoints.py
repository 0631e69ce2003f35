"""API channel: webhook endpoints owned by another feature (an API inbox's callback URL), which receive only the
events emitted to them by id

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing endpoints are the orgs' own subscriptions: owner "".
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch:
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch:
        batch.alter_column("owner", server_default=None)


def downgrade() -> None:
    # Without the column an owned endpoint would look like an org subscription: drop them (with their log).
    op.execute("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d "
               "JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.owner <> '')")
    op.execute("DELETE FROM webhook_deliveries WHERE endpoint_id IN "
               "(SELECT id FROM webhook_endpoints WHERE owner <> '')")
    op.execute("DELETE FROM webhook_endpoints WHERE owner <> ''")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch:
        batch.drop_column("owner")

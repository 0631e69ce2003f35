"""Omnichannel: connected channel accounts (inboxes), the outbox of push channels, conversation ↔ inbox, and
the campaign and attribution of leads

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_inboxes_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inboxes")),
        sa.UniqueConstraint("public_id", name="uq_inboxes_public_id"),
    )
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inboxes_org_id"), ["org_id"], unique=False)

    op.create_table(
        "inbox_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"], name=op.f("fk_inbox_receipts_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_inbox_receipts_org_id_orgs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_receipts")),
        sa.UniqueConstraint("inbox_id", "key", name="uq_inbox_receipts_inbox_key"),
    )
    with op.batch_alter_table("inbox_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_receipts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbox_receipts_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbox_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_visitor_message_at", edudesk.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_conversations_inbox_id_inboxes"), "inboxes", ["inbox_id"],
                                    ["id"], ondelete="SET NULL")

    op.create_table(
        "channel_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.Enum("pending", "sending", "sent", "failed", name="deliverystate",
                                   native_enum=False, length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=True),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_channel_deliveries_conversation_id_conversations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"], name=op.f("fk_channel_deliveries_inbox_id_inboxes"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name=op.f("fk_channel_deliveries_message_id_messages"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_channel_deliveries_org_id_orgs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_deliveries")),
    )
    with op.batch_alter_table("channel_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_channel_deliveries_conv_state", ["conversation_id", "state", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_channel_deliveries_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_channel_deliveries_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("attribution", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_index(batch_op.f("ix_leads_campaign"), ["campaign"], unique=False)
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.alter_column("attribution", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_campaign"))
        batch_op.drop_column("attribution")
        batch_op.drop_column("campaign")
    with op.batch_alter_table("channel_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_deliveries_org_id"))
        batch_op.drop_index(batch_op.f("ix_channel_deliveries_message_id"))
        batch_op.drop_index("ix_channel_deliveries_conv_state")
    op.drop_table("channel_deliveries")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_conversations_inbox_id_inboxes"), type_="foreignkey")
        batch_op.drop_column("last_visitor_message_at")
        batch_op.drop_column("inbox_id")
    with op.batch_alter_table("inbox_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_receipts_org_id"))
        batch_op.drop_index(batch_op.f("ix_inbox_receipts_created_at"))
    op.drop_table("inbox_receipts")
    with op.batch_alter_table("inboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inboxes_org_id"))
    op.drop_table("inboxes")

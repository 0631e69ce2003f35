"""Live visitors (visitors): auto-invite rules and the invitations sent, manual or by a rule

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 06:24:23.052119
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_invite_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url_pattern", sa.String(length=300), nullable=False),
        sa.Column("min_seconds", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("keyword", sa.String(length=100), nullable=False),
        sa.Column("business_hours_only", sa.Boolean(), nullable=False),
        sa.Column("max_per_day", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("bot_name", sa.String(length=40), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_visitor_invite_rules_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["skill_groups.id"],
            name=op.f("fk_visitor_invite_rules_group_id_skill_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_invite_rules_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_invite_rules")),
    )
    with op.batch_alter_table("visitor_invite_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_invite_rules_org_id"), ["org_id"], unique=False)

    op.create_table(
        "visitor_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("view_key", sa.String(length=24), nullable=False),
        sa.Column("page_url", sa.String(length=1000), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("speaker_name", sa.String(length=60), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("first_conversation", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_visitor_invitations_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_visitor_invitations_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_visitor_invitations_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["skill_groups.id"],
            name=op.f("fk_visitor_invitations_group_id_skill_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_invitations_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["visitor_invite_rules.id"],
            name=op.f("fk_visitor_invitations_rule_id_visitor_invite_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"], ["users.id"], name=op.f("fk_visitor_invitations_sent_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_invitations")),
    )
    with op.batch_alter_table("visitor_invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visitor_invitations_org_contact_sent", ["org_id", "contact_id", "sent_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_visitor_invitations_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_visitor_invitations_org_key_sent", ["org_id", "visitor_key", "sent_at"], unique=False)
        batch_op.create_index("ix_visitor_invitations_org_rule", ["org_id", "rule_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visitor_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_visitor_invitations_org_rule")
        batch_op.drop_index("ix_visitor_invitations_org_key_sent")
        batch_op.drop_index(batch_op.f("ix_visitor_invitations_org_id"))
        batch_op.drop_index("ix_visitor_invitations_org_contact_sent")

    op.drop_table("visitor_invitations")
    with op.batch_alter_table("visitor_invite_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_invite_rules_org_id"))

    op.drop_table("visitor_invite_rules")

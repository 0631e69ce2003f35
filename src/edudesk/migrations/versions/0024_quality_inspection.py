"""Quality inspection (qc): rule-set revisions, sampling settings, results, hits and review cases

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 09:44:24.564253
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qc_rule_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_qc_rule_revisions_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_rule_revisions")),
        sa.UniqueConstraint("org_id", "revision", name="uq_qc_rule_revisions_org_revision"),
    )
    with op.batch_alter_table("qc_rule_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_rule_revisions_org_id"), ["org_id"], unique=False)

    op.create_table(
        "qc_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("random_percent", sa.Integer(), nullable=False),
        sa.Column("below_score", sa.Integer(), nullable=False),
        sa.Column("all_severe", sa.Boolean(), nullable=False),
        sa.Column("all_complaints", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_qc_settings_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_settings")),
        sa.UniqueConstraint("org_id", name="uq_qc_settings_org_id"),
    )
    with op.batch_alter_table("qc_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_settings_org_id"), ["org_id"], unique=False)

    op.create_table(
        "qc_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("deducted", sa.Integer(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("severe", sa.Boolean(), nullable=False),
        sa.Column("complaint", sa.Boolean(), nullable=False),
        sa.Column("rule_keys", sa.JSON(), nullable=False),
        sa.Column("closed_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("inspected_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_qc_inspections_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_qc_inspections_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["skill_groups.id"], name=op.f("fk_qc_inspections_group_id_skill_groups"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_qc_inspections_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_inspections")),
        sa.UniqueConstraint("org_id", "conversation_id", name="uq_qc_inspections_org_conversation"),
    )
    with op.batch_alter_table("qc_inspections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_inspections_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index("ix_qc_inspections_org_closed", ["org_id", "closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_qc_inspections_org_id"), ["org_id"], unique=False)

    op.create_table(
        "qc_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("rule_key", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule_name", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("matched", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["qc_inspections.id"],
            name=op.f("fk_qc_hits_inspection_id_qc_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_qc_hits_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_hits")),
    )
    with op.batch_alter_table("qc_hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_hits_inspection_id"), ["inspection_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_qc_hits_org_id"), ["org_id"], unique=False)

    op.create_table(
        "qc_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "reviewed",
                "appealed",
                "upheld",
                "overturned",
                name="reviewstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("sample_day", sa.Date(), nullable=True),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("review_score", sa.Integer(), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=False),
        sa.Column("reviewed_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("appeal_reason", sa.Text(), nullable=False),
        sa.Column("appealed_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decision_score", sa.Integer(), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("decided_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_qc_reviews_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_qc_reviews_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_qc_reviews_decided_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["qc_inspections.id"],
            name=op.f("fk_qc_reviews_inspection_id_qc_inspections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_qc_reviews_org_id_orgs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_qc_reviews_reviewer_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_reviews")),
        sa.UniqueConstraint("org_id", "conversation_id", name="uq_qc_reviews_org_conversation"),
    )
    with op.batch_alter_table("qc_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qc_reviews_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_qc_reviews_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_qc_reviews_org_state", ["org_id", "state"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("qc_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_qc_reviews_org_state")
        batch_op.drop_index(batch_op.f("ix_qc_reviews_org_id"))
        batch_op.drop_index(batch_op.f("ix_qc_reviews_agent_id"))

    op.drop_table("qc_reviews")
    with op.batch_alter_table("qc_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qc_hits_org_id"))
        batch_op.drop_index(batch_op.f("ix_qc_hits_inspection_id"))

    op.drop_table("qc_hits")
    with op.batch_alter_table("qc_inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qc_inspections_org_id"))
        batch_op.drop_index("ix_qc_inspections_org_closed")
        batch_op.drop_index(batch_op.f("ix_qc_inspections_agent_id"))

    op.drop_table("qc_inspections")
    with op.batch_alter_table("qc_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qc_settings_org_id"))

    op.drop_table("qc_settings")
    with op.batch_alter_table("qc_rule_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qc_rule_revisions_org_id"))

    op.drop_table("qc_rule_revisions")

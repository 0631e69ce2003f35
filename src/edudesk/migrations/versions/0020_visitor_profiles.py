"""Visitor profiles (visitors): course URL patterns, classification rules and what they tagged, 千人千面 rules

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:22:57.100395
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_classify_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=30), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_classify_rules_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_classify_rules")),
        sa.UniqueConstraint("org_id", "tag", name="uq_visitor_classify_rules_org_tag"),
    )
    with op.batch_alter_table("visitor_classify_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_classify_rules_org_id"), ["org_id"], unique=False)

    op.create_table(
        "visitor_personal_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("welcome", sa.Text(), nullable=False),
        sa.Column("hot", sa.JSON(), nullable=False),
        sa.Column("guess", sa.JSON(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_personal_rules_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_personal_rules")),
        sa.UniqueConstraint("org_id", "name", name="uq_visitor_personal_rules_org_name"),
    )
    with op.batch_alter_table("visitor_personal_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_personal_rules_org_id"), ["org_id"], unique=False)

    op.create_table(
        "visitor_profile_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rules_seeded", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_profile_state_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_profile_state")),
        sa.UniqueConstraint("org_id", name="uq_visitor_profile_state_org"),
    )
    with op.batch_alter_table("visitor_profile_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_profile_state_org_id"), ["org_id"], unique=False)

    op.create_table(
        "visitor_contact_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("rule_tags", sa.JSON(), nullable=False),
        sa.Column("queued", sa.Boolean(), nullable=False),
        sa.Column("classified_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_visitor_contact_classes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_contact_classes_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_contact_classes")),
        sa.UniqueConstraint("org_id", "contact_id", name="uq_visitor_contact_classes_contact"),
    )
    with op.batch_alter_table("visitor_contact_classes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_contact_classes_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visitor_contact_classes_org_id"), ["org_id"], unique=False)

    op.create_table(
        "visitor_course_patterns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=300), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("course_name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_visitor_course_patterns_course_id_courses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_visitor_course_patterns_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_course_patterns")),
    )
    with op.batch_alter_table("visitor_course_patterns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_course_patterns_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visitor_course_patterns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_course_patterns_org_id"))

    op.drop_table("visitor_course_patterns")
    with op.batch_alter_table("visitor_contact_classes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_contact_classes_org_id"))
        batch_op.drop_index(batch_op.f("ix_visitor_contact_classes_contact_id"))

    op.drop_table("visitor_contact_classes")
    with op.batch_alter_table("visitor_profile_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_profile_state_org_id"))

    op.drop_table("visitor_profile_state")
    with op.batch_alter_table("visitor_personal_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_personal_rules_org_id"))

    op.drop_table("visitor_personal_rules")
    with op.batch_alter_table("visitor_classify_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_classify_rules_org_id"))

    op.drop_table("visitor_classify_rules")

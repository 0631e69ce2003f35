"""knowledge base: categories, entries, similar questions, misses, answer feedback

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_kb_categories_org_id_orgs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["kb_categories.id"], name=op.f("fk_kb_categories_parent_id_kb_categories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("org_id", "parent_id", "name", name="uq_kb_categories_org_parent_name"),
    )
    with op.batch_alter_table("kb_categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_categories_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_categories_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            "uq_kb_categories_org_root_name", ["org_id", "name"], unique=True,
            sqlite_where=sa.text("parent_id IS NULL"), postgresql_where=sa.text("parent_id IS NULL"),
        )

    op.create_table(
        "kb_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=200), nullable=False),
        sa.Column("question_norm", sa.String(length=400), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("related_ids", sa.JSON(), nullable=False),
        sa.Column("hot_pinned", sa.Boolean(), nullable=False),
        sa.Column("hot_position", sa.Integer(), nullable=False),
        sa.Column("ask_count", sa.Integer(), nullable=False),
        sa.Column("deleted_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["kb_categories.id"], name=op.f("fk_kb_entries_category_id_kb_categories"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_kb_entries_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_entries")),
    )
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_entries_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_entries_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "uq_kb_entries_org_question", ["org_id", "question_norm"], unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "kb_answer_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["kb_entries.id"], name=op.f("fk_kb_answer_feedback_entry_id_kb_entries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_kb_answer_feedback_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_answer_feedback")),
        sa.UniqueConstraint("message_id", name=op.f("uq_kb_answer_feedback_message_id")),
    )
    with op.batch_alter_table("kb_answer_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_answer_feedback_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_answer_feedback_org_id"), ["org_id"], unique=False)

    op.create_table(
        "kb_misses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("query_norm", sa.Text(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum("unanswered", "suggested", "downvoted", name="missreason", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.String(length=500), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["kb_entries.id"], name=op.f("fk_kb_misses_entry_id_kb_entries"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_kb_misses_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_misses")),
    )
    with op.batch_alter_table("kb_misses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_misses_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_misses_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_kb_misses_org_resolved", ["org_id", "resolved_at"], unique=False)

    op.create_table(
        "kb_similar_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("text_norm", sa.String(length=400), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["kb_entries.id"], name=op.f("fk_kb_similar_questions_entry_id_kb_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_kb_similar_questions_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_similar_questions")),
        sa.UniqueConstraint("entry_id", "text_norm", name="uq_kb_similar_questions_entry_text"),
    )
    with op.batch_alter_table("kb_similar_questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_similar_questions_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_similar_questions_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_kb_similar_questions_org_text", ["org_id", "text_norm"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kb_similar_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_similar_questions_org_text")
        batch_op.drop_index(batch_op.f("ix_kb_similar_questions_org_id"))
        batch_op.drop_index(batch_op.f("ix_kb_similar_questions_entry_id"))

    op.drop_table("kb_similar_questions")
    with op.batch_alter_table("kb_misses", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_misses_org_resolved")
        batch_op.drop_index(batch_op.f("ix_kb_misses_org_id"))
        batch_op.drop_index(batch_op.f("ix_kb_misses_message_id"))

    op.drop_table("kb_misses")
    with op.batch_alter_table("kb_answer_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_answer_feedback_org_id"))
        batch_op.drop_index(batch_op.f("ix_kb_answer_feedback_entry_id"))

    op.drop_table("kb_answer_feedback")
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.drop_index("uq_kb_entries_org_question")
        batch_op.drop_index(batch_op.f("ix_kb_entries_org_id"))
        batch_op.drop_index(batch_op.f("ix_kb_entries_category_id"))

    op.drop_table("kb_entries")
    with op.batch_alter_table("kb_categories", schema=None) as batch_op:
        batch_op.drop_index("uq_kb_categories_org_root_name")
        batch_op.drop_index(batch_op.f("ix_kb_categories_parent_id"))
        batch_op.drop_index(batch_op.f("ix_kb_categories_org_id"))

    op.drop_table("kb_categories")

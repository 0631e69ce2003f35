"""Landing-page lead forms (表单): the forms, their submissions and their daily view counts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("intro", sa.String(length=1000), nullable=False),
        sa.Column("submit_text", sa.String(length=20), nullable=False),
        sa.Column("success_message", sa.String(length=300), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_lead_forms_org_id_orgs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_forms")),
        sa.UniqueConstraint("public_id", name="uq_lead_forms_public_id"),
    )
    with op.batch_alter_table("lead_forms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_forms_org_id"), ["org_id"], unique=False)

    op.create_table(
        "lead_form_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"], ["lead_forms.id"], name=op.f("fk_lead_form_views_form_id_lead_forms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_lead_form_views_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_form_views")),
        sa.UniqueConstraint("form_id", "day", name="uq_lead_form_views_form_day"),
    )
    with op.batch_alter_table("lead_form_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_form_views_org_id"), ["org_id"], unique=False)

    op.create_table(
        "lead_form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("attribution", sa.JSON(), nullable=False),
        sa.Column("page_url", sa.String(length=1000), nullable=True),
        sa.Column("referrer", sa.String(length=1000), nullable=True),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_lead_form_submissions_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["form_id"], ["lead_forms.id"], name=op.f("fk_lead_form_submissions_form_id_lead_forms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_lead_form_submissions_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_lead_form_submissions_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_form_submissions")),
        sa.UniqueConstraint("form_id", "idempotency_key", name="uq_lead_form_submissions_form_key"),
    )
    with op.batch_alter_table("lead_form_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_form_submissions_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_form_submissions_form_id"), ["form_id"], unique=False)
        batch_op.create_index(
            "ix_lead_form_submissions_form_phone", ["form_id", "phone_e164", "created_at"], unique=False
        )
        batch_op.create_index("ix_lead_form_submissions_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_form_submissions_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead_form_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_form_submissions_org_id"))
        batch_op.drop_index("ix_lead_form_submissions_org_created")
        batch_op.drop_index("ix_lead_form_submissions_form_phone")
        batch_op.drop_index(batch_op.f("ix_lead_form_submissions_form_id"))
        batch_op.drop_index(batch_op.f("ix_lead_form_submissions_contact_id"))

    op.drop_table("lead_form_submissions")
    with op.batch_alter_table("lead_form_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_form_views_org_id"))

    op.drop_table("lead_form_views")
    with op.batch_alter_table("lead_forms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_forms_org_id"))

    op.drop_table("lead_forms")

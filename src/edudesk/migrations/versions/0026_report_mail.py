"""The e-mailed management summary: per-org SMTP settings and subscription, and the send log

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edudesk.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_mail_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("from_name", sa.String(length=100), nullable=False),
        sa.Column("daily_recipients", sa.JSON(), nullable=False),
        sa.Column("weekly_recipients", sa.JSON(), nullable=False),
        sa.Column("send_hour", sa.Integer(), nullable=False),
        sa.Column("updated_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_report_mail_settings_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_mail_settings")),
        sa.UniqueConstraint("org_id", name="uq_report_mail_settings_org"),
    )
    with op.batch_alter_table("report_mail_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_mail_settings_org_id"), ["org_id"], unique=False)

    op.create_table(
        "report_mail_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sending", "sent", "failed", name="sendstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", edudesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", edudesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_report_mail_log_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_mail_log")),
        sa.UniqueConstraint("org_id", "kind", "period_start", name="uq_report_mail_log_period"),
    )
    with op.batch_alter_table("report_mail_log", schema=None) as batch_op:
        batch_op.create_index("ix_report_mail_log_org_recent", ["org_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_mail_log_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_mail_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_mail_log_org_id"))
        batch_op.drop_index("ix_report_mail_log_org_recent")

    op.drop_table("report_mail_log")
    with op.batch_alter_table("report_mail_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_mail_settings_org_id"))

    op.drop_table("report_mail_settings")

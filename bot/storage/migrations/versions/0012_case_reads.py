"""case_reads: how far each console user has read each case (unread replies)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 21:30:00

Hand-written (issue 26). A family's reply was forwarded into the case but the
queue still said "Sedang diproses": nothing showed what was new. A row per
console user and case keeps the newest case event that user had on screen;
the family's messages after it are unread for them. A new table only: every
reply already in a case counts as unread until the case is opened.
"""
from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "user_id", name="uq_case_reads_case_user"),
    )
    op.create_index("ix_case_reads_user_id", "case_reads", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_reads_user_id", table_name="case_reads")
    op.drop_table("case_reads")

"""web console: accounts, login links, failed logins, marked NLU examples, attendance

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 05:30:00

Hand-written (issue 11). New tables only, plus two nullable attendance
columns on training_registrations, so existing rows stay valid.
"""
from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("district", sa.String(length=120), nullable=True),
        sa.Column("village_code", sa.String(length=40), nullable=True),
        sa.Column("identity_channel", sa.String(length=20), nullable=True),
        sa.Column("identity_address", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "web_login_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_web_login_links_user_id", "web_login_links", ["user_id"], unique=False)
    op.create_table(
        "web_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_username", "web_login_failures", ["username", "created_at"], unique=False)
    op.create_index("ix_login_failures_address", "web_login_failures", ["address", "created_at"], unique=False)
    op.create_table(
        "nlu_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("marked_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inbound_id"),
    )
    with op.batch_alter_table("training_registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attended", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("attendance_by", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_registrations", schema=None) as batch_op:
        batch_op.drop_column("attendance_by")
        batch_op.drop_column("attended")
    op.drop_table("nlu_examples")
    op.drop_index("ix_login_failures_address", table_name="web_login_failures")
    op.drop_index("ix_login_failures_username", table_name="web_login_failures")
    op.drop_table("web_login_failures")
    op.drop_index("ix_web_login_links_user_id", table_name="web_login_links")
    op.drop_table("web_login_links")
    op.drop_table("web_users")

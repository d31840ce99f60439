"""web_sessions: console sessions kept on the server; outbound_messages.secret

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 16:00:00

Hand-written (issue 24). A console session was only a signed cookie: "Keluar"
could not end a copy of it, nor could a password change or disabling the
account. The cookie now carries a random id whose SHA-256 is a row here;
signing out deletes the row. Sessions signed in before this migration carry no
id and simply sign in again.

`secret` marks an outbox message that carries a secret (the one-time sign-in
link): Telegram sends it without a link preview and the text is dropped once
it is sent. Existing rows are not secret (server default false).
"""
from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"], unique=False)
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("secret", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("secret")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")

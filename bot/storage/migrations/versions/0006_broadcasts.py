"""consent per topic, broadcasts and their recipients, outbox template/topic/status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 05:40:00

Hand-written (issue 12). New tables; new outbox columns are nullable.
"""
from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=30), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "topic", name="uq_subscription_contact_topic"),
    )
    op.create_index("ix_subscriptions_contact_id", "subscriptions", ["contact_id"], unique=False)
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("topic", sa.String(length=30), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("segment", sa.String(length=120), nullable=False),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("send_at", sa.DateTime(), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcasts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("broadcast_id", "contact_id", name="uq_broadcast_recipient"),
    )
    op.create_index("ix_broadcast_recipients_status", "broadcast_recipients", ["broadcast_id", "status"], unique=False)
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("variables", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("topic", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("provider_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("provider_error", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_outbound_messages_broadcast_id", ["broadcast_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_broadcast_id")
        for column in ("provider_error", "provider_status", "broadcast_id", "topic", "variables", "template"):
            batch_op.drop_column(column)
    op.drop_index("ix_broadcast_recipients_status", table_name="broadcast_recipients")
    op.drop_table("broadcast_recipients")
    op.drop_table("broadcasts")
    op.drop_index("ix_subscriptions_contact_id", table_name="subscriptions")
    op.drop_table("subscriptions")

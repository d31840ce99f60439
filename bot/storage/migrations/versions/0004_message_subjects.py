"""message subjects (whose data a message carries) and retention indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 22:00:00

Hand-written (issue 10). Personal data in notifications must be traceable to
the person it came from, so erasure and retention follow links instead of
searching text:

- outbound_messages.subject_contact_id: the person whose message caused it
- outbound_messages.subject_case_id: the case it quotes (alerts, case cards)
- outbound_messages.subject_training_id: the training whose participants it lists
- inbound_messages.subject_case_id: the case a satgas command quotes

All new columns are nullable, so existing rows stay valid. Foreign keys are
added through batch mode: a plain ALTER on PostgreSQL, a table copy on SQLite
(which cannot add a constraint to an existing table). The indexes serve the
erasure lookups and the retention purge, which runs with every timer pass.
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_contact_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("subject_case_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("subject_training_id", sa.String(length=60), nullable=True))
        batch_op.create_foreign_key(
            "fk_outbox_subject_contact", "contacts", ["subject_contact_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key("fk_outbox_subject_case", "cases", ["subject_case_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key("fk_outbox_subject_training", "trainings", ["subject_training_id"], ["id"])
        batch_op.create_index("ix_outbox_contact", ["contact_id"], unique=False)
        batch_op.create_index("ix_outbox_created", ["created_at"], unique=False)
        batch_op.create_index("ix_outbox_subject_contact", ["subject_contact_id"], unique=False)
        batch_op.create_index("ix_outbox_subject_case", ["subject_case_id"], unique=False)
        batch_op.create_index("ix_outbox_subject_training", ["subject_training_id"], unique=False)

    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_case_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_inbound_subject_case", "cases", ["subject_case_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_inbound_contact_received", ["contact_id", "received_at"], unique=False)
        batch_op.create_index("ix_inbound_received", ["received_at"], unique=False)
        batch_op.create_index("ix_inbound_subject_case", ["subject_case_id"], unique=False)

    op.create_index("ix_conversations_updated", "conversations", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conversations_updated", table_name="conversations")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_subject_case")
        batch_op.drop_index("ix_inbound_received")
        batch_op.drop_index("ix_inbound_contact_received")
        batch_op.drop_constraint("fk_inbound_subject_case", type_="foreignkey")
        batch_op.drop_column("subject_case_id")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_subject_training")
        batch_op.drop_index("ix_outbox_subject_case")
        batch_op.drop_index("ix_outbox_subject_contact")
        batch_op.drop_index("ix_outbox_created")
        batch_op.drop_index("ix_outbox_contact")
        batch_op.drop_constraint("fk_outbox_subject_training", type_="foreignkey")
        batch_op.drop_constraint("fk_outbox_subject_case", type_="foreignkey")
        batch_op.drop_constraint("fk_outbox_subject_contact", type_="foreignkey")
        batch_op.drop_column("subject_training_id")
        batch_op.drop_column("subject_case_id")
        batch_op.drop_column("subject_contact_id")

"""nlu_examples.contact_id: whose words a marked NLU example is

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-27 14:00:00

Hand-written (issue 24). An example staff marked in the console ("belum
dipahami") is a masked copy of a person's message. It was linked only to that
message, with ON DELETE SET NULL: once retention deleted the message the text
stayed for good and "hapus data" could no longer find it. The example now
names its person too; existing rows take the sender of their message where
the message is still there. Rows whose message is already gone cannot be
linked: retention deletes them (an example lives as long as its message).
"""
from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nlu_examples") as batch:
        batch.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_nlu_examples_contact", "contacts", ["contact_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_nlu_examples_contact_id", ["contact_id"], unique=False)
    op.execute(
        "UPDATE nlu_examples SET contact_id = ("
        " SELECT inbound_messages.contact_id FROM inbound_messages WHERE inbound_messages.id = nlu_examples.inbound_id)"
        " WHERE inbound_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("nlu_examples") as batch:
        batch.drop_index("ix_nlu_examples_contact_id")
        batch.drop_constraint("fk_nlu_examples_contact", type_="foreignkey")
        batch.drop_column("contact_id")

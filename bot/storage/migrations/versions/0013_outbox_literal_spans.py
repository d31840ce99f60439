"""outbound_messages.literal_spans: where a person's words sit in a queued text

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:40:00

Hand-written (issue 27). Our texts use WhatsApp markup (*bold*); the Telegram
sender turns it into formatting, but a "*" a person typed (a family's message
forwarded to the satgas) must stay a "*". The outbox row keeps the character
offsets of those words. Existing rows have none (NULL): their markup is read
as before the column existed.
"""
from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("literal_spans", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("literal_spans")

"""outbound_messages.inbound_id indexed: retention deletes inbound messages

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 01:50:00

Hand-written (issue 29). A reply names the message it answers
(`outbound_messages.inbound_id`, ON DELETE SET NULL). Retention deletes
inbound messages older than the retention period, a batch at a time; for
every deleted row PostgreSQL's foreign key sets the replies' link to NULL,
and with no index on the column it read the whole outbox to find them. On a
year of a district (bench.seed_year, 4 million outbound rows) that was 1.9 s
per deleted message: about 8,000 messages expire a day, some four hours of
scanning a day under the retention transaction's locks, and the first pass
after a start held replies back for 80 s (bench.at_size). With the index a
batch of 1,000 takes 0.25 s. The index takes about 5 s to build on that
outbox. tests/test_query_plans.py now checks that every foreign key into a
table the bot deletes from has an index.
"""
from alembic import op


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_inbound", "outbound_messages", ["inbound_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_inbound", table_name="outbound_messages")

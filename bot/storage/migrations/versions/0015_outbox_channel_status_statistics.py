"""outbound_messages: statistics on channel and status together (PostgreSQL)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:30:00

Hand-written (issue 29). The delivery worker claims the oldest due messages
of its channel on every pass (`channel = :c AND status IN ('pending',
'sending') AND next_attempt_at <= now ORDER BY id LIMIT 20 ... SKIP LOCKED`,
bot.outbox). On a year of a district (bench.seed_year: 4 million sent rows,
27,000 satgas alerts pending on the console channel, which nobody sends in
the sample villages) PostgreSQL took channel and status as independent:
"pending" is common and "whatsapp" is 90% of the rows, so it expected some
25,000 due WhatsApp rows, walked the primary key in id order to find 20 and
read all 4 million: 4.8 s per claim with nothing to claim, replies waiting
80 s and more (bench.at_size).

Statistics on the pair (the most common combinations, `mcv`) tell it that
pending WhatsApp rows are rare, and it reads ix_outbox_pending by its
condition instead (3 ms). They fill at the next ANALYZE (autovacuum's, or
bench.seed_year's). SQLite has no such statistics and needs none at its size.
"""
from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS st_outbox_channel_status (mcv) ON channel, status FROM outbound_messages")
        op.execute("ANALYZE outbound_messages")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_outbox_channel_status")

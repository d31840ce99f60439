"""outbound_provider_ids: every provider message id of an outbox row, indexed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:00:00

Hand-written (issue 29). A Twilio status callback (about three per message)
looked its row up by `outbound_messages.provider_message_id`, an unindexed
text column that holds several comma-joined ids when a message was split, and
fell back to LIKE '%sid%': a sequential scan of the whole outbox per callback.
One row per id (split parts included) makes the lookup a primary-key probe.
The key is (provider_id, outbound_id) because Telegram's ids repeat across
chats; Twilio's SIDs are unique. The index on outbound_id serves the cascade
when retention or erasure deletes a message.

Existing rows are backfilled by splitting provider_message_id ("+N", which
`bot.channels.parts.joined_ids` writes for ids that did not fit, is no id).
"""
from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 10_000


def upgrade() -> None:
    op.create_table(
        "outbound_provider_ids",
        sa.Column("provider_id", sa.Text(), nullable=False),
        sa.Column("outbound_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbound_id"], ["outbound_messages.id"], name="fk_outbound_provider_ids_outbound", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("provider_id", "outbound_id"),
    )
    op.create_index("ix_outbound_provider_ids_outbound", "outbound_provider_ids", ["outbound_id"], unique=False)
    backfill()


def backfill() -> None:
    """PostgreSQL splits in one statement; SQLite (the embedded default, small)
    is split here, in batches."""
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(
            "INSERT INTO outbound_provider_ids (provider_id, outbound_id)"
            " SELECT DISTINCT part, m.id FROM outbound_messages m,"
            " unnest(string_to_array(m.provider_message_id, ',')) AS part"
            " WHERE m.provider_message_id IS NOT NULL AND part <> '' AND part NOT LIKE '+%'"
        ))
        return
    ids = sa.table("outbound_provider_ids", sa.column("provider_id"), sa.column("outbound_id"))
    stored = connection.execute(
        sa.text("SELECT id, provider_message_id FROM outbound_messages WHERE provider_message_id IS NOT NULL")
    ).all()
    rows = [
        {"provider_id": part, "outbound_id": outbound_id}
        for outbound_id, joined in stored
        for part in dict.fromkeys(str(joined).split(","))
        if part and not part.startswith("+")
    ]
    for start in range(0, len(rows), BACKFILL_BATCH):
        connection.execute(ids.insert(), rows[start:start + BACKFILL_BATCH])


def downgrade() -> None:
    op.drop_index("ix_outbound_provider_ids_outbound", table_name="outbound_provider_ids")
    op.drop_table("outbound_provider_ids")

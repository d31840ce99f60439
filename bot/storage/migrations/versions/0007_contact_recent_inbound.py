"""contacts.recent_inbound: arrival times of a person's last messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 12:10:00

Hand-written (issue 14). The rate limit reads these from the contact row the
turn has locked anyway, instead of counting inbound messages with one more
query per turn. Nullable: a contact without it has sent nothing recently.
"""
from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("recent_inbound", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("recent_inbound")

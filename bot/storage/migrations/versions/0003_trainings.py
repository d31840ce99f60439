"""trainings and training registrations (catalogue copy, seats, waitlist, reminders)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:30:00

Hand-written. Only create/drop operations, which need no table rebuild on
SQLite, so the same file runs under render_as_batch on SQLite and PostgreSQL.
The partial unique index (one active registration per phone per training) is
supported by both databases.
"""
from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE_ONLY = "status <> 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "trainings",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("villages", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("organiser_name", sa.String(length=120), nullable=False),
        sa.Column("organiser_channel", sa.String(length=20), nullable=False),
        sa.Column("organiser_address", sa.String(length=120), nullable=False),
        sa.Column("example", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "training_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("training_id", sa.String(length=60), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("village_code", sa.String(length=40), nullable=True),
        sa.Column("participant_name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=24), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=20), nullable=True),
        sa.Column("remind_at", sa.DateTime(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status in ('confirmed', 'waitlisted', 'cancelled')", name="ck_training_registration_status"
        ),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["training_id"], ["trainings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", name="uq_training_registration_code"),
    )
    op.create_index(
        "uq_training_registration_active_phone",
        "training_registrations",
        ["training_id", "phone"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_ONLY),
        postgresql_where=sa.text(ACTIVE_ONLY),
    )
    op.create_index(
        "ix_training_registration_queue", "training_registrations", ["training_id", "status", "id"], unique=False
    )
    op.create_index(
        "ix_training_registration_reminder", "training_registrations", ["status", "remind_at"], unique=False
    )
    op.create_index("ix_training_registration_contact", "training_registrations", ["contact_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_training_registration_contact", table_name="training_registrations")
    op.drop_index("ix_training_registration_reminder", table_name="training_registrations")
    op.drop_index("ix_training_registration_queue", table_name="training_registrations")
    op.drop_index("uq_training_registration_active_phone", table_name="training_registrations")
    op.drop_table("training_registrations")
    op.drop_table("trainings")

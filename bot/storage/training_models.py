"""Training catalogue, registrations and reminders (issue 4).

`trainings` is a copy of content/trainings.yml made at start-up: registrations
reference a training by its stable id, and the row is what concurrent
registrations lock (SELECT ... FOR UPDATE) so that seats are never oversold.

A registration's whole life is in its row: waitlist order is the row id (ids
are assigned while the training row is locked, so id order is arrival order),
and the reminder is two columns (`remind_at`, `reminded_at`) so it survives
restarts and is sent exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped

from bot.storage.models import Base

CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
CANCELLED = "cancelled"
ACTIVE_STATUSES = (CONFIRMED, WAITLISTED)
# Shared with the migration: one active registration per phone per training.
ACTIVE_ONLY = "status <> 'cancelled'"


class Training(Base):
    """One scheduled training, as last loaded from content/trainings.yml."""

    __tablename__ = "trainings"

    id: Mapped[str] = Column(String(60), primary_key=True)
    topic: Mapped[str] = Column(String(40), nullable=False)
    title: Mapped[str] = Column(String(160), nullable=False)
    description: Mapped[str] = Column(Text, nullable=False, default="")
    # Village codes whose people may join; empty list = every village ("semua").
    villages: Mapped[list[str]] = Column(JSON, nullable=False, default=list)
    location: Mapped[str] = Column(String(200), nullable=False)
    start_at: Mapped[datetime] = Column(DateTime, nullable=False)  # naive UTC
    end_at: Mapped[datetime] = Column(DateTime, nullable=False)  # naive UTC
    capacity: Mapped[int] = Column(Integer, nullable=False)
    audiences: Mapped[list[str]] = Column(JSON, nullable=False, default=list)
    organiser_name: Mapped[str] = Column(String(120), nullable=False)
    organiser_channel: Mapped[str] = Column(String(20), nullable=False)
    organiser_address: Mapped[str] = Column(String(120), nullable=False)
    example: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    # False once the entry is removed from the file: kept for its registrations.
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)

    def open_to(self, village_code: Optional[str]) -> bool:
        return not self.villages or (village_code is not None and village_code in self.villages)


class TrainingRegistration(Base):
    """A person registered (or waitlisted) for one training by one contact."""

    __tablename__ = "training_registrations"
    __table_args__ = (
        UniqueConstraint("code", name="uq_training_registration_code"),
        CheckConstraint(
            "status in ('confirmed', 'waitlisted', 'cancelled')", name="ck_training_registration_status"
        ),
        Index(
            "uq_training_registration_active_phone",
            "training_id",
            "phone",
            unique=True,
            sqlite_where=text(ACTIVE_ONLY),
            postgresql_where=text(ACTIVE_ONLY),
        ),
        Index("ix_training_registration_queue", "training_id", "status", "id"),
        Index("ix_training_registration_reminder", "status", "remind_at"),
        Index("ix_training_registration_contact", "contact_id"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    code: Mapped[str] = Column(String(12), nullable=False)  # PLT-XXXX, told to the person
    training_id: Mapped[str] = Column(ForeignKey("trainings.id"), nullable=False)
    # The chat that registered (notifications go there); the participant may be
    # someone else in the family.
    contact_id: Mapped[Optional[int]] = Column(ForeignKey("contacts.id", ondelete="SET NULL"))
    village_code: Mapped[Optional[str]] = Column(String(40))
    participant_name: Mapped[str] = Column(String(120), nullable=False)  # PERSONAL
    phone: Mapped[str] = Column(String(24), nullable=False)  # PERSONAL, normalised +62...
    relation: Mapped[str] = Column(String(20), nullable=False)  # purna_pmi | keluarga_pmi | calon_pmi
    status: Mapped[str] = Column(String(16), nullable=False)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    confirmed_at: Mapped[Optional[datetime]] = Column(DateTime)
    cancelled_at: Mapped[Optional[datetime]] = Column(DateTime)
    cancel_reason: Mapped[Optional[str]] = Column(String(20))  # peserta | hapus_data
    remind_at: Mapped[Optional[datetime]] = Column(DateTime)
    reminded_at: Mapped[Optional[datetime]] = Column(DateTime)
    # Attendance, marked by the organiser in the web console.
    attended: Mapped[Optional[bool]] = Column(Boolean)
    attendance_by: Mapped[Optional[str]] = Column(String(80))

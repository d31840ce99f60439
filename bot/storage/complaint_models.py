"""Complaint cases and their append-only history."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped

from bot.storage.models import Base

NEW, CLAIMED, IN_PROGRESS, RESOLVED, REFERRED = "baru", "diambil", "diproses", "selesai", "dirujuk"
# Closed by the timers: open for the retention period and a grace period with
# nobody acting on it (bot.domain.case_expiry).
EXPIRED = "kedaluwarsa"
STATUSES = (NEW, CLAIMED, IN_PROGRESS, RESOLVED, REFERRED, EXPIRED)
OPEN_STATUSES = (NEW, CLAIMED, IN_PROGRESS)
# A satgas is talking with the family: their replies go to the satgas.
TALKING_STATUSES = (CLAIMED, IN_PROGRESS)


class Case(Base):
    """One reported problem, owned by one village's satgas."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_village_status", "village_code", "status"),
        # The queue across villages (a coordinator's): open cases by status (migration 0014).
        Index("ix_cases_status", "status"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    code: Mapped[str] = Column(String(12), nullable=False, unique=True)
    village_code: Mapped[str] = Column(ForeignKey("villages.code"), nullable=False)
    reporter_id: Mapped[Optional[int]] = Column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    reporter_relation: Mapped[str] = Column(String(40), nullable=False)  # pekerja, orang_tua, ...
    worker_name: Mapped[Optional[str]] = Column(String(120))  # PERSONAL
    country: Mapped[Optional[str]] = Column(String(40))
    employer: Mapped[Optional[str]] = Column(String(200))  # PERSONAL
    category: Mapped[str] = Column(String(40), nullable=False)
    description: Mapped[Optional[str]] = Column(Text)  # PERSONAL
    contact_phone: Mapped[Optional[str]] = Column(String(20))  # PERSONAL
    urgent: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    status: Mapped[str] = Column(String(16), nullable=False, default="baru")
    assigned_to: Mapped[Optional[int]] = Column(ForeignKey("satgas_members.id"))
    outcome: Mapped[Optional[str]] = Column(Text)
    referred_to: Mapped[Optional[str]] = Column(String(40))
    public_update: Mapped[Optional[str]] = Column(Text)  # last update the reporter may see
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    updated_at: Mapped[datetime] = Column(DateTime, nullable=False)
    claimed_at: Mapped[Optional[datetime]] = Column(DateTime)
    closed_at: Mapped[Optional[datetime]] = Column(DateTime)
    # Timers, stored so that a restart does not forget them.
    escalate_at: Mapped[Optional[datetime]] = Column(DateTime, index=True)
    escalated_at: Mapped[Optional[datetime]] = Column(DateTime)
    remind_at: Mapped[Optional[datetime]] = Column(DateTime, index=True)
    anonymised_at: Mapped[Optional[datetime]] = Column(DateTime)


class CaseEvent(Base):
    """Who did what to a case, when. Rows are only ever added."""

    __tablename__ = "case_events"
    # The family's messages newer than a reader's last view, by kind (the
    # console's unread badge, bot.kelola.unread; migration 0014).
    __table_args__ = (Index("ix_case_events_kind_case", "kind", "case_id", "id"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    case_id: Mapped[int] = Column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    actor: Mapped[str] = Column(String(80), nullable=False)  # "pelapor", "sistem", "satgas:<id>"
    kind: Mapped[str] = Column(String(40), nullable=False)
    note: Mapped[Optional[str]] = Column(Text)  # PERSONAL (may describe the case)
    public: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)

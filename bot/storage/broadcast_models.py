"""Consent to be messaged first (per contact and topic), and broadcasts with
one row per recipient (issue 12).

A broadcast's recipients are written once, when it is created (unique per
broadcast and contact); each then moves `pending` -> `queued` (its outbox row,
carrying the broadcast id, written in the same transaction) or `skipped`
(with the reason). So a crash at
any moment neither loses nor repeats a recipient: what is queued is in the
outbox, what is pending is picked up by the next timer pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from bot.storage.models import Base

TOPICS = ("info_pelatihan", "peringatan", "kabar_kasus")


class Subscription(Base):
    """Whether a contact wants messages of one topic that they did not ask for
    in the conversation, since when, and how they said so."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("contact_id", "topic", name="uq_subscription_contact_topic"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    contact_id: Mapped[int] = Column(ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True)
    topic: Mapped[str] = Column(String(30), nullable=False)
    subscribed: Mapped[bool] = Column(Boolean, nullable=False)
    source: Mapped[str] = Column(String(60), nullable=False)  # "kata:berhenti", "pendaftaran_pelatihan", ...
    updated_at: Mapped[datetime] = Column(DateTime, nullable=False)


class Broadcast(Base):
    __tablename__ = "broadcasts"

    id: Mapped[int] = Column(Integer, primary_key=True)
    title: Mapped[str] = Column(String(160), nullable=False)
    topic: Mapped[str] = Column(String(30), nullable=False)
    template: Mapped[str] = Column(String(60), nullable=False)
    variables: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)
    segment: Mapped[str] = Column(String(120), nullable=False)  # "desa:jlamprang", "pelatihan:<id>", ...
    per_minute: Mapped[int] = Column(Integer, nullable=False)
    status: Mapped[str] = Column(String(16), nullable=False)  # terjadwal | mengirim | selesai | dibatalkan
    created_by: Mapped[str] = Column(String(80), nullable=False)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    send_at: Mapped[datetime] = Column(DateTime, nullable=False)
    # When the next recipient may be sent, per channel (the rate limit), ISO times.
    slots: Mapped[dict[str, str]] = Column(JSON, nullable=False, default=dict)
    finished_at: Mapped[Optional[datetime]] = Column(DateTime)


class BroadcastRecipient(Base):
    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "contact_id", name="uq_broadcast_recipient"),
        Index("ix_broadcast_recipients_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = Column(ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False)
    contact_id: Mapped[Optional[int]] = Column(ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[str] = Column(String(16), nullable=False)  # pending | queued | skipped
    reason: Mapped[Optional[str]] = Column(String(60))
    updated_at: Mapped[datetime] = Column(DateTime, nullable=False)

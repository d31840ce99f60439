"""Database tables.

All times are naive UTC (see `bot.clock`). Personal data lives only in the
columns marked PERSONAL so that deletion on request has a short, checkable list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import (
    Boolean,
    Column,
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Index,
    false,
)
from sqlalchemy.orm import declarative_base, Mapped

Base = declarative_base()


# What an erased message keeps instead of its text and address.
ERASED_TEXT = "[dihapus]"
ERASED_ADDRESS = "dihapus"
# What a message that carried a secret (a one-time sign-in link) keeps once sent.
SECRET_SENT_TEXT = "[berisi tautan rahasia: dihapus setelah terkirim]"

class Contact(Base):
    """A person talking to the bot on one channel."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contact_channel_address"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    channel: Mapped[str] = Column(String(20), nullable=False)
    address: Mapped[str] = Column(String(64), nullable=False)  # PERSONAL (phone / chat id)
    display_name: Mapped[Optional[str]] = Column(String(120))  # PERSONAL
    village_code: Mapped[Optional[str]] = Column(String(40))
    consent_at: Mapped[Optional[datetime]] = Column(DateTime)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    last_seen_at: Mapped[datetime] = Column(DateTime, nullable=False)
    deleted_at: Mapped[Optional[datetime]] = Column(DateTime)
    # When the person's last messages arrived (POSIX seconds, at most the rate
    # limit's count): the rate limit reads them from this row, which the turn
    # has locked anyway, instead of counting inbound messages (bot/core.py).
    recent_inbound: Mapped[Optional[list[float]]] = Column(JSON)


class Conversation(Base):
    """Where a contact is in the conversation; written in the same transaction as
    the turn so that a restart resumes exactly here."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_updated", "updated_at"),)

    contact_id: Mapped[int] = Column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[Optional[str]] = Column(String(40))
    step: Mapped[Optional[str]] = Column(String(40))
    slots: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)  # PERSONAL
    # Values of the numbered options last shown, so "2" means what the person saw.
    options: Mapped[list[str]] = Column(JSON, nullable=False, default=list)
    # Remembered context (e.g. destination country) and a suspended flow.
    context: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)
    updated_at: Mapped[datetime] = Column(DateTime, nullable=False)


class InboundMessage(Base):
    """Every accepted message, once: (channel, external_id) is unique."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external"),
        Index("ix_inbound_contact_received", "contact_id", "received_at"),
        Index("ix_inbound_received", "received_at"),
        Index("ix_inbound_subject_case", "subject_case_id"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    channel: Mapped[str] = Column(String(20), nullable=False)
    external_id: Mapped[str] = Column(String(100), nullable=False)
    contact_id: Mapped[Optional[int]] = Column(ForeignKey("contacts.id", ondelete="CASCADE"))
    text: Mapped[str] = Column(Text, nullable=False, default="")  # PERSONAL
    payload: Mapped[Optional[str]] = Column(String(200))
    attachments: Mapped[list[dict[str, str]]] = Column(JSON, nullable=False, default=list)
    intent: Mapped[Optional[str]] = Column(String(40))
    confidence: Mapped[Optional[float]] = Column(Float)
    received_at: Mapped[datetime] = Column(DateTime, nullable=False)
    processed_at: Mapped[Optional[datetime]] = Column(DateTime)
    # Set when the turn failed: the message is kept, never silently lost.
    error: Mapped[Optional[str]] = Column(String(200))
    # The case a satgas command quotes ("balas ADU-7K3P Bu Siti ..."): erasing
    # or purging the case scrubs this text by this link, never by searching.
    subject_case_id: Mapped[Optional[int]] = Column(
        ForeignKey("cases.id", ondelete="SET NULL", name="fk_inbound_subject_case")
    )


class OutboundMessage(Base):
    """The outbox: replies and notifications, written with the state change that
    caused them and sent afterwards by the channel's deliverer."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "channel", "next_attempt_at"),
        Index("ix_outbox_chat", "channel", "address", "status"),
        Index("ix_outbox_contact", "contact_id"),
        # Retention deletes inbound messages; their replies' link is set to NULL by this (migration 0016).
        Index("ix_outbox_inbound", "inbound_id"),
        Index("ix_outbox_created", "created_at"),
        Index("ix_outbox_subject_contact", "subject_contact_id"),
        Index("ix_outbox_subject_case", "subject_case_id"),
        Index("ix_outbox_subject_training", "subject_training_id"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    channel: Mapped[str] = Column(String(20), nullable=False)
    address: Mapped[str] = Column(String(64), nullable=False)  # PERSONAL
    contact_id: Mapped[Optional[int]] = Column(ForeignKey("contacts.id", ondelete="CASCADE"))
    inbound_id: Mapped[Optional[int]] = Column(ForeignKey("inbound_messages.id", ondelete="SET NULL"))
    text: Mapped[str] = Column(Text, nullable=False)  # PERSONAL (may quote a case)
    options: Mapped[list[dict[str, str]]] = Column(JSON, nullable=False, default=list)
    status: Mapped[str] = Column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = Column(DateTime, nullable=False)
    last_error: Mapped[Optional[str]] = Column(Text)
    provider_message_id: Mapped[Optional[str]] = Column(Text)  # several ids when a long message was split
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    sent_at: Mapped[Optional[datetime]] = Column(DateTime)
    # Whose personal data the text carries, besides the recipient's own: the
    # person whose message caused it, the case it quotes, the training whose
    # participants it lists. Erasure and retention follow these links.
    subject_contact_id: Mapped[Optional[int]] = Column(
        ForeignKey("contacts.id", ondelete="SET NULL", name="fk_outbox_subject_contact")
    )
    subject_case_id: Mapped[Optional[int]] = Column(
        ForeignKey("cases.id", ondelete="SET NULL", name="fk_outbox_subject_case")
    )
    subject_training_id: Mapped[Optional[str]] = Column(ForeignKey("trainings.id", name="fk_outbox_subject_training"))
    # Sent first by us (not a reply): its WhatsApp template (content/templates.yml)
    # and variables for outside the 24-hour window, and the consent topic that
    # is checked again right before sending.
    template: Mapped[Optional[str]] = Column(String(60))
    variables: Mapped[Optional[dict[str, str]]] = Column(JSON)
    topic: Mapped[Optional[str]] = Column(String(30))
    broadcast_id: Mapped[Optional[int]] = Column(Integer, index=True)
    # What the provider later reported (Twilio status callbacks; Telegram's answer).
    provider_status: Mapped[Optional[str]] = Column(String(20))
    provider_error: Mapped[Optional[str]] = Column(String(20))
    # Carries a secret (a one-time sign-in link): sent without a link preview
    # (a preview would fetch the link) and its text dropped once sent (issue 24).
    secret: Mapped[bool] = Column(Boolean, nullable=False, default=False, server_default=false())
    # Where a person's words sit in `text` ([[start, end], ...] character
    # offsets, bot.messages.literal_spans): their "*" and "_" are never read
    # as formatting (Telegram, issue 27). Offsets only, no words: not personal.
    literal_spans: Mapped[Optional[list[list[int]]]] = Column(JSON)


class OutboundProviderId(Base):
    """One provider message id of an outbox row (every part of a split message
    has its own): Twilio's status callbacks find their row by this primary key
    instead of scanning `outbound_messages.provider_message_id`, which stays as
    the readable comma-joined copy. Written by the outbox's settle; goes with
    its message (ON DELETE CASCADE). Telegram ids repeat across chats, hence
    the message id in the key."""

    __tablename__ = "outbound_provider_ids"
    __table_args__ = (Index("ix_outbound_provider_ids_outbound", "outbound_id"),)

    provider_id: Mapped[str] = Column(Text, primary_key=True)
    outbound_id: Mapped[int] = Column(
        ForeignKey("outbound_messages.id", ondelete="CASCADE", name="fk_outbound_provider_ids_outbound"),
        primary_key=True,
    )


class Event(Base):
    """Append-only record of what happened (flow steps, consents, deletions,
    satgas actions). Holds no free text typed by people."""

    __tablename__ = "events"

    id: Mapped[int] = Column(Integer, primary_key=True)
    contact_id: Mapped[Optional[int]] = Column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = Column(String(40), nullable=False)
    actor: Mapped[Optional[str]] = Column(String(80))
    data: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False, index=True)


class Village(Base):
    """A village served by the bot; loaded from content/villages.yml at start-up."""

    __tablename__ = "villages"

    code: Mapped[str] = Column(String(40), primary_key=True)
    name: Mapped[str] = Column(String(120), nullable=False)
    district: Mapped[str] = Column(String(120), nullable=False, default="")
    escalation_channel: Mapped[Optional[str]] = Column(String(20))
    escalation_address: Mapped[Optional[str]] = Column(String(64))
    # Telegram group of the village satgas: alerts go there once, with buttons.
    telegram_group: Mapped[Optional[str]] = Column(String(64))
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)


class SatgasMember(Base):
    """A member of a village task force; one row per channel identity."""

    __tablename__ = "satgas_members"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_satgas_channel_address"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    village_code: Mapped[str] = Column(ForeignKey("villages.code"), nullable=False, index=True)
    name: Mapped[str] = Column(String(120), nullable=False)
    role: Mapped[str] = Column(String(40), nullable=False, default="anggota")
    channel: Mapped[str] = Column(String(20), nullable=False)
    address: Mapped[str] = Column(String(64), nullable=False)
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)

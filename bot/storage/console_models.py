"""Web console accounts, their one-time login links, failed logins (for
throttling) and the messages staff marked as NLU examples (issue 11)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped

from bot.storage.models import Base

ROLES = ("koordinator", "satgas", "penyelenggara", "pengamat")


class WebUser(Base):
    """A person who signs in to /kelola. A satgas or organiser account is linked
    to that person's chat identity, so an action on the web and in chat is the
    same person."""

    __tablename__ = "web_users"

    id: Mapped[int] = Column(Integer, primary_key=True)
    username: Mapped[str] = Column(String(60), nullable=False, unique=True)
    role: Mapped[str] = Column(String(20), nullable=False)
    # koordinator: the district overseen (None = every village); satgas: the village.
    district: Mapped[Optional[str]] = Column(String(120))
    village_code: Mapped[Optional[str]] = Column(String(40))
    identity_channel: Mapped[Optional[str]] = Column(String(20))
    identity_address: Mapped[Optional[str]] = Column(String(64))  # PERSONAL (phone / chat id)
    password_hash: Mapped[Optional[str]] = Column(String(200))  # None: passwordless (chat link) only
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    last_login_at: Mapped[Optional[datetime]] = Column(DateTime)


class LoginLink(Base):
    """A one-time login link sent in chat (`masuk`); only its hash is kept."""

    __tablename__ = "web_login_links"

    id: Mapped[int] = Column(Integer, primary_key=True)
    user_id: Mapped[int] = Column(ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = Column(DateTime, nullable=False)
    used_at: Mapped[Optional[datetime]] = Column(DateTime)


class LoginFailure(Base):
    """A failed sign-in, counted per account and per address to throttle guessing."""

    __tablename__ = "web_login_failures"
    __table_args__ = (
        Index("ix_login_failures_username", "username", "created_at"),
        Index("ix_login_failures_address", "address", "created_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True)
    username: Mapped[str] = Column(String(60), nullable=False)
    address: Mapped[str] = Column(String(64), nullable=False)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)


class NluExample(Base):
    """A message the bot did not understand, marked by staff as an example of an
    intent or a knowledge entry for the next model. The text is stored masked,
    but it is still the person's words: an example lives only as long as its
    message (retention deletes both) and goes with its person's "hapus data",
    found through `contact_id` even when the message link is gone (issue 24)."""

    __tablename__ = "nlu_examples"

    id: Mapped[int] = Column(Integer, primary_key=True)
    inbound_id: Mapped[Optional[int]] = Column(ForeignKey("inbound_messages.id", ondelete="SET NULL"), unique=True)
    # Who wrote it, set when marked (migration 0010 filled it for older rows).
    contact_id: Mapped[Optional[int]] = Column(
        ForeignKey("contacts.id", ondelete="CASCADE", name="fk_nlu_examples_contact"), index=True
    )
    text: Mapped[str] = Column(Text, nullable=False)
    label: Mapped[str] = Column(String(120), nullable=False)  # "intent:<name>" or "kb:<entry id>"
    marked_by: Mapped[str] = Column(String(80), nullable=False)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)


class WebSession(Base):
    """A signed-in browser (issue 24). The session cookie carries a random id;
    only its SHA-256 is kept here, so a copy of the database signs nobody in.
    Signing out deletes the row, and so do a password change and disabling the
    account (every row of that user): a copied cookie dies with its row,
    instead of living on until the cookie's own 12 hours are up."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = Column(Integer, primary_key=True)
    user_id: Mapped[int] = Column(ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = Column(DateTime, nullable=False)
    last_seen_at: Mapped[datetime] = Column(DateTime, nullable=False)


class CaseRead(Base):
    """How far one console user has read a case's history (issue 26): the
    newest case event they had on screen. A family's reply after it is unread
    for them, shown in the queue until they open the case. One row per user
    and case; ids only, no personal data."""

    __tablename__ = "case_reads"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_reads_case_user"),)

    id: Mapped[int] = Column(Integer, primary_key=True)
    case_id: Mapped[int] = Column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = Column(ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False, index=True)
    last_event_id: Mapped[int] = Column(Integer, nullable=False)
    seen_at: Mapped[datetime] = Column(DateTime, nullable=False)

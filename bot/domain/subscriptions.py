"""Consent to be messaged first, per contact and topic (issue 12).

Three topics: `info_pelatihan` (new trainings, deadlines), `peringatan`
(fraud and safety warnings) and `kabar_kasus` (case news sent as broadcasts).
Replies, and the service messages a person asked for (updates on their own
report, reminders of their own training), need no consent. Opting out is
honoured at once: broadcasts check it when they are queued and the delivery
worker checks it again right before sending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.broadcast_models import TOPICS, Subscription


def set_topics(session: Session, contact_id: int, topics: Iterable[str], subscribed: bool, source: str, now: datetime) -> None:
    for topic in topics:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic}")
        row = session.execute(
            select(Subscription).where(Subscription.contact_id == contact_id, Subscription.topic == topic).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            session.add(Subscription(contact_id=contact_id, topic=topic, subscribed=subscribed, source=source[:60], updated_at=now))
        elif row.subscribed != subscribed:
            row.subscribed, row.source, row.updated_at = subscribed, source[:60], now


def opt_out_all(session: Session, contact_id: int, source: str, now: datetime) -> None:
    set_topics(session, contact_id, TOPICS, False, source, now)


def opt_in_all(session: Session, contact_id: int, source: str, now: datetime) -> None:
    set_topics(session, contact_id, TOPICS, True, source, now)


def choice(session: Session, contact_id: int, topic: str) -> Optional[bool]:
    """True (opted in), False (opted out) or None (never said)."""
    return session.execute(
        select(Subscription.subscribed).where(Subscription.contact_id == contact_id, Subscription.topic == topic)
    ).scalar_one_or_none()


def may_send(session: Session, contact_id: Optional[int], topic: Optional[str], needs_opt_in: bool) -> bool:
    """Whether a message of `topic` may go to this contact now: never after an
    opt-out; a promotional one only after an opt-in."""
    if topic is None or contact_id is None:
        return True
    return allows(choice(session, contact_id, topic), needs_opt_in)


def allows(said: Optional[bool], needs_opt_in: bool) -> bool:
    """The consent rule itself, for a choice already read."""
    return said is True if needs_opt_in else said is not False


def topics_of(session: Session, contact_id: int) -> dict[str, Optional[bool]]:
    return {topic: choice(session, contact_id, topic) for topic in TOPICS}

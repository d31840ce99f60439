"""WhatsApp's 24-hour window: free text only within 24 hours of the person's
last message, otherwise only an approved template.

Proactive messages matter here (a case alert to a satgas member who has not
written for days, a satgas answer to a family), so a message outside the window
is neither dropped nor squeezed into a template variable. Instead:

1. The approved template is sent once ("there is a message for you, reply to
   read it"), and the message is held: it stays `pending` in the outbox, its
   `last_error` starting with HOLD_MARK, due again when the hold ends.
2. When the person answers, the window is open again (the core updates
   `Contact.last_seen_at` with every inbound message); the next delivery pass
   releases everything held for them and it is sent in the original order.
3. If they do not answer within the hold, the held messages fail with the
   reason. With no template configured, a message outside the window fails at
   once with the reason (WhatsApp would refuse it anyway, error 63016).

All state is in the outbox rows (status, next_attempt_at, last_error), so it
survives restarts and several workers see the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Callable, Mapping, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import WHATSAPP
from bot.clock import Clock
from bot.storage.models import Contact, OutboundMessage

WINDOW = timedelta(hours=24)
HOLD_MARK = "[wa-24h]"


class Decision(Enum):
    OPEN = "open"  # inside the window: send the message itself
    KNOCK = "knock"  # outside: send the template, hold the message
    JOIN = "join"  # outside, template already sent: hold the message too
    EXPIRED = "expired"  # held for the whole hold without an answer: give up


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    wait: float = 0.0  # seconds a held message waits before it is looked at again


# Outbox id -> when the recipient contact last wrote, as read with the claim
# (bot.outbox.Outbox.last_seen); ids missing from it are looked up.
SeenAtClaim = Callable[[], Mapping[int, Optional[datetime]]]


class Window:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, hold: timedelta, seen_at_claim: Optional[SeenAtClaim] = None
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.hold = hold
        self.seen_at_claim = seen_at_claim or dict
        self._given_up: dict[str, str] = {}  # address -> reason, in this delivery pass

    def new_pass(self) -> None:
        """Forget the previous pass's give-ups: rows queued since are new."""
        self._given_up = {}

    def verdict(self, row: OutboundMessage) -> Verdict:
        now = self.clock.now()
        claimed = self.seen_at_claim()
        with self.sessions() as session:
            seen = claimed[row.id] if row.id in claimed else _last_inbound(session, row.contact_id, row.address)
            if seen is not None and now - seen < WINDOW:
                return Verdict(Decision.OPEN)
            if (row.last_error or "").startswith(HOLD_MARK):
                return Verdict(Decision.EXPIRED)
            held_until = session.execute(
                select(OutboundMessage.next_attempt_at)
                .where(
                    OutboundMessage.channel == WHATSAPP,
                    OutboundMessage.address == row.address,
                    OutboundMessage.status == "pending",
                    OutboundMessage.id != row.id,
                    OutboundMessage.last_error.startswith(HOLD_MARK, autoescape=True),
                )
                .order_by(OutboundMessage.next_attempt_at)
                .limit(1)
            ).scalar_one_or_none()
        if held_until is not None:
            return Verdict(Decision.JOIN, wait=max(1.0, (held_until - now).total_seconds()))
        return Verdict(Decision.KNOCK, wait=self.hold.total_seconds())

    def verdict_closed(self, row: OutboundMessage) -> Verdict:
        """As `verdict`, for a message WhatsApp itself refused as outside the window."""
        verdict = self.verdict(row)
        if verdict.decision is not Decision.OPEN:
            return verdict
        return Verdict(Decision.KNOCK, wait=self.hold.total_seconds())

    def release_answered(self) -> int:
        """Make held messages due now for everyone whose window is open again."""
        now = self.clock.now()
        released = 0
        with self.sessions() as session, session.begin():
            addresses = session.execute(
                select(OutboundMessage.address)
                .where(
                    OutboundMessage.channel == WHATSAPP,
                    OutboundMessage.status == "pending",
                    OutboundMessage.last_error.startswith(HOLD_MARK, autoescape=True),
                )
                .distinct()
            ).scalars()
            for address in list(addresses):
                seen = _last_inbound(session, None, address)
                if seen is None or now - seen >= WINDOW:
                    continue
                # Everything pending for them, not only the held rows: messages
                # queued behind a held one wait for it (delivery keeps order).
                result = session.execute(
                    update(OutboundMessage)
                    .where(
                        OutboundMessage.channel == WHATSAPP,
                        OutboundMessage.address == address,
                        OutboundMessage.status == "pending",
                        OutboundMessage.next_attempt_at > now,
                    )
                    .values(next_attempt_at=now)
                    .execution_options(synchronize_session=False)
                )
                released += result.rowcount or 0
        return released

    def give_up(self, row: OutboundMessage, reason: str) -> int:
        """The person never answered: fail the other messages waiting for them
        too, so a later one does not knock again for the same silence. Rows
        already claimed ('sending') are included; `given_up` stops their send."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            result = session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.channel == WHATSAPP,
                    OutboundMessage.address == row.address,
                    OutboundMessage.status.in_(("pending", "sending")),
                    OutboundMessage.id != row.id,
                    OutboundMessage.created_at <= now,
                )
                .values(status="failed", last_error=reason)
                .execution_options(synchronize_session=False)
            )
            self._given_up[row.address] = reason
            return result.rowcount or 0

    def given_up(self, row: OutboundMessage) -> Optional[str]:
        """The reason, if `give_up` failed this row after it was claimed in this
        pass. Only this worker can have: a chat has one message in flight at a
        time (bot.delivery.InOrder), so no other worker sends to this address now."""
        return self._given_up.get(row.address)


def _last_inbound(session: Session, contact_id: Optional[int], address: str) -> Optional[datetime]:
    """When the person last wrote to us (Contact.last_seen_at, set by the core)."""
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is not None:
            return contact.last_seen_at
    return session.execute(
        select(Contact.last_seen_at).where(Contact.channel == WHATSAPP, Contact.address == address)
    ).scalar_one_or_none()


"""Delivering the outbox: every queued message is sent at most once and retried
with exponential backoff until it is sent or given up on.

A batch of messages is claimed (status 'sending', with a lease) in one short
transaction, sent outside any transaction, and the batch's sends are settled
together in another (one UPDATE run). A process that dies while sending leaves
a lease that expires, so the message is retried rather than lost.

Every message the provider accepted is remembered in memory until its settle
commits: when the database refuses to record it (SQLite busy under load,
PostgreSQL restarting), it is not sent again when its lease runs out; the pass
stops (the database is in trouble) and records it first thing in the next
pass. That memory lives as long as the process; a crash before the batch's
settle can still duplicate what the batch sent on Telegram (WhatsApp asks
Twilio what went before sending again; neither API takes an idempotency key).
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from sqlalchemy import JSON, bindparam, case, func, literal, null, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.messages import Outbound, Proactive, literal_spans, option_rows
from bot.privacy import mask
from bot.storage.models import ERASED_ADDRESS, ERASED_TEXT, SECRET_SENT_TEXT, Contact, OutboundMessage

if TYPE_CHECKING:  # the NLU venv imports this module with SQLAlchemy 1.4, which has no top-level Update
    from sqlalchemy.sql.expression import Update

logger = logging.getLogger(__name__)


# last_error of a message whose worker died while sending it (see Outbox.claim).
LEASE_EXPIRED = "[lease-expired]"


def lease_expired_since(row: OutboundMessage) -> Optional[datetime]:
    """When the dead worker claimed this message, if that is why it is here again."""
    error = row.last_error or ""
    if not error.startswith(LEASE_EXPIRED):
        return None
    try:
        return datetime.fromisoformat(error[len(LEASE_EXPIRED):].strip())
    except ValueError:
        return None


class PermanentDeliveryError(Exception):
    """The provider refused for good (blocked bot, invalid number): do not retry."""


class PostponeDelivery(Exception):
    """Not a failure: the message must wait (for an earlier one to the same chat,
    or for an answer to a WhatsApp template). Uses up no attempt."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class TemporaryDeliveryError(Exception):
    """Worth retrying (timeouts, 5xx, rate limits)."""

    def __init__(self, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Subjects:
    """Whose personal data a message carries besides its recipient's: stored on
    the outbox row so that erasure and retention find it by link, not by text."""

    contact_id: Optional[int] = None
    case_id: Optional[int] = None
    training_id: Optional[str] = None


def queue(
    channel: str,
    address: str,
    message: Outbound,
    now: datetime,
    contact_id: Optional[int] = None,
    inbound_id: Optional[int] = None,
    subjects: Subjects = Subjects(),
    proactive: Optional[Proactive] = None,
    broadcast_id: Optional[int] = None,
    due: Optional[datetime] = None,
) -> OutboundMessage:
    """The outbox row for one message; the caller adds it in its transaction.
    `due` delays it (a broadcast's rate limit)."""
    return OutboundMessage(
        channel=channel,
        address=address,
        contact_id=contact_id,
        inbound_id=inbound_id,
        text=str(message.text),
        literal_spans=literal_spans(message.text) or None,
        options=option_rows(message.options),
        status="pending",
        attempts=0,
        next_attempt_at=due or now,
        created_at=now,
        subject_contact_id=subjects.contact_id,
        subject_case_id=subjects.case_id,
        subject_training_id=subjects.training_id,
        template=proactive.template if proactive else None,
        variables=dict(proactive.variables) if proactive else None,
        topic=proactive.topic if proactive else None,
        broadcast_id=broadcast_id,
        secret=message.secret,
    )


def provider_code(error: str) -> Optional[str]:
    """The provider's error code in a delivery error ("twilio 400 code 63016: ...", "telegram 403: ..."), if any."""
    match = re.search(r"code (\d{3,6})", error) or re.search(r"^\w+ (\d{3})\b", error)
    return match.group(1) if match else None


def forget_if_erased(session: Session, row: OutboundMessage) -> None:
    """Once a message to a person who asked for deletion is settled (sent or
    failed), its text and address are no longer needed: drop them."""
    contact = session.get(Contact, row.contact_id) if row.contact_id else None
    if contact is not None and contact.deleted_at is not None:
        row.text, row.address, row.options, row.variables = ERASED_TEXT, ERASED_ADDRESS, [], None
        row.literal_spans = None


def _settle_sent_statement() -> Update:
    """Built once (not per message): see `Outbox.settle_sent_many`."""
    erased = (
        select(Contact.id).where(Contact.id == OutboundMessage.contact_id, Contact.deleted_at.is_not(None)).exists()
    )
    return (
        update(OutboundMessage)
        .where(OutboundMessage.id == bindparam("settled_id"), OutboundMessage.status != "sent")
        .values(
            status="sent", sent_at=bindparam("settled_at"), provider_message_id=bindparam("provider_id"), last_error=None,
            provider_status=func.coalesce(OutboundMessage.provider_status, "sent"),
            # a message that carried a secret (sign-in link) keeps no text once sent
            text=case((erased, ERASED_TEXT), (OutboundMessage.secret.is_(True), SECRET_SENT_TEXT), else_=OutboundMessage.text),
            address=case((erased, ERASED_ADDRESS), else_=OutboundMessage.address),
            options=case((erased, literal([], JSON)), else_=OutboundMessage.options),
            variables=case((erased, null()), else_=OutboundMessage.variables),
        )
    )


_SETTLE_SENT = _settle_sent_statement()

# Each provider id of a settled message as its own row (outbound_provider_ids,
# migration 0008), so that a status callback finds its message by key instead
# of scanning the outbox. Run after _SETTLE_SENT in the same transaction, one
# parameter set per id: only where the row now holds exactly this id list (a
# row settled before keeps the ids it has) and only while the row exists (a
# message purged meanwhile gets none); a second settle of the same send adds
# nothing. Plain SQL: ON CONFLICT DO NOTHING reads the same on SQLite and
# PostgreSQL (the WHERE is what SQLite needs to parse ON CONFLICT after a SELECT).
_RECORD_PROVIDER_IDS = text(
    "INSERT INTO outbound_provider_ids (provider_id, outbound_id)"
    " SELECT CAST(:provider_part AS TEXT), id FROM outbound_messages"
    " WHERE id = :settled_id AND provider_message_id = :provider_id"
    " ON CONFLICT DO NOTHING"
)


def provider_ids(joined: Optional[str]) -> list[str]:
    """The separate ids in a provider_message_id value: split parts are joined
    with commas, and "+N" (ids that did not fit, `bot.channels.parts`) is no id."""
    return [part for part in dict.fromkeys((joined or "").split(",")) if part and not part.startswith("+")]


# Sends one message; returns the provider's message id (or "" when there is none).
Sender = Callable[[OutboundMessage], str]


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    postponed: int = 0


class Outbox:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Optional[Clock] = None,
        max_attempts: int = 14,  # 2 s doubling, capped at 10 min: about an hour of provider outage
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        lease: float = 120.0,
    ) -> None:
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease = lease
        self._sent_not_recorded: dict[int, str] = {}  # outbox id -> provider id
        # The last claim's recipients: outbox id -> when that contact last wrote
        # (None: never); rows to an address without a contact are not in it.
        self.last_seen: dict[int, Optional[datetime]] = {}
        self._journal_lock = threading.Lock()
        self._senders: Optional[ThreadPoolExecutor] = None  # threads for parallel sends, made on first use
        self._senders_size = 0

    def claim(self, channel: str, limit: int = 20) -> list[OutboundMessage]:
        """Take up to `limit` due messages (oldest first) for this worker, with a
        lease. The recipient contact's last message time comes with the claim
        (`last_seen`): the WhatsApp window is decided from it without one
        more query per message."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            query = (
                select(OutboundMessage, Contact.last_seen_at)
                .outerjoin(Contact, Contact.id == OutboundMessage.contact_id)
                .where(
                    OutboundMessage.channel == channel,
                    OutboundMessage.status.in_(("pending", "sending")),
                    OutboundMessage.next_attempt_at <= now,
                )
                .order_by(OutboundMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=OutboundMessage)
            )
            claimed = session.execute(query).all()
            rows = [row for row, _seen in claimed]
            self.last_seen = {row.id: seen for row, seen in claimed if row.contact_id is not None}
            for row in rows:
                if row.status == "sending":
                    # The worker that claimed it died mid-send: the provider may
                    # have taken it. Say since when, so the sender can ask.
                    claimed_at = row.next_attempt_at - timedelta(seconds=self.lease)
                    row.last_error = f"{LEASE_EXPIRED} {claimed_at.isoformat()}"
                row.status = "sending"
                row.attempts += 1
                row.next_attempt_at = now + timedelta(seconds=self.lease)
            return rows

    def settle_sent(self, message_id: int, provider_id: str) -> None:
        self.settle_sent_many({message_id: provider_id})

    def settle_sent_many(self, sent: Mapping[int, str]) -> None:
        """Mark messages sent (outbox id -> provider id): one UPDATE run for all,
        in one transaction. A row already marked sent stays as it was. A
        message to a contact who asked for deletion meanwhile (the farewell, or
        a reply that was on its way) keeps no text or address: the same
        statement drops them when the recipient's row says deleted. Each
        provider id also gets its own row (one more statement for the batch),
        which is what status callbacks look up."""
        if not sent:
            return
        now = self.clock.now()
        ids = [
            {"settled_id": key, "provider_id": value, "provider_part": part}
            for key, value in sent.items()
            for part in provider_ids(value)
        ]
        with self.sessions() as session, session.begin():
            connection = session.connection()
            connection.execute(
                _SETTLE_SENT,
                [{"settled_id": key, "settled_at": now, "provider_id": value or None} for key, value in sent.items()],
            )
            if ids:
                connection.execute(_RECORD_PROVIDER_IDS, ids)

    def settle_failed(self, message_id: int, error: str, permanent: bool, retry_after: Optional[float] = None) -> str:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            row = session.get(OutboundMessage, message_id, with_for_update=True)
            if row is None or row.status == "sent":
                return "sent"
            row.last_error = error[:500]
            if permanent or row.attempts >= self.max_attempts:
                row.status = "failed"
                row.provider_status = "failed"
                row.provider_error = provider_code(error)
                logger.warning("message %s to %s failed for good: %s", row.id, mask(row.address), error[:200])
                forget_if_erased(session, row)  # a failed farewell keeps no address either
                if row.secret:
                    row.text = SECRET_SENT_TEXT
                return "failed"
            delay = min(self.max_delay, self.base_delay * 2 ** (row.attempts - 1))
            if retry_after is not None:
                delay = max(delay, retry_after)
            row.status = "pending"
            row.next_attempt_at = now + timedelta(seconds=delay)
            return "retry"

    def postpone(self, message_id: int, reason: str, retry_after: float) -> None:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            row = session.get(OutboundMessage, message_id, with_for_update=True)
            if row is None or row.status != "sending":
                return
            row.status, row.last_error = "pending", reason[:500]
            row.attempts = max(0, row.attempts - 1)  # the claim counted one; waiting is not trying
            row.next_attempt_at = now + timedelta(seconds=retry_after)

    def deliver(
        self,
        channel: str,
        send: Sender,
        limit: int = 20,
        on_claim: Optional[Callable[[list[OutboundMessage]], None]] = None,
        parallel: int = 1,
    ) -> DeliveryStats:
        """One pass over what is due on a channel. `on_claim` sees the whole
        batch before the first send (to read what it needs for all at once).

        With `parallel` > 1 up to that many chats are sent to at the same time,
        each chat's messages one after the other in order: a provider answers a
        send in a few hundred milliseconds, and one chat after another would
        cap a worker at a few messages per second."""
        stats = DeliveryStats()
        self._record_remembered()  # raises while the database still refuses: nothing owed is ever claimed again
        rows = self.claim(channel, limit)
        if on_claim is not None and rows:
            on_claim(rows)
        chats: dict[str, list[OutboundMessage]] = {}
        for row in rows:
            chats.setdefault(row.address, []).append(row)
        if parallel <= 1 or len(chats) <= 1:
            outcomes = [self._send_one(row, send) for row in rows]
        else:
            pool = self._pool(parallel)
            outcomes = [outcome for chat in pool.map(lambda chat: [self._send_one(row, send) for row in chat], chats.values())
                        for outcome in chat]
        for outcome in outcomes:
            setattr(stats, outcome, getattr(stats, outcome) + 1)
        self._record_remembered()  # the batch's sends, settled together
        return stats

    def _send_one(self, row: OutboundMessage, send: Sender) -> str:
        """Send one claimed message and note what became of it: "sent" (owed
        to the database until the batch is settled), "postponed", "retried" or "failed"."""
        try:
            provider_id = send(row)
        except PostponeDelivery as wait:
            self.postpone(row.id, str(wait), wait.retry_after)
            return "postponed"
        except PermanentDeliveryError as error:
            self.settle_failed(row.id, str(error), permanent=True)
            return "failed"
        except TemporaryDeliveryError as error:
            outcome = self.settle_failed(row.id, str(error), permanent=False, retry_after=error.retry_after)
            return "retried" if outcome == "retry" else "failed"
        with self._journal_lock:  # owed to the database from now on, whatever happens next
            self._sent_not_recorded[row.id] = provider_id
        return "sent"

    def close(self) -> None:
        """Stop the sending threads, if any were made."""
        with self._journal_lock:
            pool, self._senders = self._senders, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _pool(self, size: int) -> ThreadPoolExecutor:
        with self._journal_lock:
            if self._senders is None or self._senders_size != size:
                self._senders, self._senders_size = ThreadPoolExecutor(size, thread_name_prefix="send"), size
            return self._senders

    def _record_remembered(self) -> None:
        """Settle every message sent but not yet recorded, in one transaction;
        when the database refuses, they stay owed (never sent again) and the
        pass ends."""
        with self._journal_lock:
            owed = dict(self._sent_not_recorded)
        if not owed:
            return
        try:
            self.settle_sent_many(owed)
        except Exception:
            logger.error("%d sent message(s) could not be recorded; they will not be sent again", len(owed))
            raise
        with self._journal_lock:
            for message_id in owed:
                self._sent_not_recorded.pop(message_id, None)

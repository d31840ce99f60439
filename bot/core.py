"""One inbound message in, replies out, all in one database transaction.

The inbound message, the person's new conversation state, the events and every
outgoing message (replies and notifications, via the outbox) commit together: a
crash before the commit leaves nothing half-done, a restart after it resumes
exactly where the person was, and a repeated delivery of the same provider
message is recognised by its id and not answered twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.content import Content
from bot.messages import Inbound, Outbound
from bot.normalise import clean
from bot.outbox import queue
from bot.privacy import mask
from bot.storage.models import Contact, Conversation, InboundMessage
from flows.dialogue import Dialogue
from flows.turn import Turn
from nlu.classifier import Classifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handled:
    """What became of one inbound message.

    `stored` is what a webhook may tell the provider: True once the message is
    in the database (new, or a repeat of one already kept). False only when
    even the apology could not be recorded (database down, disk full): the
    provider must then be asked to deliver it again.
    """

    replies: list[Outbound]
    stored: bool


class Core:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        content: Content,
        classifier: Classifier,
        dialogue: Dialogue,
        settings: Settings,
        clock: Optional[Clock] = None,
    ) -> None:
        self.sessions = sessions
        self.content = content
        self.classifier = classifier
        self.dialogue = dialogue
        self.settings = settings
        self.clock = clock or SystemClock()

    def handle(self, inbound: Inbound) -> list[Outbound]:
        """Process one message exactly once; returns the replies (also queued in the outbox)."""
        return self.take(inbound).replies

    def take(self, inbound: Inbound) -> Handled:
        """Process one message exactly once, and say whether it is safely kept."""
        message_id = inbound.message_id or f"local-{uuid.uuid4().hex}"
        try:
            return Handled(self._turn(inbound, message_id), stored=True)
        except Exception:
            logger.exception("turn failed for %s on %s", mask(inbound.sender), inbound.channel)
            return self._failed_turn(inbound, message_id)

    # ------------------------------------------------------------------------
    def _turn(self, inbound: Inbound, message_id: str) -> list[Outbound]:
        now = self.clock.now()
        text = clean(inbound.text, self.settings.max_text_length)
        with self.sessions() as session, session.begin():
            contact = self._contact(session, inbound, now)
            record = self._record_inbound(session, inbound, message_id, contact, text.text, now)
            if record is None:
                logger.info("duplicate delivery %s ignored", message_id)
                return []
            if self._over_rate_limit(session, contact, record, now):
                warned = self._warned_recently(session, contact, now)
                record.error = "rate_limited"
                replies = [] if warned else [Outbound(self.content.text("rate_limited"))]
                for reply in replies:
                    session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record.id))
                return replies
            conversation = self._conversation(session, contact, now)
            turn = Turn(
                session=session,
                contact=contact,
                conversation=conversation,
                inbound=inbound,
                clean=text,
                content=self.content,
                classifier=self.classifier,
                now=now,
                nlu_threshold=self.settings.nlu_threshold,
            )
            self.dialogue.respond(turn)
            if turn.nlu_was_called:
                understanding = turn.understand()
                record.intent, record.confidence = understanding.intent, round(understanding.confidence, 4)
            conversation.updated_at = now
            contact.last_seen_at = now
            for reply in turn.replies:
                session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record.id))
            for channel, recipient, message, recipient_id in turn.notifications:
                session.add(queue(channel, recipient, message, now, recipient_id, record.id))
            return list(turn.replies)

    def _failed_turn(self, inbound: Inbound, message_id: str) -> Handled:
        """Keep the message and apologise, even when the flow itself broke."""
        now = self.clock.now()
        reply = Outbound(text=self.content.text("technical_problem"))
        try:
            with self.sessions() as session, session.begin():
                contact = self._contact(session, inbound, now)
                record = self._record_inbound(
                    session, inbound, message_id, contact, clean(inbound.text, self.settings.max_text_length).text, now
                )
                if record is None:
                    return Handled([], stored=True)
                record.error = "turn_failed"
                session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record.id))
        except Exception:
            # The database itself is failing (down, disk full): nothing was stored,
            # so do not claim it was; ask the person to send it again.
            logger.exception("could not record the failed turn either")
            return Handled([Outbound(text=self.content.text("technical_problem_unsaved"))], stored=False)
        return Handled([reply], stored=True)

    # ------------------------------------------------------------------------
    def _contact(self, session: Session, inbound: Inbound, now: datetime) -> Contact:
        query = (
            select(Contact)
            .where(Contact.channel == inbound.channel, Contact.address == inbound.sender)
            .with_for_update()
        )
        contact = session.execute(query).scalar_one_or_none()
        if contact is not None:
            return contact
        try:
            with session.begin_nested():
                contact = Contact(
                    channel=inbound.channel,
                    address=inbound.sender,
                    display_name=inbound.sender_name or None,
                    created_at=now,
                    last_seen_at=now,
                )
                session.add(contact)
        except IntegrityError:  # the same person's other message created it first
            contact = session.execute(query).scalar_one()
        return contact

    def _record_inbound(
        self, session: Session, inbound: Inbound, message_id: str, contact: Contact, text: str, now: datetime
    ) -> Optional[InboundMessage]:
        """The new inbound record, or None when this provider message was seen before.

        No savepoint is needed around the insert: `_contact` holds the sender's
        row lock (SELECT ... FOR UPDATE; BEGIN IMMEDIATE on SQLite), so a second
        delivery of the same message waits here until the first one commits, and
        then finds it. processed_at is set now because the record only becomes
        visible with the turn's commit, when the turn is done; it saves an UPDATE.
        """
        existing = session.execute(
            select(InboundMessage.id).where(
                InboundMessage.channel == inbound.channel, InboundMessage.external_id == message_id
            )
        ).first()
        if existing is not None:
            return None
        record = InboundMessage(
            channel=inbound.channel,
            external_id=message_id,
            contact_id=contact.id,
            text=text,
            payload=inbound.payload,
            attachments=[{"kind": a.kind, "reference": a.reference, "mime_type": a.mime_type} for a in inbound.attachments],
            received_at=now,
            processed_at=now,
        )
        session.add(record)
        session.flush([record])
        return record

    def _over_rate_limit(self, session: Session, contact: Contact, record: InboundMessage, now: datetime) -> bool:
        recent = session.execute(
            select(func.count())
            .select_from(InboundMessage)
            .where(
                InboundMessage.contact_id == contact.id,
                InboundMessage.received_at > now - timedelta(minutes=1),
                InboundMessage.id != record.id,
            )
        ).scalar_one()
        return recent >= self.settings.rate_limit_per_minute

    def _warned_recently(self, session: Session, contact: Contact, now: datetime) -> bool:
        """Say "slow down" once a minute, not once per message of the flood."""
        return (
            session.execute(
                select(InboundMessage.id).where(
                    InboundMessage.contact_id == contact.id,
                    InboundMessage.error == "rate_limited",
                    InboundMessage.received_at > now - timedelta(minutes=1),
                    InboundMessage.processed_at.is_not(None),
                ).limit(1)
            ).first()
            is not None
        )

    def _conversation(self, session: Session, contact: Contact, now: datetime) -> Conversation:
        conversation = session.get(Conversation, contact.id)
        if conversation is None:
            conversation = Conversation(contact_id=contact.id, slots={}, options=[], context={}, updated_at=now)
            session.add(conversation)
        return conversation

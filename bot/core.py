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
from bot.outbox import Subjects, queue
from bot.privacy import mask
from bot.storage.complaint_models import Case
from bot.storage.db import again_if_disconnected
from bot.storage.models import Contact, Conversation, Event, InboundMessage, OutboundMessage
from bot.turn import Notification, Responder, Turn
from nlu.classifier import Classifier

logger = logging.getLogger(__name__)

# What is kept of a message sent past the rate limit: its length, not its text
# (a flood of 200 x 4 KB must not fill the database with someone's words).
FLOOD_MARK = "[{length} huruf tidak disimpan: melebihi batas pesan per menit]"


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


def deliver(session: Session, note: Notification, now: datetime) -> None:
    """Queue a timer's message in the outbox, in the timer's transaction
    (`TickContext.deliver`)."""
    session.add(
        queue(
            note.channel, note.address, note.message, now, note.contact_id,
            subjects=Subjects(case_id=note.subject_case_id), proactive=note.proactive,
            broadcast_id=note.broadcast_id, due=note.due,
        )
    )


class Core:
    """Runs one turn per inbound message; `dialogue` is any `Responder`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        content: Content,
        classifier: Classifier,
        dialogue: Responder,
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
            return Handled(again_if_disconnected(lambda: self._turn(inbound, message_id)), stored=True)
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
                record.text = FLOOD_MARK.format(length=len(record.text))
                record.payload, record.attachments = None, []
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
                web_url=self.settings.public_url or f"http://{self.settings.web_host}:{self.settings.web_port}",
                inbound_id=record.id,
            )
            self.dialogue.respond(turn)
            if turn.nlu_was_called:
                understanding = turn.understand()
                record.intent, record.confidence = understanding.intent, round(understanding.confidence, 4)
            conversation.updated_at = now
            contact.last_seen_at = now
            record.subject_case_id = turn.subject_case_id
            if self._about_anonymised_case(session, turn):
                record.text = ""  # words about a person who asked for deletion are not kept
            about = Subjects(case_id=turn.subject_case_id, training_id=turn.subject_training_id)
            for reply in turn.replies:
                session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record.id, about))
            self._queue_notifications(session, turn, record, now)
            return list(turn.replies)

    def _about_anonymised_case(self, session: Session, turn: Turn) -> bool:
        if turn.subject_case_id is None:
            return False
        case = session.get(Case, turn.subject_case_id)
        return case is not None and case.anonymised_at is not None

    def _queue_notifications(self, session: Session, turn: Turn, record: InboundMessage, now: datetime) -> None:
        """Messages to other people, each marked with whose data it carries: the
        case it names, else the turn's case, and the person whose message caused
        it. Alerts about one case to one satgas address are capped per minute,
        so a flood of replies or photos cannot bury the satgas (the case history
        keeps everything: `lihat KODE`)."""
        capped = 0
        for note in turn.notifications:
            subjects = Subjects(
                contact_id=note.subject_contact_id or turn.contact.id,
                case_id=note.subject_case_id or turn.subject_case_id,
                training_id=turn.subject_training_id,
            )
            sent_already = self._alerts_this_minute(session, note, subjects, now)
            cap = self.settings.alerts_per_case_per_minute
            if sent_already >= cap:
                capped += 1
                continue
            message = self._capped_notice(session, subjects) if sent_already == cap - 1 else note.message
            session.add(queue(note.channel, note.address, message, now, note.contact_id, record.id, subjects, note.proactive))
        if capped:
            session.add(
                Event(contact_id=turn.contact.id, kind="alerts_capped", data={"count": capped}, created_at=now)
            )

    def _alerts_this_minute(self, session: Session, note: Notification, subjects: Subjects, now: datetime) -> int:
        """Alerts about this case to this address in the last minute. Only
        satgas-side recipients (not contacts) are capped: 0 for the others."""
        if subjects.case_id is None or note.contact_id is not None:
            return 0
        return session.execute(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.subject_case_id == subjects.case_id,
                OutboundMessage.channel == note.channel,
                OutboundMessage.address == note.address,
                OutboundMessage.created_at > now - timedelta(minutes=1),
            )
        ).scalar_one()

    def _capped_notice(self, session: Session, subjects: Subjects) -> Outbound:
        """The last alert of the minute says that more came and where to read it."""
        code = session.execute(select(Case.code).where(Case.id == subjects.case_id)).scalar_one()
        return Outbound(self.content.text("satgas_alerts_capped", code=code))

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

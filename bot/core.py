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

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.content import Content
from bot.messages import Inbound, Outbound, literal_scope, note_literal
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
            with literal_scope():
                return Handled(again_if_disconnected(lambda: self._turn(inbound, message_id)), stored=True)
        except Exception:
            logger.exception("turn failed for %s on %s", mask(inbound.sender), inbound.channel)
            return self._failed_turn(inbound, message_id)

    # ------------------------------------------------------------------------
    def _turn(self, inbound: Inbound, message_id: str) -> list[Outbound]:
        """One message, in about six statements on the common path: the sender's
        row with their conversation (locked), the new inbound row (a repeat is
        found by the same insert), what the flow reads, then the conversation,
        the contact, the replies and events at commit."""
        now = self.clock.now()
        text = clean(inbound.text, self.settings.max_text_length)
        with self.sessions() as session, session.begin():
            contact, conversation = self._contact(session, inbound, now)
            record_id = self._record_inbound(session, inbound, message_id, contact, text.text, now)
            if record_id is None:
                logger.info("duplicate delivery %s ignored", message_id)
                return []
            recent, over_limit = self._arrivals(contact, now)
            if over_limit:
                contact.recent_inbound = recent
                warned = self._warned_recently(session, contact, record_id, now)
                self._update_inbound(
                    session, record_id, error="rate_limited", text=FLOOD_MARK.format(length=len(text.text)),
                    payload=None, attachments=[],
                )
                replies = [] if warned else [Outbound(self.content.text("rate_limited"))]
                for reply in replies:
                    session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record_id))
                return replies
            if conversation is None:
                conversation = Conversation(contact_id=contact.id, slots={}, options=[], context={}, updated_at=now)
                session.add(conversation)
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
                inbound_id=record_id,
            )
            self.dialogue.respond(turn)
            # What the person wrote, now and in the form's earlier answers,
            # may be quoted in the replies: their markup characters stay as typed.
            note_literal(text.text)
            for value in (conversation.slots or {}).values():
                if isinstance(value, str):
                    note_literal(value)
            conversation.updated_at = now
            # set together at the end: one UPDATE of the contact, not one per autoflush
            contact.last_seen_at, contact.recent_inbound = now, recent
            what_became: dict[str, object] = {}
            if turn.nlu_was_called:
                understanding = turn.understand()
                what_became.update(intent=understanding.intent, confidence=round(understanding.confidence, 4))
            if turn.subject_case_id is not None:
                what_became["subject_case_id"] = turn.subject_case_id
            if self._about_anonymised_case(session, turn):
                what_became["text"] = ""  # words about a person who asked for deletion are not kept
            self._update_inbound(session, record_id, **what_became)
            about = Subjects(case_id=turn.subject_case_id, training_id=turn.subject_training_id)
            for reply in turn.replies:
                session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record_id, about))
            self._queue_notifications(session, turn, record_id, now)
            return list(turn.replies)

    def _about_anonymised_case(self, session: Session, turn: Turn) -> bool:
        if turn.subject_case_id is None:
            return False
        case = session.get(Case, turn.subject_case_id)
        return case is not None and case.anonymised_at is not None

    def _queue_notifications(self, session: Session, turn: Turn, record_id: int, now: datetime) -> None:
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
            session.add(queue(note.channel, note.address, message, now, note.contact_id, record_id, subjects, note.proactive))
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
                contact, _conversation = self._contact(session, inbound, now)
                text = clean(inbound.text, self.settings.max_text_length).text
                record_id = self._record_inbound(session, inbound, message_id, contact, text, now, error="turn_failed")
                if record_id is None:
                    return Handled([], stored=True)
                contact.recent_inbound, _over = self._arrivals(contact, now)  # it counts towards the limit like any message
                session.add(queue(inbound.channel, inbound.reply_address, reply, now, contact.id, record_id))
        except Exception:
            # The database itself is failing (down, disk full): nothing was stored,
            # so do not claim it was; ask the person to send it again.
            logger.exception("could not record the failed turn either")
            return Handled([Outbound(text=self.content.text("technical_problem_unsaved"))], stored=False)
        return Handled([reply], stored=True)

    # ------------------------------------------------------------------------
    def _contact(self, session: Session, inbound: Inbound, now: datetime) -> tuple[Contact, Optional[Conversation]]:
        """The sender's row, locked for the turn (SELECT ... FOR UPDATE; SQLite's
        BEGIN IMMEDIATE already serialises), with their conversation in the same
        statement; a new sender's row is created."""
        query = (
            select(Contact, Conversation)
            .outerjoin(Conversation, Conversation.contact_id == Contact.id)
            .where(Contact.channel == inbound.channel, Contact.address == inbound.sender)
            .with_for_update(of=Contact)
        )
        found = session.execute(query).first()
        if found is not None:
            return found[0], found[1]
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
            found = session.execute(query).one()
            return found[0], found[1]
        return contact, None

    def _record_inbound(
        self, session: Session, inbound: Inbound, message_id: str, contact: Contact, text: str, now: datetime,
        error: Optional[str] = None,
    ) -> Optional[int]:
        """The new inbound row's id, or None when this provider message was seen
        before: one INSERT ... ON CONFLICT DO NOTHING RETURNING does both.

        `_contact` holds the sender's row lock, so a second delivery of the same
        message waits there until the first one commits, and its insert then
        meets the unique (channel, external_id). processed_at is set now because
        the row only becomes visible with the turn's commit, when the turn is done.
        """
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(InboundMessage)
            .values(
                channel=inbound.channel,
                external_id=message_id,
                contact_id=contact.id,
                text=text,
                payload=inbound.payload,
                attachments=[{"kind": a.kind, "reference": a.reference, "mime_type": a.mime_type} for a in inbound.attachments],
                received_at=now,
                processed_at=now,
                error=error,
            )
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(InboundMessage.id)
        )
        return session.execute(statement).scalar_one_or_none()

    @staticmethod
    def _update_inbound(session: Session, record_id: int, **values: object) -> None:
        """What the turn learnt about its message (intent, case), in one UPDATE, only when there is any."""
        if values:
            session.execute(update(InboundMessage).where(InboundMessage.id == record_id).values(**values))

    def _arrivals(self, contact: Contact, now: datetime) -> tuple[list[float], bool]:
        """The sender's arrival times with this message's added (to store on
        their row), and whether the last minute already had the rate limit's
        count before it: a sliding minute, read from the row the turn locked."""
        limit = max(1, self.settings.rate_limit_per_minute)
        moment = now.timestamp()
        recent = [float(t) for t in (contact.recent_inbound or []) if moment - float(t) < 60]
        return (recent + [moment])[-limit:], len(recent) >= limit

    def _warned_recently(self, session: Session, contact: Contact, record_id: int, now: datetime) -> bool:
        """Say "slow down" once a minute, not once per message of the flood."""
        return (
            session.execute(
                select(InboundMessage.id).where(
                    InboundMessage.contact_id == contact.id,
                    InboundMessage.id != record_id,
                    InboundMessage.error == "rate_limited",
                    InboundMessage.received_at > now - timedelta(minutes=1),
                    InboundMessage.processed_at.is_not(None),
                ).limit(1)
            ).first()
            is not None
        )

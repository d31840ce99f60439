"""Everything one turn of a conversation (or one timer run) can see and do.

A `Turn` lives inside the database transaction of one inbound message: flows
read the person's state from it, say things through it and record events on it,
and all of that commits (or rolls back) together. A `TickContext` is the same
for a timer. A `Responder` is whatever answers a turn (the dialogue): the core
knows only these shapes, never the flows behind them.

This module stands on the ground floor only (messages, content, normalise,
storage) and the NLU classifier's interface; it sends nothing itself: turns
collect replies and notifications, and whoever runs them queues them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Optional, Protocol

from sqlalchemy.orm import Session

from bot.content import Content
from bot.messages import Inbound, Notification, Option, Outbound, Proactive, carries_secret  # Notification, Proactive: re-exported for flows
from bot.normalise import CleanText
from bot.storage.models import Contact, Conversation, Event
from nlu.classifier import Classifier, NluUnavailable, Understanding


@dataclass
class Turn:
    session: Session
    contact: Contact
    conversation: Conversation
    inbound: Inbound
    clean: CleanText
    content: Content
    classifier: Classifier
    now: datetime
    nlu_threshold: float
    # Where the web console is reached (links sent in chat, e.g. `masuk`).
    web_url: str = "http://127.0.0.1:8000"
    inbound_id: Optional[int] = None  # the stored message this turn answers (events may point at it)
    replies: list[Outbound] = field(default_factory=list)
    # Messages to other people (satgas alerts, notifications), sent via the outbox.
    notifications: list[Notification] = field(default_factory=list)
    emergency_shown: bool = False
    # What this turn's messages are about besides the sender: the case a satgas
    # command quotes, the training whose participants a reply lists. Stored on
    # the inbound row and the replies, so erasure follows links, not text.
    subject_case_id: Optional[int] = None
    subject_training_id: Optional[str] = None
    _understanding: Optional[Understanding] = None
    nlu_down: bool = False

    # --- understanding -------------------------------------------------
    @property
    def text(self) -> str:
        return self.clean.text

    @property
    def nlu_was_called(self) -> bool:
        return self._understanding is not None and not self.nlu_down

    def understand(self) -> Understanding:
        """Call NLU at most once per turn, and only when a flow needs it. With
        the NLU worker down the answer is "not understood" (confidence 0) and
        `nlu_down` is set: the dialogue then offers the menu with an apology."""
        if self._understanding is None:
            try:
                self._understanding = self.classifier.parse(self.text)
            except NluUnavailable:
                self.nlu_down = True
                self._understanding = Understanding(intent="di_luar_topik", confidence=0.0)
                return self._understanding
            country = self.country_in_message()
            if country:
                self.remember("negara", country)
        return self._understanding

    def country_in_message(self) -> Optional[str]:
        if self._understanding is not None:
            value = self._understanding.entity("negara")
            if value:
                canonical = self.content.canonical_country(value)
                if canonical:
                    return canonical
        return self.content.country_from_text(self.text)

    # --- saying things ---------------------------------------------------
    def say(self, text: str, options: tuple[Option, ...] | list[Option] = ()) -> None:
        secret = carries_secret(self.session.info, text)  # a sign-in link noted by the domain (bot.messages)
        self.replies.append(Outbound(text=text.strip(), options=tuple(options), secret=secret))

    def notify(
        self,
        channel: str,
        address: str,
        message: Outbound,
        contact_id: Optional[int] = None,
        subject_case_id: Optional[int] = None,
        subject_contact_id: Optional[int] = None,
        proactive: Optional[Proactive] = None,
    ) -> None:
        """Queue a message to someone else. Pass the recipient's contact id when
        they are a contact, so deleting their data also scrubs this message, and
        the case it quotes; the person whose message caused it is recorded by
        default (see `bot.core`)."""
        if carries_secret(self.session.info, message.text):
            message = replace(message, secret=True)
        self.notifications.append(
            Notification(channel, address, message, contact_id, subject_case_id, subject_contact_id, proactive)
        )

    # --- state -----------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        return self.conversation.context

    def remember(self, key: str, value: Any) -> None:
        # JSON columns only notice reassignment, not in-place mutation.
        self.conversation.context = {**(self.conversation.context or {}), key: value}

    def remembered_time(self, key: str) -> Optional[datetime]:
        """A time kept with `remember(key, dt.isoformat())`, in the clock's zone;
        None when absent or unreadable."""
        raw = (self.state or {}).get(key)
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            return None
        if moment.tzinfo is None and self.now.tzinfo is not None:
            moment = moment.replace(tzinfo=self.now.tzinfo)
        return moment

    def forget(self, key: str) -> None:
        context = dict(self.conversation.context or {})
        context.pop(key, None)
        self.conversation.context = context

    def record(self, kind: str, actor: Optional[str] = None, **data: Any) -> None:
        self.session.add(
            Event(contact_id=self.contact.id, kind=kind, actor=actor, data=data, created_at=self.now)
        )


IntentHandler = Callable[[Turn, Optional[Understanding]], None]


class Responder(Protocol):
    """What answers a turn: reads it, says things and records events on it."""

    def respond(self, turn: Turn) -> None: ...


# How a timer queues a message in the outbox with its state change:
# (session, notification, now). Given by whoever runs the timers (bot.app).
Deliver = Callable[[Session, Notification, datetime], None]


@dataclass
class TickContext:
    """What a timer sees: one transaction, the content, the time, and a way to
    queue messages in the outbox with the state change."""

    session: Session
    content: Content
    now: datetime
    deliver: Deliver

    def notify(
        self,
        channel: str,
        address: str,
        message: Outbound,
        contact_id: Optional[int] = None,
        subject_case_id: Optional[int] = None,
        proactive: Optional[Proactive] = None,
    ) -> None:
        self.deliver(
            self.session, Notification(channel, address, message, contact_id, subject_case_id, proactive=proactive), self.now
        )

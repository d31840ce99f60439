"""The channel-agnostic message shapes that flow through the core.

Channels translate their own payloads (Telegram updates, Twilio forms, console
lines) into `Inbound` and render `Outbound` back; nothing past the channel layer
knows which app a person is using.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, NamedTuple, Optional


@dataclass(frozen=True)
class Attachment:
    """A non-text part of a message: voice note, photo, document, sticker, location."""

    kind: str  # "voice", "photo", "document", "sticker", "location", "video", ...
    reference: str = ""  # provider file id or media URL; never downloaded by the core
    mime_type: str = ""


@dataclass(frozen=True)
class Inbound:
    channel: str  # "console", "telegram", "whatsapp"
    sender: str  # the channel's stable id for the person (chat id, phone number)
    text: str = ""
    message_id: str = ""  # provider id; used to process each delivery exactly once
    payload: Optional[str] = None  # quick-reply / button payload, when the person tapped one
    attachments: tuple[Attachment, ...] = ()
    sender_name: str = ""
    # Where replies go when it is not the sender's own chat (a Telegram group
    # where a satgas member tapped a button). Empty means: reply to the sender.
    chat: str = ""

    @property
    def reply_address(self) -> str:
        return self.chat or self.sender


@dataclass(frozen=True)
class Option:
    """One numbered choice. `value` is stable; the number is only its position."""

    value: str
    label: str


@dataclass(frozen=True)
class Outbound:
    text: str
    options: tuple[Option, ...] = field(default_factory=tuple)
    # Carries a secret (a one-time sign-in link): sent without a link preview,
    # its text dropped from the outbox once sent. Set by `Turn` from `note_secret`.
    secret: bool = False

    def as_plain_text(self) -> str:
        """The WhatsApp/console rendering: text followed by a numbered menu."""
        if not self.options:
            return self.text
        lines = [f"{number}. {option.label}" for number, option in enumerate(self.options, start=1)]
        return self.text + "\n\n" + "\n".join(lines)


# The one conversion between options and the rows stored with a conversation
# or an outbound message (JSON columns): [{"value": ..., "label": ...}, ...].
def option_rows(options: Iterable[Option]) -> list[dict[str, str]]:
    return [{"value": o.value, "label": o.label} for o in options]


def options_from_rows(rows: Optional[Iterable[dict[str, Any]]]) -> tuple[Option, ...]:
    return tuple(Option(str(row["value"]), str(row["label"])) for row in rows or ())


# Secrets handed out in a transaction (a sign-in token), kept in the database
# session's `info` dict: the domain operation that makes one notes it, and a
# message written in the same transaction whose text carries it is marked
# `secret`, whichever flow words the message (issue 24).
SECRETS_KEY = "desmigras.secrets"


def note_secret(info: dict[str, Any], secret: str) -> None:
    info.setdefault(SECRETS_KEY, set()).add(secret)


def carries_secret(info: dict[str, Any], text: str) -> bool:
    return any(secret in text for secret in info.get(SECRETS_KEY, ()))


@dataclass(frozen=True)
class Proactive:
    """A message we send first (not a reply): its WhatsApp template for outside
    the 24-hour window (content/templates.yml) with the values of its
    variables, and the consent topic checked again right before sending
    (None: a service message the person asked for, always allowed)."""

    template: str
    variables: dict[str, str] = field(default_factory=dict)
    topic: Optional[str] = None


class Notification(NamedTuple):
    """A message to someone else than the person being answered (a satgas
    alert, a word to the family), with whose data it carries: the recipient's
    contact id when they are a contact, the case it quotes, the person whose
    message caused it. Erasure and retention follow these links."""

    channel: str
    address: str
    message: Outbound
    contact_id: Optional[int] = None
    subject_case_id: Optional[int] = None
    subject_contact_id: Optional[int] = None
    proactive: Optional[Proactive] = None
    broadcast_id: Optional[int] = None
    due: Optional[datetime] = None  # not before (a broadcast's rate limit)

"""The channel-agnostic message shapes that flow through the core.

Channels translate their own payloads (Telegram updates, Twilio forms, console
lines) into `Inbound` and render `Outbound` back; nothing past the channel layer
knows which app a person is using.
"""

from __future__ import annotations

import re
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Optional


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


# --- whose words are inside our texts (issue 27) ----------------------------------
# Our texts carry WhatsApp markup (*bold*, _italic_) that WhatsApp shows as is
# and the Telegram sender turns into formatting. Words a person typed (a
# family's message forwarded to the satgas, a name, a note) are put inside our
# texts too, and a "*" in them must stay a "*" on every channel. Once the text
# is a plain string nobody can tell whose "*" is whose, so it is written down
# where the words go in: `fill_placeholders` notes every value that is not one
# of our texts, the core notes what the person wrote and their answers, and
# `bot.outbox.queue` stores where those words sit in each queued text
# (`literal_spans`). The notes live in a context variable, per unit of work
# (`literal_scope`: a turn, a timer pass) and bounded elsewhere.
MARKUP_CHARACTERS = frozenset("*_")
_LITERAL_NOTES = 256
_literals: ContextVar[Optional[deque[str]]] = ContextVar("desmigras_literals", default=None)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class OurText(str):
    """A text from our content with its placeholders filled: its markup is
    ours. A value of this type put into another text keeps its markup; any
    other value is a person's words (or data) and is noted as literal."""

    __slots__ = ()


def fill_placeholders(template: str, values: Mapping[str, Any], ours: Mapping[str, Any] | None = None) -> OurText:
    """`{name}` replaced by its value (unknown names stay visible). Values in
    `ours` (hotline numbers) and `OurText` values are ours; every other value
    that contains a markup character is noted as literal."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            given = values[name]
            text = str(given)
            if not isinstance(given, OurText):
                note_literal(text)
            return text
        if ours is not None and name in ours:
            return str(ours[name])
        return match.group(0)

    return OurText(_PLACEHOLDER.sub(value, template))


def note_literal(text: str) -> None:
    """Remember `text` as a person's words for the messages queued next."""
    if not text or not MARKUP_CHARACTERS.intersection(text):
        return  # nothing in it could be read as markup
    notes = _literals.get()
    if notes is None:
        notes = deque(maxlen=_LITERAL_NOTES)
        _literals.set(notes)
    notes.append(text.strip() or text)


@contextmanager
def literal_scope() -> Iterator[None]:
    """Notes for one unit of work only (a turn, a timer pass): words of an
    earlier turn never make this turn's markup literal."""
    token = _literals.set(deque(maxlen=_LITERAL_NOTES))
    try:
        yield
    finally:
        _literals.reset(token)


def literal_spans(text: str) -> list[list[int]]:
    """Where the noted words occur in `text`: sorted, merged [start, end)
    character offsets. More than needed is harmless (markup shown as typed);
    less would let a person's "*" format a message."""
    notes = _literals.get()
    if not notes or not MARKUP_CHARACTERS.intersection(text):
        return []
    found: list[list[int]] = []
    for fragment in set(notes):
        start = text.find(fragment)
        while start != -1:
            found.append([start, start + len(fragment)])
            start = text.find(fragment, start + len(fragment))
    found.sort()
    merged: list[list[int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged

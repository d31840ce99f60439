"""Deleting a person's data on request (hapus_data), and the message retention.

Personal data is removed or overwritten; what stays is anonymous (events without
text, case categories and statuses) so the village keeps honest statistics.
Other modules that store personal data register an eraser here; the messages
are found by the links every message row carries (bot.personal_data), so
nothing depends on searching text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy.orm import Session

from bot import personal_data
from bot.domain import cases
from bot.storage.models import Contact
from flows.feature import Feature, TickContext
from flows.forms import FormSpec
from bot.turn import Turn

# Each eraser anonymises one module's rows for a contact (cases, registrations...).
Eraser = Callable[[Session, Contact, datetime], None]
ERASERS: list[Eraser] = []


def erase_contact(session: Session, contact: Contact, now: datetime) -> None:
    """Everything about the person: each module's rows (cases and the messages
    quoting them, registrations and the lists naming them), then their own
    messages and those their messages caused, then the contact itself."""
    for eraser in ERASERS:
        eraser(session, contact, now)
    personal_data.erase_messages_of_contact(session, contact.id)
    contact.address = f"dihapus-{contact.id}"
    contact.display_name = None
    contact.consent_at = None
    contact.deleted_at = now


def delete_personal_data(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
    if slots.get("yakin") != "ya":
        turn.say(turn.content.text("data_not_deleted"))
        return
    erase_contact(turn.session, turn.contact, turn.now)
    turn.conversation.context = {}
    turn.record("data_deleted")
    turn.say(turn.content.text("data_deleted"))


def purge_expired_messages(ctx: TickContext) -> int:
    """Retention (content/complaints.yml `retention_days`): messages and idle
    conversation states older than that are deleted; settled messages to
    deleted contacts lose text and address. Housekeeping, not a timer that
    fires for someone: it counts as nothing fired."""
    retention = timedelta(days=cases.settings_for(ctx.content.directory).retention_days)
    personal_data.forget_settled_to_erased(ctx.session)
    personal_data.purge_old_messages(ctx.session, ctx.now - retention)
    return 0


FEATURE = Feature(
    name="privacy", actions={"hapus_data_pribadi": delete_personal_data}, tick=purge_expired_messages
)

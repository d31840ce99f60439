"""Deleting a person's data on request (hapus_data).

Personal data is removed or overwritten; what stays is anonymous (events without
text, case categories and statuses) so the village keeps honest statistics.
Other modules that store personal data register an eraser here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.storage.models import Contact, InboundMessage, OutboundMessage
from flows.feature import Feature
from flows.forms import FormSpec
from flows.turn import Turn

# Each eraser anonymises one module's rows for a contact (cases, registrations...).
Eraser = Callable[[Session, Contact, datetime], None]
ERASERS: list[Eraser] = []


def erase_contact(session: Session, contact: Contact, now: datetime) -> None:
    for eraser in ERASERS:
        eraser(session, contact, now)
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.contact_id == contact.id)
        .values(text="", payload=None, attachments=[])
    )
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.contact_id == contact.id, OutboundMessage.status != "pending")
        .values(text="[dihapus]", address="dihapus")
    )
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


FEATURE = Feature(name="privacy", actions={"hapus_data_pribadi": delete_personal_data})

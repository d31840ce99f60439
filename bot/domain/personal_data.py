"""Removing personal data from the message tables, by link, never by search.

Two paths use this: a person's "hapus data" (`erase_contact`, asked by flows/deletion.py) and the
retention purge (bot.domain.cases, bot.domain.trainings, flows/deletion.py). Every
message row says whose data it carries: its contact (sender or recipient), the
person whose message caused it (`subject_contact_id`), the case it quotes
(`subject_case_id`, also on satgas commands) and the training whose
participants it lists (`subject_training_id`). So a deletion is a handful of
indexed UPDATEs and is complete by construction, instead of depending on
finding a name in free text.

A pending message that carries deleted data is cancelled (marked failed) rather
than sent as "[dihapus]"; one already being sent is scrubbed as soon as it is
settled (bot.outbox.forget_if_erased).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.broadcast_models import Subscription
from bot.storage.console_models import NluExample
from bot.storage.models import ERASED_ADDRESS, ERASED_TEXT, Contact, Conversation, InboundMessage, OutboundMessage

if TYPE_CHECKING:  # SQLAlchemy 1.4 (the NLU venv imports this module too) has no top-level Select
    from sqlalchemy import Select

CANCELLED = "dibatalkan: data pribadi dihapus"
PURGE_BATCH = 1000


# --- scrubbing ------------------------------------------------------------------------
def scrub_inbound(session: Session, condition: ColumnElement[bool]) -> None:
    session.execute(
        update(InboundMessage)
        .where(condition)
        .values(text="", payload=None, attachments=[])
        .execution_options(synchronize_session=False)
    )


def scrub_outbound(session: Session, condition: ColumnElement[bool], forget_address: bool = False) -> None:
    """Cancel what has not gone out yet, then drop text and options (and the
    address, when it is the erased person's own)."""
    session.execute(
        update(OutboundMessage)
        .where(condition, OutboundMessage.status == "pending")
        .values(status="failed", last_error=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    values: dict[str, object] = {"text": ERASED_TEXT, "options": [], "variables": None}
    if forget_address:
        values["address"] = ERASED_ADDRESS
    session.execute(
        update(OutboundMessage).where(condition).values(**values).execution_options(synchronize_session=False)
    )


def erase_messages_of_contact(session: Session, contact_id: int) -> None:
    """hapus data: what the person sent, what was sent to them, and what their
    messages caused others to receive (satgas alerts, forwarded replies)."""
    scrub_inbound(session, InboundMessage.contact_id == contact_id)
    # A message staff marked as an NLU example is a (masked) copy of their
    # words: found by its person, and by its message for rows marked before
    # examples named their person.
    session.execute(
        delete(NluExample)
        .where(
            or_(
                NluExample.contact_id == contact_id,
                NluExample.inbound_id.in_(select(InboundMessage.id).where(InboundMessage.contact_id == contact_id)),
            )
        )
        .execution_options(synchronize_session=False)
    )
    scrub_outbound(session, OutboundMessage.contact_id == contact_id, forget_address=True)
    scrub_outbound(session, OutboundMessage.subject_contact_id == contact_id)


def erase_messages_about_cases(session: Session, case_ids: Iterable[int]) -> None:
    """Satgas commands quoting the cases, and every message that quotes them
    (alerts, case cards, the outcome sent to the reporter)."""
    ids = list(case_ids)
    if not ids:
        return
    scrub_inbound(session, InboundMessage.subject_case_id.in_(ids))
    scrub_outbound(session, OutboundMessage.subject_case_id.in_(ids))


def erase_messages_about_trainings(session: Session, training_ids: Iterable[str]) -> None:
    """Participant lists (`peserta`) name everyone registered: a list is
    dropped when any one of them is deleted (the satgas can ask again)."""
    ids = list(training_ids)
    if ids:
        scrub_outbound(session, OutboundMessage.subject_training_id.in_(ids))


def forget_settled_to_erased(session: Session) -> None:
    """Safety net for every way a message can end (sent, failed, given up on
    by the WhatsApp window): once settled, a message to a deleted contact
    keeps neither text nor address."""
    erased = select(Contact.id).where(Contact.deleted_at.is_not(None)).scalar_subquery()
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.status.in_(("sent", "failed")),
            OutboundMessage.address != ERASED_ADDRESS,
            OutboundMessage.contact_id.in_(erased),
        )
        .values(text=ERASED_TEXT, address=ERASED_ADDRESS, options=[], variables=None)
        .execution_options(synchronize_session=False)
    )


# --- retention ------------------------------------------------------------------------
def purge_old_messages(session: Session, cutoff: datetime) -> int:
    """Retention: messages (either way) and conversation states older than
    `cutoff` are deleted outright, in batches. The cases and registrations keep
    what they need in their own columns, on their own schedule."""
    old_inbound = _ids(session, select(InboundMessage.id).where(InboundMessage.received_at < cutoff).limit(PURGE_BATCH))
    forget_examples_of(session, old_inbound)
    _delete_ids(session, InboundMessage, old_inbound)
    old_outbound = _ids(session, select(OutboundMessage.id).where(OutboundMessage.created_at < cutoff).limit(PURGE_BATCH))
    _delete_ids(session, OutboundMessage, old_outbound)
    purged = len(old_inbound) + len(old_outbound)
    # Lock the contacts first, as a turn does (skipping those in a turn right
    # now): a person coming back at this moment finds no state rather than a
    # state deleted under their feet.
    idle = (
        select(Contact.id)
        .join(Conversation, Conversation.contact_id == Contact.id)
        .where(Conversation.updated_at < cutoff)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True, of=Contact)
    )
    ids = list(session.execute(idle).scalars())
    if ids:
        session.execute(delete(Conversation).where(Conversation.contact_id.in_(ids)).execution_options(synchronize_session=False))
    return purged


def forget_examples_of(session: Session, inbound_ids: list[int]) -> None:
    """An NLU example staff marked is a copy of a person's message and lives
    exactly as long as it: deleted with the expiring messages, and so are
    examples whose message is already gone (marked before this rule; nothing
    else deletes an inbound message)."""
    gone = NluExample.inbound_id.is_(None)
    condition = or_(gone, NluExample.inbound_id.in_(inbound_ids)) if inbound_ids else gone
    session.execute(delete(NluExample).where(condition).execution_options(synchronize_session=False))


def _ids(session: Session, query: Select[tuple[int]]) -> list[int]:
    return list(session.execute(query).scalars())


def _delete_ids(session: Session, model: type, ids: list[int]) -> None:
    if ids:
        session.execute(delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))  # type: ignore[attr-defined]


# Each eraser anonymises one part of the domain's rows for a contact (cases,
# registrations...). Features declare theirs; bot.app hands them all to the
# deletion feature, so deletion is complete by wiring, not by import order.
Eraser = Callable[[Session, Contact, datetime], None]


def erase_contact(session: Session, contact: Contact, now: datetime, erasers: Sequence[Eraser]) -> None:
    """Everything about the person: each part's rows (cases and the messages
    quoting them, registrations and the lists naming them), then their own
    messages and those their messages caused, then the contact itself."""
    for eraser in erasers:
        eraser(session, contact, now)
    erase_messages_of_contact(session, contact.id)
    session.execute(delete(Subscription).where(Subscription.contact_id == contact.id).execution_options(synchronize_session=False))
    contact.address = f"dihapus-{contact.id}"
    contact.display_name = None
    contact.consent_at = None
    contact.deleted_at = now

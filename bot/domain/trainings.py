"""Village trainings as the domain sees them: the schedule, seats and the
waitlist, registering and cancelling, promotion, reminders, the organiser
report and erasure. Callable without a conversation (chat, CLI, a web console).

Seats are the one thing that must never go wrong under load: every change to a
training's registrations (register, cancel, promote from the waitlist, erase)
first locks the training row (SELECT ... FOR UPDATE; on SQLite the transaction
already holds the write lock from BEGIN IMMEDIATE), then counts, then writes, all
in the caller's transaction. Registrations of one training are therefore
serialised, and their ids come out in arrival order, which is what the waitlist
is ordered by. Every status change of a registration happens here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import personal_data
from bot.domain.catalog import Catalog
from bot.domain.codes import fresh_code
from bot.messages import Outbound, Proactive
from bot.storage.models import Contact
from bot.storage.training_models import (
    ACTIVE_STATUSES,
    CANCELLED,
    CONFIRMED,
    WAITLISTED,
    Training,
    TrainingRegistration,
)

# The status constants travel with the operations that change them.
__all__ = ["ACTIVE_STATUSES", "CANCELLED", "CONFIRMED", "WAITLISTED"]

CODE_PREFIX = "PLT-"
CODE_PATTERN = re.compile(r"\bPLT[-\s]?([A-Z2-9]{4})\b", re.IGNORECASE)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud over the phone
REMINDER_BATCH = 200
ERASED_NAME = "[dihapus]"
# Why a registration was cancelled.
BY_PARTICIPANT = "peserta"
BY_ERASURE = "hapus_data"

# How the domain tells someone something: (channel, address, message, contact id).
# A turn passes `turn.notify`, a timer `ctx.notify`; both queue in the outbox.
# Called with proactive=Proactive(...) as a keyword: the WhatsApp template to use
# outside the 24-hour window (content/templates.yml).
Notify = Callable[..., None]


# ---------------------------------------------------------------------------
# Reading the schedule
def upcoming(session: Session, now: datetime, village: Optional[str]) -> list[Training]:
    """Trainings not yet started, open to `village` (every one when it is unknown)."""
    rows = session.execute(
        select(Training)
        .where(Training.active.is_(True), Training.start_at > now)
        .order_by(Training.start_at, Training.id)
    ).scalars()
    return [training for training in rows if village is None or training.open_to(village)]


def confirmed_counts(session: Session, training_ids: Iterable[str]) -> dict[str, int]:
    ids = list(training_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(TrainingRegistration.training_id, func.count())
        .where(TrainingRegistration.training_id.in_(ids), TrainingRegistration.status == CONFIRMED)
        .group_by(TrainingRegistration.training_id)
    )
    return {training_id: count for training_id, count in rows}


def count_status(session: Session, training_id: str, status: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(TrainingRegistration)
        .where(TrainingRegistration.training_id == training_id, TrainingRegistration.status == status)
    ).scalar_one()


def waitlist_position(session: Session, registration: TrainingRegistration) -> int:
    """1 for the next person to get a seat; ids are arrival order (see module doc)."""
    return session.execute(
        select(func.count())
        .select_from(TrainingRegistration)
        .where(
            TrainingRegistration.training_id == registration.training_id,
            TrainingRegistration.status == WAITLISTED,
            TrainingRegistration.id <= registration.id,
        )
    ).scalar_one()


def lock_training(session: Session, training_id: str, skip_locked: bool = False) -> Optional[Training]:
    """The training row, locked until the transaction ends, read fresh from the database."""
    return session.execute(
        select(Training)
        .where(Training.id == training_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def active_registrations(session: Session, contact_id: int, now: datetime) -> list[tuple[TrainingRegistration, Training]]:
    """The person's registrations that can still be cancelled (training not started)."""
    rows = session.execute(
        select(TrainingRegistration, Training)
        .join(Training, Training.id == TrainingRegistration.training_id)
        .where(
            TrainingRegistration.contact_id == contact_id,
            TrainingRegistration.status.in_(ACTIVE_STATUSES),
            Training.start_at > now,
        )
        .order_by(Training.start_at, TrainingRegistration.id)
    )
    return [(registration, training) for registration, training in rows]


def code_in(text: str) -> Optional[str]:
    found = CODE_PATTERN.search(text)
    return f"PLT-{found.group(1).upper()}" if found else None


def active_registration_for_phone(session: Session, training_id: str, phone: str) -> Optional[TrainingRegistration]:
    return session.execute(
        select(TrainingRegistration).where(
            TrainingRegistration.training_id == training_id,
            TrainingRegistration.phone == phone,
            TrainingRegistration.status.in_(ACTIVE_STATUSES),
        )
    ).scalar_one_or_none()


# ---------------------------------------------------------------------------
# Registering
def refusal(
    catalog: Catalog, training: Optional[Training], village: Optional[str], relation: str, now: datetime
) -> Optional[str]:
    """Why this registration cannot be taken, in the person's words; None when it can."""
    if training is None:
        return catalog.text("training_unknown")
    if not training.active or training.start_at <= now:
        return catalog.text("training_closed", title=training.title)
    if not training.open_to(village):
        return catalog.text("not_open_to_village", title=training.title, villages=catalog.village_list(training.villages))
    if relation not in training.audiences:
        return catalog.text("not_eligible", title=training.title, audiences=catalog.audience_names(training.audiences))
    return None


def status_text(catalog: Catalog, session: Session, registration: TrainingRegistration) -> str:
    if registration.status == CONFIRMED:
        return catalog.text("status_confirmed")
    return catalog.text("status_waitlisted", position=waitlist_position(session, registration))


def register(
    session: Session,
    catalog: Catalog,
    training: Training,
    contact_id: Optional[int],
    village: Optional[str],
    name: str,
    phone: str,
    relation: str,
    now: datetime,
) -> TrainingRegistration:
    """A seat or a waitlist place. The caller holds the training lock
    (`lock_training`): seats are counted only now, under it, which is what keeps
    the confirmed count at or below capacity when many people press "kirim" at once."""
    registration = TrainingRegistration(
        code=new_code(session),
        training_id=training.id,
        contact_id=contact_id,
        village_code=village,
        participant_name=name,
        phone=phone,
        relation=relation,
        status=WAITLISTED,
        created_at=now,
    )
    if count_status(session, training.id, CONFIRMED) < training.capacity:
        confirm(registration, training, catalog, now)
    session.add(registration)
    session.flush()  # the id (waitlist order) is taken while the lock is held
    return registration


def confirm(registration: TrainingRegistration, training: Training, catalog: Catalog, now: datetime) -> None:
    """Give the seat and schedule its reminder. Inside the reminder window the
    confirmation itself carries the date and place, so no separate reminder follows."""
    registration.status = CONFIRMED
    registration.confirmed_at = now
    registration.remind_at = training.start_at - catalog.settings.reminder_before
    registration.reminded_at = now if registration.remind_at <= now else None


def new_code(session: Session) -> str:
    """PLT-XXXX, unused so far; the unique constraint stays the last word."""

    def taken(code: str) -> bool:
        return session.execute(select(TrainingRegistration.id).where(TrainingRegistration.code == code)).first() is not None

    return fresh_code(CODE_PREFIX, CODE_ALPHABET, taken)


# ---------------------------------------------------------------------------
# Cancelling
@dataclass(frozen=True)
class Cancellation:
    """What became of a cancel request: `registration` and `training` are None
    when the person has no such registration; `already` when it was cancelled before."""

    registration: Optional[TrainingRegistration] = None
    training: Optional[Training] = None
    already: bool = False
    had_seat: bool = False
    promoted: int = 0


def cancel(
    session: Session, catalog: Catalog, contact_id: int, code: str, now: datetime, notify: Notify
) -> Cancellation:
    """Cancel the contact's own registration `code` under the training lock;
    a freed seat goes to the waitlist at once (with a notification)."""
    owned = session.execute(
        select(TrainingRegistration.training_id).where(
            TrainingRegistration.code == code, TrainingRegistration.contact_id == contact_id
        )
    ).scalar_one_or_none()
    training = lock_training(session, owned) if owned else None
    registration = _lock_registration(session, code) if training else None
    if training is None or registration is None:
        return Cancellation()
    if registration.status == CANCELLED:
        return Cancellation(registration, training, already=True)
    had_seat = registration.status == CONFIRMED
    registration.status, registration.cancelled_at, registration.cancel_reason = CANCELLED, now, BY_PARTICIPANT
    promoted = fill_free_seats(session, catalog, training, now, notify) if had_seat else 0
    return Cancellation(registration, training, had_seat=had_seat, promoted=promoted)


def _lock_registration(session: Session, code: str) -> Optional[TrainingRegistration]:
    return session.execute(
        select(TrainingRegistration)
        .where(TrainingRegistration.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def fill_free_seats(session: Session, catalog: Catalog, training: Training, now: datetime, notify: Notify) -> int:
    """Move people from the waitlist, first come first served, into free seats and
    tell them. The caller holds the training lock."""
    if not training.active or training.start_at <= now:
        return 0
    free = training.capacity - count_status(session, training.id, CONFIRMED)
    promoted = 0
    while free > 0:
        registration = session.execute(
            select(TrainingRegistration)
            .where(TrainingRegistration.training_id == training.id, TrainingRegistration.status == WAITLISTED)
            .order_by(TrainingRegistration.id)
            .limit(1)
        ).scalar_one_or_none()
        if registration is None:
            break
        confirm(registration, training, catalog, now)
        contact = session.get(Contact, registration.contact_id) if registration.contact_id else None
        if contact is not None and contact.deleted_at is None:
            text = catalog.text("promoted", **registration_fields(catalog, training, registration))
            seat = Proactive(
                "kursi_pelatihan",
                {"pelatihan": training.title, "waktu": catalog.when(training.start_at, training.end_at), "kode": registration.code},
            )
            notify(contact.channel, contact.address, Outbound(text), contact.id, proactive=seat)
        free -= 1
        promoted += 1
    return promoted


# ---------------------------------------------------------------------------
# Timers
def fill_seats_everywhere(session: Session, catalog: Catalog, now: datetime, notify: Notify) -> int:
    """Seats freed outside a conversation (data erased, capacity raised in the
    catalogue) go to the waitlist."""
    candidates = upcoming(session, now, None)
    counts = confirmed_counts(session, (t.id for t in candidates))
    waiting = {
        training_id
        for (training_id,) in session.execute(
            select(TrainingRegistration.training_id).where(TrainingRegistration.status == WAITLISTED).distinct()
        )
    }
    promoted = 0
    for training in candidates:
        if training.id in waiting and counts.get(training.id, 0) < training.capacity:
            locked = lock_training(session, training.id, skip_locked=True)
            if locked is not None:  # a turn holds it: it fills the seats itself, or the next tick does
                promoted += fill_free_seats(session, catalog, locked, now, notify)
    return promoted


def send_due_reminders(session: Session, catalog: Catalog, now: datetime, notify: Notify) -> int:
    """Each due reminder is claimed (skip_locked: two timer processes never take
    the same one), marked and queued in one transaction: sent exactly once."""
    due = session.execute(
        select(TrainingRegistration)
        .join(Training, Training.id == TrainingRegistration.training_id)
        .where(
            TrainingRegistration.status == CONFIRMED,
            TrainingRegistration.reminded_at.is_(None),
            TrainingRegistration.remind_at <= now,
            Training.active.is_(True),
        )
        .order_by(TrainingRegistration.remind_at, TrainingRegistration.id)
        .limit(REMINDER_BATCH)
        .with_for_update(skip_locked=True, of=TrainingRegistration)
    ).scalars()
    sent = 0
    for registration in list(due):
        registration.reminded_at = now
        training = session.get(Training, registration.training_id)
        contact = session.get(Contact, registration.contact_id) if registration.contact_id else None
        if training is None or training.start_at <= now or contact is None or contact.deleted_at:
            continue  # too late to be useful, or nobody to tell: marked so it is not retried
        text = catalog.text(
            "reminder",
            title=training.title,
            when=catalog.when(training.start_at, training.end_at),
            location=training.location,
            name=registration.participant_name,
            code=registration.code,
        )
        reminder = Proactive(
            "pengingat_pelatihan",
            {"pelatihan": training.title, "waktu": catalog.when(training.start_at, training.end_at), "tempat": training.location},
        )
        notify(contact.channel, contact.address, Outbound(text), contact.id, proactive=reminder)
        sent += 1
    return sent


# ---------------------------------------------------------------------------
# Organisers and satgas
def registrants_report(
    session: Session, training_id: str, catalog: Catalog, village: Optional[str] = None
) -> str:
    """Who is in and who is waiting, for a satgas chat command or the CLI.

    With `village` (a satgas asking) only that village's participants are
    listed, with their place in the whole list; the counts stay whole."""
    training = session.get(Training, training_id)
    if training is None:
        return catalog.text("report_unknown", id=training_id)
    rows = list(
        session.execute(
            select(TrainingRegistration)
            .where(TrainingRegistration.training_id == training_id)
            .order_by(TrainingRegistration.id)
        ).scalars()
    )
    confirmed = sorted((r for r in rows if r.status == CONFIRMED), key=lambda r: (r.confirmed_at or r.created_at, r.id))
    waitlisted = [r for r in rows if r.status == WAITLISTED]
    lines = [
        catalog.text(
            "report_header",
            title=training.title,
            id=training.id,
            when=catalog.when(training.start_at, training.end_at),
            location=training.location,
            confirmed=len(confirmed),
            capacity=training.capacity,
            waitlisted=len(waitlisted),
            cancelled=sum(1 for r in rows if r.status == CANCELLED),
        ),
    ]
    if village is not None:
        lines.append(catalog.text("report_village_only", village=catalog.village_names.get(village, village)))
    lines += [
        "",
        catalog.text("report_confirmed"),
        *_report_lines(catalog, confirmed, village),
        "",
        catalog.text("report_waitlist"),
        *_report_lines(catalog, waitlisted, village),
    ]
    return "\n".join(lines)


def _report_lines(catalog: Catalog, registrations: list[TrainingRegistration], village: Optional[str] = None) -> list[str]:
    shown = [
        (number, r)
        for number, r in enumerate(registrations, start=1)
        if village is None or r.village_code == village
    ]
    if not shown:
        return [catalog.text("report_empty")]
    return [
        catalog.text(
            "report_line",
            number=number,
            name=r.participant_name,
            phone=r.phone,
            relation=catalog.audiences.get(r.relation, r.relation),
            village=catalog.village_names.get(r.village_code or "", r.village_code or "-"),
            code=r.code,
        )
        for number, r in shown
    ]


# ---------------------------------------------------------------------------
# Privacy
def erase_registrations(session: Session, contact: Contact, now: datetime) -> None:
    """hapus_data: names and numbers go; active registrations are cancelled
    (under each training's lock, in id order) and the next tick gives the freed
    seats to the waitlist, with a notification."""
    training_ids = sorted(
        {
            training_id
            for (training_id,) in session.execute(
                select(TrainingRegistration.training_id).where(
                    TrainingRegistration.contact_id == contact.id, TrainingRegistration.status.in_(ACTIVE_STATUSES)
                )
            )
        }
    )
    for training_id in training_ids:
        lock_training(session, training_id)
    registrations = session.execute(
        select(TrainingRegistration)
        .where(TrainingRegistration.contact_id == contact.id)
        .execution_options(populate_existing=True)
    ).scalars()
    touched: set[str] = set()
    for registration in registrations:
        if registration.status != CANCELLED:
            registration.status, registration.cancelled_at, registration.cancel_reason = CANCELLED, now, BY_ERASURE
        registration.participant_name = ERASED_NAME
        registration.phone = "dihapus"
        touched.add(registration.training_id)
    personal_data.erase_messages_about_trainings(session, sorted(touched))


def purge_ended(session: Session, now: datetime, retention_days: int) -> int:
    """Retention (content/complaints.yml `retention_days`, one period for all
    personal data): registrations of trainings that ended longer ago lose name
    and phone, and participant lists of those trainings are dropped. Status
    and relation stay for attendance statistics."""
    cutoff = now - timedelta(days=retention_days)
    rows = list(
        session.execute(
            select(TrainingRegistration)
            .join(Training, Training.id == TrainingRegistration.training_id)
            .where(Training.end_at < cutoff, TrainingRegistration.participant_name != ERASED_NAME)
            .with_for_update(skip_locked=True, of=TrainingRegistration)
        ).scalars()
    )
    for registration in rows:
        registration.participant_name = ERASED_NAME
        # unique per training among active ones: keep the placeholder distinct
        registration.phone = f"dihapus-{registration.id}"
    personal_data.erase_messages_about_trainings(session, sorted({r.training_id for r in rows}))
    return len(rows)


# ---------------------------------------------------------------------------
# Database copy
def sync_catalog(session: Session, catalog: Catalog) -> None:
    """Upsert every training; ones no longer in the file stay (for their
    registrations) but are hidden. Pending reminders follow a changed start time
    or reminder setting; reminders already sent are never touched."""
    existing = {row.id: row for row in session.execute(select(Training)).scalars()}
    for config in catalog.trainings:
        row = existing.get(config.id) or Training(id=config.id)
        row.topic, row.title, row.description = config.topic, config.title, config.description
        row.villages, row.location = list(config.villages), config.location
        row.start_at, row.end_at, row.capacity = config.start_at, config.end_at, config.capacity
        row.audiences, row.example, row.active = list(config.audiences), config.example, True
        row.organiser_name = config.organiser.name
        row.organiser_channel = config.organiser.channel
        row.organiser_address = config.organiser.address
        session.add(row)
    listed = {config.id for config in catalog.trainings}
    for identifier, row in existing.items():
        if identifier not in listed:
            row.active = False
    session.flush()
    pending = session.execute(
        select(TrainingRegistration, Training.start_at)
        .join(Training, Training.id == TrainingRegistration.training_id)
        .where(TrainingRegistration.status == CONFIRMED, TrainingRegistration.reminded_at.is_(None))
    )
    for registration, start_at in pending:
        registration.remind_at = start_at - catalog.settings.reminder_before


def registration_fields(catalog: Catalog, training: Training, registration: TrainingRegistration) -> dict[str, object]:
    """What the confirmation and the waitlist promotion both name, worded once."""
    return {
        "code": registration.code,
        "name": registration.participant_name,
        "title": training.title,
        "when": catalog.when(training.start_at, training.end_at),
        "location": training.location,
    }

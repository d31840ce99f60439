"""Village trainings: what is on, registering (seats and waitlist), cancelling, reminders.

The questions are in content/flows/daftar_pelatihan.yml and batal_pelatihan.yml
and every sentence is in content/trainings.yml; this module decides what happens
around them.

Seats are the one thing that must never go wrong under load: every change to a
training's registrations (register, cancel, promote from the waitlist, erase)
first locks the training row (SELECT ... FOR UPDATE; on SQLite the transaction
already holds the write lock from BEGIN IMMEDIATE), then counts, then writes, all
in the turn's or the tick's transaction. Registrations of one training are
therefore serialised, and their ids come out in arrival order, which is what
the waitlist is ordered by.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import personal_data
from bot.domain import cases
from bot.config import Settings
from bot.content import Content
from bot.messages import Option, Outbound, option_rows
from bot.normalise import for_matching
from bot.storage.models import Contact
from bot.storage.training_models import (
    ACTIVE_STATUSES,
    CANCELLED,
    CONFIRMED,
    WAITLISTED,
    Training,
    TrainingRegistration,
)
from bot.domain.catalog import Catalog, catalog_for
from flows.feature import Feature, TickContext
from flows.forms import FormSpec, Step, StepOption, normalise_phone
from flows.privacy import ERASERS
from bot.turn import IntentHandler, Turn
from flows.villages import remember_village
from nlu.classifier import Understanding

if TYPE_CHECKING:
    from flows.dialogue import Dialogue

REGISTER_FORM = "daftar_pelatihan"
CANCEL_FORM = "batal_pelatihan"
# A `training` step with this slot lists the person's own registrations (the
# cancel form); any other `training` step lists trainings to join.
REGISTRATION_SLOT = "pendaftaran"
# Conversation context key: the topic named in the first message, used to
# narrow the training question when it could not be answered outright.
TOPIC_HINT = "pelatihan_topik"
# Option values in the "info pelatihan" list; each is a handler key.
CHOOSE_PREFIX = "pelatihan:"
CODE_PATTERN = re.compile(r"\bPLT[-\s]?([A-Z2-9]{4})\b", re.IGNORECASE)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud over the phone
REMINDER_BATCH = 200

Notify = Callable[[str, str, Outbound, Optional[int]], None]


def _catalog(content: Content) -> Catalog:
    return catalog_for(content.directory)


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


# ---------------------------------------------------------------------------
# info_pelatihan: the list
def show_trainings(turn: Turn, understanding: Optional[Understanding]) -> None:
    """Upcoming trainings for the person's village as a numbered list to register from."""
    catalog = _catalog(turn.content)
    village = turn.contact.village_code
    topic = _topic(catalog, understanding)
    trainings = upcoming(turn.session, turn.now, village)
    if not trainings:
        turn.say(_none_upcoming(catalog, village))
        return
    matching = [t for t in trainings if t.topic == topic] if topic else []
    if topic and not matching:
        turn.say(catalog.text("topic_not_available", topic=catalog.topic_label(topic), village=_village_name(catalog, village)))
        topic = None
    shown = matching or trainings
    counts = confirmed_counts(turn.session, (t.id for t in shown))
    parts = [_list_intro(catalog, village, topic)]
    parts += [_list_item(catalog, training, counts.get(training.id, 0), village is None) for training in shown]
    if any(training.example for training in shown):
        parts.append(catalog.text("list_example_note"))
    parts.append(catalog.text("list_outro"))
    options = [
        Option(CHOOSE_PREFIX + t.id, catalog.text("list_option", title=t.title, date=catalog.date(t.start_at, with_year=False)))
        for t in shown
    ]
    options.append(Option("menu", catalog.text("menu_option")))
    turn.conversation.options = option_rows(options)
    turn.say("\n\n".join(parts), options)
    turn.record("trainings_listed", topic=topic, village=village, count=len(shown))


def _topic(catalog: Catalog, understanding: Optional[Understanding]) -> Optional[str]:
    value = understanding.entity("pelatihan") if understanding else None
    return value if value in catalog.topics else None


def _village_name(catalog: Catalog, village: Optional[str]) -> str:
    return catalog.village_names.get(village or "", village or "")


def _none_upcoming(catalog: Catalog, village: Optional[str]) -> str:
    if village:
        return catalog.text("none_upcoming", village=_village_name(catalog, village))
    return catalog.text("none_upcoming_anywhere")


def _list_intro(catalog: Catalog, village: Optional[str], topic: Optional[str]) -> str:
    label = catalog.topic_label(topic) if topic else ""
    if village:
        key = "list_intro_topic" if topic else "list_intro_village"
        return catalog.text(key, village=_village_name(catalog, village), topic=label)
    return catalog.text("list_intro_all_topic" if topic else "list_intro_all", topic=label)


def _list_item(catalog: Catalog, training: Training, confirmed: int, name_villages: bool) -> str:
    left = max(training.capacity - confirmed, 0)
    seats = catalog.text("seats_left", left=left, capacity=training.capacity) if left else catalog.text("seats_full")
    item = catalog.text(
        "list_item",
        title=training.title,
        when=catalog.when(training.start_at, training.end_at),
        location=training.location,
        audiences=catalog.audience_names(training.audiences),
        seats=seats,
    )
    if name_villages:
        item += "\n" + catalog.text("list_item_villages", villages=catalog.village_list(training.villages))
    return item


# ---------------------------------------------------------------------------
# daftar_pelatihan: starting the form
def start_registration(
    dialogue: "Dialogue",
    turn: Turn,
    training_id: Optional[str] = None,
    topic: Optional[str] = None,
    phone: Optional[str] = None,
) -> None:
    """Open the form, not asking again what is already known (village, training, phone)."""
    catalog = _catalog(turn.content)
    turn.forget(TOPIC_HINT)
    village = turn.contact.village_code
    prefill: dict[str, Any] = {}
    if village:
        prefill["desa"] = village
    if phone:
        prefill["nomor_hp"] = phone
    if training_id:
        training = turn.session.get(Training, training_id)
        if training is None or not training.active or training.start_at <= turn.now:
            turn.say(catalog.text("training_closed", title=training.title) if training else catalog.text("training_unknown"))
            return
        prefill["pelatihan"] = training_id
    else:
        candidates = upcoming(turn.session, turn.now, village)
        if not candidates:
            turn.say(_none_upcoming(catalog, village))
            return
        if topic:
            matching = [t for t in candidates if t.topic == topic]
            if village and len(matching) == 1:
                prefill["pelatihan"] = matching[0].id
            elif matching:
                turn.remember(TOPIC_HINT, topic)
            else:
                place = _village_name(catalog, village) if village else catalog.text("all_villages")
                turn.say(catalog.text("topic_not_available", topic=catalog.topic_label(topic), village=place))
    dialogue.forms.start(turn, REGISTER_FORM, prefill)


def register_intent(dialogue: "Dialogue") -> IntentHandler:
    def handle(turn: Turn, understanding: Optional[Understanding]) -> None:
        raw_phone = understanding.entity("nomor_hp") if understanding else None
        start_registration(
            dialogue,
            turn,
            topic=_topic(_catalog(turn.content), understanding),
            phone=normalise_phone(raw_phone) if raw_phone else None,
        )

    return handle


def choose_from_list(dialogue: "Dialogue", training_id: str) -> IntentHandler:
    """A number picked from the info list: register for that training."""
    return lambda turn, _understanding: start_registration(dialogue, turn, training_id=training_id)


# ---------------------------------------------------------------------------
# Options for `training` steps
def training_step_options(turn: Turn, step: Step) -> list[StepOption]:
    if step.slot == REGISTRATION_SLOT:
        return registration_options(turn)
    return training_options(turn, step)


def training_options(turn: Turn, step: Step) -> list[StepOption]:
    """Upcoming trainings for the participant's village, narrowed to the topic
    named earlier when that leaves any. Order is by start time, so a number
    means the same training when the person answers as when it was asked."""
    catalog = _catalog(turn.content)
    slots = turn.conversation.slots or {}
    village = slots.get("desa") or turn.contact.village_code
    trainings = upcoming(turn.session, turn.now, village)
    if not trainings and village:  # nothing for this village: show the rest, marked as such
        trainings = upcoming(turn.session, turn.now, None)
    hint = (turn.state or {}).get(TOPIC_HINT)
    narrowed = [t for t in trainings if t.topic == hint]
    trainings = narrowed or trainings
    chosen = slots.get(step.slot)
    if chosen and all(t.id != chosen for t in trainings):  # prefilled: keep it nameable in the summary
        row = turn.session.get(Training, chosen)
        trainings = trainings + ([row] if row else [])
    counts = confirmed_counts(turn.session, (t.id for t in trainings))
    topics = [t.topic for t in trainings]
    return [
        StepOption(
            training.id,
            _option_label(catalog, training, counts.get(training.id, 0), village),
            _match_words(catalog, training, unique_topic=topics.count(training.topic) == 1),
        )
        for training in trainings
    ]


def _option_label(catalog: Catalog, training: Training, confirmed: int, village: Optional[str]) -> str:
    date = catalog.date(training.start_at, with_year=False)
    if village and not training.open_to(village):
        return catalog.text(
            "option_label_other_village", title=training.title, date=date, villages=catalog.village_list(training.villages)
        )
    left = training.capacity - confirmed
    seats = catalog.text("seats_short", left=left) if left > 0 else catalog.text("seats_short_full")
    return catalog.text("option_label", title=training.title, date=date, seats=seats)


def _match_words(catalog: Catalog, training: Training, unique_topic: bool) -> tuple[str, ...]:
    """What people type instead of the number: the title, or the topic's words
    ("batik", "pelatihan batik") when only one training of that topic is listed."""
    names = [training.title]
    if unique_topic and training.topic in catalog.topics:
        names += [catalog.topics[training.topic].label, *catalog.topics[training.topic].words]
    words = {for_matching(prefix + name) for name in names for prefix in ("", "pelatihan ", "kelas ", "yang ")}
    return tuple(sorted(words))


def registration_options(turn: Turn) -> list[StepOption]:
    catalog = _catalog(turn.content)
    return [
        StepOption(
            registration.code,
            catalog.text("cancel_option", title=training.title, name=registration.participant_name, code=registration.code),
            (for_matching(registration.code), for_matching(registration.code.replace("-", " ")), registration.code[4:].lower()),
        )
        for registration, training in active_registrations(turn.session, turn.contact.id, turn.now)
    ]


# ---------------------------------------------------------------------------
# daftar_pelatihan: completing the form
def complete_registration(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
    """Check, then take a seat or a waitlist place, with the training row locked."""
    catalog = _catalog(turn.content)
    turn.forget(TOPIC_HINT)
    village = slots.get("desa") or turn.contact.village_code
    remember_village(turn, slots.get("desa") or "")
    training = lock_training(turn.session, str(slots.get("pelatihan", "")))
    refusal = _refusal(catalog, training, village, str(slots.get("hubungan")), turn.now)
    if refusal or training is None:
        turn.say(refusal or catalog.text("training_unknown"))
        turn.record("training_refused", training=slots.get("pelatihan"))
        return
    duplicate = _active_registration_for_phone(turn.session, training.id, slots["nomor_hp"])
    if duplicate is not None:
        turn.say(_duplicate_text(catalog, turn, training, duplicate))
        turn.record("training_duplicate", training=training.id)
        return
    registration = _create_registration(turn, catalog, training, village, slots)
    turn.record("training_registered", training=training.id, status=registration.status)
    if registration.status == CONFIRMED:
        turn.say(_registered_text(catalog, training, registration))
    else:
        position = waitlist_position(turn.session, registration)
        turn.say(
            catalog.text(
                "registered_waitlist",
                title=training.title,
                name=registration.participant_name,
                position=position,
                code=registration.code,
            )
        )


def _duplicate_text(catalog: Catalog, turn: Turn, training: Training, duplicate: TrainingRegistration) -> str:
    """The code and seat of a registration are told only to the chat that made
    it: typing someone else's number must not reveal their code or status."""
    if duplicate.contact_id != turn.contact.id:
        return catalog.text("already_registered_elsewhere", phone=duplicate.phone, title=training.title)
    return catalog.text(
        "already_registered",
        phone=duplicate.phone,
        title=training.title,
        code=duplicate.code,
        status=_status_text(catalog, turn.session, duplicate),
    )


def _refusal(
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


def _active_registration_for_phone(session: Session, training_id: str, phone: str) -> Optional[TrainingRegistration]:
    return session.execute(
        select(TrainingRegistration).where(
            TrainingRegistration.training_id == training_id,
            TrainingRegistration.phone == phone,
            TrainingRegistration.status.in_(ACTIVE_STATUSES),
        )
    ).scalar_one_or_none()


def _status_text(catalog: Catalog, session: Session, registration: TrainingRegistration) -> str:
    if registration.status == CONFIRMED:
        return catalog.text("status_confirmed")
    return catalog.text("status_waitlisted", position=waitlist_position(session, registration))


def _create_registration(
    turn: Turn, catalog: Catalog, training: Training, village: Optional[str], slots: dict[str, Any]
) -> TrainingRegistration:
    """Count seats only now, under the training lock: this is what keeps the
    confirmed count at or below capacity when many people press "kirim" at once."""
    registration = TrainingRegistration(
        code=new_code(turn.session),
        training_id=training.id,
        contact_id=turn.contact.id,
        village_code=village,
        participant_name=str(slots["nama"]),
        phone=str(slots["nomor_hp"]),
        relation=str(slots["hubungan"]),
        status=WAITLISTED,
        created_at=turn.now,
    )
    if count_status(turn.session, training.id, CONFIRMED) < training.capacity:
        _confirm(registration, training, catalog, turn.now)
    turn.session.add(registration)
    turn.session.flush()  # the id (waitlist order) is taken while the lock is held
    return registration


def _confirm(registration: TrainingRegistration, training: Training, catalog: Catalog, now: datetime) -> None:
    """Give the seat and schedule its reminder. Inside the reminder window the
    confirmation itself carries the date and place, so no separate reminder follows."""
    registration.status = CONFIRMED
    registration.confirmed_at = now
    registration.remind_at = training.start_at - catalog.settings.reminder_before
    registration.reminded_at = now if registration.remind_at <= now else None


def _registered_text(catalog: Catalog, training: Training, registration: TrainingRegistration) -> str:
    return catalog.text(
        "registered",
        code=registration.code,
        name=registration.participant_name,
        title=training.title,
        when=catalog.when(training.start_at, training.end_at),
        location=training.location,
        organiser=catalog.organiser_contact(
            training.organiser_name, training.organiser_channel, training.organiser_address
        ),
        lead=catalog.reminder_lead(),
    )


def new_code(session: Session) -> str:
    """PLT-XXXX, unused so far; the unique constraint stays the last word."""
    while True:
        code = "PLT-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))
        taken = session.execute(select(TrainingRegistration.id).where(TrainingRegistration.code == code)).first()
        if taken is None:
            return code


# ---------------------------------------------------------------------------
# batal_pelatihan
def cancel_intent(dialogue: "Dialogue") -> IntentHandler:
    def handle(turn: Turn, _understanding: Optional[Understanding]) -> None:
        start_cancellation(dialogue, turn)

    return handle


def start_cancellation(dialogue: "Dialogue", turn: Turn) -> None:
    """By the code in the message, the only registration there is, or a choice."""
    catalog = _catalog(turn.content)
    mine = active_registrations(turn.session, turn.contact.id, turn.now)
    if not mine:
        turn.say(catalog.text("cancel_none"))
        return
    code = code_in(turn.text)
    selected = [(r, t) for r, t in mine if r.code == code] if code else (mine if len(mine) == 1 else [])
    if code and not selected:
        turn.say(catalog.text("cancel_code_unknown", code=code))
    prefill: dict[str, Any] = {}
    if selected:
        registration, training = selected[0]
        prefill[REGISTRATION_SLOT] = registration.code
        turn.say(catalog.text("cancel_selected", code=registration.code, title=training.title, name=registration.participant_name))
    dialogue.forms.start(turn, CANCEL_FORM, prefill)


def complete_cancellation(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
    catalog = _catalog(turn.content)
    if slots.get("yakin") != "ya":
        turn.say(catalog.text("cancel_kept"))
        return
    code = str(slots.get(REGISTRATION_SLOT, ""))
    owned = turn.session.execute(
        select(TrainingRegistration.training_id).where(
            TrainingRegistration.code == code, TrainingRegistration.contact_id == turn.contact.id
        )
    ).scalar_one_or_none()
    training = lock_training(turn.session, owned) if owned else None
    registration = _lock_registration(turn.session, code) if training else None
    if training is None or registration is None:
        turn.say(catalog.text("cancel_none"))
        return
    if registration.status == CANCELLED:
        turn.say(catalog.text("cancel_already", code=code))
        return
    was_confirmed = registration.status == CONFIRMED
    registration.status, registration.cancelled_at, registration.cancel_reason = CANCELLED, turn.now, "peserta"
    turn.say(catalog.text("cancelled", code=code, name=registration.participant_name, title=training.title))
    turn.record("training_cancelled", training=training.id, had_seat=was_confirmed)
    if was_confirmed:
        promoted = fill_free_seats(turn.session, catalog, training, turn.now, turn.notify)
        if promoted:
            turn.record("training_promoted", training=training.id, count=promoted)


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
        _confirm(registration, training, catalog, now)
        contact = session.get(Contact, registration.contact_id) if registration.contact_id else None
        if contact is not None and contact.deleted_at is None:
            text = catalog.text(
                "promoted",
                title=training.title,
                name=registration.participant_name,
                code=registration.code,
                when=catalog.when(training.start_at, training.end_at),
                location=training.location,
            )
            notify(contact.channel, contact.address, Outbound(text), contact.id)
        free -= 1
        promoted += 1
    return promoted


# ---------------------------------------------------------------------------
# Timers
def tick(ctx: TickContext) -> int:
    """Seats freed outside a conversation (data erased, capacity raised in the
    catalogue) go to the waitlist; then due reminders go out; then registrations
    past retention are anonymised."""
    catalog = _catalog(ctx.content)
    return _fill_seats_everywhere(ctx, catalog) + _send_due_reminders(ctx, catalog) + purge_ended(ctx)


def _fill_seats_everywhere(ctx: TickContext, catalog: Catalog) -> int:
    candidates = upcoming(ctx.session, ctx.now, None)
    counts = confirmed_counts(ctx.session, (t.id for t in candidates))
    waiting = {
        training_id
        for (training_id,) in ctx.session.execute(
            select(TrainingRegistration.training_id).where(TrainingRegistration.status == WAITLISTED).distinct()
        )
    }
    promoted = 0
    for training in candidates:
        if training.id in waiting and counts.get(training.id, 0) < training.capacity:
            locked = lock_training(ctx.session, training.id, skip_locked=True)
            if locked is not None:  # a turn holds it: it fills the seats itself, or the next tick does
                promoted += fill_free_seats(ctx.session, catalog, locked, ctx.now, ctx.notify)
    return promoted


def _send_due_reminders(ctx: TickContext, catalog: Catalog) -> int:
    """Each due reminder is claimed (skip_locked: two timer processes never take
    the same one), marked and queued in one transaction: sent exactly once."""
    due = ctx.session.execute(
        select(TrainingRegistration)
        .join(Training, Training.id == TrainingRegistration.training_id)
        .where(
            TrainingRegistration.status == CONFIRMED,
            TrainingRegistration.reminded_at.is_(None),
            TrainingRegistration.remind_at <= ctx.now,
            Training.active.is_(True),
        )
        .order_by(TrainingRegistration.remind_at, TrainingRegistration.id)
        .limit(REMINDER_BATCH)
        .with_for_update(skip_locked=True, of=TrainingRegistration)
    ).scalars()
    sent = 0
    for registration in list(due):
        registration.reminded_at = ctx.now
        training = ctx.session.get(Training, registration.training_id)
        contact = ctx.session.get(Contact, registration.contact_id) if registration.contact_id else None
        if training is None or training.start_at <= ctx.now or contact is None or contact.deleted_at:
            continue  # too late to be useful, or nobody to tell: marked so it is not retried
        text = catalog.text(
            "reminder",
            title=training.title,
            when=catalog.when(training.start_at, training.end_at),
            location=training.location,
            name=registration.participant_name,
            code=registration.code,
        )
        ctx.notify(contact.channel, contact.address, Outbound(text), contact.id)
        sent += 1
    return sent


# ---------------------------------------------------------------------------
# Organisers and satgas
def registrants_report(
    session: Session, training_id: str, catalog: Optional[Catalog] = None, village: Optional[str] = None
) -> str:
    """Who is in and who is waiting, for a satgas chat command or the CLI.

    With `village` (a satgas asking) only that village's participants are
    listed, with their place in the whole list; the counts stay whole."""
    catalog = catalog or catalog_for(Settings().content_dir)
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
            registration.status, registration.cancelled_at, registration.cancel_reason = CANCELLED, now, "hapus_data"
        registration.participant_name = ERASED_NAME
        registration.phone = "dihapus"
        touched.add(registration.training_id)
    personal_data.erase_messages_about_trainings(session, sorted(touched))


ERASED_NAME = "[dihapus]"


def purge_ended(ctx: TickContext) -> int:
    """Retention (content/complaints.yml `retention_days`, one period for all
    personal data): registrations of trainings that ended longer ago lose name
    and phone, and participant lists of those trainings are dropped. Status
    and relation stay for attendance statistics."""
    cutoff = ctx.now - timedelta(days=cases.settings_for(ctx.content.directory).retention_days)
    rows = list(
        ctx.session.execute(
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
    personal_data.erase_messages_about_trainings(ctx.session, sorted({r.training_id for r in rows}))
    return len(rows)


if erase_registrations not in ERASERS:
    ERASERS.append(erase_registrations)


# ---------------------------------------------------------------------------
def _handlers(dialogue: "Dialogue") -> dict[str, IntentHandler]:
    """Intent handlers, plus one per catalogue training for the numbered info
    list (option values are handler keys; the catalogue only changes at start)."""
    handlers: dict[str, IntentHandler] = {
        "info_pelatihan": show_trainings,
        "daftar_pelatihan": register_intent(dialogue),
        "batal_pelatihan": cancel_intent(dialogue),
    }
    for training in catalog_for(dialogue.forms.content.directory).trainings:
        handlers[CHOOSE_PREFIX + training.id] = choose_from_list(dialogue, training.id)
    return handlers


FEATURE = Feature(
    name="trainings",
    actions={"daftar_pelatihan_selesai": complete_registration, "batal_pelatihan_selesai": complete_cancellation},
    option_sources={"training": training_step_options},
    handlers=_handlers,
    tick=tick,
)

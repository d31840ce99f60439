"""Village trainings: what is on, registering (seats and waitlist), cancelling, reminders.

The questions are in content/flows/daftar_pelatihan.yml and batal_pelatihan.yml
and every sentence is in content/trainings.yml; this module is the conversation
around them. Seats, locks, the waitlist, reminders, the organiser report and
erasure are the domain's (bot.domain.trainings, imported as `domain`): this module only asks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from bot.content import Content
from bot.domain import cases
from bot.domain import trainings as domain
from bot.domain.catalog import Catalog
from bot.domain.catalog_file import catalog_for
from bot.messages import Option, option_rows
from bot.normalise import for_matching
from bot.storage.training_models import Training, TrainingRegistration
from bot.turn import IntentHandler, TickContext, Turn
from flows import consent_question
from flows.feature import Feature
from flows.forms import FormSpec, Step, StepOption, normalise_phone
from flows.village_question import remember_village
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


def _catalog(content: Content) -> Catalog:
    return catalog_for(content.directory)


# ---------------------------------------------------------------------------
# Reading the schedule














# ---------------------------------------------------------------------------
# info_pelatihan: the list
def show_trainings(turn: Turn, understanding: Optional[Understanding]) -> None:
    """Upcoming trainings for the person's village as a numbered list to register from."""
    catalog = _catalog(turn.content)
    village = turn.contact.village_code
    topic = _topic(catalog, understanding)
    trainings = domain.upcoming(turn.session, turn.now, village)
    if not trainings:
        turn.say(_none_upcoming(catalog, village))
        return
    matching = [t for t in trainings if t.topic == topic] if topic else []
    if topic and not matching:
        turn.say(catalog.text("topic_not_available", topic=catalog.topic_label(topic), village=_village_name(catalog, village)))
        topic = None
    shown = matching or trainings
    counts = domain.confirmed_counts(turn.session, (t.id for t in shown))
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
        candidates = domain.upcoming(turn.session, turn.now, village)
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
    trainings = domain.upcoming(turn.session, turn.now, village)
    if not trainings and village:  # nothing for this village: show the rest, marked as such
        trainings = domain.upcoming(turn.session, turn.now, None)
    hint = (turn.state or {}).get(TOPIC_HINT)
    narrowed = [t for t in trainings if t.topic == hint]
    trainings = narrowed or trainings
    chosen = slots.get(step.slot)
    if chosen and all(t.id != chosen for t in trainings):  # prefilled: keep it nameable in the summary
        row = turn.session.get(Training, chosen)
        trainings = trainings + ([row] if row else [])
    counts = domain.confirmed_counts(turn.session, (t.id for t in trainings))
    topics = [t.topic for t in trainings]
    named = len(trainings) == 1 and bool(narrowed) and not chosen
    if named:
        turn.forget(TOPIC_HINT)  # used: a later correction shows every training again
    return [
        StepOption(
            training.id,
            _option_label(catalog, training, counts.get(training.id, 0), village),
            _match_words(catalog, training, unique_topic=topics.count(training.topic) == 1),
            named=named,
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
        for registration, training in domain.active_registrations(turn.session, turn.contact.id, turn.now)
    ]


# ---------------------------------------------------------------------------
# daftar_pelatihan: checked after every answer
def registration_check(turn: Turn, slots: Any) -> Optional[str]:
    """Once the training and the participant's status are known, whether this
    person can take it: a calon PMI who picked a training for returnees hears so
    at the status question, not after giving a name, a number and consent.
    The same rule runs again, with the row locked, when the form completes."""
    if not slots.get("pelatihan") or not slots.get("hubungan"):
        return None
    catalog = _catalog(turn.content)
    training = turn.session.get(Training, str(slots["pelatihan"]))
    village = slots.get("desa") or turn.contact.village_code
    return domain.refusal(catalog, training, village, str(slots["hubungan"]), turn.now)


# ---------------------------------------------------------------------------
# daftar_pelatihan: completing the form
def complete_registration(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
    """Check, then take a seat or a waitlist place, with the training row locked."""
    catalog = _catalog(turn.content)
    turn.forget(TOPIC_HINT)
    village = slots.get("desa") or turn.contact.village_code
    remember_village(turn, slots.get("desa") or "")
    training = domain.lock_training(turn.session, str(slots.get("pelatihan", "")))
    refusal = domain.refusal(catalog, training, village, str(slots.get("hubungan")), turn.now)
    if refusal or training is None:
        turn.say(refusal or catalog.text("training_unknown"))
        turn.record("training_refused", training=slots.get("pelatihan"))
        return
    duplicate = domain.active_registration_for_phone(turn.session, training.id, slots["nomor_hp"])
    if duplicate is not None:
        turn.say(_duplicate_text(catalog, turn, training, duplicate))
        turn.record("training_duplicate", training=training.id)
        return
    registration = domain.register(
        turn.session,
        catalog,
        training,
        turn.contact.id,
        village,
        name=str(slots["nama"]),
        phone=str(slots["nomor_hp"]),
        relation=str(slots["hubungan"]),
        now=turn.now,
    )
    turn.record("training_registered", training=training.id, status=registration.status)
    if registration.status == domain.CONFIRMED:
        turn.say(_registered_text(catalog, training, registration))
        consent_question.ask(turn, "info_pelatihan")
    else:
        position = domain.waitlist_position(turn.session, registration)
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
        status=domain.status_text(catalog, turn.session, duplicate),
    )












def _registered_text(catalog: Catalog, training: Training, registration: TrainingRegistration) -> str:
    return catalog.text(
        "registered",
        **domain.registration_fields(catalog, training, registration),
        organiser=catalog.organiser_contact(
            training.organiser_name, training.organiser_channel, training.organiser_address
        ),
        lead=catalog.reminder_lead(),
    )




# ---------------------------------------------------------------------------
# batal_pelatihan
def cancel_intent(dialogue: "Dialogue") -> IntentHandler:
    def handle(turn: Turn, _understanding: Optional[Understanding]) -> None:
        start_cancellation(dialogue, turn)

    return handle


def start_cancellation(dialogue: "Dialogue", turn: Turn) -> None:
    """By the code in the message, the only registration there is, or a choice."""
    catalog = _catalog(turn.content)
    mine = domain.active_registrations(turn.session, turn.contact.id, turn.now)
    if not mine:
        turn.say(catalog.text("cancel_none"))
        return
    code = domain.code_in(turn.text)
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
    done = domain.cancel(turn.session, catalog, turn.contact.id, code, turn.now, turn.notify)
    if done.registration is None or done.training is None:
        turn.say(catalog.text("cancel_none"))
        return
    if done.already:
        turn.say(catalog.text("cancel_already", code=code))
        return
    training, registration = done.training, done.registration
    turn.say(catalog.text("cancelled", code=code, name=registration.participant_name, title=training.title))
    turn.record("training_cancelled", training=training.id, had_seat=done.had_seat)
    if done.promoted:
        turn.record("training_promoted", training=training.id, count=done.promoted)


# ---------------------------------------------------------------------------
# Timers
def tick(ctx: TickContext) -> int:
    """Seats freed outside a conversation (data erased, capacity raised in the
    catalogue) go to the waitlist; then due reminders go out; then registrations
    past retention are anonymised."""
    catalog = _catalog(ctx.content)
    retention_days = cases.settings_for(ctx.content.directory).retention_days
    return (
        domain.fill_seats_everywhere(ctx.session, catalog, ctx.now, ctx.notify)
        + domain.send_due_reminders(ctx.session, catalog, ctx.now, ctx.notify)
        + domain.purge_ended(ctx.session, ctx.now, retention_days)
    )






# ---------------------------------------------------------------------------
# Organisers and satgas




# ---------------------------------------------------------------------------
# Privacy








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
    form_checks={"daftar_pelatihan": registration_check},
    handlers=_handlers,
    tick=tick,
    erasers=[domain.erase_registrations],
    # In a satgas reply window these stay requests to the bot.
    reply_exempt=frozenset({"daftar_pelatihan", "batal_pelatihan", "info_pelatihan"}),
)

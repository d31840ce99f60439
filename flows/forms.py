"""Form flows defined as data (content/flows/*.yml), asked one question at a time.

A form is the conversation written down in order: the questions, their choices,
when to skip one, what the summary shows and which action runs at the end. The
engine here only walks it, so staff can reword or reorder questions without code.
Answers to numbered questions never need NLU; NLU is asked only when an answer
does not fit, to tell an interrupting question from a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from bot.content import Content, ContentError
from bot.messages import Option, option_rows, options_from_rows
from bot.normalise import for_matching
from flows import reading
from bot.turn import Turn

CONFIRM_STEP = "_konfirmasi"
STORY_WORDS = 8  # an answer this long also tells the story
LAST_ANSWERED = "form_last_answered"  # the step the person answered last ("eh salah" takes it back)
GUESS = "_tebakan_"  # slot prefix: a value guessed from one word of the first message, to confirm
EDIT_STEP = "_ubah"
STEP_TYPES = {"choice", "text", "phone", "consent", "country", "village", "training"}

# "negaranya salah", "ganti nomor", "namanya keliru": a correction at the summary.
CORRECTION_WORDS = {
    "salah", "ganti", "ubah", "diubah", "diganti", "keliru", "koreksi", "ralat", "benerin", "edit", "bukan",
    "lepat", "klentu", "salah ketik", "typo", "ngganti", "gentos", "robah", "lain",
    "dudu", "sanes", "lain", "baleni", "ulang", "ulangi", "dibenerin", "dibetulkan", "betulkan",
}
CORRECTION_MAX_WORDS = 14
# Words that say an earlier answer was wrong (a correction in the middle of a form).
ERROR_WORDS = {"salah", "keliru", "ralat", "koreksi", "typo", "lepat", "klentu", "dudu", "sanes", "baleni", "ulangi", "benerin",
               "dibenerin", "betulkan", "dibetulkan", "salahe", "salahna", "salahnya", "ralatnya", "kliru", "wrong", "mistake",
               "kalepatan", "lepatipun"}
PHONE_PATTERN = re.compile(r"^(?:\+?62|0)8[1-9][0-9]{6,11}$")


@dataclass(frozen=True)
class StepOption:
    value: str
    label: str
    match: tuple[str, ...] = ()
    # The person already named this one (e.g. "daftar pelatihan batik" when
    # batik is the only match): a one-item list is not asked, it is taken.
    named: bool = False


@dataclass(frozen=True)
class Step:
    slot: str
    type: str
    ask: str
    label: str  # how the slot is named in the summary
    options: tuple[StepOption, ...] = ()
    when: Mapping[str, Any] = field(default_factory=dict)
    entity: Optional[str] = None
    max_length: int = 500
    min_length: int = 2
    declined: str = ""  # consent steps: text shown when the person says no
    # How typed words are read at this step, beyond numbers and option phrases:
    # "relation" (kakak saya -> saudara), "duration" (udah 2 minggu -> by
    # threshold_days), "writer" (saya sendiri / anak saya).
    reads: str = ""
    threshold_days: int = 0
    max_words: int = 0  # free text longer than this is a story, not this answer (names)
    why: str = ""  # consent steps: the answer to "buat apa?" / "siapa yang lihat?"


@dataclass(frozen=True)
class FormSpec:
    name: str
    title: str
    intro: str
    steps: tuple[Step, ...]
    summary: bool
    done: str  # name of the action run on completion
    cancelled: str = ""  # what "batal" says, when the default does not fit this form
    story_slot: str = ""  # where a story told at the wrong question is kept (not lost)
    then_resume: bool = False  # cancelled: go back to the form it interrupted ("hapus data" mid-report, then "tidak jadi")

    def step(self, slot: str) -> Step:
        for step in self.steps:
            if step.slot == slot:
                return step
        raise KeyError(slot)


def parse_form(raw: Mapping[str, Any]) -> FormSpec:
    where = str(raw.get("_file", raw.get("name")))
    steps = []
    for index, item in enumerate(raw.get("steps") or []):
        here = f"{where} -> steps[{index}]"
        if not isinstance(item, dict) or not item.get("slot") or not item.get("ask"):
            raise ContentError(f"{here}: 'slot' dan 'ask' wajib diisi")
        kind = str(item.get("type", "text"))
        if kind not in STEP_TYPES:
            raise ContentError(f"{here}: type '{kind}' tidak dikenal (pilih: {sorted(STEP_TYPES)})")
        options = tuple(
            StepOption(
                value=str(o["value"]),
                label=str(o["label"]),
                match=tuple(for_matching(str(m)) for m in o.get("match") or ()),
            )
            for o in item.get("options") or ()
        )
        if kind == "choice" and not options:
            raise ContentError(f"{here}: pertanyaan pilihan harus punya 'options'")
        steps.append(
            Step(
                slot=str(item["slot"]),
                type=kind,
                ask=str(item["ask"]).strip(),
                label=str(item.get("label", item["slot"])),
                options=options,
                when=dict(item.get("when") or {}),
                entity=item.get("entity"),
                max_length=int(item.get("max_length", 500)),
                min_length=int(item.get("min_length", 2)),
                declined=str(item.get("declined", "")).strip(),
                reads=_reads(item, here),
                threshold_days=int(item.get("threshold_days", 0)),
                max_words=int(item.get("max_words", 0)),
                why=str(item.get("why", "")).strip(),
            )
        )
    if not steps:
        raise ContentError(f"{where}: formulir tanpa pertanyaan")
    if not raw.get("done"):
        raise ContentError(f"{where}: kolom 'done' (aksi penyelesaian) wajib diisi")
    return FormSpec(
        name=str(raw["name"]),
        title=str(raw.get("title", raw["name"])),
        intro=str(raw.get("intro", "")).strip(),
        steps=tuple(steps),
        summary=bool(raw.get("summary", False)),
        done=str(raw["done"]),
        cancelled=str(raw.get("cancelled", "")).strip(),
        story_slot=str(raw.get("story_slot", "")),
        then_resume=bool(raw.get("then_resume", False)),
    )


READS = {"", "relation", "duration", "writer", "name"}


def _reads(item: Mapping[str, Any], here: str) -> str:
    reads = str(item.get("reads", ""))
    if reads not in READS:
        raise ContentError(f"{here}: reads '{reads}' tidak dikenal (pilih: {sorted(READS - {''})})")
    if reads == "duration" and (int(item.get("threshold_days", 0)) <= 0 or len(item.get("options") or ()) != 2):
        raise ContentError(f"{here}: reads: duration butuh threshold_days dan tepat 2 pilihan (kurang dari, lalu sama/lebih)")
    return reads


# ---------------------------------------------------------------------------
# Hooks the rest of the bot plugs in: actions run at the end of a form, and
# option sources for steps whose choices come from the database (villages,
# trainings) rather than from the YAML file.
FormAction = Callable[[Turn, FormSpec, dict[str, Any]], None]
OptionSource = Callable[[Turn, Step], list[StepOption]]
# Why the answers so far cannot lead anywhere ("this training is for returnees
# only"), in the person's words; None while they still can. Asked after every
# answer, so a person learns it at the step that decides it, not after the summary.
FormCheck = Callable[[Turn, Mapping[str, Any]], Optional[str]]
ANSWER_INTERRUPT = Callable[[Turn], bool]


@dataclass
class FormEngine:
    content: Content
    actions: dict[str, FormAction]
    option_sources: dict[str, OptionSource] = field(default_factory=dict)
    # Called when an answer does not fit: returns True if it handled the message
    # as an interrupting question (it then answered it).
    interrupt: Optional[ANSWER_INTERRUPT] = None
    # Per form name: see FormCheck.
    checks: dict[str, FormCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.specs = {name: parse_form(raw) for name, raw in self.content.forms.items()}
        for spec in self.specs.values():
            if spec.done not in self.actions:
                raise ContentError(f"{spec.name}: aksi '{spec.done}' tidak dikenal")

    # --- starting and leaving ----------------------------------------------
    def start(self, turn: Turn, name: str, prefill: Optional[dict[str, Any]] = None) -> None:
        spec = self.specs[name]
        turn.conversation.flow = spec.name
        turn.conversation.slots = dict(prefill or {})
        turn.record("flow_started", flow=spec.name, prefilled=sorted((prefill or {}).keys()))
        if spec.intro:
            turn.say(self.content.fill(spec.intro))
        for step in spec.steps:
            if step.type == "country" and step.slot in (prefill or {}):
                self._warn_about_country(turn, str(prefill[step.slot]))  # type: ignore[index]
        self._ask_next(turn, spec)

    def _warn_about_country(self, turn: Turn, country: str) -> None:
        """Kamboja, Myanmar: not placement countries, known for scam compounds (once per person)."""
        if country not in self.content.risk_countries or (turn.state or {}).get("risk_warned") == country:
            return
        turn.remember("risk_warned", country)
        turn.record("risk_country_warned", country=country)
        turn.say(self.content.fill(self.content.risk_warning, country=self.content.country_name(country)))

    def cancel(self, turn: Turn) -> None:
        spec = self.active(turn)
        turn.record("flow_cancelled", flow=turn.conversation.flow, step=turn.conversation.step)
        self._clear(turn)
        turn.say(self.content.fill(spec.cancelled) if spec and spec.cancelled else self.content.text("flow_cancelled"))
        if spec is not None and spec.then_resume:
            self.resume(turn)

    def suspend(self, turn: Turn) -> str:
        """Put the form aside (the person asked for the menu); `resume` brings it back."""
        spec = self.specs[turn.conversation.flow or ""]
        turn.remember(
            "suspended",
            {"flow": spec.name, "step": turn.conversation.step, "slots": dict(turn.conversation.slots or {})},
        )
        turn.record("flow_suspended", flow=spec.name, step=turn.conversation.step)
        self._clear(turn)
        return spec.title

    def drop_suspended(self, turn: Turn) -> Optional[str]:
        """"batal" after "ntar aja": the kept answers are deleted; the form's title, or None if none was kept."""
        saved = (turn.state or {}).get("suspended")
        if not saved:
            return None
        turn.forget("suspended")
        turn.record("flow_cancelled", flow=saved.get("flow"), step=saved.get("step"), suspended=True)
        spec = self.specs.get(saved.get("flow") or "")
        return spec.title if spec else ""

    def resume(self, turn: Turn) -> bool:
        saved = (turn.state or {}).get("suspended")
        if not saved or saved.get("flow") not in self.specs:
            return False
        turn.forget("suspended")
        spec = self.specs[saved["flow"]]
        turn.conversation.flow = spec.name
        turn.conversation.slots = dict(saved.get("slots") or {})
        turn.record("flow_resumed", flow=spec.name)
        turn.say(self.content.text("let_us_continue"))
        self._ask_next(turn, spec)
        return True

    def reask(self, turn: Turn) -> None:
        spec = self.active(turn)
        assert spec is not None
        step_name = turn.conversation.step or ""
        if step_name == CONFIRM_STEP:
            return self._show_summary(turn, spec)
        step = next((s for s in spec.steps if s.slot == step_name), None)
        if step is None or step_name == EDIT_STEP:
            return self._ask_next(turn, spec)
        self._ask(turn, step)

    def active(self, turn: Turn) -> Optional[FormSpec]:
        return self.specs.get(turn.conversation.flow or "")

    def at_consent(self, turn: Turn) -> bool:
        """Whether the open question asks for consent to use the person's data."""
        return self._open_step_type(turn) == "consent"

    def at_confirmation(self, turn: Turn) -> bool:
        return self.active(turn) is not None and turn.conversation.step == CONFIRM_STEP

    def at_phone(self, turn: Turn) -> bool:
        """Whether the open question asks for a phone number."""
        return self._open_step_type(turn) == "phone"

    def _open_step_type(self, turn: Turn) -> Optional[str]:
        spec = self.active(turn)
        step = next((s for s in spec.steps if s.slot == turn.conversation.step), None) if spec else None
        return step.type if step is not None else None

    # --- one answer ----------------------------------------------------------
    def answer(self, turn: Turn) -> None:
        spec = self.active(turn)
        assert spec is not None
        step_name = turn.conversation.step or ""
        if step_name == CONFIRM_STEP:
            return self._answer_confirm(turn, spec)
        if step_name == EDIT_STEP:
            return self._answer_edit(turn, spec)
        try:
            step = spec.step(step_name)
        except KeyError:  # the form was edited under a running conversation
            return self._ask_next(turn, spec)
        earlier = self._earlier_step_corrected(turn, spec, step)
        if earlier is not None:
            return self._ask_again(turn, spec, earlier)
        value = self._parse(turn, step)
        if value is None:
            return
        if value is _DECLINED:
            turn.record("consent_declined", flow=spec.name)
            self._clear(turn)
            turn.say(self.content.fill(step.declined or self.content.texts["no_consent"]))
            return
        self._set(turn, step, value)
        self._keep_story(turn, spec, step)
        if self._refused(turn, spec):
            return
        self._after_answer(turn, spec)

    def _refused(self, turn: Turn, spec: FormSpec) -> bool:
        check = self.checks.get(spec.name)
        refusal = check(turn, turn.conversation.slots or {}) if check else None
        if not refusal:
            return False
        turn.record("flow_refused", flow=spec.name, at=turn.conversation.step)
        self._clear(turn)
        turn.say(refusal)
        return True

    def _keep_story(self, turn: Turn, spec: FormSpec, step: Step) -> None:
        """"dipulangin paksa sama agen padahal kontrak masih 1 tahun" answers
        "what happened?" AND tells the story: the story question is not asked."""
        if not spec.story_slot or step.slot == spec.story_slot or step.type != "choice":
            return
        if len(turn.text.split()) < STORY_WORDS or (turn.conversation.slots or {}).get(spec.story_slot):
            return
        turn.conversation.slots = {**(turn.conversation.slots or {}), spec.story_slot: turn.text}
        turn.record("story_kept", flow=spec.name, at=step.slot)

    def danger_in_form(self, turn: Turn) -> None:
        """Emergency first, and the message is not lost.

        In a report, the message is kept as part of the story and the report
        is marked urgent; if it also plainly answers the question (the story
        question, or "dipukul" at "what happened?") it is taken as the answer.
        Any other form is put aside so the person can report instead.
        """
        from flows import safety

        spec = self.active(turn)
        assert spec is not None
        if not spec.story_slot:
            turn.remember("suspended", {"flow": spec.name, "step": turn.conversation.step, "slots": dict(turn.conversation.slots or {})})
            turn.record("flow_suspended", flow=spec.name, step=turn.conversation.step, reason="darurat")
            self._clear(turn)
            return safety.show_emergency(turn, offer_report=True)
        safety.show_emergency(turn, offer_report=False)
        turn.remember("report_urgent_from_emergency", True)
        turn.record("emergency_in_form", flow=spec.name, step=turn.conversation.step)
        step_name = turn.conversation.step or ""
        step = next((s for s in spec.steps if s.slot == step_name), None)
        if step is not None and step.slot == spec.story_slot:
            self._set(turn, step, turn.text)
            return self._after_answer(turn, spec)
        slots = dict(turn.conversation.slots or {})
        relation = reading.relative_in(reading.load_lexicon(self.content.directory), turn.text)
        for other in spec.steps if relation else ():
            # "suami saya disiksa": the writer is family, and which relative.
            if other.slot in slots:
                continue
            if other.reads == "writer" and len(other.options) == 2:
                slots[other.slot] = other.options[1].value
            elif other.reads == "relation" and any(o.value == relation for o in other.options):
                slots[other.slot] = relation
        earlier = str(slots.get(spec.story_slot) or "")
        if turn.text not in earlier:
            slots[spec.story_slot] = (earlier + "\n" + turn.text).strip() if earlier else turn.text
        turn.conversation.slots = slots
        if step is not None and step.slot in slots:
            turn.say(self.content.text("report_marked_urgent"))
            return self._after_answer(turn, spec)
        plain = self._plain_answer(turn, step) if step is not None else None
        if step is not None and plain is not None:
            self._set(turn, step, plain)
            turn.say(self.content.text("report_marked_urgent"))
            return self._after_answer(turn, spec)
        turn.say(self.content.text("report_marked_urgent"))
        if step_name == CONFIRM_STEP:
            return self._show_summary(turn, spec)
        if step is None:
            return self._ask_next(turn, spec)
        self._ask(turn, step)

    def _plain_answer(self, turn: Turn, step: Step) -> Any:
        """An answer readable without NLU ("dipukul" at "what happened?")."""
        if step.type not in ("choice", "country"):
            return None
        options = self._options(turn, step)
        chosen = match_choice(turn, options)
        if chosen is None and _told_as_done(turn, options):
            return None
        return chosen or reading.option_by_words(turn.text, [(o.value, o.label, o.match) for o in options])

    def _after_answer(self, turn: Turn, spec: FormSpec) -> None:
        if (turn.state or {}).get("editing"):
            turn.forget("editing")
            return self._show_summary(turn, spec)
        self._ask_next(turn, spec)

    # --- internals -------------------------------------------------------------
    def _parse(self, turn: Turn, step: Step) -> Any:
        """The slot value, or None after telling the person what is wrong.

        Order: the exact things first (number, button, option phrase), then
        the person's own words read for this kind of step, then "is this a
        question?", and only then a gentle re-ask that gets plainer each time.
        """
        lexicon = reading.load_lexicon(self.content.directory)
        guess = (turn.conversation.slots or {}).get(f"{GUESS}{step.slot}")
        if guess is not None:
            decision = yes_or_no(turn)
            self._drop_guess(turn, step)
            if decision is True:
                return guess
            if decision is False:
                return self._reask(turn, step)
        if step.type in ("choice", "village", "training", "country"):
            options = self._options(turn, step)
            chosen = match_choice(turn, options)
            if (
                chosen is None
                and step.type == "village"
                and not _opens_with_error(turn)  # "eh salah, dudu telung sasi ...": a correction, not "my village is not here"
                and reading.village_not_listed(lexicon, turn.text)
                and self._read_choice(turn, step, options, lexicon) is None
            ):
                return self._village_not_listed(turn)
            if chosen is None and reading.looks_like_question(lexicon, turn.text) and self._interrupted(turn):
                return self._reask(turn, step)  # "biaya ke hongkong berapa?" at "which country?"
            chosen = chosen or self._read_choice(turn, step, options, lexicon)
            if chosen is not None:
                return chosen
            other = next((o for o in options if o.value in OTHER_VALUES), None) if step.type == "choice" else None
            statement = other is not None and not reading.looks_like_question(lexicon, turn.text)
            if not statement and self._question_answered(turn, lexicon):
                return self._reask(turn, step)
            if step.entity:
                value = turn.understand().entity(step.entity)
                if value and any(o.value == value for o in options):
                    return value
            if statement and other is not None and len(turn.text.split()) >= 2 and turn.clean.has_words:
                # "ga dikasih libur" at "Apa masalahnya?": their own words fit no
                # option and ask nothing, so it is "Lainnya" (the satgas reads the
                # words), never a loop and never a knowledge answer.
                turn.record("other_option_taken", flow=turn.conversation.flow, step=step.slot)
                turn.say(self.content.text("other_option_taken", label=other.label))
                return other.value
            return self._missed(turn, step, len(options))
        if step.type == "consent":
            if reading.wants_number_instead(lexicon, turn.text):
                # "ga mau datanya dicatat, nomor pengaduannya aja berapa": a no,
                # and the refusal's answer carries the hotline (issue 23).
                return _DECLINED
            if reading.looks_like_question(lexicon, turn.text) and _starts_with_question(lexicon, turn.text):
                return self._explain_consent(turn, step)
            if reading.says_dont_know(lexicon, turn.text):
                # "ga tau" is not a refusal: say why we ask, and ask again.
                return self._explain_consent(turn, step)
            decision = yes_or_no(turn)
            if decision is None and reading.steering(lexicon, turn.text) == "cancel":
                decision = False  # "eh udah deh ga jadi aja, lain kali": a refusal, answered with the hotline
            if decision is True:
                turn.contact.consent_at = turn.contact.consent_at or turn.now
                turn.record("consent_given", slot=step.slot)
                return turn.now.isoformat(timespec="seconds")
            if decision is False:
                return _DECLINED
            if reading.looks_like_question(lexicon, turn.text):
                return self._explain_consent(turn, step)
            return self._missed(turn, step, 2)
        if step.type == "phone":
            phone = normalise_phone(turn.text)
            if phone:
                return phone
            if reading.means_this_number(lexicon, turn.text):
                # "nomor ini aja": on WhatsApp the number they write from (shown in
                # the summary); Telegram does not tell us a number, so we ask for it.
                own = normalise_phone(turn.contact.address) if turn.contact.channel in PHONE_CHANNELS else None
                if own:
                    return own
                turn.say(self.content.text("phone_this_chat_unknown"))
                return None
            if self._question_answered(turn, lexicon):
                return self._reask(turn, step)
            turn.say(self.content.text("phone_invalid"))
            return None
        # free text
        if reading.looks_like_question(lexicon, turn.text) and self._question_answered(turn, lexicon, always=True):
            return self._reask(turn, step)
        if len(turn.text) > step.max_length:
            turn.say(self.content.text("answer_too_long", max=step.max_length))
            return None
        if len(turn.text) < step.min_length or not turn.clean.has_words:
            turn.say(self.content.text("answer_too_short"))
            return None
        text = reading.name_in(lexicon, turn.text) if step.reads == "name" else turn.text
        if step.reads == "name" and self._country_instead_of_name(turn, text):
            return self._reask(turn, step)
        if step.max_words and len(text.split()) > step.max_words:
            return self._story_instead(turn, step)
        return text

    def _country_instead_of_name(self, turn: Turn, name: str) -> bool:
        """"singapore" typed at "what is the worker's name?": a country, not a
        name. Kept as the country's answer when the form asks for one that is
        not answered yet, and the name asked again (issue 23)."""
        country = self.content.country_from_text(name)
        if country is None or len(name.split()) > 2 or country not in self.content.countries:
            return False
        if for_matching(name) not in {for_matching(a) for a in (self.content.countries[country].name, *self.content.countries[country].aliases)}:
            return False  # "Siti Hongkong" or a name that only contains a country word
        spec = self.active(turn)
        country_step = next((s for s in spec.steps if s.type == "country"), None) if spec is not None else None
        slots = dict(turn.conversation.slots or {})
        if country_step is not None and country_step.slot not in slots:
            slots[country_step.slot] = country
            turn.conversation.slots = slots
        turn.record("country_at_name_step", flow=turn.conversation.flow)
        turn.say(self.content.text("country_not_a_name", country=self.content.countries[country].name))
        return True

    def _read_choice(self, turn: Turn, step: Step, options: list[StepOption], lexicon: reading.Lexicon) -> Optional[str]:
        """Typed words for this step: "kakak saya", "udah 2 minggu", "telpon aja"."""
        values = {o.value for o in options}
        if step.type == "country" and not reading.looks_like_question(lexicon, turn.text):
            country = turn.country_in_message()  # "biaya ke hongkong berapa?" is a question, not the answer
            if country:
                return country
        if step.reads == "relation":
            relation = reading.relative_in(lexicon, turn.text) or _bare_relative(lexicon, turn.text)
            if relation in values:
                return relation
        if step.reads == "writer":
            relation = reading.relative_in(lexicon, turn.text)
            if relation:
                turn.remember("relation_from_words", relation)
                return options[1].value
            family = options[1]
            if reading.option_by_words(turn.text, [(family.value, family.label, family.match)]) is not None:
                return family.value  # "abdi kulawargana": "abdi" is the writer, "kulawarga" what they are
            if reading.writes_for_self(lexicon, turn.text):
                return options[0].value
        if step.reads == "duration":
            days = reading.duration_days(lexicon, turn.text)
            if days is not None:
                return options[0].value if days < step.threshold_days else options[1].value
        if len(options) == 1 and yes_or_no(turn) is True:
            return options[0].value  # "ya" when there is only one training to choose
        if step.type == "choice" and len(options) == 2 and {o.value for o in options} == {"ya", "tidak"}:
            decision = yes_or_no(turn)
            if decision is not None:
                return "ya" if decision else "tidak"
        if _told_as_done(turn, options):
            return None
        return reading.option_by_words(turn.text, [(o.value, o.label, o.match) for o in options])

    def _question_answered(self, turn: Turn, lexicon: reading.Lexicon, always: bool = False) -> bool:
        """A question typed instead of an answer gets a short answer, not stored as data."""
        if not always and not reading.looks_like_question(lexicon, turn.text):
            return self._interrupted(turn)
        if self._interrupted(turn):
            return True
        if always:
            turn.say(self.content.text("question_in_form"))
            return True
        return False

    def back(self, turn: Turn) -> None:
        """"eh salah": the answer just given is taken back and its question
        asked again (issue 23); at the first question, that question again."""
        spec = self.active(turn)
        assert spec is not None
        slots = dict(turn.conversation.slots or {})
        current = turn.conversation.step or ""
        if current == CONFIRM_STEP:
            return self._show_summary(turn, spec)
        turn.record("form_back", flow=spec.name, step=current)
        last = (turn.state or {}).get(LAST_ANSWERED)
        # The question the person answered last (not one filled from their first message).
        if not last or last not in slots or last not in {step.slot for step in spec.steps}:
            return self.reask(turn)
        slots.pop(last)
        turn.conversation.slots = slots
        turn.forget(LAST_ANSWERED)
        turn.say(self.content.texts["form_back"])
        return self._ask(turn, spec.step(last))

    def _earlier_step_corrected(self, turn: Turn, spec: FormSpec, step: Step) -> Optional[Step]:
        """"eh namanya salah", "negarane dudu taiwan ding": a word that says an
        answer was wrong and the name of a question already answered, typed at
        a later question (issue 23). Short messages only: a story may say
        "salah" and "negara"; "diganti majikan" at "what happened?" is an answer."""
        if not _error_words_in(for_matching(turn.text).split()):
            return None
        if step.type == "text" and step.slot == spec.story_slot:
            return None
        if len(turn.text.split()) > CORRECTION_MAX_WORDS:
            return None
        slots = turn.conversation.slots or {}
        # Any question of the form may be named: one answered, or one still
        # to come whose answer was guessed from the first message ("eh ralat,
        # masalahnya bukan telat tp dipotong" while the employer is asked).
        named_steps = [s for s in spec.steps if s.type != "consent" and s.slot != step.slot and self._applies(s, slots)]
        value = reading.option_by_words(turn.text, [(s.slot, s.label, _step_names(s)) for s in named_steps])
        named = next((s for s in named_steps if s.slot == value), None)
        if named is None:
            # "sorry wrong, she in singapore not malaysia": no question named, but
            # an answer of one that was: that question again.
            answered = [s for s in named_steps if s.slot in slots and s.type in ("choice", "country")]
            fitting = [s for s in answered if reading.option_by_words(turn.text, [(o.value, o.label, o.match) for o in self._options(turn, s)]) or _names_option(turn, self._options(turn, s))]
            named = fitting[0] if len(fitting) == 1 else None
        if named is None and step.type == "text" and _opens_with_error(turn):
            # "eh ralat kak, ..." at a free-text question: never stored as its answer.
            last = (turn.state or {}).get(LAST_ANSWERED)
            named = next((s for s in named_steps if s.slot == last), None)
        if named is not None:
            self._drop_guess(turn, named)
        return named

    def _ask_again(self, turn: Turn, spec: FormSpec, step: Step) -> None:
        """The named answer is taken back and its question asked again; the
        questions after it that were answered keep their answers."""
        slots = dict(turn.conversation.slots or {})
        slots.pop(step.slot, None)
        turn.conversation.slots = slots
        turn.record("form_back", flow=spec.name, step=turn.conversation.step, to=step.slot)
        turn.say(self.content.texts["form_back_named"])
        return self._ask(turn, step)

    def _village_not_listed(self, turn: Turn) -> None:
        """"desa saya ga ada di daftar": never a wrong village (its satgas
        would get someone else's report). The form is put aside (*lanjut*
        brings it back) and the person gets who else can help (issue 23)."""
        turn.record("village_not_listed", flow=turn.conversation.flow)
        self.suspend(turn)
        turn.say(self.content.fill(self.content.texts["village_not_listed"]))
        return None

    def _explain_consent(self, turn: Turn, step: Step) -> None:
        turn.say(self.content.fill(step.why) if step.why else self.content.text("consent_why_default"))
        return self._reask(turn, step)

    def _story_instead(self, turn: Turn, step: Step) -> None:
        """A long story at the name question is kept as the story, and the name asked again."""
        spec = self.active(turn)
        if spec and spec.story_slot and spec.story_slot != step.slot:
            slots = dict(turn.conversation.slots or {})
            earlier = str(slots.get(spec.story_slot) or "")
            slots[spec.story_slot] = (earlier + "\n" + turn.text).strip() if earlier else turn.text
            turn.conversation.slots = slots
            turn.record("story_kept", flow=spec.name, at=step.slot)
            turn.say(self.content.text("story_noted"))
            return self._reask(turn, step)
        turn.say(self.content.text("answer_too_many_words"))
        return self._reask(turn, step)

    def _missed(self, turn: Turn, step: Step, count: int) -> None:
        """Re-ask, plainer each time; the third miss offers a person instead of a loop."""
        key = f"missed_{step.slot}"
        misses = int((turn.state or {}).get(key, 0)) + 1
        turn.remember(key, misses)
        turn.record("answer_missed", flow=turn.conversation.flow, step=step.slot, misses=misses)
        if misses == 1:
            turn.say(self.content.text("choose_number", count=count))
        elif misses % 2 == 0:
            turn.say(self.content.text("choose_number_or_help", count=count))
        else:
            turn.say(self.content.text("choose_number_again", count=count))
        return self._reask(turn, step)
    def _interrupted(self, turn: Turn) -> bool:
        return bool(self.interrupt and self.interrupt(turn))

    def _reask(self, turn: Turn, step: Step) -> None:
        self._ask(turn, step)
        return None

    def _options(self, turn: Turn, step: Step) -> list[StepOption]:
        source = self.option_sources.get(step.type)
        if step.type == "country" and not step.options:
            countries = [StepOption(c.key, c.name, c.aliases) for c in self.content.countries.values()]
            other = self.content.text("country_other")
            return countries + [StepOption("lainnya", other, ("lainnya", "lain", for_matching(other)))]
        if source is not None:
            return source(turn, step)
        return list(step.options)

    def _set(self, turn: Turn, step: Step, value: Any) -> None:
        slots = {**(turn.conversation.slots or {}), step.slot: value}
        relation = (turn.state or {}).get("relation_from_words")
        if relation:
            # "anak saya" at "who is reporting?" also answers "what is your relation?"
            turn.forget("relation_from_words")
            spec = self.active(turn)
            for other in spec.steps if spec else ():
                if other.reads == "relation" and other.slot not in slots and any(o.value == relation for o in other.options):
                    slots[other.slot] = relation
        turn.conversation.slots = slots
        if step.type == "country":
            self._warn_about_country(turn, str(value))
        turn.forget(f"missed_{step.slot}")
        turn.remember(LAST_ANSWERED, step.slot)
        turn.record("slot_filled", flow=turn.conversation.flow, slot=step.slot)

    def _applies(self, step: Step, slots: Mapping[str, Any]) -> bool:
        for key, expected in step.when.items():
            allowed = expected if isinstance(expected, list) else [expected]
            if slots.get(key) not in allowed:
                return False
        return True

    def _ask_next(self, turn: Turn, spec: FormSpec) -> None:
        slots = turn.conversation.slots or {}
        for step in spec.steps:
            if step.slot not in slots and self._applies(step, slots):
                return self._ask(turn, step)
        if spec.summary:
            return self._show_summary(turn, spec)
        self._complete(turn, spec)

    def _drop_guess(self, turn: Turn, step: Step) -> None:
        slots = dict(turn.conversation.slots or {})
        slots.pop(f"{GUESS}{step.slot}", None)
        turn.conversation.slots = slots

    def _ask(self, turn: Turn, step: Step) -> None:
        turn.conversation.step = step.slot
        guess = (turn.conversation.slots or {}).get(f"{GUESS}{step.slot}")
        label = next((o.label for o in step.options if o.value == guess), None) if guess else None
        if label:
            options = [Option("ya", self.content.text("guess_yes")), Option("tidak", self.content.text("guess_no"))]
            turn.conversation.options = option_rows(options)
            turn.say(self.content.text("guess_confirm", label=label), options)
            return
        options = self._options(turn, step) if step.type != "text" and step.type != "phone" else []
        if len(options) == 1 and options[0].named:
            self._set(turn, step, options[0].value)
            spec = self.active(turn)
            return self._ask_next(turn, spec) if spec else None
        if step.type == "consent":
            options = [StepOption("ya", self.content.text("consent_yes")), StepOption("tidak", self.content.text("consent_no"))]
        shown = [Option(o.value, o.label) for o in options]
        turn.conversation.options = option_rows(options)
        turn.say(self.content.fill(step.ask), shown)

    def _display(self, turn: Turn, spec: FormSpec, step: Step, value: Any) -> str:
        if step.type == "consent":
            return self.content.text("consent_given")
        if step.type == "country":
            return self.content.country_name(str(value))
        for option in self._options(turn, step):
            if option.value == value:
                return option.label
        return str(value)

    def _show_summary(self, turn: Turn, spec: FormSpec) -> None:
        slots = turn.conversation.slots or {}
        lines = [self.content.text("summary_intro")]
        for step in spec.steps:
            if step.slot in slots and step.type != "consent":
                lines.append(f"- {step.label}: {self._display(turn, spec, step, slots[step.slot])}")
        lines.append("")
        lines.append(self.content.text("summary_confirm"))
        options = [
            Option("kirim", self.content.text("summary_send")),
            Option("ubah", self.content.text("summary_edit")),
            Option("batal", self.content.text("summary_cancel")),
        ]
        turn.conversation.step = CONFIRM_STEP
        turn.conversation.options = option_rows(options)
        turn.say("\n".join(lines), options)

    def _answer_confirm(self, turn: Turn, spec: FormSpec) -> None:
        options = [StepOption(o.value, o.label) for o in options_from_rows(turn.conversation.options)]
        chosen = match_choice(turn, options)
        named = self._step_named(turn, spec) if chosen is None else None
        if named is not None:
            # "eh negaranya salah" / "ganti nomor": straight to that question.
            turn.remember("editing", True)
            return self._ask(turn, named)
        if chosen is None:
            decision = yes_or_no(turn)
            chosen = {True: "kirim", False: "ubah"}.get(decision) if decision is not None else None
        if chosen == "kirim":
            return self._complete(turn, spec)
        if chosen == "batal":
            return self.cancel(turn)
        if chosen == "ubah":
            editable = self._editable(turn, spec)
            turn.conversation.step = EDIT_STEP
            shown = [Option(s.slot, s.label) for s in editable]
            turn.conversation.options = option_rows(shown)
            turn.say(self.content.text("edit_which"), shown)
            return
        if self._interrupted(turn):
            return self._show_summary(turn, spec)
        misses = int((turn.state or {}).get("missed_summary", 0)) + 1
        turn.remember("missed_summary", misses)
        turn.say(self.content.text("choose_number" if misses < 3 else "choose_number_or_help", count=3))
        self._show_summary(turn, spec)

    def _editable(self, turn: Turn, spec: FormSpec) -> list[Step]:
        return [s for s in spec.steps if s.slot in (turn.conversation.slots or {}) and s.type != "consent"]

    def _step_named(self, turn: Turn, spec: FormSpec) -> Optional[Step]:
        """The question a correction names: needs a correction word and one step's name."""
        words = set(for_matching(turn.text).split())
        if not words & CORRECTION_WORDS:
            return None
        editable = self._editable(turn, spec)
        value = reading.option_by_words(
            turn.text, [(s.slot, s.label, _step_names(s)) for s in editable]
        )
        return next((s for s in editable if s.slot == value), None)

    def _answer_edit(self, turn: Turn, spec: FormSpec) -> None:
        options = [StepOption(o.value, o.label) for o in options_from_rows(turn.conversation.options)]
        chosen = match_choice(turn, options)
        if chosen is None:
            editable = [s for s in spec.steps if any(o.value == s.slot for o in options)]
            chosen = reading.option_by_words(turn.text, [(s.slot, s.label, _step_names(s)) for s in editable])
        if chosen is None:
            turn.say(self.content.text("choose_number", count=len(options)))
            turn.say(self.content.text("edit_which"), [Option(o.value, o.label) for o in options])
            return
        turn.remember("editing", True)
        self._ask(turn, spec.step(chosen))

    def _complete(self, turn: Turn, spec: FormSpec) -> None:
        slots = dict(turn.conversation.slots or {})
        self._clear(turn)
        turn.record("flow_completed", flow=spec.name)
        self.actions[spec.done](turn, spec, slots)

    def _clear(self, turn: Turn) -> None:
        turn.conversation.flow = None
        turn.conversation.step = None
        turn.conversation.slots = {}
        turn.conversation.options = []
        turn.forget("editing")
        turn.forget(LAST_ANSWERED)


class _Declined:
    pass


_DECLINED = _Declined()


def match_choice(turn: Turn, options: list[StepOption]) -> Optional[str]:
    """Number, button payload, exact label or a listed synonym: no NLU needed."""
    if turn.inbound.payload:
        for option in options:
            if option.value == turn.inbound.payload:
                return option.value
    typed = for_matching(turn.text)
    number = re.fullmatch(r"(?:no|nomor|nmr|pilih|pilihan)?\s*(\d{1,2})", typed)
    if number:
        index = int(number.group(1))
        return options[index - 1].value if 1 <= index <= len(options) else None
    for option in options:
        if typed in (for_matching(option.label), for_matching(option.value), *option.match):
            return option.value
    return None


def yes_or_no(turn: Turn) -> Optional[bool]:
    """Buttons, 1/2, the words of content/words.yml, then NLU's setuju/tolak."""
    if turn.inbound.payload in ("ya", "tidak"):
        return turn.inbound.payload == "ya"
    typed = for_matching(turn.text)
    if typed == "1":
        return True
    if typed == "2":
        return False
    decision = reading.yes_or_no(reading.load_lexicon(turn.content.directory), turn.text)
    if decision is not None:
        return decision
    understanding = turn.understand()
    if understanding.confidence >= turn.nlu_threshold:
        if understanding.intent == "setuju":
            return True
        if understanding.intent == "tolak":
            return False
    return None


# "tos ditelepon teu diangkat" at "call you or chat?": something already done, told, not chosen.
DONE_WORDS = {"sudah", "udah", "udh", "sdh", "dah", "wis", "wes", "uwis", "sampun", "tos", "parantos", "pernah", "sempat"}


def _told_as_done(turn: Turn, options: list[StepOption]) -> bool:
    """An option's word right after "sudah"/"tos"/"wis" in a message of five
    words or more is a story of what happened, not the choice."""
    tokens = for_matching(turn.text).split()
    if len(tokens) < 5:
        return False
    for option in options:
        for phrase in option.match:
            parts = phrase.split()
            for i in range(1, len(tokens) - len(parts) + 1):
                if tokens[i : i + len(parts)] == parts and tokens[i - 1] in DONE_WORDS:
                    return True
    return False


def _opens_with_error(turn: Turn) -> bool:
    """An error word among the first three words ("eh ralat kak", "sorry wrong")."""
    return bool(_error_words_in(for_matching(turn.text).split(), first=3))


def _error_words_in(words: list[str], first: Optional[int] = None) -> list[str]:
    """The words that say an answer was wrong; "salah satu" ("one of") is not one."""
    return [
        word
        for i, word in enumerate(words[:first] if first else words)
        if word in ERROR_WORDS and not (word == "salah" and words[i + 1 : i + 2] in (["satu"], ["siji"], ["sahiji"], ["setunggal"]))
    ]


def _names_option(turn: Turn, options: list[StepOption]) -> bool:
    """Whether the message names one of these options by a listed word (a country's alias)."""
    tokens = for_matching(turn.text).split()
    return any(any(" ".join(tokens[i : i + len(a.split())]) == a for i in range(len(tokens))) for o in options for a in o.match if len(a) >= 3)


def _step_names(step: Step) -> tuple[str, ...]:
    """How people name a question when correcting it: its label words and slot."""
    names = {for_matching(step.slot.replace("_", " "))}
    names.update(w for w in for_matching(step.label).split() if len(w) >= 4 and w not in ("dengan", "untuk", "tempat"))
    names_of = ("nama", "namanya", "jeneng", "jenenge", "jenengku", "jenengipun", "asmane", "asma", "asmanipun", "nami",
                "naminipun", "namine", "namina", "ngaran", "ngaranna", "wastanipun", "name")
    extra = {"negara": ("negaranya", "negara", "negarane", "negarana", "nagara", "nagarana", "negoro", "negorone"),
             "nomor_hp": ("nomor", "nomornya", "hp", "no hp", "nomer", "nomere", "nomerna"),
             "nama_pekerja": names_of, "nama": names_of, "desa": ("desa", "desanya", "desane", "desana", "deso", "desoku"),
             "majikan": ("majikan", "majikannya", "agen", "pt"), "cerita": ("cerita", "ceritanya", "kronologi"),
             "jenis_masalah": ("masalah", "masalahnya", "masalahe", "masalahna", "perkara", "perkarane", "problem",
                               "problemnya", "kasus", "kasusnya")}
    names.update(extra.get(step.slot, ()))
    return tuple(sorted(names))


def _starts_with_question(lexicon: reading.Lexicon, text: str) -> bool:
    tokens = for_matching(text).split()
    return bool(tokens) and any(
        tokens[: len(phrase.split())] == phrase.split() for phrase in lexicon.question_words
    )


def _bare_relative(lexicon: reading.Lexicon, text: str) -> Optional[str]:
    """At "what is your relation?" a bare "kakak" or "ibunya" is enough."""
    tokens = for_matching(text).split()
    if not tokens or len(tokens) > 4:
        return None
    for token in tokens:
        for relation, words in lexicon.relatives.items():
            if reading._strip_possessive(lexicon, token, words) is not None:
                return relation
    return None


PHONE_IN_TEXT = re.compile(r"(?:\+\s?62|62|0)[\s\-.]*8[\d\s\-.]{7,18}\d")


# The option a free answer falls to when it fits no other ("Lainnya").
OTHER_VALUES = frozenset({"lainnya"})
# Channels whose address is the person's own phone number (see bot.messages.Inbound.channel).
PHONE_CHANNELS = frozenset({"whatsapp"})


def normalise_phone(text: str) -> Optional[str]:
    """Indonesian mobile numbers in any common format, as +62..., also inside
    a sentence ("nomerku 62 813 2222 3333 ya")."""
    found = PHONE_IN_TEXT.search(text)
    if found and not PHONE_PATTERN.match(re.sub(r"[\s\-().]", "", text)):
        text = found.group(0)
    digits = re.sub(r"[\s\-().]", "", text)
    if not PHONE_PATTERN.match(digits):
        return None
    if digits.startswith("+62"):
        return digits
    if digits.startswith("62"):
        return "+" + digits
    return "+62" + digits[1:]

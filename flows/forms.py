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
from bot.messages import Option
from bot.normalise import for_matching
from flows.turn import Turn

CONFIRM_STEP = "_konfirmasi"
EDIT_STEP = "_ubah"
STEP_TYPES = {"choice", "text", "phone", "consent", "country", "village", "training"}

YES_WORDS = {
    "ya", "iya", "y", "yes", "yess", "yup", "setuju", "saya setuju", "boleh", "ok", "oke", "okey", "okay",
    "nggih", "inggih", "iyo", "njih", "nggeh", "muhun", "leres", "siap", "betul", "benar", "sudah benar",
    "gas", "lanjut", "ya setuju", "iya setuju", "sumangga", "mangga", "yakin", "ya hapus",
}
NO_WORDS = {
    "tidak", "tdk", "ga", "gak", "nggak", "enggak", "engga", "no", "nope", "ora", "mboten", "henteu",
    "moal", "teu", "jangan", "ndak", "tolak", "tidak setuju", "ga setuju", "gak setuju", "emoh", "alim",
    "tidak mau", "ga mau", "gak mau", "ora gelem", "teu hoyong",
}
PHONE_PATTERN = re.compile(r"^(?:\+?62|0)8[1-9][0-9]{6,11}$")


@dataclass(frozen=True)
class StepOption:
    value: str
    label: str
    match: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class FormSpec:
    name: str
    title: str
    intro: str
    steps: tuple[Step, ...]
    summary: bool
    done: str  # name of the action run on completion
    cancelled: str = ""  # what "batal" says, when the default does not fit this form

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
    )


# ---------------------------------------------------------------------------
# Hooks the rest of the bot plugs in: actions run at the end of a form, and
# option sources for steps whose choices come from the database (villages,
# trainings) rather than from the YAML file.
FormAction = Callable[[Turn, FormSpec, dict[str, Any]], None]
OptionSource = Callable[[Turn, Step], list[StepOption]]
ANSWER_INTERRUPT = Callable[[Turn], bool]


@dataclass
class FormEngine:
    content: Content
    actions: dict[str, FormAction]
    option_sources: dict[str, OptionSource] = field(default_factory=dict)
    # Called when an answer does not fit: returns True if it handled the message
    # as an interrupting question (it then answered it).
    interrupt: Optional[ANSWER_INTERRUPT] = None

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
        self._ask_next(turn, spec)

    def cancel(self, turn: Turn) -> None:
        spec = self.active(turn)
        turn.record("flow_cancelled", flow=turn.conversation.flow, step=turn.conversation.step)
        self._clear(turn)
        turn.say(self.content.fill(spec.cancelled) if spec and spec.cancelled else self.content.text("flow_cancelled"))

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

    def active(self, turn: Turn) -> Optional[FormSpec]:
        return self.specs.get(turn.conversation.flow or "")

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
        value = self._parse(turn, step)
        if value is None:
            return
        if value is _DECLINED:
            turn.record("consent_declined", flow=spec.name)
            self._clear(turn)
            turn.say(self.content.fill(step.declined or self.content.texts["no_consent"]))
            return
        self._set(turn, step, value)
        if (turn.state or {}).get("editing"):
            turn.forget("editing")
            return self._show_summary(turn, spec)
        self._ask_next(turn, spec)

    # --- internals -------------------------------------------------------------
    def _parse(self, turn: Turn, step: Step) -> Any:
        """The slot value, or None after telling the person what is wrong."""
        if step.type in ("choice", "village", "training", "country"):
            options = self._options(turn, step)
            chosen = match_choice(turn, options)
            if chosen is not None:
                return chosen
            if step.type == "country":
                country = turn.country_in_message()
                if country:
                    return country
            if step.entity and self._interrupted(turn):
                return self._reask(turn, step)
            if step.entity:
                value = turn.understand().entity(step.entity)
                if value and any(o.value == value for o in options):
                    return value
            if not step.entity and self._interrupted(turn):
                return self._reask(turn, step)
            turn.say(self.content.text("choose_number", count=len(options)))
            return self._reask(turn, step)
        if step.type == "consent":
            decision = yes_or_no(turn)
            if decision is True:
                turn.contact.consent_at = turn.contact.consent_at or turn.now
                turn.record("consent_given", slot=step.slot)
                return turn.now.isoformat(timespec="seconds")
            if decision is False:
                return _DECLINED
            if self._interrupted(turn):
                return self._reask(turn, step)
            turn.say(self.content.text("choose_number", count=2))
            return self._reask(turn, step)
        if step.type == "phone":
            phone = normalise_phone(turn.text)
            if phone:
                return phone
            turn.say(self.content.text("phone_invalid"))
            return None
        # free text
        if len(turn.text) > step.max_length:
            turn.say(self.content.text("answer_too_long", max=step.max_length))
            return None
        if len(turn.text) < step.min_length or not turn.clean.has_words:
            turn.say(self.content.text("answer_too_short"))
            return None
        return turn.text

    def _interrupted(self, turn: Turn) -> bool:
        return bool(self.interrupt and self.interrupt(turn))

    def _reask(self, turn: Turn, step: Step) -> None:
        self._ask(turn, step)
        return None

    def _options(self, turn: Turn, step: Step) -> list[StepOption]:
        source = self.option_sources.get(step.type)
        if step.type == "country" and not step.options:
            countries = [StepOption(c.key, c.name, c.aliases) for c in self.content.countries.values()]
            return countries + [StepOption("lainnya", "Negara lain", ("lainnya", "lain", "negara lain"))]
        if source is not None:
            return source(turn, step)
        return list(step.options)

    def _set(self, turn: Turn, step: Step, value: Any) -> None:
        turn.conversation.slots = {**(turn.conversation.slots or {}), step.slot: value}
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

    def _ask(self, turn: Turn, step: Step) -> None:
        turn.conversation.step = step.slot
        options = self._options(turn, step) if step.type != "text" and step.type != "phone" else []
        if step.type == "consent":
            options = [StepOption("ya", "Ya, saya setuju"), StepOption("tidak", "Tidak")]
        shown = [Option(o.value, o.label) for o in options]
        turn.conversation.options = [{"value": o.value, "label": o.label} for o in options]
        turn.say(self.content.fill(step.ask), shown)

    def _display(self, turn: Turn, spec: FormSpec, step: Step, value: Any) -> str:
        if step.type == "consent":
            return "Setuju"
        if step.type == "country":
            country = self.content.countries.get(str(value))
            return country.name if country else str(value)
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
        turn.conversation.options = [{"value": o.value, "label": o.label} for o in options]
        turn.say("\n".join(lines), options)

    def _answer_confirm(self, turn: Turn, spec: FormSpec) -> None:
        options = [StepOption(o["value"], o["label"]) for o in turn.conversation.options or []]
        chosen = match_choice(turn, options)
        if chosen is None:
            decision = yes_or_no(turn)
            chosen = {True: "kirim", False: "ubah"}.get(decision) if decision is not None else None
        if chosen == "kirim":
            return self._complete(turn, spec)
        if chosen == "batal":
            return self.cancel(turn)
        if chosen == "ubah":
            editable = [s for s in spec.steps if s.slot in (turn.conversation.slots or {}) and s.type != "consent"]
            turn.conversation.step = EDIT_STEP
            turn.conversation.options = [{"value": s.slot, "label": s.label} for s in editable]
            turn.say(self.content.text("edit_which"), [Option(s.slot, s.label) for s in editable])
            return
        if self._interrupted(turn):
            return self._show_summary(turn, spec)
        turn.say(self.content.text("choose_number", count=3))
        self._show_summary(turn, spec)

    def _answer_edit(self, turn: Turn, spec: FormSpec) -> None:
        options = [StepOption(o["value"], o["label"]) for o in turn.conversation.options or []]
        chosen = match_choice(turn, options)
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
    typed = for_matching(turn.text)
    if turn.inbound.payload in ("ya", "tidak"):
        return turn.inbound.payload == "ya"
    if typed in ("1",):
        return True
    if typed in ("2",):
        return False
    if typed in YES_WORDS:
        return True
    if typed in NO_WORDS:
        return False
    understanding = turn.understand()
    if understanding.confidence >= turn.nlu_threshold:
        if understanding.intent == "setuju":
            return True
        if understanding.intent == "tolak":
            return False
    return None


def normalise_phone(text: str) -> Optional[str]:
    """Indonesian mobile numbers in any common format, as +62..."""
    digits = re.sub(r"[\s\-().]", "", text)
    if not PHONE_PATTERN.match(digits):
        return None
    if digits.startswith("+62"):
        return digits
    if digits.startswith("62"):
        return "+" + digits
    return "+62" + digits[1:]

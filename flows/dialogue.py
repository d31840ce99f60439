"""What the bot does with one message, in the order it decides it.

1. Nothing readable (empty, emoji only, a sticker or voice note): say so kindly.
   Satgas commands ("ambil ADU-7K3P") are recognised right after.
2. Danger (patterns, or NLU with a danger cue): emergency guidance first,
   inside a form too, where the message is kept and the question asked again.
3. Words that steer the conversation, in any state and through the fillers
   people type around them: cancel, delete my data, a person, stop messages,
   back ("eh salah"), "menu", "lanjut".
4. Inside a form: the message is an answer to the current question, read in
   the person's own words (flows/reading.py), or a question answered briefly.
5. A number or button from the last menu: do that, no NLU needed.
6. Otherwise ask NLU what the person wants, correct it with what the words
   plainly say (flows/meaning.py: a question is answered, never made a form;
   a told problem is a report), and answer, act or clarify.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Callable, Optional

from bot.messages import Option, option_rows, options_from_rows
from bot.normalise import for_matching
from flows import answers, reading, safety
from flows.meaning import REPORTING, answer_instead, what_was_meant
from flows.forms import DONE_WORDS, GUESS, FormEngine, StepOption, match_choice
from bot.turn import IntentHandler, Turn
from nlu.classifier import Understanding

REPORT_AFTER_WORDS = 8  # a story this long flagged darurat by NLU alone is a report
MAX_OFFER_OPTIONS = 5  # an answer's options (source, detail, other, report); the menu has more



@dataclass
class Dialogue:
    forms: FormEngine
    handlers: dict[str, IntentHandler] = field(default_factory=dict)
    # Media (photo, voice, document) can be useful to an open case; a handler
    # returns True when it took the attachment.
    media_handlers: list[Callable[[Turn], bool]] = field(default_factory=list)
    commands: list[Callable[[Turn], bool]] = field(default_factory=list)
    followups: list[Callable[[Turn], bool]] = field(default_factory=list)
    # Intents that stay requests to the bot in a satgas reply window (each
    # feature declares its own; bot.app collects them).
    reply_exempt: set[str] = field(default_factory=set)

    def respond(self, turn: Turn) -> None:
        if turn.clean.is_empty:
            return self._nothing_to_read(turn)
        if not turn.clean.has_words and not turn.inbound.payload:
            if turn.inbound.attachments and any(handler(turn) for handler in self.media_handlers):
                return None  # a photo captioned "🙏": the photo is the message
            if self.forms.active(turn) is not None:
                turn.say(turn.content.text("emoji_in_form"))  # 😢 at a question: ask it again
                return self.forms.reask(turn)
            return self._emoji_only(turn)
        if any(command(turn) for command in self.commands):
            return None
        if turn.clean.truncated:
            turn.say(turn.content.text("too_long"))

        lexicon = reading.load_lexicon(turn.content.directory)
        in_form = self.forms.active(turn) is not None
        steer = "menu" if turn.inbound.payload == "menu" else reading.steering(lexicon, turn.text)
        if in_form and steer is None and safety.is_danger(turn, ask_nlu=True):
            return self.forms.danger_in_form(turn)
        if not in_form and safety.mentions_danger(turn.content, turn.text):
            if safety.asks_about_danger(turn):
                return self.answer_danger_question(turn)
            if not safety.tells_past_danger(turn):
                return safety.show_emergency(turn, offer_report=True)
            turn.record("past_danger_told")  # read on as a report or a question

        if (
            in_form
            and not self.forms.at_consent(turn)
            and not self.forms.at_phone(turn)
            and not re.search(r"\d{6,}", turn.text.replace(" ", "").replace("-", ""))  # a number given, not asked for
            and reading.wants_numbers_not_the_form(lexicon, turn.text)
        ):
            # "ga usah disimpen datanya, kasih nomor yg bisa sy telpon aja" at any
            # question: the form ends (nothing kept) and the numbers come at once.
            self.forms.cancel(turn)
            return self.tell_hotlines(turn)
        if steer == "later":
            if in_form and not self.forms.at_consent(turn) and not self.forms.at_confirmation(turn):
                # "ntar aja, sy tanya suami dulu": the answers are kept for later, not thrown away.
                title = self.forms.suspend(turn)
                turn.say(turn.content.text("flow_paused", title=title))
                return None
            if in_form and self.forms.at_consent(turn):
                # "ntar dulu ya, sy tanya suami dulu" before consenting: nothing
                # to keep, and no refusal either; the form ends, "lapor" starts it again.
                return self.forms.cancel(turn)
            steer = "cancel"  # nothing to keep yet (or at the summary): as a cancel
        if in_form and steer == "cancel" and (not self.forms.at_consent(turn) or reading.steering(lexicon, turn.text, whole_only=True)):
            # At the consent question only a bare "ga jadi" cancels; "ga usah, takut
            # ketahuan" is a refusal, whose answer carries the hotline.
            return self.forms.cancel(turn)
        if not in_form and steer == "cancel" and self.forms.drop_suspended(turn) is not None:
            turn.say(turn.content.text("flow_cancelled"))
            return None
        if in_form and steer == "back":
            return self.forms.back(turn)
        if steer == "unsubscribe" and "berhenti_langganan" in self.handlers:
            # "berhenti" / "stop" in any state: no more messages from us first;
            # inside a form the person wants quiet, so the form ends too.
            self.handlers["berhenti_langganan"](turn, None)
            return self.forms.cancel(turn) if in_form else None
        if steer == "resubscribe" and "mulai_langganan" in self.handlers:
            self.handlers["mulai_langganan"](turn, None)
            return self.forms.reask(turn) if in_form else None
        if steer == "delete_data" and "hapus_data" in self.forms.specs:
            # "hapus data" inside a form is a request, never a form answer (issue 10).
            if in_form and self.forms.active(turn).name != "hapus_data":
                self.forms.suspend(turn)  # kept: "tidak jadi" goes back to it
            if not in_form or self.forms.active(turn) is None:
                return self.dispatch(turn, "hapus_data", None)
        if steer == "agent" and "minta_petugas" in self.forms.specs:
            # "petugas" after a miss: a person, not another loop. The form waits.
            active = self.forms.active(turn)
            if active is None or active.name != "minta_petugas":
                if active is not None:
                    title = self.forms.suspend(turn)
                    turn.say(turn.content.text("flow_suspended", title=title))
                return self.dispatch(turn, "minta_petugas", None)
        if steer == "menu":
            if in_form:
                title = self.forms.suspend(turn)
                turn.say(turn.content.text("flow_suspended", title=title))
            return self.show_menu(turn)
        if steer == "resume" and not in_form:
            if self.forms.resume(turn):
                return None
            turn.say(turn.content.text("nothing_to_resume"))
            return self.show_menu(turn)

        if in_form:
            talk = reading.small_talk(lexicon, turn.text)
            if talk is not None:
                # "makasih" / "punten" at a question: a short reply, then the question again.
                turn.say(turn.content.text("small_talk_in_form_thanks" if talk == "thanks" else "small_talk_in_form_greeting"))
                return self.forms.reask(turn)
            return self.forms.answer(turn)

        if any(followup(turn) for followup in self.followups):
            return None
        options = self._current_options(turn)
        chosen = match_choice(turn, options)
        if chosen is None and len(options) == 2 and options[1].value == "menu" and not reading.thanks_with_yes(lexicon, turn.text):
            # An offer ("laporkan ke satgas desa?" / "menu utama"): "iya" takes
            # it, "nggak" goes to the menu; never "I did not ask anything".
            said = reading.yes_or_no(lexicon, turn.text)
            if said is not None:
                chosen = options[0].value if said else "menu"
        if (
            chosen is None
            and self._report_was_offered(turn)
            and not reading.looks_like_question(lexicon, turn.text)
            and (
                reading.asks_for_help(lexicon, turn.text)
                or (
                    reading.yes_or_no(lexicon, turn.text) is True
                    # "oke makasih" closes the talk; it takes no offer
                    and reading.small_talk(lexicon, turn.text) is None
                    and not reading.thanks_with_yes(lexicon, turn.text)
                )
            )
        ):
            # The answer offered the report ("balas *lapor*"): "iya, dicatat aja"
            # takes the offer, never "I did not ask anything".
            chosen = "lapor_masalah"
        if chosen is not None:
            turn.record("option_chosen", value=chosen)
            return self.dispatch(turn, chosen, None)
        if looks_like_a_number(turn.text):
            # "12" when the menu has 10 items is a slip, not a question for NLU.
            turn.say(turn.content.text("choose_number", count=len(options)))
            return self.show_menu(turn, with_intro=False) if not turn.conversation.options else None

        if reading.asks_for_hotline(lexicon, turn.text):
            return self.tell_hotlines(turn)

        understanding = turn.understand()
        if safety.nlu_says_danger(turn) and not safety.tells_past_danger(turn):
            if safety.asks_about_danger(turn):
                return self.answer_danger_question(turn)
            return safety.show_emergency(turn, offer_report=True)
        intent, confidence = understanding.intent, understanding.confidence
        if intent == "darurat":
            # NLU's darurat without a danger cue is not trusted (see flows/safety.py):
            # a long story is a report; otherwise the runner-up intent, if sure.
            intent, confidence = _without_darurat(understanding, len(turn.text.split()))
        meaning = what_was_meant(lexicon, turn.text, intent, confidence, turn.nlu_threshold)
        intent, confidence = meaning.intent, meaning.confidence
        if answer_instead(lexicon, turn.text, meaning):
            # A question never opens a form (issue 23): it is answered, and a
            # question that also tells of a problem gets the report offered.
            reporting = intent in REPORTING
            if answers.answer_question(turn, intent, offer_report=reporting):
                return None
            if reporting:
                return self.offer_report(turn)
            if intent == "daftar_pelatihan" and "info_pelatihan" in self.handlers:
                # "hoyong ngiring pelatihan, kumaha?" with no training named: the list, not a form.
                return self.dispatch(turn, "info_pelatihan", understanding)
        if (confidence < turn.nlu_threshold or intent == "di_luar_topik") and answers.answer_if_known(turn):
            return None
        if turn.nlu_down:
            turn.record("nlu_unavailable")
            turn.say(turn.content.text("nlu_down"))
            return self.show_menu(turn, with_intro=False)
        if confidence < turn.nlu_threshold:
            turn.record("clarification", intent=intent, confidence=round(confidence, 3), inbound=turn.inbound_id)
            turn.say(turn.content.text("clarify"))
            return self.show_menu(turn, with_intro=False)
        return self.dispatch(turn, intent, understanding)

    # --- routing -------------------------------------------------------------
    def dispatch(self, turn: Turn, intent: str, understanding: Optional[Understanding]) -> None:
        handler = self.handlers.get(intent)
        if handler is not None:
            return handler(turn, understanding)
        if answers.can_answer(turn, intent):
            return answers.answer(turn, intent, understanding)
        if intent in self.forms.specs:
            return self.forms.start(turn, intent, prefill_from(understanding, self.forms, intent, turn.text))
        turn.say(turn.content.text("clarify"))
        self.show_menu(turn, with_intro=False)

    def interrupt(self, turn: Turn) -> bool:
        """Inside a form, an answer that fits no option may be a question:
        answer it briefly (one knowledge-base answer, never a topic text) and
        go back to the form."""
        if looks_like_a_number(turn.text) or len(turn.text.split()) < 2:
            return False  # a slip on the keypad or a one-word answer, not a question
        if reading.asks_for_hotline(reading.load_lexicon(turn.content.directory), turn.text):
            self.tell_hotlines(turn)
            turn.say(turn.content.text("let_us_continue"))
            return True
        understanding = turn.understand()
        sure = understanding.confidence >= turn.nlu_threshold
        question = reading.looks_like_question(reading.load_lexicon(turn.content.directory), turn.text)
        if not question and not (sure and answers.can_answer(turn, understanding.intent)):
            return False
        if not question and len(turn.text.split()) < answers.MIN_WORDS_WITHOUT_INTENT:
            return False  # "lewat wa mawon" at the phone question is an answer, however sure NLU is of a topic
        if not question and for_matching(turn.text).split()[0] in DONE_WORDS:
            return False  # "tos ditelepon teu diangkat, ...": what happened, told, not a question to answer
        if not answers.short_answer(turn, turn.text, understanding.intent if sure else None):
            return False
        turn.record("question_in_form", intent=understanding.intent)
        turn.say(turn.content.text("let_us_continue"))
        return True

    def answer_danger_question(self, turn: Turn) -> None:
        """A question about danger that is not a danger now ("pmi yg kabur dari
        majikan jadi ilegal ga?", "suami sy meninggal 2019, perlu surat apa?"):
        the answer, the report one word away, and the hotline in one line in case
        it is happening now. Nothing in the knowledge base: the numbers to call
        are the answer ("kalau anak kabur dari majikan, ada yang bantu?")."""
        understanding = turn.understand()
        intent = understanding.intent if understanding.intent in answers.KB_INTENTS else None
        turn.record("danger_question_answered")
        if not answers.answer_question(turn, intent, offer_report=True):
            return self.tell_hotlines(turn)
        turn.say(turn.content.fill(turn.content.text("danger_question_note")))

    def offer_report(self, turn: Turn) -> None:
        """A question about a problem that no entry answers: how to report
        and the hotline, with the report one tap away (never the form itself)."""
        options = [Option("lapor_masalah", turn.content.text("report_offer_option")), Option("menu", turn.content.text("menu_option"))]
        turn.conversation.options = option_rows(options)
        turn.record("report_offered")
        turn.say(turn.content.fill(turn.content.text("report_question_hint")), options)

    # --- standard replies ------------------------------------------------------
    def tell_hotlines(self, turn: Turn) -> None:
        """The complaint numbers, straight from content/hotlines.yml."""
        lines = [turn.content.text("hotlines_intro")]
        lines.extend(f"- {hotline.label}: *{hotline.number}*" for hotline in turn.content.hotlines.values())
        turn.record("hotlines_shown")
        turn.say("\n".join(lines))
        answers.remember_hotlines_shown(turn)

    def show_menu(self, turn: Turn, with_intro: bool = True) -> None:
        options = [Option(item.intent, item.label) for item in turn.content.main_menu]
        turn.conversation.options = option_rows(options)
        turn.say(turn.content.text("menu_intro" if with_intro else "menu_short_intro"), options)

    def _report_was_offered(self, turn: Turn) -> bool:
        """The last reply offered the report as one of a few options (an answer
        about a problem), not as one item of the main menu."""
        shown = options_from_rows(turn.conversation.options or [])
        return len(shown) <= MAX_OFFER_OPTIONS and any(option.value == "lapor_masalah" for option in shown)

    def _current_options(self, turn: Turn) -> list[StepOption]:
        shown = turn.conversation.options or []
        if shown:
            return [StepOption(o.value, o.label) for o in options_from_rows(shown)]
        return [StepOption(item.intent, item.label) for item in turn.content.main_menu]

    def _nothing_to_read(self, turn: Turn) -> None:
        if turn.inbound.attachments:
            if any(handler(turn) for handler in self.media_handlers):
                return
            turn.record("media_unsupported", kinds=[a.kind for a in turn.inbound.attachments])
            turn.say(turn.content.text("media_not_supported"))
            return
        turn.say(turn.content.text("empty"))

    def _emoji_only(self, turn: Turn) -> None:
        turn.say(turn.content.text("emoji_only"))
        self.show_menu(turn, with_intro=False)


def _without_darurat(understanding: Understanding, words: int) -> tuple[str, float]:
    if words >= REPORT_AFTER_WORDS:
        return "lapor_masalah", understanding.confidence
    for intent, confidence in understanding.ranking:
        if intent != "darurat":
            return intent, confidence
    return "di_luar_topik", 0.0


def looks_like_a_number(text: str) -> bool:
    return for_matching(text).replace(" ", "").isdigit()


def prefill_from(
    understanding: Optional[Understanding], forms: FormEngine, name: str, text: str = ""
) -> dict[str, str]:
    """Entities already in the first message are not asked again.

    NLU entities come first; when NLU found none (or an invalid one), the
    option phrases of the form are looked for in the message, and used only
    if exactly one option fits, so a vague message is asked rather than guessed.
    """
    if understanding is None:
        return {}
    prefill: dict[str, str] = {}
    spec = forms.specs[name]
    padded = f" {for_matching(text)} "
    for step in spec.steps:
        if not step.entity:
            continue
        value = understanding.entity(step.entity) or ""
        if step.type == "country":
            value = forms.content.canonical_country(value) or "" if value else ""
        elif step.options and not any(o.value == value for o in step.options):
            found = {(o.value, phrase) for o in step.options for phrase in o.match if len(phrase) >= 4 and f" {phrase} " in padded}
            fitting = {option for option, _phrase in found}
            if len(fitting) == 1:
                option = fitting.pop()
                if all(" " not in phrase for _option, phrase in found):
                    # One word ("calo", "gaji") is a guess: confirmed, never silently used.
                    prefill[f"{GUESS}{step.slot}"] = option
                    continue
                value = option
            else:
                value = ""
        if value:
            prefill[step.slot] = value
    return prefill


# --- small handlers shared by every deployment ---------------------------------
def greet(dialogue: Dialogue) -> IntentHandler:
    def handle(turn: Turn, _understanding: Optional[Understanding]) -> None:
        turn.say(turn.content.text("welcome"))
        dialogue.show_menu(turn)

    return handle


def menu(dialogue: Dialogue) -> IntentHandler:
    return lambda turn, _u: dialogue.show_menu(turn)


def thanks(turn: Turn, _understanding: Optional[Understanding]) -> None:
    turn.say(turn.content.text("thanks"))


def off_topic(dialogue: Dialogue) -> IntentHandler:
    def handle(turn: Turn, _understanding: Optional[Understanding]) -> None:
        turn.say(turn.content.text("off_topic"))
        dialogue.show_menu(turn, with_intro=False)

    return handle


def yes_no_without_question(dialogue: Dialogue) -> IntentHandler:
    def handle(turn: Turn, _understanding: Optional[Understanding]) -> None:
        turn.say(turn.content.text("yes_no_without_question"))
        dialogue.show_menu(turn, with_intro=False)

    return handle

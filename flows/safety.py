"""Danger first: an emergency answer goes out before anything else, whatever
the person was in the middle of, including a half-filled form.

Detection is two-layered on purpose. Keyword patterns (content/safety.yml)
catch explicit danger words cheaply on every message. NLU's `darurat` intent
catches paraphrases ("kakak saya dikurung terus diancam pakai pisau"); it is
asked inside forms too, but only when the message carries a danger cue word
(content/words.yml), because a model trained on short messages also calls
"siapa juara liga inggris" an emergency now and then. Long messages (a whole
story) count without a cue when NLU is very sure. A false alarm costs one
extra message; a missed one can cost a life, so the cue list is broad.

What is said is fitted to the writer: the victim gets "find a safe place"; a
relative at home gets what a relative can do. The full text goes out once a
day per person; after that a short reminder with the hotline.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Optional

from bot.content import Content
from bot.messages import Option, option_rows
from flows import reading
from bot.turn import Turn

# Below the general threshold on purpose: recall matters more than precision here.
DARURAT_MIN_CONFIDENCE = 0.30
# A whole story told in one message: NLU alone may decide, when it is very sure.
LONG_MESSAGE_WORDS = 15
LONG_MESSAGE_CONFIDENCE = 0.90
MIN_WORDS_FOR_NLU = 3
RUNNER_UP_MIN_CONFIDENCE = 0.30
FULL_TEXT_EVERY = timedelta(hours=24)


_KRAMA_PASSIVE = re.compile(r"\bdipun\s*")


def without_benign(content: Content, text: str) -> str:
    """The message with the spans that only look like danger blanked out
    ("bapak saya sudah lama meninggal, surat izinnya siapa yang tanda tangan?",
    "nomor darurat kbri berapa"): content/safety.yml `not_danger_patterns`."""
    lowered = text.casefold()
    for benign in content.not_danger_patterns:
        lowered = benign.sub(" ", lowered)
    return lowered


_PUNCTUATION = re.compile(r"[,.;:!?()\"']+")


def mentions_danger(content: Content, text: str) -> bool:
    # Commas between clauses ("sakit, ora digawa nang dokter") must not hide a pattern.
    lowered = " ".join(_PUNCTUATION.sub(" ", without_benign(content, text)).split())
    # Javanese krama "dipun gebugi" is the ngoko/Indonesian "digebugi": one set of patterns reads both.
    plain = _KRAMA_PASSIVE.sub("di", lowered)
    return any(pattern.search(lowered) or pattern.search(plain) for pattern in content.danger_patterns)


def asks_about_danger(turn: Turn) -> bool:
    """A question about danger, not a danger now (flows.reading.asks_about_danger):
    answered, with the hotline under the answer, instead of the emergency text."""
    return reading.asks_about_danger(reading.load_lexicon(turn.content.directory), turn.text)


def tells_past_danger(turn: Turn) -> bool:
    """A harm told as over (flows.reading.tells_past_danger): read as a report
    or a question, not shown the emergency text."""
    return reading.tells_past_danger(reading.load_lexicon(turn.content.directory), turn.text, turn.now.year)


def has_cue(turn: Turn) -> bool:
    return reading.has_danger_cue(reading.load_lexicon(turn.content.directory), without_benign(turn.content, turn.text))


def nlu_says_danger(turn: Turn, ask: bool = False) -> bool:
    """NLU's darurat, counted only with a danger cue or a long, sure story.

    `ask=True` calls NLU when a cue is present (inside forms, where NLU is not
    otherwise called); otherwise only an understanding this turn already has
    is looked at.
    """
    words = len(turn.text.split())
    if words < MIN_WORDS_FOR_NLU:
        return False
    cue = has_cue(turn)
    if not turn.nlu_was_called:
        if not (ask and (cue or words >= LONG_MESSAGE_WORDS)):
            return False
    understanding = turn.understand()
    if understanding.intent != "darurat":
        # A very close runner-up counts when the words carry a danger cue:
        # "dipaksa kerja 20 jam, paspor dipegang" sits between report and emergency.
        runner_up = dict(understanding.ranking[1:2])
        return cue and runner_up.get("darurat", 0.0) >= RUNNER_UP_MIN_CONFIDENCE
    if understanding.confidence < DARURAT_MIN_CONFIDENCE:
        return False
    if reading.says_all_are_well(reading.load_lexicon(turn.content.directory), turn.text):
        return False  # "putra kula sehat, mung bayaranipun dereng ...": a report
    if reading.just_asking(reading.load_lexicon(turn.content.directory), turn.text):
        return False  # "nek pmi mati neng luar negeri ... mung takon": the writer says so
    lexicon = reading.load_lexicon(turn.content.directory)
    if reading.looks_like_question(lexicon, turn.text):
        # "nek pmi mati neng luar negeri, sing mulihke sopo?": a question with
        # a danger word and no danger pattern counts only when NLU is very sure,
        # and never when it asks in general ("calo gitu bisa dilaporin ke
        # polisi?") or about someone who has not left yet ("anak sy mau
        # berangkat, surat ijinnya dibawa ke mana?").
        if reading.asks_about_danger(lexicon, turn.text) or reading.before_departure(lexicon, turn.text):
            return False
        return cue and understanding.confidence >= LONG_MESSAGE_CONFIDENCE
    return cue or (words >= LONG_MESSAGE_WORDS and understanding.confidence >= LONG_MESSAGE_CONFIDENCE)


def is_danger(turn: Turn, ask_nlu: bool = False) -> bool:
    """Inside a form (`ask_nlu`), a question ("harus lapor polisi juga ga?")
    counts only through the patterns: NLU reads "polisi" as danger."""
    if mentions_danger(turn.content, turn.text):
        return True
    if ask_nlu and reading.looks_like_question(reading.load_lexicon(turn.content.directory), turn.text):
        return False
    return nlu_says_danger(turn, ask=ask_nlu)


def writer_is_family(turn: Turn) -> bool:
    """A relative writing about the worker: "kakak saya", "anakku", or the report says so."""
    if (turn.conversation.slots or {}).get("pelapor") == "keluarga":
        return True
    if (turn.state or {}).get("writer") == "keluarga":
        return True
    return reading.relative_in(reading.load_lexicon(turn.content.directory), turn.text) is not None


def show_emergency(turn: Turn, offer_report: bool) -> None:
    """Immediate guidance and hotlines; optionally offer an urgent report."""
    if turn.emergency_shown:
        return
    turn.emergency_shown = True
    family = writer_is_family(turn)
    if family:
        turn.remember("writer", "keluarga")
    last = _last_shown(turn)
    full = last is None or turn.now - last >= FULL_TEXT_EVERY
    turn.record("emergency_shown", flow=turn.conversation.flow, writer="keluarga" if family else "korban", full=full)
    turn.remember("emergency_at", turn.now.isoformat(timespec="seconds"))
    if not full:
        turn.say(turn.content.fill(turn.content.emergency_reminder or turn.content.emergency.text))
    elif family and turn.content.emergency_family:
        turn.say(turn.content.fill(turn.content.emergency_family))
    else:
        turn.say(turn.content.fill(turn.content.emergency.text))
    if full:
        turn.remember("emergency_full_at", turn.now.isoformat(timespec="seconds"))
    if offer_report:
        # Kept so a report started from the option below does not ask again
        # what this message already said (erased with the conversation).
        turn.remember("danger_message", turn.text[:1500])
        options = [
            Option("lapor_darurat", turn.content.text("emergency_report_option")),
            Option("menu", turn.content.text("menu_option")),
        ]
        turn.conversation.options = option_rows(options)
        turn.say(turn.content.text("emergency_follow_up"), options)


def _last_shown(turn: Turn) -> Optional[datetime]:
    return turn.remembered_time("emergency_full_at")

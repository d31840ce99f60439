"""What a free-text message outside a form means, once NLU has read it.

NLU alone confused the two things people do most: ask and report. A model
trained on short messages reads *lapor*, *masalah* or *hilang* as a report
even inside a plain question ("pas pulang cuti harus lapor ke disnaker ga?"),
and, having learnt the knowledge base's questions, reads a told problem
("gaji adik saya di malaysia belum dibayar") as a rights question. This module
corrects NLU's intent with the readers of flows/reading.py, in a fixed order
(issue 23; danger and steering words were decided before NLU was asked):

1. A message that asks for a report in its first words is a report, even
   when a question follows ("bu kula badhe lapor, ... kangge punapa?"); so is
   a long story of a problem that asks for help ("... tlg dicatat ya min").
2. Otherwise a question is a question: it is answered, never turned into a
   form (`answer_instead`), and when it also tells of a problem the answer
   offers the report.
3. A statement of a concrete problem is a report, whatever topic it sounds like.
4. "mau lapor" anywhere in a statement is a report.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows import reading

REPORT = "lapor_masalah"
# Intents that would DO something (open a form, show a status card, delete):
# typed as a question, the question is answered instead.
ASKED_NOT_DONE = frozenset({"lapor_masalah", "cek_status", "hapus_data", "minta_petugas", "setuju", "tolak", "darurat"})
REPORTING = frozenset({"lapor_masalah", "darurat"})
# Requests a told problem does not turn into a report (a status, a person, a deletion, a training).
KEEPS_ITS_INTENT = frozenset(
    {"lapor_masalah", "darurat", "cek_status", "minta_petugas", "hapus_data", "daftar_pelatihan", "batal_pelatihan"}
)


@dataclass(frozen=True)
class Meaning:
    intent: str
    confidence: float
    question: bool


STORY_WORDS = 20
# NLU's small-talk intents; typed as a question this long, the message asks something.
SMALL_TALK_INTENTS = frozenset({"menu", "sapa", "terima_kasih"})
LONG_QUESTION_WORDS = 5


def what_was_meant(lexicon: reading.Lexicon, text: str, intent: str, confidence: float, threshold: float) -> Meaning:
    """NLU's intent corrected by what the words plainly say (see the module's order)."""
    if (
        len(text.split()) >= STORY_WORDS
        and (intent in REPORTING or reading.tells_a_problem(lexicon, text))
        and reading.asks_for_help(lexicon, text)
    ):
        # A long story of a problem that ends "sy ga tau harus gmn, tlg dicatat ya":
        # a report, though it holds a question word (issue 23).
        return Meaning(REPORT, max(confidence, threshold), False)
    question = reading.looks_like_question(lexicon, text) and not reading.opens_with_report_request(lexicon, text)
    if not question and intent not in KEEPS_ITS_INTENT and reading.tells_a_problem(lexicon, text):
        return Meaning(REPORT, max(confidence, threshold), question)
    if not question and intent != REPORT and reading.asks_to_report(lexicon, text):
        return Meaning(REPORT, max(confidence, threshold), question)
    return Meaning(intent, confidence, question)


def answer_instead(lexicon: reading.Lexicon, text: str, meaning: Meaning) -> bool:
    """Whether a question should be answered rather than acted on: a question
    never opens a report, a status card or a deletion; a registration question
    that names no training ("anak sma udah bisa daftar?") is about migrating.
    A question about one's own report ("status ADU-ZZ9Q gimana") gets the card."""
    if not meaning.question:
        return False
    if meaning.intent == "cek_status":
        return not reading.asks_about_own_report(lexicon, text)
    if meaning.intent == "daftar_pelatihan":
        return not reading.names_training(lexicon, text)
    long_question = len(text.split()) >= LONG_QUESTION_WORDS
    if meaning.intent in SMALL_TALK_INTENTS:
        # "what if kena abuse, safe travel can help?" read as "menu": a greeting,
        # thanks or menu request is a few words, not a question of five or more.
        return long_question
    if meaning.intent == "info_pelatihan":
        # "aplikasi safe travel itu gunanya buat apa aja?" names no training.
        return long_question and not reading.names_training(lexicon, text)
    if meaning.intent == "batal_pelatihan":
        # "jd pembantu ke bahrain bisa ga lewat pt": no cancel word, no cancellation.
        return long_question and not reading.says_cancel(lexicon, text)
    return meaning.intent in ASKED_NOT_DONE

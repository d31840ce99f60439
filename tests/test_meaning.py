"""flows/meaning.py: NLU's intent corrected by what the words plainly say, in
the documented order (issue 23). Pure functions over the real word lists of
content/words.yml: no model needed, so each priority is pinned down here."""

from __future__ import annotations

import pytest

from bot.config import PROJECT_ROOT
from flows import reading
from flows.meaning import Meaning, answer_instead, what_was_meant

LEXICON = reading.load_lexicon(PROJECT_ROOT / "content")
THRESHOLD = 0.55


def meant(text: str, intent: str, confidence: float = 0.99) -> Meaning:
    return what_was_meant(LEXICON, text, intent, confidence, THRESHOLD)


@pytest.mark.parametrize(
    "text,intent",
    [
        ("klo balik cuti kudu lapor nang kantor desa ora?", "lapor_masalah"),
        ("data pmi disimpen ing kbri, kedah lapor diri teu?", "hapus_data"),
        ("kalau hp hilang di sana laporannya ke mana ya", "cek_status"),
        ("boleh ngobrol sama petugas kbri soal kontrak ga?", "minta_petugas"),
    ],
)
def test_a_question_is_answered_whatever_nlu_thought_it_would_do(text: str, intent: str) -> None:
    meaning = meant(text, intent)
    assert meaning.question and answer_instead(LEXICON, text, meaning)


def test_a_question_about_ones_own_report_gets_the_status_card() -> None:
    meaning = meant("laporan saya kemarin sudah sampai mana ya?", "cek_status")
    assert meaning.question and not answer_instead(LEXICON, "laporan saya kemarin sudah sampai mana ya?", meaning)


def test_a_registration_question_that_names_a_training_registers() -> None:
    text = "daftar kursus jahit caranya gimana?"
    assert not answer_instead(LEXICON, text, meant(text, "daftar_pelatihan"))
    other = "adik sy lulus smk udah bisa daftar belum?"
    assert answer_instead(LEXICON, other, meant(other, "daftar_pelatihan"))


@pytest.mark.parametrize(
    "text,intent",
    [
        ("bojoku nang taiwan gajine durung dibayar telung sasi", "tanya_pelindungan"),
        ("paspor adik saya ditahan agen di malaysia", "tanya_syarat"),
        ("salaki abdi teu aya kabar dua minggu", "tanya_prosedur"),
    ],
)
def test_a_told_problem_is_a_report_though_it_sounds_like_a_topic(text: str, intent: str) -> None:
    meaning = meant(text, intent, confidence=0.4)
    assert meaning.intent == "lapor_masalah" and meaning.confidence >= THRESHOLD and not meaning.question


def test_a_report_asked_for_first_stays_a_report_when_a_question_follows() -> None:
    text = "pak saya mau lapor, anak saya di hongkong dipotong gajinya terus, itu buat apa ya?"
    meaning = meant(text, "tanya_biaya")
    assert meaning.intent == "lapor_masalah" and not meaning.question
    assert not answer_instead(LEXICON, text, meaning)


def test_a_plain_information_question_keeps_its_intent() -> None:
    text = "syarat umur jadi pmi berapa?"
    meaning = meant(text, "tanya_syarat")
    assert meaning == Meaning("tanya_syarat", 0.99, True) and not answer_instead(LEXICON, text, meaning)

"""The readers of flows/reading.py on the way people actually type, in
Indonesian, Javanese and Sundanese (at least ten natural forms per kind)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.content import ContentError
from flows import reading

LEXICON = reading.load_lexicon(PROJECT_ROOT / "content")

YES = [
    "iya", "iya boleh", "ya udah boleh", "oke deh", "nggih", "inggih monggo", "muhun", "mangga", "setuju",
    "boleh, tapi jangan disebar ya", "gpp", "ga papa kok", "siap", "yes", "hooh", "iyo", "sae", "saya setuju",
]
NO = [
    "nggak deh, takut datanya kemana-mana", "ga mau", "tidak", "jangan", "mboten purun", "ora gelem", "henteu",
    "moal ah", "teu daek", "emoh", "belum", "nanti aja", "ga usah", "tidak setuju", "wegah aku", "no",
]
DONT_KNOW = [
    "ga tau", "tidak tahu", "gatau", "belum tahu", "ora ngerti", "mboten ngertos", "teu terang", "lupa",
    "gak inget namanya", "ga ada", "kirang terang", "ora reti",
]
QUESTIONS = [
    "lho emang bikin paspor harus bayar?", "berapa biaya ke taiwan", "gimana caranya ngecek PT resmi",
    "datanya buat apa", "nek budhal entek piro?", "kumaha carana daftar", "sabaraha biayana ka korea",
    "piye carane ngurus paspor", "apakah harus ke disnaker dulu", "mau tanya syaratnya apa aja",
    "kapan pelatihannya dimulai", "siapa yang bakal baca laporan ini",
]
NOT_QUESTIONS = ["Siti Aminah", "PT Maju Jaya", "Budi Santoso bin Slamet", "gaji tiga bulan belum dibayar", "malaysia"]
RELATIVES = {
    "kakak saya": "saudara", "adikku": "saudara", "adik ipar saya": "saudara", "bojoku": "suami_istri",
    "suami saya": "suami_istri", "istri kulo": "suami_istri", "anak saya": "anak", "anake kulo": "anak",
    "ibu saya": "orang_tua", "bapakku": "orang_tua", "emak aku": "orang_tua", "tetangga saya": "lainnya",
    "teteh abdi": "saudara", "pamajikan abdi": "suami_istri",
}
DURATIONS = {
    "udah 2 mingguan": 14, "rong minggu": 14, "sebulan": 30, "3 hari": 3, "kemarin": 1, "sabulan": 30,
    "lagi telung dino": 3, "hampir 2 bulan": 60, "udah setahun": 365, "berbulan bulan": 60, "lima hari": 5,
    "seminggu lebih": 7, "wis patang sasi": 120,
}


@pytest.mark.parametrize("text", YES)
def test_yes_in_words(text: str) -> None:
    assert reading.yes_or_no(LEXICON, text) is True


@pytest.mark.parametrize("text", NO)
def test_no_in_words(text: str) -> None:
    assert reading.yes_or_no(LEXICON, text) is False


@pytest.mark.parametrize("text", DONT_KNOW)
def test_dont_know_in_words(text: str) -> None:
    assert reading.says_dont_know(LEXICON, text)
    assert reading.yes_or_no(LEXICON, text) in (None, False)  # never a yes


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_are_not_answers(text: str) -> None:
    assert reading.looks_like_question(LEXICON, text)


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_plain_answers_are_not_questions(text: str) -> None:
    assert not reading.looks_like_question(LEXICON, text)


@pytest.mark.parametrize(("text", "relation"), RELATIVES.items())
def test_relatives_of_the_writer(text: str, relation: str) -> None:
    assert reading.relative_in(LEXICON, text) == relation


@pytest.mark.parametrize(
    "text",
    [
        "Ibu, mau tanya", "mas, gimana caranya", "saya sendiri", "aku dipukul",
        # The operator addressed first, then the writer's own story: the writer is the worker.
        "teh abdi teu meunang kaluar ti imah", "kak aku dikunciin di kamar sama bos", "mas kula mboten angsal medal",
        "mbak, saya di sini ga digaji",
    ],
)
def test_address_terms_alone_are_not_relatives(text: str) -> None:
    assert reading.relative_in(LEXICON, text) is None


@pytest.mark.parametrize(("text", "days"), DURATIONS.items())
def test_durations_in_words(text: str, days: int) -> None:
    assert reading.duration_days(LEXICON, text) == days


CONTACT = [("chat_ini", "Lewat chat ini saja", ["chat", "lewat sini", "wa"]), ("telepon", "Telepon ke nomor HP lain", ["telpon", "telepon", "nomor lain"])]


@pytest.mark.parametrize(
    ("text", "value"),
    [("telpon aja", "telepon"), ("lewat sini aja", "chat_ini"), ("di wa ini", "chat_ini"), ("ditelepon ke nomor lain", "telepon"), ("chat", "chat_ini")],
)
def test_options_by_words(text: str, value: str) -> None:
    assert reading.option_by_words(text, CONTACT) == value


def test_a_message_fitting_two_options_is_asked_again() -> None:
    assert reading.option_by_words("chat atau telpon terserah", CONTACT) is None


@pytest.mark.parametrize(
    ("text", "cue"),
    [("kakak saya dikurung terus diancam", True), ("akun wa saya dikunci", False), ("paspor saya ditahan agen", False), ("dia ditahan polisi", True)],
)
def test_danger_cues_and_their_exceptions(text: str, cue: bool) -> None:
    assert reading.has_danger_cue(LEXICON, text) is cue


def test_an_unquoted_yes_in_words_yml_is_refused(tmp_path: Path) -> None:
    """YAML reads a bare yes/no as a boolean: the file must say so, not lose the word."""
    shutil.copytree(PROJECT_ROOT / "content", tmp_path / "content")
    words = tmp_path / "content" / "words.yml"
    words.write_text(words.read_text(encoding="utf-8").replace('"yes", ', "yes, ", 1), encoding="utf-8")
    reading.load_lexicon.cache_clear()
    try:
        with pytest.raises(ContentError, match="tanda kutip"):
            reading.load_lexicon(tmp_path / "content")
    finally:
        reading.load_lexicon.cache_clear()


# --- issue 23: steering words wrapped in fillers, questions wherever the question word stands ---
STEERING_WITH_FILLERS = {
    "eh udah deh ga jadi aja, lain kali": "cancel",
    "hmm kayaknya nanti aja deh min": "later",  # the answers are kept for later
    "ntar aja deh, sy tanya suami dulu": "later",
    "ah nanti dulu deh ga jadi": "cancel",  # a cancel word wins over a later one
    "iya deh batal aja": "cancel",
    "wis ah ra sido": "cancel",
    "muhun teu jadi atuh": "cancel",
    "tolong hapusin aja data saya ya kak": "delete_data",
    "data sy dihapus aja ya min, takut": "delete_data",
    "mending ngobrol sama orang aja deh bisa ga": "agent",
    "sama petugasnya aja pak": "agent",
    "udah jangan kirimin pesan lagi ya": "unsubscribe",
    "eh salah ketik": "back",
}
NOT_STEERING = [
    "kalau ga jadi berangkat uangnya balik ga?",  # a question, not a cancel
    "ga usah bayar kan kalau lewat p3mi?",
    "iya", "ya", "Siti Aminah", "anak saya mau keluar dari majikan",
]
QUESTIONS_ANYWHERE = [
    "pas pulang cuti wajib lapor ke kantor desa ga", "paspor ilang lapor nangdi", "data abdi disimpen dimana",
    "kudu izin bojo ora", "pindah majikan kenging teu",
]


@pytest.mark.parametrize("text,kind", STEERING_WITH_FILLERS.items())
def test_steering_words_are_read_through_the_fillers(text: str, kind: str) -> None:
    assert reading.steering(LEXICON, text) == kind


@pytest.mark.parametrize("text", NOT_STEERING)
def test_questions_and_answers_that_contain_a_steering_word_do_not_steer(text: str) -> None:
    assert reading.steering(LEXICON, text) in (None,)


@pytest.mark.parametrize("text", QUESTIONS_ANYWHERE)
def test_a_question_word_at_the_end_makes_a_question(text: str) -> None:
    assert reading.looks_like_question(LEXICON, text)


def test_a_relative_named_with_a_gender_word_is_still_a_relative() -> None:
    assert reading.relative_in(LEXICON, "kakak perempuan saya di singapura") == "saudara"
    assert reading.relative_in(LEXICON, "adik lanang kula ten taiwan") == "saudara"


def test_a_village_not_in_the_list() -> None:
    assert reading.village_not_listed(LEXICON, "desa saya ga ada di daftar")
    assert reading.village_not_listed(LEXICON, "desa Karangsari")
    assert not reading.village_not_listed(LEXICON, "2")


@pytest.mark.parametrize(
    ("text", "means"),
    [
        ("nomor ini aja kak", True), ("pake nomer wa ini", True), ("lewat wa wae", True), ("nomer niki mawon", True),
        ("nomer ieu wae teh", True), ("same number", True), ("wa", True),
        ("ga punya hp", False), ("nanti saya kabari nomornya", False), ("biaya ke taiwan berapa", False),
    ],
)
def test_this_number_at_a_phone_question(text: str, means: bool) -> None:
    assert reading.means_this_number(LEXICON, text) is means


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("asuransi nanggung ga, kalo kecelakaan di kapal", True),
        ("majikan boleh motong gaji ora nek aku lara", True),
        ("sing mbayar tiket mulih sopo", True),
        ("yg ngurus visa kerja siapa", True),
        ("gaji adik saya belum, padahal udah 3 bulan", False),
        ("dia ga bisa dihubungi, hp nya mati", False),
        ("anak saya kerja di taiwan sudah 2 tahun", False),
    ],
)
def test_a_question_closed_before_an_if_clause_or_by_a_question_word(text: str, question: bool) -> None:
    assert reading.looks_like_question(LEXICON, text) is question


@pytest.mark.parametrize(
    ("text", "about"),
    [
        # questions about danger, not a danger now: answered, with the hotline under the answer
        ("tkw yang disiksa majikan di arab itu yang nolong siapa", True),
        ("kalau nanti saya dikurung majikan, harus lapor ke mana?", True),
        ("bapak sy wafat 2018, surat izinnya yg tanda tangan siapa?", True),
        # the writer's own danger, ongoing or threatened: the emergency text
        ("majikan saya selalu mukulin saya, saya harus gimana?", False),
        ("bos ngancam mau bunuh aku kalau lapor, gimana ini", False),
        ("dulu sy dipukul, sampai sekarang masih dikurung, gimana?", False),
        ("tolong, kalau saya kabur nanti ditangkap ga?", False),
    ],
)
def test_a_question_about_danger_is_told_from_a_danger_now(text: str, about: bool) -> None:
    assert reading.asks_about_danger(LEXICON, text) is about


def test_a_relatives_past_danger_asked_about_is_not_the_writers_own() -> None:
    assert reading.asks_about_danger(LEXICON, "kakak sy pernah kabur dari majikan th 2020, skrg boleh berangkat lagi?")


@pytest.mark.parametrize(
    "text,this_year,past",
    [
        ("bapak saya jarinya patah di pabrik tahun lalu, klaim asuransinya belum cair", 2026, True),
        ("dipukul majikan waktu kerja di saudi 2019, sekarang mau berangkat lagi", 2026, False),  # "sekarang"
        ("adik saya dipukul majikan 2019", 2026, True),
        ("adik saya dipukul majikan 2026", 2026, False),  # this year: may be going on
        ("adik saya dipukul majikan 2025", None, False),  # no clock, no year
        ("adik saya dipukuli majikannya bulan lalu", 2026, False),  # a month ago: may be going on
        ("paspor ditahan agen sejak tahun lalu", 2026, False),  # since: still going on
    ],
)
def test_only_a_harm_clearly_over_is_read_as_past(text: str, this_year: int, past: bool) -> None:
    assert reading.tells_past_danger(LEXICON, text, this_year) is past


@pytest.mark.parametrize(
    ("text", "about"),
    [
        # safe now: the person is at the embassy's shelter or home in Indonesia (issue 23, round 4)
        ("sepupuku kabur dari majikan, sekarang sudah di kbri, gimana cara pulangnya", True),
        ("adik kabur dari majikan kemarin, sekarang ngumpet di kamar mandi, gimana", False),
        # "masih" about other people, not about a danger going on
        ("di berita tkw dianiaya, kok masih banyak yg berangkat ke sana?", True),
        ("kakakku masih dianiaya majikan, gimana?", False),
    ],
)
def test_safe_now_and_others_are_not_a_danger_now(text: str, about: bool) -> None:
    assert reading.asks_about_danger(LEXICON, text) is about


@pytest.mark.parametrize(
    ("text", "before"),
    [("keponakan sy mau berangkat bulan depan, surat ijinnya dibawa kemana", True), ("keponakan sy di taiwan, dibawa kemana", False)],
)
def test_before_departure(text: str, before: bool) -> None:
    assert reading.before_departure(LEXICON, text) is before


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("nanti aja ya, mau nanya istri dulu", "later"),  # a question to someone else does not hide "later"
        ("sebentar ya, kwitansinya sy cari dulu", "later"),
        ("ga usah bayar kan kalau lewat p3mi?", None),  # an opening cancel phrase in a question is no cancel
        ("oke makasih, notifnya stop aja", "unsubscribe"),
        ("kula kepengin matur kaliyan tiyang, sanes mesin", "agent"),
    ],
)
def test_steering_openers_and_new_phrases(text: str, kind: str | None) -> None:
    assert reading.steering(LEXICON, text) == kind

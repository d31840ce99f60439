"""The knowledge base: content checks, the finder's quality on the held-out
questions, and answer-first conversations through the real bot (real NLU
model, real databases)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.content import ContentError, load_content
from bot.knowledge import Entry, KnowledgeFinder, load_knowledge, topic_shorts
from nlu.eval_kb import evaluate
from tests.chat import Chat

CONTENT = PROJECT_ROOT / "content"
HELDOUT = PROJECT_ROOT / "nlu" / "heldout" / "kb_heldout.yml"


@pytest.fixture(scope="module")
def entries() -> tuple[Entry, ...]:
    return load_knowledge(CONTENT / "knowledge", load_content(CONTENT))


# --- content checks ---------------------------------------------------------------
def _broken(tmp_path: Path, change: Callable[[list[dict[str, Any]]], None], file: str = "biaya.yml") -> Path:
    copy = tmp_path / "content"
    shutil.copytree(CONTENT, copy)
    path = copy / "knowledge" / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["entries"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return copy


def _load(directory: Path) -> tuple[Entry, ...]:
    return load_knowledge(directory / "knowledge", load_content(directory))


def test_all_knowledge_files_load(entries: tuple[Entry, ...]) -> None:
    assert len(entries) >= 180
    assert all(len(e.answer) <= 500 for e in entries)
    assert set(topic_shorts(load_content(CONTENT))) >= {"tanya_syarat", "tanya_biaya", "cek_agen"}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda es: es[0].pop("answer"), r"biaya\.yml -> biaya_prinsip_penempatan: kolom 'answer' wajib"),
        (lambda es: es[0].pop("sources"), r"biaya\.yml -> biaya_prinsip_penempatan: kolom 'sources' wajib"),
        (lambda es: es[1].update(id=es[0]["id"]), r"biaya\.yml -> biaya_prinsip_penempatan: id 'biaya_prinsip_penempatan' sudah dipakai"),
        (lambda es: es[0].update(intent="tanya_cuaca"), r"biaya_prinsip_penempatan: intent 'tanya_cuaca' tidak dikenal"),
        (lambda es: es[0].update(answer="x" * 501), r"biaya_prinsip_penempatan: answer 501 huruf, maksimal 500"),
        (lambda es: es[0].update(related=["tidak_ada_entri_ini"]), r"biaya_prinsip_penempatan: related 'tidak_ada_entri_ini' tidak ada"),
        (lambda es: es[0].update(answer="Hubungi {bp2m}."), r"biaya_prinsip_penempatan -> answer: isian '\{bp2m\}' tidak dikenal"),
        (lambda es: es[0].update(detail="Hubungi {nomor_agen}."), r"biaya_prinsip_penempatan -> detail: isian '\{nomor_agen\}'"),
    ],
    ids=["missing_answer", "missing_sources", "duplicate_id", "unknown_intent", "answer_too_long", "unknown_related", "placeholder_answer", "placeholder_detail"],
)
def test_broken_entries_are_named(tmp_path: Path, change: Callable[[list[dict[str, Any]]], None], message: str) -> None:
    with pytest.raises(ContentError, match=message):
        _load(_broken(tmp_path, change))


def test_duplicate_id_across_files_is_named(tmp_path: Path) -> None:
    directory = _broken(tmp_path, lambda es: es[0].update(id="agen_cek_p3mi"))
    with pytest.raises(ContentError, match=r"id 'agen_cek_p3mi' sudah dipakai di .*agen\.yml"):
        _load(directory)


def test_a_question_under_two_entries_is_named(tmp_path: Path) -> None:
    directory = _broken(tmp_path, lambda es: es[1]["questions"].append(es[0]["questions"][0]))
    with pytest.raises(ContentError, match=r"pertanyaan .* sudah ada di entri 'biaya_prinsip_penempatan'"):
        _load(directory)


def test_an_entry_needs_four_questions(tmp_path: Path) -> None:
    directory = _broken(tmp_path, lambda es: es[0].update(questions=es[0]["questions"][:3]))
    with pytest.raises(ContentError, match=r"biaya_prinsip_penempatan: minimal 4 contoh pertanyaan"):
        _load(directory)


def test_review_lists_unverified_and_stale_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from bot.cli import main
    from bot.config import Settings

    def change(es: list[dict[str, Any]]) -> None:
        es[0]["verified"] = False
        es[1]["reviewed"] = "2025-01-10"

    directory = _broken(tmp_path, change)
    monkeypatch.setenv("DESMIGRAS_TODAY", "2026-11-26")
    out = io.StringIO()
    assert main(["knowledge", "review"], out=out, settings=Settings(content_dir=directory)) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("perlu dilihat: 2")
    assert "biaya_prinsip_penempatan" in lines[1] and "belum diverifikasi" in lines[1]
    assert "ditinjau 2025-01-10 (22 bulan lalu)" in lines[2]


# --- finder quality -------------------------------------------------------------------
def test_finder_quality_on_heldout_questions() -> None:
    """Floors slightly under what nlu.eval_kb measured (top-1 0.874, top-3 0.961,
    clear 0.63 with 0.98 accuracy, first message p95 433 chars)."""
    figures = evaluate(HELDOUT)
    assert figures["top1"] >= 0.85
    assert figures["top3"] >= 0.95
    assert figures["clear_share"] >= 0.55
    assert figures["clear_accuracy"] >= 0.95
    assert figures["length_p95"] <= 500


def test_intent_hint_does_not_override_a_clearly_better_entry(entries: tuple[Entry, ...]) -> None:
    finder = KnowledgeFinder(entries)
    plain = finder.find("jadi pmi harus bayar biaya penempatan gak")
    hinted = finder.find("jadi pmi harus bayar biaya penempatan gak", intent="tanya_usaha")
    assert plain.clear and plain.best is not None
    assert hinted.best == plain.best


def test_country_prefers_entries_for_that_country(entries: tuple[Entry, ...]) -> None:
    match = KnowledgeFinder(entries).find("kerja disana resmi lewat apa", None, "brunei")
    assert match.best is not None and "brunei" in match.best.countries


# --- conversations -------------------------------------------------------------------
def _entry_with_answer(bot, text: str) -> Entry:  # type: ignore[no-untyped-def]
    for entry in load_knowledge(CONTENT / "knowledge", bot.content):
        if bot.content.fill(entry.answer) in text:
            return entry
    raise AssertionError(f"not an entry's answer: {text!r}")


def test_cost_question_gets_a_short_answer_then_source_and_detail(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    replies = chat.send("jadi pmi harus bayar biaya penempatan gak")
    first = replies[0].as_plain_text()
    assert len(first) <= 600
    assert "Sumber" not in first
    entry = _entry_with_answer(bot, first)
    assert entry.intent == "tanya_biaya" and entry.detail
    labels = [o.label for o in replies[-1].options]
    assert labels[:2] == ["Penjelasan lengkap", "Sumber"]

    calls = bot.classifier.calls
    source = chat.says("2")
    assert "Sumber info ini" in source and entry.sources[0] in source and f"Ditinjau {entry.reviewed}" in source
    detail = chat.says("1")
    assert bot.content.fill(entry.detail) in detail
    assert bot.classifier.calls == calls, "choosing an option needs no NLU"
    assert bot.content.fill(entry.detail) in chat.says("lengkap")
    assert "Sumber info ini" in chat.says("sumbernya apa")


def test_follow_up_question_about_another_country(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    chat.send("jadi pmi harus bayar biaya penempatan gak")
    reply = chat.says("kalau brunei?")
    assert "Brunei" in reply
    assert len(chat.history[-1][1][0].text) <= 600


def test_country_note_is_offered_once(chat: Chat) -> None:
    first = chat.send("berapa biaya ke taiwan")
    assert "Catatan untuk Taiwan" in first[-1].as_plain_text()
    second = chat.send("potongan gaji di taiwan berapa")
    assert len(second) == 2 and second[-1].options, "an answer and its options"
    assert not any("Catatan untuk" in r.as_plain_text() for r in second)


def test_country_note_option_shows_the_note(chat: Chat) -> None:
    replies = chat.send("berapa biaya ke taiwan")
    number = [o.label for o in replies[-1].options].index("Catatan untuk Taiwan") + 1
    assert "Catatan untuk Taiwan" in chat.says(str(number))


def test_ambiguous_question_asks_which_and_answers_the_choice(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    replies = chat.send(AMBIGUOUS)
    assert "Maksud Anda" in replies[-1].text
    assert len(replies[-1].options) == 3
    chosen = replies[-1].options[1]
    answer = chat.send("2")
    entry = _entry_with_answer(bot, answer[0].text)
    assert entry.title == chosen.label


def test_menu_choice_gets_the_short_topic_answer(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    chat.send("halo")
    replies = chat.send("3")  # Biaya penempatan
    assert len(replies[0].text) <= 450 and "Pasal 30" in replies[0].text
    assert "Sumber" not in replies[0].text
    assert "Bapak/Ibu, menurut UU No. 18 Tahun 2017 Pasal 30" in chat.says("1"), "the long topic text on request"


AMBIGUOUS = "paspor gimana"


# --- words with the same meaning (content/same_words.yml) ----------------------------------
def test_same_words_read_regional_words_as_the_standard_one(tmp_path: Path) -> None:
    from bot.knowledge import load_same_words

    table = load_same_words(CONTENT / "same_words.yml")
    assert table["yuswa"] == "umur" and table["leungit"] == "hilang" and table["kudu"] == "harus"
    # "mati" is not "meninggal": a passport or a phone "mati" has expired or is off.
    assert "mati" not in table


def test_a_word_listed_under_two_standard_words_is_refused(tmp_path: Path) -> None:
    from bot.knowledge import load_same_words

    path = tmp_path / "same_words.yml"
    path.write_text("same_words:\n  umur: [usia]\n  tahun: [usia]\n", encoding="utf-8")
    with pytest.raises(ContentError, match="usia"):
        load_same_words(path)
    path.write_text("same_words:\n  benar: [bener, true]\n", encoding="utf-8")
    with pytest.raises(ContentError, match="benar"):
        load_same_words(path)


def test_the_finder_reads_a_sundanese_age_question_like_an_indonesian_one(entries: tuple[Entry, ...]) -> None:
    from bot.knowledge import load_same_words

    finder = KnowledgeFinder(entries, same_words=load_same_words(CONTENT / "same_words.yml"))
    assert finder.prepare("Yuswa kedah sabaraha?") == "umur harus berapa"
    assert finder.find("yuswa minimal kangge daftar pmi pinten").best.id == "syarat_usia_minimal"

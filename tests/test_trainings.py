"""Trainings: catalogue, registration conversations, seats and waitlist under
concurrency, cancellation, reminders, organiser tools.

Everything runs through the real core, the real NLU model and real databases
(SQLite and PostgreSQL). The clock starts on 2026-11-23 10:00 WIB so the
example schedule in content/trainings.yml is in the future.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from alembic import command
from sqlalchemy import select

from bot import cli
from bot.app import Bot, build_bot
from bot.clock import ManualClock
from bot.config import PROJECT_ROOT
from bot.content import ContentError
from bot.messages import Inbound, Outbound
from bot.storage.db import alembic_config, make_engine, migrate
from bot.storage.models import Contact, InboundMessage, OutboundMessage
from bot.storage.training_models import Training, TrainingRegistration
from bot.domain.catalog_file import catalog_for, load_catalog
from bot.domain.trainings import registrants_report
from tests.chat import Chat
from tests.conftest import make_settings

CONTENT = PROJECT_ROOT / "content"
BATIK = "batik-lanjutan-2026-12"
BATIK_START_UTC = datetime(2026, 12, 8, 1, 0)  # 08:00 WIB
CODE = re.compile(r"PLT-[A-Z2-9]{4}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 3, 0))


# --- helpers -------------------------------------------------------------------
def edited_content(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of content/ whose trainings.yml was changed by `edit`."""
    target = tmp_path / "content"
    if not target.exists():
        shutil.copytree(CONTENT, target)
    path = target / "trainings.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def training_entry(data: dict[str, Any], training_id: str) -> dict[str, Any]:
    return next(entry for entry in data["trainings"] if entry["id"] == training_id)


def set_capacity(training_id: str, capacity: int) -> Callable[[dict[str, Any]], None]:
    return lambda data: training_entry(data, training_id).__setitem__("capacity", capacity)


def start(database_url: str, classifier: Any, clock: ManualClock, content_dir: Path = CONTENT) -> Bot:
    return build_bot(make_settings(database_url, content_dir=content_dir), classifier=classifier, clock=clock)


def set_village(bot: Bot, chat: Chat, code: str) -> None:
    """Test setup: the contact is known to come from `code` (as after an earlier report)."""
    chat.send("halo")
    with bot.sessions() as session, session.begin():
        contact = session.execute(select(Contact).where(Contact.address == chat.sender)).scalar_one()
        contact.village_code = code


def sign_up(chat: Chat, phone: str, name: str = "Siti Aminah", relation: str = "keluarga",
            first: str = "mau daftar pelatihan batik", training: str = "batik") -> str:
    """Go through the registration form up to and including the final confirmation."""
    reply = chat.says(first)
    if "desa mana" in reply:
        reply = chat.says("Jlamprang")
    if "Pelatihan mana" in reply:
        reply = chat.says(training)
    assert "nama lengkap" in reply, chat.transcript()
    assert "termasuk yang mana" in chat.says(name), chat.transcript()
    assert "nomor HP" in chat.says(relation), chat.transcript()
    assert "setuju" in chat.says(phone), chat.transcript()
    assert "Mohon periksa" in chat.says("ya"), chat.transcript()
    return chat.says("1")


def registrations(bot: Bot, training_id: str = BATIK) -> list[TrainingRegistration]:
    with bot.sessions() as session:
        return list(
            session.execute(
                select(TrainingRegistration)
                .where(TrainingRegistration.training_id == training_id)
                .order_by(TrainingRegistration.id)
            ).scalars()
        )


def outbox_to(bot: Bot, address: str, containing: str) -> list[OutboundMessage]:
    with bot.sessions() as session:
        rows = session.execute(
            select(OutboundMessage).where(OutboundMessage.address == address).order_by(OutboundMessage.id)
        ).scalars()
        return [row for row in rows if containing in row.text]


# --- catalogue -------------------------------------------------------------------
def test_shipped_catalog_is_valid_future_and_covers_the_village_requests() -> None:
    catalog = load_catalog(CONTENT)
    assert {t.topic for t in catalog.trainings} == {"batik", "konten_digital", "literasi_keuangan", "usaha_purna", "jahit"}
    for training in catalog.trainings:
        assert training.start_at > datetime(2026, 11, 23), training.id
        assert training.example, f"{training.id}: example schedules must be marked as such"
        assert "contoh" in training.organiser.name.lower(), training.id
        assert not re.search(r"\d{6,}", training.organiser.address), f"{training.id}: no invented phone numbers"
    for code in catalog.village_names:  # every village served has something to join
        assert any(not t.villages or code in t.villages for t in catalog.trainings), code


BROKEN_CATALOGS = [
    (lambda d: training_entry(d, BATIK).__setitem__("capacity", 0),
     rf"trainings\.yml -> trainings\[0\] \({BATIK}\) -> capacity: harus bilangan bulat"),
    (lambda d: training_entry(d, BATIK).__setitem__("start", "8 Des 2026 jam 8"),
     rf"trainings\[0\] \({BATIK}\) -> start: '8 Des 2026 jam 8' bukan tanggal"),
    (lambda d: training_entry(d, BATIK).__setitem__("end", "2026-12-07 08:00"),
     rf"\({BATIK}\) -> end: harus sesudah 'start'"),
    (lambda d: training_entry(d, BATIK).__setitem__("village", "atlantis"),
     rf"\({BATIK}\) -> village: desa 'atlantis' tidak ada di villages\.yml"),
    (lambda d: training_entry(d, BATIK).__setitem__("audiences", ["tki"]),
     rf"\({BATIK}\) -> audiences: 'tki' tidak dikenal"),
    (lambda d: training_entry(d, BATIK).__setitem__("topic", "masak"),
     rf"\({BATIK}\) -> topic: 'masak' tidak ada"),
    (lambda d: training_entry(d, BATIK).pop("organiser"),
     rf"\({BATIK}\) -> organiser: wajib diisi"),
    (lambda d: training_entry(d, BATIK)["organiser"].__setitem__("channel", "sms"),
     rf"\({BATIK}\) -> organiser -> channel: 'sms' tidak dikenal"),
    (lambda d: d["trainings"].append(dict(training_entry(d, BATIK))),
     rf"trainings\[6\] \({BATIK}\) -> id: kode '{BATIK}' dobel"),
    (lambda d: d["settings"].__setitem__("reminder_hours_before", "sehari"),
     r"trainings\.yml -> settings -> reminder_hours_before: harus angka"),
    (lambda d: d["texts"].pop("pelatihan_reminder"),
     r"trainings\.yml -> texts -> pelatihan_reminder: teks wajib diisi"),
]


@pytest.mark.parametrize("edit, message", BROKEN_CATALOGS)
def test_malformed_catalog_names_file_entry_and_field(tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ContentError, match=message):
        load_catalog(edited_content(tmp_path, edit))


def test_form_participant_choices_must_be_catalog_audiences(tmp_path: Path) -> None:
    content_dir = edited_content(tmp_path, lambda data: None)
    form = content_dir / "flows" / "daftar_pelatihan.yml"
    form.write_text(form.read_text(encoding="utf-8").replace("value: calon_pmi", "value: calon"), encoding="utf-8")
    with pytest.raises(ContentError, match=r"daftar_pelatihan\.yml -> steps\[3\] \(hubungan\) -> options: nilai 'calon'"):
        load_catalog(content_dir)


def test_bot_refuses_to_start_with_a_malformed_catalog(tmp_path: Path, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    content_dir = edited_content(tmp_path, set_capacity(BATIK, -5))
    with pytest.raises(ContentError, match=r"-> capacity"):
        start(f"sqlite:///{tmp_path / 'x.sqlite3'}", classifier, clock, content_dir)


# --- information -----------------------------------------------------------------
def test_info_lists_upcoming_trainings_for_the_persons_village(chat: Chat, bot: Bot) -> None:
    set_village(bot, chat, "jlamprang")
    reply = chat.send("ada pelatihan apa aja min")[-1]
    assert "untuk warga *Desa Jlamprang*" in reply.text
    assert [o.value for o in reply.options] == [
        "pelatihan:batik-lanjutan-2026-12",
        "pelatihan:literasi-keuangan-2026-12",
        "pelatihan:konten-digital-2027-01",
        "pelatihan:menjahit-2027-02",
        "pelatihan:usaha-purna-wonosobo-2027-02",
        "menu",
    ], "only trainings open to Jlamprang, in date order, then the menu"
    assert "Selasa–Kamis, 8–10 Desember 2026, pukul 08.00–15.00 WIB" in reply.text
    assert "Sisa 20 dari 20 kursi" in reply.text
    assert "masih contoh" in reply.text
    assert "1. Daftar Batik Tulis Lanjutan (8 Desember)" in reply.as_plain_text()


def test_info_entity_narrows_the_list_and_unknown_village_lists_all_named(chat: Chat, bot: Bot) -> None:
    reply = chat.send("pelatihan jahit ada ga")[-1]
    assert [o.value for o in reply.options] == ["pelatihan:menjahit-2027-02", "menu"]
    assert "Desa Anda belum kami ketahui" in reply.text
    assert "Peserta dari: Desa Jlamprang, Desa Lipursari, Desa Tracap" in reply.text

    everything = chat.send("info pelatihan dong")[-1]
    assert "pelatihan:usaha-purna-lampung-2027-01" in [o.value for o in everything.options]
    assert "Peserta dari: Desa Sumbergede" in everything.text
    assert "Peserta dari: semua desa" in everything.text


# --- registering -------------------------------------------------------------------
def test_whole_registration_with_the_training_named_in_the_first_message(chat: Chat, bot: Bot) -> None:
    set_village(bot, chat, "jlamprang")
    first = chat.says("mau daftar pelatihan batik")
    assert "nama lengkap peserta" in first, "village known and one batik training: nothing else to ask first"
    assert "termasuk yang mana" in chat.says("Siti Aminah")
    assert "nomor HP peserta" in chat.says("keluarga")
    bad = chat.says("12345")
    assert "Nomor HP belum benar" in bad and "081234567890" in bad
    assert "setuju" in chat.says("0812-3456-7890")
    summary = chat.says("ya")
    assert "Pelatihan: Batik Tulis Lanjutan" in summary
    assert "Nomor HP peserta: +6281234567890" in summary
    assert "Desa: Desa Jlamprang" in summary
    done = chat.says("1")
    assert "Pendaftaran berhasil" in done and "Balai Desa Jlamprang" in done
    assert "Selasa–Kamis, 8–10 Desember 2026" in done and "24 jam" in done

    [registration] = registrations(bot)
    assert CODE.fullmatch(registration.code) and registration.code in done
    assert (registration.status, registration.phone, registration.relation) == ("confirmed", "+6281234567890", "keluarga_pmi")
    assert registration.participant_name == "Siti Aminah" and registration.village_code == "jlamprang"
    assert registration.remind_at == BATIK_START_UTC - timedelta(hours=24) and registration.reminded_at is None
    assert "Sisa 19 dari 20 kursi" in chat.says("info pelatihan batik")


def test_family_member_registers_from_the_numbered_list_and_village_is_asked(chat: Chat, bot: Bot) -> None:
    chat.send("info pelatihan")
    reply = chat.says("2")  # Literasi Keuangan, open to every village
    assert "desa mana" in reply
    assert "nama lengkap" in chat.says("sumbergede")
    chat.says("Pak Darto")
    chat.says("1")  # purna PMI
    chat.says("+62 813-1111-2222")
    assert "Literasi Keuangan Keluarga Migran" in chat.says("setuju")
    assert "Pendaftaran berhasil" in chat.says("ya")
    [registration] = registrations(bot, "literasi-keuangan-2026-12")
    assert (registration.participant_name, registration.phone, registration.relation) == (
        "Pak Darto", "+6281311112222", "purna_pmi")
    with bot.sessions() as session:
        contact = session.execute(select(Contact).where(Contact.address == chat.sender)).scalar_one()
    assert contact.village_code == "sumbergede", "the village answer is remembered for next time"


def test_same_phone_cannot_register_twice_for_the_same_training(chat: Chat, bot: Bot) -> None:
    first = sign_up(chat, "081234567890")
    code = CODE.search(first).group(0)
    again = sign_up(chat, "+62 812 3456 7890", name="Siti A.")
    assert "sudah terdaftar" in again and code in again and "sudah dapat kursi" in again
    other = sign_up(chat, "085700001111", name="Rina (anak Siti)")
    assert "Pendaftaran berhasil" in other, "another family member with their own number may join"
    assert [r.phone for r in registrations(bot)] == ["+6281234567890", "+6285700001111"]


def test_eligibility_and_village_are_checked(chat: Chat, bot: Bot) -> None:
    set_village(bot, chat, "sumbergede")
    assert "nama lengkap" in chat.says("daftar pelatihan usaha purna pmi")
    chat.says("Budi Santoso")
    # Told at the status question, before a phone number and consent are asked for.
    refused = chat.says("calon")
    assert "hanya untuk purna PMI" in refused and "belum bisa kami simpan" in refused
    assert "nomor HP" not in refused and "setuju" not in refused
    assert registrations(bot, "usaha-purna-lampung-2027-01") == []


def test_unknown_training_and_bad_answers_get_clear_help(chat: Chat, bot: Bot) -> None:
    set_village(bot, chat, "sumbergede")
    not_here = chat.says("daftar pelatihan jahit")
    assert "pelatihan *Menjahit* belum ada jadwalnya untuk Desa Sumbergede" in not_here
    assert "1. Literasi Keuangan Keluarga Migran" in not_here  # the other choices follow
    help_text = chat.says("pelatihan masak")
    assert "Mohon pilih salah satu nomor 1 sampai 2" in help_text
    assert "Pelatihan mana" in help_text, "the question is asked again with its list"
    assert "nama lengkap" in chat.says("literasi keuangan"), "a training can be chosen by name"


# --- seats, waitlist and cancellation ---------------------------------------------
def test_full_training_waitlists_and_a_cancellation_promotes_and_notifies(
    tmp_path: Path, database_url: str, classifier, clock  # type: ignore[no-untyped-def]
) -> None:
    bot = start(database_url, classifier, clock, edited_content(tmp_path, set_capacity(BATIK, 1)))
    ani, budi, citra = (Chat(bot, sender=f"62812000000{n}") for n in (1, 2, 3))
    assert "Pendaftaran berhasil" in sign_up(ani, "081200000001", name="Ani")
    waiting = sign_up(budi, "081200000002", name="Budi")
    assert "daftar tunggu urutan ke-1" in waiting and "sudah penuh" in waiting
    assert "daftar tunggu urutan ke-2" in sign_up(citra, "081200000003", name="Citra")
    budi_code = CODE.search(waiting).group(0)

    selected = ani.says("saya mau batalkan pendaftaran pelatihan")
    assert "Batik Tulis Lanjutan, peserta Ani" in selected and "Yakin" in selected
    assert "sudah dibatalkan" in ani.says("ya")

    statuses = [(r.participant_name, r.status) for r in registrations(bot)]
    assert statuses == [("Ani", "cancelled"), ("Budi", "confirmed"), ("Citra", "waitlisted")]
    [notice] = outbox_to(bot, budi.sender, "Kabar baik")
    assert notice.channel == "console" and budi_code in notice.text and "Budi" in notice.text
    assert outbox_to(bot, citra.sender, "Kabar baik") == []
    with bot.sessions() as session:
        report = registrants_report(session, BATIK, catalog_for(bot.settings.content_dir))
    assert "Terdaftar 1 dari 1 kursi · daftar tunggu 1 · batal 1" in report
    assert "1. Budi · +6281200000002" in report and "1. Citra · +6281200000003" in report
    bot.engine.dispose()


def test_cancel_by_code_or_by_choosing_from_own_registrations(chat: Chat, bot: Bot) -> None:
    batik = CODE.search(sign_up(chat, "081234567890")).group(0)
    money = CODE.search(sign_up(chat, "081234567890", first="mau ikut kelas literasi keuangan",
                                training="literasi keuangan")).group(0)
    unknown = chat.says("batal daftar PLT-ZZZZ")
    assert "Kode *PLT-ZZZZ* tidak ada di pendaftaran Anda" in unknown
    assert batik in unknown and money in unknown, "the person's own registrations are offered"
    assert "Yakin" in chat.says("2")
    assert "tetap berlaku" in chat.says("tidak")
    assert f"Pendaftaran *{batik}*" in chat.says(f"batal daftar {batik}")
    assert "sudah dibatalkan" in chat.says("ya")
    assert [r.status for r in registrations(bot)] == ["cancelled"]
    assert [r.status for r in registrations(bot, "literasi-keuangan-2026-12")] == ["confirmed"]
    other = Chat(bot, sender="6289900000009")
    assert "belum punya pendaftaran" in other.says(f"batal daftar {money}"), "codes of others cannot be cancelled"


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_fifty_concurrent_registrations_for_ten_seats(
    backend: str, request, tmp_path: Path, classifier, clock  # type: ignore[no-untyped-def]
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'c.sqlite3'}"
    bot = start(url, classifier, clock, edited_content(tmp_path, set_capacity(BATIK, 10)))
    people = [Chat(bot, sender=f"6285{n:08d}") for n in range(50)]
    for n, person in enumerate(people):  # everyone waits at "Apakah sudah benar?"
        person.send("mau daftar pelatihan batik")
        for answer in ("Jlamprang", "1", f"Peserta {n}", "keluarga", f"0857{n:08d}"):
            person.send(answer)
        assert "Mohon periksa" in person.says("ya"), person.transcript()

    barrier = threading.Barrier(len(people))
    replies: dict[str, list[Outbound]] = {}

    def press_send(person: Chat) -> None:
        inbound = Inbound(channel="console", sender=person.sender, text="1", message_id=f"final-{person.sender}")
        barrier.wait()
        replies[person.sender] = bot.core.handle(inbound)

    threads = [threading.Thread(target=press_send, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    rows = registrations(bot)
    assert Counter(r.status for r in rows) == {"confirmed": 10, "waitlisted": 40}, "never more seats than capacity"
    assert [r.status for r in rows] == ["confirmed"] * 10 + ["waitlisted"] * 40, "seats go first come, first served"
    said = {sender: " ".join(r.text for r in out) for sender, out in replies.items()}
    assert sum("Pendaftaran berhasil" in text for text in said.values()) == 10
    positions = {}
    for row in rows[10:]:
        found = re.search(r"urutan ke-(\d+)", said[f"6285{int(row.phone[-8:]):08d}"])
        positions[row.id] = int(found.group(1))
    assert [positions[r.id] for r in rows[10:]] == list(range(1, 41)), "each told their true place in the queue"
    with bot.sessions() as session:
        assert session.execute(select(InboundMessage).where(InboundMessage.error.is_not(None))).first() is None
    bot.engine.dispose()


# --- reminders ------------------------------------------------------------------------
def test_reminder_fires_once_survives_restart_and_skips_cancelled(
    database_url: str, classifier, clock  # type: ignore[no-untyped-def]
) -> None:
    bot = start(database_url, classifier, clock)
    ani, budi = Chat(bot, sender="6281200000001"), Chat(bot, sender="6281200000002")
    ani_code = CODE.search(sign_up(ani, "081200000001", name="Ani")).group(0)
    sign_up(budi, "081200000002", name="Budi")
    budi.send("batal pelatihan")
    assert "sudah dibatalkan" in budi.says("ya")

    bot.run_timers()
    clock.advance(BATIK_START_UTC - timedelta(hours=24, minutes=1) - clock.now())
    bot.run_timers()
    assert outbox_to(bot, ani.sender, "Pengingat") == [], "not before the configured 24 hours"

    clock.advance(timedelta(minutes=2))
    assert bot.run_timers() >= 1
    [reminder] = outbox_to(bot, ani.sender, "Pengingat")
    assert ani_code in reminder.text and "Balai Desa Jlamprang" in reminder.text and "Ani" in reminder.text
    bot.run_timers()
    assert len(outbox_to(bot, ani.sender, "Pengingat")) == 1, "exactly once"
    bot.engine.dispose()

    restarted = start(database_url, classifier, clock)  # the process restarts
    clock.advance(timedelta(hours=1))
    restarted.run_timers()
    assert len(outbox_to(restarted, ani.sender, "Pengingat")) == 1, "not again after a restart"
    assert outbox_to(restarted, budi.sender, "Pengingat") == [], "never after a cancellation"
    restarted.engine.dispose()


# --- catalogue changes, privacy, organisers ----------------------------------------
def test_catalog_changes_take_effect_at_next_start(
    tmp_path: Path, database_url: str, classifier, clock  # type: ignore[no-untyped-def]
) -> None:
    content_dir = edited_content(tmp_path, set_capacity(BATIK, 1))
    bot = start(database_url, classifier, clock, content_dir)
    sign_up(Chat(bot, sender="6281200000001"), "081200000001", name="Ani")
    budi = Chat(bot, sender="6281200000002")
    assert "daftar tunggu" in sign_up(budi, "081200000002", name="Budi")
    bot.engine.dispose()

    def grow_and_add(data: dict[str, Any]) -> None:
        training_entry(data, BATIK)["capacity"] = 2
        training_entry(data, BATIK)["title"] = "Batik Tulis Lanjutan Angkatan 2"
        data["trainings"].append({**training_entry(data, BATIK), "id": "batik-cap-2027-03", "title": "Batik Cap",
                                  "start": "2027-03-02 08:00", "end": "2027-03-02 12:00"})

    restarted = start(database_url, classifier, clock, edited_content(tmp_path, grow_and_add))
    restarted.run_timers()
    assert [r.status for r in registrations(restarted)] == ["confirmed", "confirmed"]
    [notice] = outbox_to(restarted, budi.sender, "Kabar baik")
    assert "Batik Tulis Lanjutan Angkatan 2" in notice.text
    listing = Chat(restarted, sender="6281200000003").send("info pelatihan")[-1]
    assert "pelatihan:batik-cap-2027-03" in [o.value for o in listing.options]
    restarted.engine.dispose()


def test_deleting_personal_data_cancels_registrations_and_frees_the_seat(
    tmp_path: Path, database_url: str, classifier, clock  # type: ignore[no-untyped-def]
) -> None:
    bot = start(database_url, classifier, clock, edited_content(tmp_path, set_capacity(BATIK, 1)))
    ani, budi = Chat(bot, sender="6281200000001"), Chat(bot, sender="6281200000002")
    sign_up(ani, "081200000001", name="Ani")
    sign_up(budi, "081200000002", name="Budi")
    ani.send("hapus data saya")
    assert "sudah kami hapus" in ani.says("ya")
    first, second = registrations(bot)
    assert (first.status, first.participant_name, first.phone, first.cancel_reason) == (
        "cancelled", "[dihapus]", "dihapus", "hapus_data")
    bot.run_timers()
    assert registrations(bot)[1].status == "confirmed"
    assert len(outbox_to(bot, budi.sender, "Kabar baik")) == 1
    bot.engine.dispose()


def test_organiser_cli_lists_reports_and_exports(chat: Chat, bot: Bot, tmp_path: Path) -> None:
    sign_up(chat, "081234567890", name="Siti Aminah")
    settings = make_settings(bot.settings.database_url)

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return cli.main(list(argv), out=out, settings=settings), out.getvalue()

    code, listing = run("trainings", "list")
    assert code == 0 and f"{BATIK} | 2026-12-08 08:00 | 1/20 terdaftar, 0 tunggu | Batik Tulis Lanjutan" in listing
    code, report = run("trainings", "registrants", BATIK)
    assert code == 0 and "1. Siti Aminah · +6281234567890 · keluarga PMI · Desa Jlamprang · PLT-" in report
    target = tmp_path / "peserta.csv"
    code, said = run("trainings", "export", BATIK, "--out", str(target))
    assert code == 0 and "1 pendaftaran" in said
    [row] = list(csv.DictReader(target.open(encoding="utf-8")))
    assert (row["nama_peserta"], row["nomor_hp"], row["status"], row["desa"]) == (
        "Siti Aminah", "+6281234567890", "confirmed", "Desa Jlamprang")
    assert run("trainings", "registrants", "tidak-ada")[0] == 2  # an unknown id is a wrong argument


def test_migration_0003_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        assert connection.execute(select(Training)).all() == []
    engine.dispose()

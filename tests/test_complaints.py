"""Complaints from first message to closed case, satgas authorisation, races,
duplicate suppression and escalation timers, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import func, select

from bot.app import Bot, build_bot
from bot.config import PROJECT_ROOT
from bot.messages import Inbound
from bot.storage.complaint_models import Case, CaseEvent
from bot.storage.models import Event, OutboundMessage
from tests.chat import Chat
from tests.conftest import make_settings

SATGAS_1 = "satgas-jlamprang-1"
SATGAS_2 = "satgas-jlamprang-2"
OTHER_VILLAGE_SATGAS = "satgas-lipursari-1"


def report_unpaid_wages(chat: Chat) -> str:
    """A sister reports unpaid wages in Malaysia; returns the case code."""
    first = chat.says("gaji kakak saya di malaysia belum dibayar 3 bulan")
    assert "hanya akan dibagikan kepada *satgas PMI desa*" in first  # consent before any personal data
    # "kakak saya" already said who reports, and the message is the story: not asked again
    assert "Siapa nama pekerja" in chat.says("ya setuju")
    chat.send("Siti Aminah")
    assert "Satgas sebaiknya menghubungi" in chat.says("PT Maju Jaya, majikan Mr Tan")
    chat.send("1")  # lewat chat ini
    summary = chat.says("jlamprang")
    assert "Nama pekerja: Siti Aminah" in summary and "Negara tempat bekerja: Malaysia" in summary
    assert "Jenis masalah: Gaji tidak dibayar" in summary
    done = chat.says("1")
    match = re.search(r"ADU-[A-Z2-9]{4}", done)
    assert match, done
    return match.group(0)


def outbox_to(bot: Bot, address: str) -> list[str]:
    with bot.sessions() as session:
        return list(
            session.execute(
                select(OutboundMessage.text).where(OutboundMessage.address == address).order_by(OutboundMessage.id)
            ).scalars()
        )


def test_whole_case_from_report_to_resolution(chat: Chat, bot: Bot) -> None:
    code = report_unpaid_wages(chat)
    # both satgas of the village got the case, with the details, not the reporter's address
    for satgas in (SATGAS_1, SATGAS_2):
        alert = outbox_to(bot, satgas)[-1]
        assert code in alert and "Siti Aminah" in alert and chat.sender not in alert
    assert not any(code in text for text in outbox_to(bot, OTHER_VILLAGE_SATGAS))

    satgas = Chat(bot, sender=SATGAS_1)
    assert "Anda tangani" in satgas.says(f"ambil {code}")
    assert "sudah diambil" in outbox_to(bot, chat.sender)[-1]
    assert "diambil oleh" in outbox_to(bot, SATGAS_2)[-1]

    assert "sudah dikirim" in satgas.says(f"balas {code} Bu, kami sudah hubungi agennya. Mohon kirim foto kontrak.")
    assert "Mohon kirim foto kontrak" in outbox_to(bot, chat.sender)[-1]
    assert "diteruskan" in chat.says("baik pak nanti saya kirim fotonya sore ini")
    assert "nanti saya kirim fotonya" in outbox_to(bot, SATGAS_1)[-1]

    assert "tersimpan" in satgas.says(f"catat {code} agen janji bayar minggu depan")
    assert "ditutup" in satgas.says(f"selesai {code} gaji 3 bulan sudah dibayar agen")
    assert "gaji 3 bulan sudah dibayar" in outbox_to(bot, chat.sender)[-1]

    status = chat.says(f"cek status {code}")
    assert "Selesai" in status and "gaji 3 bulan sudah dibayar" in status

    with bot.sessions() as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
        kinds = session.execute(select(CaseEvent.kind).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).scalars().all()
    assert case.status == "selesai" and case.urgent is False
    assert kinds == ["dibuat", "diambil", "pesan_ke_pelapor", "balasan_pelapor", "catatan", "selesai"]


def test_satgas_authorisation(chat: Chat, bot: Bot) -> None:
    code = report_unpaid_wages(chat)
    stranger = Chat(bot, sender="6289900000009")
    assert "tidak terdaftar sebagai satgas" in stranger.says(f"ambil {code}")
    other_village = Chat(bot, sender=OTHER_VILLAGE_SATGAS)
    # another village's satgas cannot tell a real code from a made-up one (issue 10)
    unknown = "ADU-ZZZZ" if code != "ADU-ZZZZ" else "ADU-YYYY"
    for verb in ("ambil", "lihat"):
        real, made_up = other_village.says(f"{verb} {code}"), other_village.says(f"{verb} {unknown}")
        assert real == made_up.replace(unknown, code) and "tidak ditemukan" in real
    first, second = Chat(bot, sender=SATGAS_1), Chat(bot, sender=SATGAS_2)
    assert "Ambil dulu" in second.says(f"balas {code} halo")
    first.send(f"ambil {code}")
    assert "sudah diambil oleh" in second.says(f"ambil {code}")
    assert "ditangani oleh" in second.says(f"selesai {code} beres")
    # a stranger asking about someone else's code learns nothing
    assert "tidak ditemukan" in stranger.says(f"cek status laporan {code}")
    with bot.sessions() as session:
        refusals = session.execute(select(func.count()).select_from(Event).where(Event.kind == "satgas_refused")).scalar()
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
    assert refusals == 4
    assert case.status == "diambil"


def test_second_report_joins_the_open_case(chat: Chat, bot: Bot) -> None:
    code = report_unpaid_wages(chat)
    opening = chat.says("saya mau lapor lagi")
    assert code in opening and "gabungkan" in opening
    # village and consent are known from the first report: not asked again
    for answer in ("1", "Siti Aminah", "1", "tidak tahu", "3", "paspornya juga ditahan agen"):
        chat.send(answer)
    assert "Desa: Desa Jlamprang" in chat.says("1")
    assert code in chat.says("1")
    with bot.sessions() as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar() == 1
        extra = session.execute(select(CaseEvent).where(CaseEvent.kind == "laporan_tambahan")).scalar_one()
    assert "paspornya juga ditahan" in extra.note


def test_cancel_at_any_step_keeps_nothing(chat: Chat, bot: Bot) -> None:
    chat.send("mau lapor masalah")
    chat.send("ya")
    chat.send("1")
    chat.send("Budi")
    assert "dibatalkan" in chat.says("batal")
    with bot.sessions() as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar() == 0


def test_urgent_case_alerts_all_satgas_and_escalates_once_even_after_restart(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content_dir = _content_with_escalation_contact(tmp_path)
    bot = build_bot(make_settings(database_url, content_dir=content_dir), classifier=classifier, clock=clock)
    chat = Chat(bot, sender="6281200000077")
    chat.send("mau lapor")
    for answer in ("ya", "2", "orang tua", "Rina", "hong kong", "agen PT Sejahtera", "kekerasan"):
        chat.send(answer)
    assert "Safe Travel" in chat.says("anak saya ditampar majikan tiap hari")  # danger words: guidance at once
    chat.send("1")
    chat.send("1")
    done = chat.says("1")
    code = re.search(r"ADU-[A-Z2-9]{4}", done).group(0)
    assert "Safe Travel" in done and "semua" in done  # family guidance with the confirmation
    assert code in outbox_to(bot, SATGAS_1)[-1] and "MENDESAK" in outbox_to(bot, SATGAS_1)[-1]

    clock.advance(timedelta(minutes=29))
    assert bot.run_timers() == 0
    bot.engine.dispose()  # restart: timers live in the database

    bot = build_bot(make_settings(database_url, content_dir=content_dir), classifier=classifier, clock=clock)
    clock.advance(timedelta(minutes=2))
    assert bot.run_timers() == 1
    assert "ESKALASI" in outbox_to(bot, "kabupaten-wonosobo")[-1]
    assert bot.run_timers() == 0  # exactly once
    assert len([t for t in outbox_to(bot, "kabupaten-wonosobo") if "ESKALASI" in t]) == 1
    bot.engine.dispose()


def test_unclaimed_normal_case_is_reminded_daily(chat: Chat, bot: Bot, clock) -> None:  # type: ignore[no-untyped-def]
    code = report_unpaid_wages(chat)
    clock.advance(timedelta(hours=23))
    assert bot.run_timers() == 0
    clock.advance(timedelta(hours=2))
    assert bot.run_timers() == 1
    assert "Pengingat" in outbox_to(bot, SATGAS_1)[-1] and code in outbox_to(bot, SATGAS_1)[-1]
    Chat(bot, sender=SATGAS_1).send(f"ambil {code}")
    clock.advance(timedelta(days=2))
    assert bot.run_timers() == 0  # claimed cases are not reminded


def test_deleting_data_anonymises_the_case_but_keeps_statistics(chat: Chat, bot: Bot) -> None:
    code = report_unpaid_wages(chat)
    Chat(bot, sender=SATGAS_2).send(f"ambil {code}")
    Chat(bot, sender=SATGAS_2).send(f"balas {code} Bu Siti, kami sudah menelepon PT Maju Jaya")
    bot.outbox.deliver("console", lambda row: "")  # everything so far was sent
    chat.send("hapus data saya")
    chat.send("1")
    with bot.sessions() as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
        notes = session.execute(select(CaseEvent.note).where(CaseEvent.case_id == case.id)).scalars().all()
    assert case.worker_name is None and case.description is None and case.employer is None
    assert case.category == "gaji_tidak_dibayar" and case.country == "malaysia" and case.village_code == "jlamprang"
    assert all(note is None for note in notes)
    # messages the reporter received (satgas news included) no longer hold their data
    assert not any("PT Maju Jaya" in text for text in outbox_to(bot, chat.sender))
    assert "menghapus datanya" in Chat(bot, sender=SATGAS_2).says(f"balas {code} halo bu")


def test_twenty_concurrent_claimers_exactly_one_wins(postgres_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content_dir = _content_with_many_satgas(tmp_path, 20)
    bot = build_bot(make_settings(postgres_url, content_dir=content_dir), classifier=classifier, clock=clock)
    code = report_unpaid_wages(Chat(bot, sender="6281200000055"))
    barrier = threading.Barrier(20)
    replies: dict[int, str] = {}

    def claim(index: int) -> None:
        barrier.wait()
        out = bot.core.handle(Inbound(channel="console", sender=f"satgas-race-{index}", text=f"ambil {code}", message_id=f"race-{index}"))
        replies[index] = "\n".join(r.text for r in out)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, text in replies.items() if "Anda tangani" in text]
    losers = [i for i, text in replies.items() if "sudah diambil oleh" in text]
    assert len(winners) == 1 and len(losers) == 19, replies
    with bot.sessions() as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
        claims = session.execute(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "diambil")).scalar()
    assert claims == 1 and case.status == "diambil"
    bot.engine.dispose()


# --- helpers -------------------------------------------------------------------
def _copy_content(target: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "content", target)
    return target


def _content_with_many_satgas(tmp_path: Path, count: int) -> Path:
    content_dir = _copy_content(tmp_path / "content")
    data = yaml.safe_load((content_dir / "villages.yml").read_text())
    data["villages"][0]["satgas"] += [
        {"name": f"Satgas Uji {i}", "role": "anggota", "console": f"satgas-race-{i}"} for i in range(count)
    ]
    (content_dir / "villages.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return content_dir


def _content_with_escalation_contact(tmp_path: Path) -> Path:
    content_dir = _copy_content(tmp_path / "content")
    data = yaml.safe_load((content_dir / "villages.yml").read_text())
    data["villages"][0]["escalation"] = {"channel": "console", "address": "kabupaten-wonosobo"}
    (content_dir / "villages.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return content_dir


def test_coordinator_cli_lists_shows_and_exports(chat: Chat, bot: Bot, database_url: str, tmp_path: Path) -> None:
    import io

    from bot.cli import main

    code = report_unpaid_wages(chat)
    settings = make_settings(database_url)
    out = io.StringIO()
    assert main(["cases", "list", "--status", "baru", "--village", "jlamprang"], out=out, settings=settings) == 0
    assert code in out.getvalue() and "1 kasus" in out.getvalue()
    out = io.StringIO()
    main(["cases", "show", code], out=out, settings=settings)
    assert "dibuat" in out.getvalue() and "Siti Aminah" in out.getvalue()

    public_csv, personal_csv = tmp_path / "public.csv", tmp_path / "personal.csv"
    main(["cases", "export", "--out", str(public_csv)], out=io.StringIO(), settings=settings)
    main(["cases", "export", "--out", str(personal_csv), "--include-personal"], out=io.StringIO(), settings=settings)
    assert code in public_csv.read_text() and "Siti Aminah" not in public_csv.read_text()
    assert "Siti Aminah" in personal_csv.read_text()


def test_photo_on_an_open_case_is_kept_as_evidence(chat: Chat, bot: Bot) -> None:
    from bot.messages import Attachment

    code = report_unpaid_wages(chat)
    reply = chat.says("", attachments=(Attachment(kind="photo", reference="AgACAgIAAxkBAAIB", mime_type="image/jpeg"),))
    assert "bukti" in reply and code in reply
    assert f"Keluarga mengirim foto untuk kasus *{code}* (bukti baru)" in outbox_to(bot, SATGAS_1)[-1]
    with bot.sessions() as session:
        evidence = session.execute(select(CaseEvent).where(CaseEvent.kind == "bukti")).scalar_one()
    assert "AgACAgIAAxkBAAIB" in evidence.note and "image/jpeg" in evidence.note


def test_a_captioned_photo_is_evidence_before_and_after_the_claim(chat: Chat, bot: Bot, clock) -> None:  # type: ignore[no-untyped-def]
    """Issue 24: a photo with a caption went down the text path (forwarded or
    read as text only): no evidence row, and the satgas never heard a photo
    came. Now it is on the case, in the console's timeline, and announced with
    its caption: to the village before the claim, to the holder after it."""
    from bot.kelola.queries import timeline
    from bot.messages import Attachment

    code = report_unpaid_wages(chat)
    slip = Attachment(kind="photo", reference="AgSlipGaji01", mime_type="image/jpeg")
    reply = chat.says("ini slip gaji terakhir kakak saya", attachments=(slip,))
    assert "bukti" in reply and code in reply, chat.transcript()
    for satgas in (SATGAS_1, SATGAS_2):  # nobody holds the case yet: the village hears it
        assert "Keluarga mengirim foto: ini slip gaji terakhir kakak saya" in outbox_to(bot, satgas)[-1]

    assert "Anda tangani" in Chat(bot, sender=SATGAS_1).says(f"ambil {code}")
    clock.advance(timedelta(minutes=10))  # past the few minutes of one confirmation
    before_2 = len(outbox_to(bot, SATGAS_2))
    contract = Attachment(kind="photo", reference="AgKontrak02", mime_type="image/jpeg")
    reply = chat.says("kontraknya pak, gajinya harusnya 1500 ringgit", attachments=(contract,))
    assert "bukti" in reply and "nama pekerja" not in reply, chat.transcript()
    assert "Keluarga mengirim foto: kontraknya pak, gajinya harusnya 1500 ringgit" in outbox_to(bot, SATGAS_1)[-1]
    assert len(outbox_to(bot, SATGAS_2)) == before_2  # the holder only
    # a second file at once is kept too, without a second "terima kasih"
    assert chat.send("", attachments=(Attachment(kind="document", reference="BQDokumen03", mime_type="application/pdf"),)) == []

    with bot.sessions() as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
        rows = session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "bukti").order_by(CaseEvent.id)
        ).scalars().all()
        entries = [entry for entry in timeline(session, case, personal=True) if entry.evidence]
        case_count = session.execute(select(func.count()).select_from(Case)).scalar()
    assert case_count == 1  # no caption opened a second report
    assert [row.actor for row in rows] == ["pelapor"] * 3
    assert "AgSlipGaji01" in rows[0].note and "ini slip gaji terakhir kakak saya" in rows[0].note
    assert "AgKontrak02" in rows[1].note and "harusnya 1500 ringgit" in rows[1].note and "image/jpeg" in rows[1].note
    assert "BQDokumen03" in rows[2].note and "dokumen" in rows[2].note
    assert [entry.note for entry in entries] == [row.note for row in rows]  # the console's case page
    shown = Chat(bot, sender=SATGAS_1).says(f"lihat {code}")
    assert "AgKontrak02" in shown and "ini slip gaji terakhir kakak saya" in shown


def test_closed_cases_lose_personal_data_after_retention(chat: Chat, bot: Bot, clock) -> None:  # type: ignore[no-untyped-def]
    code = report_unpaid_wages(chat)
    satgas = Chat(bot, sender=SATGAS_1)
    satgas.send(f"ambil {code}")
    satgas.send(f"selesai {code} gaji sudah dibayar")
    clock.advance(timedelta(days=364))
    bot.run_timers()
    with bot.sessions() as session:
        assert session.execute(select(Case.worker_name).where(Case.code == code)).scalar_one() == "Siti Aminah"
    clock.advance(timedelta(days=2))
    assert bot.run_timers() == 1
    with bot.sessions() as session:
        case = session.execute(select(Case).where(Case.code == code)).scalar_one()
    assert case.worker_name is None and case.description is None and case.anonymised_at is not None
    assert case.status == "selesai" and case.category == "gaji_tidak_dibayar"


def test_a_request_after_a_satgas_message_is_not_forwarded_as_a_reply(chat: Chat, bot: Bot) -> None:
    code = report_unpaid_wages(chat)
    satgas = Chat(bot, sender=SATGAS_1)
    satgas.send(f"ambil {code}")
    satgas.send(f"balas {code} Bu, mohon kirim foto kontraknya")
    status = chat.says("gimana status laporan saya")
    assert code in status and "diteruskan" not in status
    assert not any("status laporan saya" in text for text in outbox_to(bot, SATGAS_1))


def test_timers_on_three_nodes_at_once_escalate_and_remind_exactly_once(postgres_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three web nodes (three engines on one PostgreSQL, as separate machines)
    run their timers at the same moment: each due case is claimed by one of
    them (SKIP LOCKED), so the escalation and the reminder go out once."""
    content_dir = _content_with_escalation_contact(tmp_path)
    nodes = [build_bot(make_settings(postgres_url, content_dir=content_dir), classifier=classifier, clock=clock) for _ in range(3)]
    chat = Chat(nodes[0], sender="6281200000078")
    chat.send("mau lapor")
    for answer in ("ya", "2", "orang tua", "Rina", "hong kong", "agen PT Sejahtera", "kekerasan", "anak saya ditampar majikan tiap hari", "1", "1", "1"):
        chat.send(answer)
    urgent = re.findall(r"ADU-[A-Z2-9]{4}", "\n".join(outbox_to(nodes[0], SATGAS_1)))[-1]
    normal = report_unpaid_wages(Chat(nodes[1], sender="6281200000079"))
    clock.advance(timedelta(hours=25))  # the urgent case is past its escalation, the normal one past its reminder

    barrier = threading.Barrier(len(nodes))
    fired: list[int] = []

    def run(node: Bot) -> None:
        barrier.wait()
        fired.append(node.run_timers())

    threads = [threading.Thread(target=run, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(fired) >= 2, fired
    escalations = [t for t in outbox_to(nodes[2], "kabupaten-wonosobo") if "ESKALASI" in t and urgent in t]
    reminders = [t for t in outbox_to(nodes[2], SATGAS_1) if "Pengingat" in t and normal in t]
    assert len(escalations) == 1, escalations
    assert len(reminders) == 1, reminders
    assert all(node.run_timers() == 0 for node in nodes), "nothing is due twice"
    for node in nodes:
        node.engine.dispose()

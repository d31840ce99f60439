"""Satgas stay in their village (issue 10): trainee lists, closed cases, codes
of other villages, odd digits, alert floods. Real core, real NLU model, SQLite
and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.app import Bot
from bot.clock import ManualClock
from bot.messages import Attachment
from bot.storage.complaint_models import Case, CaseEvent
from bot.storage.models import InboundMessage, OutboundMessage
from tests.chat import Chat
from tests.test_complaints import SATGAS_1, report_unpaid_wages
from tests.test_trainings import set_village, sign_up

LITERASI = "literasi-keuangan-2026-12"  # open to every village
BATIK = "batik-lanjutan-2026-12"  # Jlamprang only
LIPURSARI_SATGAS = "satgas-lipursari-1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 3, 0))


def outbox_about(bot: Bot, address: str, code: str) -> list[str]:
    with bot.sessions() as session:
        texts = session.execute(
            select(OutboundMessage.text).where(OutboundMessage.address == address).order_by(OutboundMessage.id)
        ).scalars()
        return [text for text in texts if code in text]


def test_peserta_lists_only_trainings_and_participants_of_the_satgas_village(bot: Bot) -> None:
    jlamprang, sumbergede = Chat(bot, sender="6281200000101"), Chat(bot, sender="6281200000102")
    set_village(bot, jlamprang, "jlamprang")
    set_village(bot, sumbergede, "sumbergede")
    sign_up(jlamprang, "081211110001", name="Ningsih Jlamprang", first="mau daftar pelatihan literasi keuangan")
    sign_up(sumbergede, "081211110002", name="Darto Sumbergede", first="mau daftar pelatihan literasi keuangan")
    sign_up(jlamprang, "081211110003", name="Sri Batik", first="mau daftar pelatihan batik")

    own = Chat(bot, sender=SATGAS_1).says(f"peserta {LITERASI}")
    assert "Ningsih Jlamprang" in own and "Darto Sumbergede" not in own and "081211110002"[1:] not in own
    other = Chat(bot, sender=LIPURSARI_SATGAS)
    listing = other.says(f"peserta {LITERASI}")
    assert "Ningsih" not in listing and "Darto" not in listing
    closed_to_them = other.says(f"peserta {BATIK}")
    unknown = other.says("peserta pelatihan-yang-tidak-ada")
    assert "Sri Batik" not in closed_to_them and "tidak ada" in closed_to_them
    assert closed_to_them == unknown.replace("pelatihan-yang-tidak-ada", BATIK), "no oracle for trainings either"


def test_catat_is_refused_on_closed_and_anonymised_cases(chat: Chat, bot: Bot, clock: ManualClock) -> None:
    code = report_unpaid_wages(chat)
    satgas = Chat(bot, sender=SATGAS_1)
    satgas.send(f"ambil {code}")
    satgas.send(f"selesai {code} gaji sudah dibayar")
    assert "sudah ditutup" in satgas.says(f"catat {code} ternyata majikan bernama Mr Tan Ah Kow")
    clock.advance(timedelta(days=400))
    bot.run_timers()  # retention: the case is anonymised
    assert "sudah ditutup" in satgas.says(f"catat {code} Siti Aminah pulang ke desa")
    with bot.sessions() as session:
        notes = session.execute(select(CaseEvent.note).where(CaseEvent.kind == "catatan")).scalars().all()
    assert notes == []


def test_a_unicode_digit_from_a_satgas_does_not_crash_the_turn(chat: Chat, bot: Bot) -> None:
    report_unpaid_wages(chat)  # the satgas now has an alert with numbered options
    satgas = Chat(bot, sender=SATGAS_1)
    for typed in ("081234567890²", "²", "١"):
        reply = satgas.says(typed)
        assert "gangguan teknis" not in reply, typed
    with bot.sessions() as session:
        failed = session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.error.is_not(None))).scalar()
    assert failed == 0


def test_satgas_alerts_about_one_case_are_capped_per_minute(chat: Chat, bot: Bot, clock: ManualClock) -> None:
    code = report_unpaid_wages(chat)
    clock.advance(timedelta(minutes=2))  # the new-case alert is a minute old
    before = len(outbox_about(bot, SATGAS_1, code))
    photo = Attachment(kind="photo", reference="AgPhoto", mime_type="image/jpeg")
    for _ in range(12):
        chat.send("", attachments=(photo,))
    alerts = outbox_about(bot, SATGAS_1, code)[before:]
    cap = bot.settings.alerts_per_case_per_minute
    assert len(alerts) == cap, alerts
    assert "lihat " + code in alerts[-1] and "banyak pesan" in alerts[-1]
    with bot.sessions() as session:
        kept = session.execute(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "bukti")).scalar()
    assert kept == 12, "every photo is still on the case"
    clock.advance(timedelta(minutes=2))
    chat.send("", attachments=(photo,))
    assert "bukti baru" in outbox_about(bot, SATGAS_1, code)[-1]


def test_messages_past_the_rate_limit_are_kept_as_a_short_marker(chat: Chat, bot: Bot) -> None:
    limit = bot.settings.rate_limit_per_minute
    story = "gaji kakak saya Siti Aminah belum dibayar " * 90  # ~3.8 KB
    for index in range(limit + 10):
        chat.send(f"{index} {story}")
    with bot.sessions() as session:
        flooded = session.execute(select(InboundMessage.text).where(InboundMessage.error == "rate_limited")).scalars().all()
    assert len(flooded) == 10
    assert all("Siti Aminah" not in text and len(text) < 100 for text in flooded), flooded[:1]
    assert "tetap kami simpan" not in bot.content.text("rate_limited"), "the warning must not promise storage"


def test_case_codes_are_case_insensitive_and_linked_for_other_villages_too(chat: Chat, bot: Bot) -> None:
    code = report_unpaid_wages(chat)
    Chat(bot, sender=LIPURSARI_SATGAS).send(f"catat {code.lower()} Siti Aminah dari desa sebelah")
    with bot.sessions() as session:
        case_id = session.execute(select(Case.id).where(Case.code == code)).scalar_one()
        linked = session.execute(
            select(InboundMessage.subject_case_id).where(InboundMessage.text.like("%desa sebelah%"))
        ).scalar_one()
    assert linked == case_id, "a command quoting a case is linked even when refused"
    assert re.search(r"ADU-[A-Z2-9]{4}", code)

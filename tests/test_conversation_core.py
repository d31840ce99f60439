"""Whole conversations through the real core, real NLU model and real databases
(every test here runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot.app import build_bot
from bot.core import Handled
from bot.messages import Attachment, Inbound
from bot.storage.models import Contact, Conversation, Event, InboundMessage, OutboundMessage
from tests.chat import Chat
from tests.conftest import make_settings


def test_greeting_shows_welcome_and_numbered_menu(chat: Chat) -> None:
    replies = chat.send("assalamualaikum min")
    assert "selamat datang" in replies[0].text.lower()
    menu = replies[-1]
    assert [o.value for o in menu.options][:3] == ["tanya_syarat", "tanya_prosedur", "tanya_biaya"]
    assert "1. Syarat & dokumen" in menu.as_plain_text()


def test_numbered_reply_answers_from_content_without_nlu(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    chat.send("halo")
    calls_before = bot.classifier.calls
    text = chat.says("1")
    assert bot.classifier.calls == calls_before, "a numbered menu reply must not call NLU"
    assert "Pasal 5" in text and "18 tahun" in text
    assert "Sumber:" not in text, "sources come on request, not in the first message"
    sources = chat.says("2")
    assert bot.classifier.calls == calls_before
    assert "UU No. 18 Tahun 2017" in sources
    assert "Ditinjau 2026-11-23" in sources


def test_free_text_question_is_answered_with_source(chat: Chat) -> None:
    replies = chat.send("brp biaya nya kalo mau kerja jd pembantu di luar negeri")
    assert "Pasal 30" in replies[0].text or "Maksud Anda" in replies[-1].text
    assert "Sumber:" not in replies[0].text
    assert "Sumber" in chat.says("sumbernya apa")


def test_country_aware_answers_and_memory(chat: Chat) -> None:
    replies = chat.send("syarat kerja ke hongkong apa aja min")
    assert "Catatan untuk Hong Kong" in replies[-1].as_plain_text()
    # the country is remembered for the next question, and its note is not offered again
    text = chat.says("terus biayanya brp")
    assert "Hong Kong" in text and "Catatan untuk Hong Kong" not in text


def test_middle_east_moratorium_is_mentioned(chat: Chat) -> None:
    text = chat.says("mau kerja ke arab saudi jadi art biayanya berapa")
    assert "moratorium" in text.lower()


def test_hotline_numbers_come_from_hotlines_file(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    text = chat.says("tolong adik saya dikurung majikan di malaysia")
    assert bot.content.hotlines["bp2mi"].number in text
    assert "{bp2mi}" not in text


def test_emergency_comes_first_even_inside_a_form(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    chat.send("saya mau hapus data saya")
    assert chat.history[-1][1][-1].options  # inside the hapus_data form
    replies = chat.send("tolong kakak saya dipukuli majikan")
    assert "Safe Travel" in replies[0].text, "emergency guidance must be the first message"
    with bot.sessions() as session:
        assert session.execute(select(func.count()).select_from(Event).where(Event.kind == "emergency_shown")).scalar() == 1


def test_emergency_offers_urgent_report(chat: Chat) -> None:
    replies = chat.send("adik saya disekap agen tolong")
    assert "Safe Travel" in replies[0].text
    assert replies[-1].options[0].value == "lapor_darurat"


def test_off_topic_and_gibberish_get_clarification_with_menu(chat: Chat) -> None:
    for message in ("siapa juara liga inggris tahun ini", "qwzx vbnm plokij"):
        replies = chat.send(message)
        assert replies[-1].options, f"{message!r} should end with the menu"
        assert "maaf" in replies[0].text.lower()


def test_yes_without_a_question_is_handled(chat: Chat) -> None:
    replies = chat.send("iya")
    assert "tidak sedang menanyakan" in replies[0].text


def test_bad_input_gets_clear_replies_and_is_stored(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    assert "kosong" in chat.says("")
    assert "kosong" in chat.says("   \n\t ")
    assert "kata-kata" in chat.says("😀😀🙏")
    sticker = chat.says("", attachments=(Attachment(kind="sticker", reference="CAACAgI"),))
    assert "stiker" in sticker
    photo = chat.says("", attachments=(Attachment(kind="photo", reference="AgACAgI"),))
    assert "foto" in photo
    long_text = chat.says("tolong info syarat kerja ke taiwan " * 300)  # ~10,000 characters
    assert "panjang" in long_text
    control = chat.says("halo\x00\x07 min\u200b")
    assert "selamat datang" in control.lower()
    with bot.sessions() as session:
        stored = session.execute(select(func.count()).select_from(InboundMessage)).scalar()
        longest = session.execute(select(func.max(func.length(InboundMessage.text)))).scalar()
    assert stored == 7
    assert longest <= bot.settings.max_text_length


def test_duplicate_delivery_is_processed_once(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    first = chat.send("halo", message_id="wamid-1")
    again = chat.send("halo", message_id="wamid-1")
    assert first and again == []
    with bot.sessions() as session:
        assert session.execute(select(func.count()).select_from(InboundMessage)).scalar() == 1
        assert session.execute(select(func.count()).select_from(OutboundMessage)).scalar() == len(first)


def test_the_same_message_delivered_eight_times_at_once_is_processed_once(bot) -> None:  # type: ignore[no-untyped-def]
    """Providers retry while the first delivery is still being handled; from a
    brand-new sender, so the contact row is created by the race too."""
    inbound = Inbound(channel="whatsapp", sender="+6281299990001", text="halo", message_id="SMrace0000000001")
    barrier = threading.Barrier(8)
    outcomes: list[Handled] = []

    def deliver() -> None:
        barrier.wait()
        outcomes.append(bot.core.take(inbound))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 8 and all(o.stored for o in outcomes), "every delivery may be acknowledged"
    answered = [o for o in outcomes if o.replies]
    assert len(answered) == 1, [o.replies for o in outcomes]
    with bot.sessions() as session:
        assert session.execute(select(func.count()).select_from(InboundMessage)).scalar() == 1
        assert session.execute(select(func.count()).select_from(Contact)).scalar() == 1
        assert session.execute(select(func.count()).select_from(OutboundMessage)).scalar() == len(answered[0].replies)
        assert session.execute(select(InboundMessage.error)).scalar() is None


def test_state_is_committed_with_the_turn_and_replies_are_queued(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    replies = chat.send("saya ingin data saya dihapus")
    with bot.sessions() as session:
        contact = session.execute(select(Contact)).scalar_one()
        conversation = session.get(Conversation, contact.id)
        assert conversation.flow == "hapus_data" and conversation.step == "yakin"
        queued = session.execute(select(OutboundMessage.text).order_by(OutboundMessage.id)).scalars().all()
    assert queued == [r.text for r in replies]


def test_restart_mid_flow_resumes_at_the_same_question(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    first = build_bot(make_settings(database_url), classifier=classifier, clock=clock)
    Chat(first, sender="6281300000002").send("hapus data saya dong")
    first.engine.dispose()  # the process dies

    second = build_bot(make_settings(database_url), classifier=classifier, clock=clock)
    replies = Chat(second, sender="6281300000002").send("1")
    assert "sudah kami hapus" in replies[0].text
    second.engine.dispose()


def test_delete_request_removes_personal_data(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    chat.send("halo nama saya siti dari desa jlamprang")
    chat.send("hapus data saya")
    assert "sudah kami hapus" in chat.says("ya")
    with bot.sessions() as session:
        texts = session.execute(select(InboundMessage.text)).scalars().all()
        contact = session.execute(select(Contact)).scalar_one()
    assert all(t == "" for t in texts)
    assert contact.address.startswith("dihapus-") and contact.deleted_at is not None
    # the next message starts fresh as a new, unknown contact
    assert "selamat datang" in chat.says("halo").lower()


def test_cancel_and_suspend_resume_a_form(chat: Chat) -> None:
    chat.send("hapus data saya")
    assert "tidak dihapus" in chat.says("batal")  # cancelling a deletion says the data stays
    chat.send("hapus data saya")
    assert "simpan sementara" in chat.says("menu")
    resumed = chat.says("lanjut")
    assert "yakin" in resumed.lower()
    assert "tidak dihapus" in chat.says("2")


def test_choice_question_can_be_interrupted_by_a_question(chat: Chat) -> None:
    chat.send("hapus data saya")
    text = chat.says("syarat jadi tki apa aja")
    assert "Pasal 5" in text and "kita lanjutkan" in text.lower()
    assert "yakin" in text.lower()  # the question is asked again


def test_flood_is_rate_limited_politely_and_every_message_is_recorded(chat: Chat, bot, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    limit = bot.settings.rate_limit_per_minute
    for index in range(limit):
        assert chat.send(f"halo {index}")
    warning = chat.says("halo lagi")
    assert "banyak sekali" in warning
    assert chat.send("halo lagi dan lagi") == []  # warned once per minute, not per message
    with bot.sessions() as session:
        stored = session.execute(select(func.count()).select_from(InboundMessage)).scalar()
        limited = session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.error == "rate_limited")).scalar()
    assert stored == limit + 2 and limited == 2
    clock.advance(timedelta(minutes=2))
    assert "selamat datang" in chat.says("halo").lower()


def test_a_number_outside_the_menu_asks_again_without_guessing(chat: Chat, bot) -> None:  # type: ignore[no-untyped-def]
    chat.send("halo")
    calls = bot.classifier.calls
    text = chat.says("12")  # the menu has 11 items
    assert "1 sampai 11" in text
    assert bot.classifier.calls == calls
    chat.send("hapus data saya")
    assert "1 sampai 2" in chat.says("7")

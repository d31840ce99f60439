"""Channels and issue 10: satgas commands only in a private chat or the
village's own group, group talk neither stored nor answered, and a webhook
that answers well inside the provider's timeout even when SQLite is locked.
Real webhooks, real python-telegram-bot and twilio clients, fake providers."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import func, select

from bot.domain.cases import create_case, load_settings as complaint_settings
from bot.storage.models import InboundMessage
from tests.channel_kit import GROUP, SATGAS_TG, content_with_telegram_group, running_rig, tg_message, wa_form, wait_until

OTHER_GROUP = -1009876543210


def inbound_count(rig) -> int:  # type: ignore[no-untyped-def]
    with rig.bot.sessions() as session:
        return session.execute(select(func.count()).select_from(InboundMessage)).scalar_one()


def open_case(rig, content_dir: Path) -> str:  # type: ignore[no-untyped-def]
    with rig.bot.sessions() as session, session.begin():
        case = create_case(
            session, complaint_settings(content_dir), rig.clock.now(), village_code="jlamprang",
            reporter_relation="keluarga", category="gaji", worker_name="Wulandari Kusumastuti",
            description="gaji belum dibayar",
        )
        return case.code


def test_a_satgas_command_in_an_unrelated_group_does_not_post_the_case_there(database_url, classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content_dir = content_with_telegram_group(tmp_path)
    with running_rig(database_url, classifier, clock, content_dir=content_dir) as rig:
        code = open_case(rig, content_dir)
        elsewhere = tg_message(OTHER_GROUP, f"lihat {code}", user_id=int(SATGAS_TG), chat_type="supergroup")
        assert rig.telegram_update(elsewhere).status_code == 200
        in_private = tg_message(int(SATGAS_TG), f"lihat {code}")
        own_group = tg_message(int(GROUP), f"lihat {code}", user_id=int(SATGAS_TG), chat_type="supergroup")
        assert rig.telegram_update(in_private).status_code == 200
        assert rig.telegram_update(own_group).status_code == 200
        rig.deliver()
        sent = {(s.chat_id, "Wulandari" in s.text) for s in rig.telegram.sent()}
        assert (str(OTHER_GROUP), True) not in sent, "the case card must not reach another group"
        assert (str(OTHER_GROUP), False) in sent  # a short refusal instead
        assert (SATGAS_TG, True) in sent and (GROUP, True) in sent


def test_group_talk_that_starts_like_a_command_is_neither_stored_nor_answered(database_url, classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content_dir = content_with_telegram_group(tmp_path)
    with running_rig(database_url, classifier, clock, content_dir=content_dir) as rig:
        code = open_case(rig, content_dir)
        talk = [
            ("bantuan dong, anak saya disiksa majikan", 7999),  # a family member in the group: no emergency text there
            ("lihat ini pak, kemarin rapat", int(SATGAS_TG)),
            ("kasus kemarin sudah beres belum ya", int(SATGAS_TG)),
            (f"balas aja nanti {code}", int(SATGAS_TG)),
            ("/start", 7999),
        ]
        for text, user in talk:
            update = tg_message(int(GROUP), text, user_id=user, chat_type="supergroup")
            assert rig.telegram_update(update).status_code == 200
        assert inbound_count(rig) == 0, "group talk is not stored"
        # a reply to one of the bot's own messages that is not a command is talk too
        reply = tg_message(int(GROUP), "siap pak", user_id=int(SATGAS_TG), chat_type="supergroup")
        reply["message"]["reply_to_message"] = {
            "message_id": 1, "date": int(time.time()), "chat": reply["message"]["chat"],
            "from": {"id": int(rig.bot.settings.telegram_bot_token.split(":")[0]), "is_bot": True, "first_name": "Desmigras"},
            "text": "Laporan baru",
        }
        assert rig.telegram_update(reply).status_code == 200
        assert inbound_count(rig) == 0
        # commands still work, with or without the slash
        for text in (f"/lihat@DesmigrasTestBot {code}", "kasus", f"ambil {code}"):
            assert rig.telegram_update(tg_message(int(GROUP), text, user_id=int(SATGAS_TG), chat_type="supergroup")).status_code == 200
        assert inbound_count(rig) == 3
        rig.deliver()
        assert rig.telegram.sent() and all(s.chat_id == GROUP for s in rig.telegram.sent())
        assert not any("darurat" in s.text.lower() for s in rig.telegram.sent())


def test_a_stranger_in_the_satgas_group_gets_no_dialogue_there(database_url, classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content_dir = content_with_telegram_group(tmp_path)
    with running_rig(database_url, classifier, clock, content_dir=content_dir) as rig:
        code = open_case(rig, content_dir)
        update = tg_message(int(GROUP), f"lihat {code}", user_id=7999, chat_type="supergroup")
        assert rig.telegram_update(update).status_code == 200
        rig.deliver()
        [reply] = rig.telegram.sent()
        assert reply.chat_id == GROUP and reply.text == rig.bot.content.text("satgas_refused").strip()


def test_webhook_answers_well_inside_twilios_timeout_when_sqlite_is_locked(classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "locked.sqlite3"
    url = f"sqlite:///{path}"
    with running_rig(url, classifier, clock, sqlite_busy_timeout=3.0, webhook_deadline=1.0) as rig:
        rig.whatsapp(wa_form("+6281234500077", "halo"))  # the contact exists
        blocker = sqlite3.connect(path, timeout=10, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            form = wa_form("+6281234500077", "tolong gaji belum dibayar")
            started = time.monotonic()
            response = rig.whatsapp(form)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, "not stored yet: Twilio must retry"
            assert elapsed < 2.0, f"answered after {elapsed:.1f} s (Twilio waits 15 s)"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        # the turn still running in its thread stores it; the provider's retry is then a repeat
        assert wait_until(lambda: inbound_count(rig) == 2, timeout=15)
        assert rig.whatsapp(form).status_code == 200
        assert inbound_count(rig) == 2, "stored exactly once"

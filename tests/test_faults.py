"""Faults: a broken model at start, a database that drops or fills up, and logs
that must never carry personal data."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, select, text

from bot.app import build_bot
from bot.config import PROJECT_ROOT
from bot.storage.models import Conversation, InboundMessage
from nlu.model_files import current_model_path
from tests.chat import Chat
from tests.conftest import POSTGRES_URL, make_settings


def _start_bot(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "bot"], cwd=PROJECT_ROOT, env=env, input="", capture_output=True, text=True, timeout=300
    )


def test_missing_model_stops_the_bot_with_a_clear_message(tmp_path: Path) -> None:
    result = _start_bot({"DESMIGRAS_MODEL_DIR": str(tmp_path), "DESMIGRAS_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})
    assert result.returncode != 0
    assert "Model NLU tidak ditemukan" in result.stderr and "./dev train" in result.stderr


def test_corrupt_model_stops_the_bot_with_a_clear_message(tmp_path: Path) -> None:
    corrupt = tmp_path / current_model_path().name
    corrupt.write_bytes(b"this is not a tar.gz model archive" * 100)
    result = _start_bot({"DESMIGRAS_MODEL_DIR": str(tmp_path), "DESMIGRAS_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})
    assert result.returncode != 0
    assert "tidak bisa dimuat" in result.stderr


def test_database_connections_dropped_mid_conversation_recover(postgres_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    bot = build_bot(make_settings(postgres_url), classifier=classifier, clock=clock)
    chat = Chat(bot, sender="6281200000099")
    chat.send("hapus data saya")  # now inside a form
    database = bot.engine.url.database
    admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
            {"db": database},
        ).scalar()
    admin.dispose()
    assert killed >= 1, "the test must really cut the bot's connections"
    replies = chat.send("2")  # the answer to the question asked before the drop
    assert "tidak dihapus" in replies[0].text
    bot.engine.dispose()


def test_sqlite_disk_full_gives_a_clear_reply_and_leaves_no_partial_state(tmp_path: Path, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    bot = build_bot(make_settings(url), classifier=classifier, clock=clock)
    chat = Chat(bot, sender="6281200000098")
    chat.send("hapus data saya")

    bot.engine.dispose()
    import sqlite3

    # Migrations that rebuild a SQLite table leave free pages behind; without
    # VACUUM the "full" disk would still have room for the next message.
    raw = sqlite3.connect(tmp_path / "full.sqlite3", isolation_level=None)
    raw.execute("VACUUM")
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.close()
    # every new connection gets the limit: the "disk" is full at its current size
    from sqlalchemy import event

    @event.listens_for(bot.engine, "connect")
    def _full_disk(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    before = _state(bot)
    replies = chat.send("tolong info syarat kerja ke jepang " + "dan biayanya " * 400)
    assert "belum tersimpan" in replies[0].text and "kirim ulang" in replies[0].text
    assert _state(bot) == before  # nothing half-written

    event.remove(bot.engine, "connect", _full_disk)
    bot.engine.dispose()
    assert "tidak dihapus" in chat.says("2")  # space is back: the conversation goes on where it was


def _state(bot):  # type: ignore[no-untyped-def]
    with bot.sessions() as session:
        messages = session.execute(select(InboundMessage.id)).scalars().all()
        conversation = session.execute(select(Conversation.flow, Conversation.step)).one()
    return len(messages), tuple(conversation)


def test_logs_never_contain_phone_numbers_or_message_text(chat: Chat, bot, caplog, capfd) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    chat.send("nama saya Siti, nomor hp saya 081234567890, gaji kakak saya belum dibayar")
    chat.send("hapus data saya")
    bot.outbox.deliver("console", lambda row: "")
    captured = capfd.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert "081234567890" not in everything
    assert chat.sender not in everything
    assert "Siti" not in everything


def test_log_filter_masks_numbers_that_slip_into_a_message(caplog) -> None:  # type: ignore[no-untyped-def]
    from bot.privacy import MaskPersonalData

    logger = logging.getLogger("desmigras.test")
    handler_filter = MaskPersonalData()
    caplog.handler.addFilter(handler_filter)
    try:
        logger.warning("delivery to +6281234567890 failed")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert "+6281234567890" not in caplog.text and "890" in caplog.text


def test_the_console_works_on_after_its_database_connections_are_dropped(postgres_url, classifier, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from bot.domain import accounts
    from bot.web import create_app

    monkeypatch.setenv("DESMIGRAS_WEB_SECRET", "uji-" + "x" * 40)
    bot = build_bot(make_settings(postgres_url), classifier=classifier, clock=clock)
    with bot.sessions() as session, session.begin():
        accounts.create_user(session, "koor", "koordinator", clock.now(), password="sandi-uji-panjang-1")
    client = TestClient(create_app(bot, run_worker=False, run_poller=False, console=True), base_url="http://127.0.0.1:8000")
    page = client.get("/kelola/masuk")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/kelola/masuk", data={"csrf": csrf, "nama": "koor", "sandi": "sandi-uji-panjang-1"},
                       follow_redirects=False).status_code == 303
    assert client.get("/kelola/antrean").status_code == 200
    admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
            {"db": bot.engine.url.database},
        ).scalar()
    admin.dispose()
    assert killed >= 1, "the test must really cut the console's connections"
    page = client.get("/kelola/antrean")
    assert page.status_code == 200 and "Antrean" in page.text, "the page after the cut is served, not an error"
    bot.engine.dispose()

"""The web app as deployed: real uvicorn on 127.0.0.1 with the delivery worker
and the Telegram poller running in its lifespan, and the start-up checks of
`python -m bot.web` / `python -m bot.delivery` (run as real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.app import build_bot
from bot.channels import ConfigError, check_settings, configured
from bot.config import PROJECT_ROOT
from bot.web import create_app
from tests.channel_kit import (
    PUBLIC_URL,
    SECRET,
    Served,
    channel_settings,
    sign,
    tg_message,
    wait_until,
    wa_form,
)
from tests.conftest import make_settings
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.fakes.twilio_api import AUTH_TOKEN, FakeTwilio


def test_uvicorn_serves_webhooks_and_the_worker_in_the_app_delivers(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        settings = channel_settings(database_url, telegram, twilio, worker_in_web=True, delivery_interval=0.05)
        bot = build_bot(settings, classifier=classifier, clock=clock)
        try:
            app = create_app(bot)
            with Served(app) as served, httpx.Client(base_url=served.url, timeout=30) as http:
                reply = http.post("/webhooks/telegram", json=tg_message(557001, "halo"), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                assert reply.status_code == 200
                form = wa_form("+6281234570001", "halo")
                reply = http.post("/webhooks/whatsapp", data=form, headers={"X-Twilio-Signature": sign(form)})
                assert reply.status_code == 200 and "<Response" in reply.text
                assert wait_until(lambda: len(telegram.sent()) == 2 and len(twilio.sent()) == 2), "worker did not deliver"

                health = http.get("/health")
                assert health.status_code == 200 and health.json()["status"] == "ok"
                chunks = (b"x" * 8192 for _ in range(10))  # 80 KB, chunked, no Content-Length
                too_big = http.post(
                    "/webhooks/telegram",
                    content=chunks,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
                )
                assert too_big.status_code == 413
                assert http.get("/nowhere").status_code == 404
            # the lifespan stopped the worker after its last pass
            assert app.state.worker.totals.sent == 4 and app.state.worker.totals.failed == 0
        finally:
            bot.engine.dispose()
        assert [s.chat_id for s in telegram.sent()] == ["557001", "557001"]


def test_polling_mode_serves_telegram_without_a_webhook(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        settings = channel_settings(
            database_url, telegram, twilio, telegram_mode="polling", worker_in_web=True, delivery_interval=0.05
        )
        bot = build_bot(settings, classifier=classifier, clock=clock)
        telegram.queue_update(tg_message(557002, "halo"))
        try:
            with Served(create_app(bot)) as served, httpx.Client(base_url=served.url, timeout=30) as http:
                assert wait_until(lambda: len(telegram.sent()) == 2), "polled update was not answered"
                assert http.post("/webhooks/telegram", json={}).status_code == 404
                assert telegram.calls("deleteWebhook"), "a webhook would make getUpdates fail"
        finally:
            bot.engine.dispose()
        assert {s.chat_id for s in telegram.sent()} == {"557002"}


# --- settings checks -------------------------------------------------------------------------
def _settings(tmp_path: Path, **values: str):  # type: ignore[no-untyped-def]
    base = dict(
        public_url="", telegram_bot_token="", telegram_webhook_secret="", telegram_mode="",
        twilio_account_sid="", twilio_auth_token="", twilio_whatsapp_from="", twilio_messaging_service_sid="",
    )
    base.update(values)
    return make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}", **base)


def test_missing_secrets_are_all_named_in_indonesian_and_english(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url=PUBLIC_URL, telegram_bot_token=TOKEN, twilio_account_sid="AC123")
    with pytest.raises(ConfigError) as raised:
        check_settings(settings)
    message = str(raised.value)
    assert message.startswith("Desmigras tidak bisa dimulai / Desmigras cannot start:")
    for expected in (
        "TELEGRAM_WEBHOOK_SECRET wajib diisi",
        "TELEGRAM_WEBHOOK_SECRET is required",
        "TWILIO_AUTH_TOKEN wajib diisi",
        "TWILIO_AUTH_TOKEN is required",
        "TWILIO_WHATSAPP_FROM",
    ):
        assert expected in message
    assert message.count("\n- ") == 3


def test_channel_choice_follows_the_settings(tmp_path: Path) -> None:
    assert not configured(_settings(tmp_path))
    assert check_settings(_settings(tmp_path)).names == ()
    polling = check_settings(_settings(tmp_path, telegram_bot_token=TOKEN))
    assert polling.names == ("telegram",) and polling.telegram_mode == "polling", "no public URL: long polling"
    webhook = check_settings(_settings(tmp_path, telegram_bot_token=TOKEN, public_url=PUBLIC_URL, telegram_webhook_secret=SECRET))
    assert webhook.telegram_mode == "webhook"
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        check_settings(_settings(tmp_path, telegram_bot_token="not-a-token"))
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET hanya boleh"):
        check_settings(_settings(tmp_path, telegram_bot_token=TOKEN, public_url=PUBLIC_URL, telegram_webhook_secret="has spaces"))
    secretive = _settings(tmp_path, twilio_auth_token=AUTH_TOKEN, telegram_bot_token=TOKEN)
    assert AUTH_TOKEN not in repr(secretive) and TOKEN not in repr(secretive), "secrets stay out of repr()"


def _run(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "WHATSAPP_", "DESMIGRAS_"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", module], cwd=PROJECT_ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_python_m_bot_web_refuses_to_start_without_a_required_secret(tmp_path: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "DESMIGRAS_PUBLIC_URL": PUBLIC_URL,
           "DESMIGRAS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    for module in ("bot.web", "bot.delivery"):
        result = _run(module, env)
        assert result.returncode == 1, result.stderr
        assert "TELEGRAM_WEBHOOK_SECRET wajib diisi" in result.stderr and "is required" in result.stderr
        assert "Traceback" not in result.stderr
        assert TOKEN not in result.stderr + result.stdout, "the token is never printed"


def test_python_m_bot_web_without_any_channel_says_what_to_set(tmp_path: Path) -> None:
    result = _run("bot.web", {"DESMIGRAS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert result.returncode == 1
    assert "Tidak ada kanal yang diatur" in result.stderr and "No channel is configured" in result.stderr


def test_set_webhook_registers_url_secret_and_update_types(tmp_path: Path) -> None:
    with FakeTelegram() as telegram:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "DESMIGRAS_PUBLIC_URL": PUBLIC_URL,
            "TELEGRAM_API_URL": telegram.api_url,
        }
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DESMIGRAS_"))}
        result = subprocess.run(
            [sys.executable, "-m", "bot.channels.telegram", "set-webhook"],
            cwd=PROJECT_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert telegram.webhook == {
            "url": f"{PUBLIC_URL}/webhooks/telegram",
            "secret_token": SECRET,
            "allowed_updates": '["message", "callback_query"]',
        }

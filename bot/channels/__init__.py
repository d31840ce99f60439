"""The messaging channels (Telegram, WhatsApp via Twilio): which ones this
deployment runs, whether their settings are complete, and their senders.

A channel has two halves. Inbound, a webhook (or the Telegram poller) turns a
provider payload into an `Inbound` and hands it to the core; outbound, a sender
turns one outbox row into provider API calls for the delivery worker. Neither
half knows about the other: they meet only in the database.

Settings are checked before anything slow happens (loading the NLU model takes
a minute), so a missing secret stops the start at once with a message that says
which variable to set, in Indonesian and English.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.config import Settings

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.storage.models import OutboundMessage

TELEGRAM = "telegram"
WHATSAPP = "whatsapp"

_TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
# What Telegram accepts as a webhook secret_token.
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(Exception):
    """A channel is enabled but cannot run; the message lists every problem."""


class ChannelSender(Protocol):
    """Sends outbox rows of one channel; used by `bot.delivery`."""

    channel: str
    # How many chats it may send to at the same time (bot.outbox.Outbox.deliver).
    parallel: int

    def prepare(self) -> None:
        """Once per delivery pass, before the due messages are claimed."""

    def send(self, row: "OutboundMessage") -> str:
        """Send one row; returns the provider id(s); raises the outbox's errors."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class Channels:
    """What this deployment runs, as decided from the settings."""

    telegram: bool
    telegram_mode: str  # "webhook" or "polling" (meaningless when telegram is False)
    whatsapp: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, on in ((TELEGRAM, self.telegram), (WHATSAPP, self.whatsapp)) if on)


def configured(settings: Settings) -> bool:
    """True when any channel credential is set: serve channels, not the console."""
    return bool(
        settings.telegram_bot_token
        or settings.twilio_account_sid
        or settings.twilio_auth_token
        or settings.twilio_whatsapp_from
        or settings.twilio_messaging_service_sid
    )


def telegram_mode(settings: Settings) -> str:
    if settings.telegram_mode:
        return settings.telegram_mode
    return "webhook" if settings.public_url else "polling"


def channels_or_exit(settings: Settings, when_none: str) -> Channels:
    """For process entry points: the configured channels, or exit with a clear
    message when a channel is incomplete or none is configured."""
    try:
        channels = check_settings(settings)
    except ConfigError as error:
        sys.exit(str(error))
    if not channels.names:
        sys.exit(when_none)
    return channels


def check_settings(settings: Settings) -> Channels:
    """The enabled channels, or ConfigError naming every missing or bad setting."""
    problems: list[str] = []
    whatsapp = bool(
        settings.twilio_account_sid
        or settings.twilio_auth_token
        or settings.twilio_whatsapp_from
        or settings.twilio_messaging_service_sid
    )
    telegram = bool(settings.telegram_bot_token)
    mode = telegram_mode(settings)

    if settings.public_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", settings.public_url):
        problems.append(
            "DESMIGRAS_PUBLIC_URL harus alamat lengkap seperti https://bot.contoh.id"
            " / must be a full address such as https://bot.example.org"
        )
    if settings.telegram_mode not in ("", "webhook", "polling"):
        problems.append(
            "TELEGRAM_MODE harus 'webhook' atau 'polling' / TELEGRAM_MODE must be 'webhook' or 'polling'"
        )
    if telegram:
        if not _TELEGRAM_TOKEN.match(settings.telegram_bot_token):
            problems.append(
                "TELEGRAM_BOT_TOKEN tidak berbentuk token dari @BotFather (angka:huruf)"
                " / TELEGRAM_BOT_TOKEN does not look like a @BotFather token (digits:letters)"
            )
        if mode == "webhook":
            if not settings.telegram_webhook_secret:
                problems.append(
                    "TELEGRAM_WEBHOOK_SECRET wajib diisi untuk mode webhook (tanpa itu siapa pun bisa"
                    " mengirim pesan palsu) / TELEGRAM_WEBHOOK_SECRET is required in webhook mode"
                    " (without it anyone could post forged updates)"
                )
            elif not _TELEGRAM_SECRET.match(settings.telegram_webhook_secret):
                problems.append(
                    "TELEGRAM_WEBHOOK_SECRET hanya boleh 1-256 karakter A-Z, a-z, 0-9, _ dan -"
                    " / TELEGRAM_WEBHOOK_SECRET may only use 1-256 of A-Z, a-z, 0-9, _ and -"
                )
    if whatsapp:
        for name, value in (
            ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
            ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
        ):
            if not value:
                problems.append(
                    f"{name} wajib diisi karena WhatsApp (Twilio) diaktifkan"
                    f" / {name} is required because WhatsApp (Twilio) is enabled"
                )
        if not (settings.twilio_whatsapp_from or settings.twilio_messaging_service_sid):
            problems.append(
                "TWILIO_WHATSAPP_FROM (mis. whatsapp:+14155238886) atau TWILIO_MESSAGING_SERVICE_SID wajib diisi"
                " / TWILIO_WHATSAPP_FROM (e.g. whatsapp:+14155238886) or TWILIO_MESSAGING_SERVICE_SID is required"
            )
        if not settings.public_url:
            problems.append(
                "DESMIGRAS_PUBLIC_URL wajib diisi untuk WhatsApp: tanda tangan Twilio dihitung dari alamat publik"
                " yang persis / DESMIGRAS_PUBLIC_URL is required for WhatsApp: Twilio signs the exact public URL"
            )
    for name, value in (
        ("DESMIGRAS_PROVIDER_TIMEOUT", settings.provider_timeout),
        ("DESMIGRAS_DELIVERY_INTERVAL", settings.delivery_interval),
        ("DESMIGRAS_TIMERS_INTERVAL", settings.timers_interval),
        ("DESMIGRAS_WHATSAPP_HOLD_HOURS", settings.whatsapp_hold_hours),
    ):
        if value <= 0:
            problems.append(f"{name} harus lebih dari 0 / {name} must be greater than 0")
    if problems:
        raise ConfigError(
            "Desmigras tidak bisa dimulai / Desmigras cannot start:\n" + "\n".join(f"- {p}" for p in problems)
        )
    return Channels(telegram=telegram, telegram_mode=mode, whatsapp=whatsapp)


def build_senders(bot: "Bot", channels: Channels) -> dict[str, ChannelSender]:
    """One sender per enabled channel, for the delivery worker."""
    senders: dict[str, ChannelSender] = {}
    if channels.telegram:
        from bot.channels.telegram import TelegramSender

        senders[TELEGRAM] = TelegramSender(bot)
    if channels.whatsapp:
        from bot.channels.whatsapp import WhatsAppSender

        senders[WHATSAPP] = WhatsAppSender(bot)
    return senders


def configure_logging(level: int = 20) -> None:
    """Logging for the web and worker processes: our privacy filter, and the
    provider libraries kept quiet. httpx logs every request URL at INFO, and
    Telegram URLs contain the bot token; python-telegram-bot logs request
    parameters (message texts) at DEBUG."""
    import logging

    from bot.privacy import configure_logging as configure_privacy_logging

    configure_privacy_logging(level)
    for name in ("httpx", "httpcore", "telegram", "twilio", "urllib3", "hpack"):
        logging.getLogger(name).setLevel(logging.WARNING)


def where(error: BaseException) -> str:
    """An exception for the log without its message: database errors quote the
    SQL parameters (message texts, phone numbers), so only the type and the
    place it was raised are logged."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return type(error).__name__
    last = frames[-1]
    return f"{type(error).__name__} at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} ({last.name})"


def clip(value: str, limit: int) -> str:
    """Fit a provider-given value into its column; an over-long name must not
    make a message impossible to store (the provider would retry forever)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"

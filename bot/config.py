"""Settings read once from the environment.

Everything deployment-specific (database, secrets, thresholds) comes from here so
that the same code runs on a laptop with SQLite and in production on PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """What the running bot needs to know about its deployment."""

    database_url: str = field(
        default_factory=lambda: os.environ.get(
            "DESMIGRAS_DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'desmigras.sqlite3'}"
        )
    )
    content_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("DESMIGRAS_CONTENT_DIR", PROJECT_ROOT / "content"))
    )
    model_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("DESMIGRAS_MODEL_DIR", PROJECT_ROOT / "models"))
    )
    # The NLU worker (python -m nlu.worker) to ask instead of loading the model
    # in this process: "127.0.0.1:5055" or "unix:/run/desmigras/nlu.sock".
    nlu_worker: str = field(default_factory=lambda: os.environ.get("DESMIGRAS_NLU_WORKER", "").strip())
    # Below this intent confidence the bot asks for clarification instead of
    # guessing: a confident wrong answer about migration costs people money.
    nlu_threshold: float = field(default_factory=lambda: _env_float("DESMIGRAS_NLU_THRESHOLD", 0.55))
    # Texts longer than this are cut before NLU and storage; WhatsApp allows
    # 4096 characters, nobody types more on a phone in one message.
    max_text_length: int = field(default_factory=lambda: _env_int("DESMIGRAS_MAX_TEXT", 4000))
    # Messages one person may send per minute before the bot stops processing
    # (they are still stored). Protects the satgas queue from floods.
    rate_limit_per_minute: int = field(default_factory=lambda: _env_int("DESMIGRAS_RATE_LIMIT", 20))
    # Alerts about one case to one satgas address per minute (replies, photos,
    # additions); the last one says more came, the rest are not queued (the
    # case history keeps them all: `lihat KODE`).
    alerts_per_case_per_minute: int = field(default_factory=lambda: _env_int("DESMIGRAS_ALERT_CAP", 5))
    # SQLite only: seconds a writer waits for another's lock before "database is locked".
    sqlite_busy_timeout: float = field(default_factory=lambda: _env_float("DESMIGRAS_SQLITE_BUSY_TIMEOUT", 30.0))
    # Seconds a webhook waits for its turn to be stored before answering "not
    # stored, retry" (503): inside the read timeout configured for Twilio
    # (docs/deployment.md: rt=6000), so its retries fit in its 15 s budget.
    webhook_deadline: float = field(default_factory=lambda: _env_float("DESMIGRAS_WEBHOOK_DEADLINE", 5.0))
    # Turns one web process runs at once (each holds a thread and a database
    # connection: keep it below the pool's 10), and how many more may wait for
    # a slot before new messages are refused at once with "retry" (503), so
    # that an overloaded node answers late messages quickly instead of all of
    # them slowly (bot/channels/intake.py). 0: 8 on PostgreSQL, 1 on SQLite,
    # whose single write lock lets one turn run at a time anyway (a turn waiting
    # in the gate costs nothing; one waiting for the lock sleeps and retries).
    turns_at_once: int = field(default_factory=lambda: _env_int("DESMIGRAS_TURNS_AT_ONCE", 0))
    turns_waiting: int = field(default_factory=lambda: _env_int("DESMIGRAS_TURNS_WAITING", 64))

    # --- channels and the web app (bot.web, bot.delivery, bot.channels) -----
    # The https address the providers call, without a trailing slash, e.g.
    # "https://bot.example.org". Twilio signs the exact URL it requested, so the
    # WhatsApp signature can only be checked against this, never against what a
    # reverse proxy forwards.
    public_url: str = field(default_factory=lambda: os.environ.get("DESMIGRAS_PUBLIC_URL", "").strip().rstrip("/"))
    # Secrets are kept out of repr() so that printing settings never leaks them.
    telegram_bot_token: str = field(
        default_factory=lambda: os.environ.get("TELEGRAM_BOT_TOKEN", "").strip(), repr=False
    )
    telegram_webhook_secret: str = field(
        default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip(), repr=False
    )
    # "webhook" or "polling"; empty: webhook when public_url is set, else polling.
    telegram_mode: str = field(default_factory=lambda: os.environ.get("TELEGRAM_MODE", "").strip().lower())
    # Bot API base (a self-hosted Bot API server, or the fake one in tests).
    telegram_api_url: str = field(
        default_factory=lambda: os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org/bot").strip()
    )
    twilio_account_sid: str = field(default_factory=lambda: os.environ.get("TWILIO_ACCOUNT_SID", "").strip())
    twilio_auth_token: str = field(
        default_factory=lambda: os.environ.get("TWILIO_AUTH_TOKEN", "").strip(), repr=False
    )
    # The WhatsApp sender ("whatsapp:+14155238886" in the sandbox) or a
    # Messaging Service SID ("MG..."); one of the two is required.
    twilio_whatsapp_from: str = field(default_factory=lambda: os.environ.get("TWILIO_WHATSAPP_FROM", "").strip())
    twilio_messaging_service_sid: str = field(
        default_factory=lambda: os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "").strip()
    )
    # Twilio REST base ("https://api.twilio.com" when empty; the fake one in tests).
    twilio_api_url: str = field(default_factory=lambda: os.environ.get("TWILIO_API_URL", "").strip().rstrip("/"))
    # Outside WhatsApp's 24-hour window only an approved template may be sent:
    # a Content SID ("HX...") or, for senders using template matching, its exact
    # text. None configured: such messages are marked failed with the reason.
    whatsapp_template_sid: str = field(default_factory=lambda: os.environ.get("WHATSAPP_TEMPLATE_SID", "").strip())
    whatsapp_template_text: str = field(default_factory=lambda: os.environ.get("WHATSAPP_TEMPLATE_TEXT", "").strip())
    # How long messages wait for the person to answer the template before they
    # are given up on.
    whatsapp_hold_hours: float = field(default_factory=lambda: _env_float("DESMIGRAS_WHATSAPP_HOLD_HOURS", 72.0))
    # Seconds to wait for Telegram / Twilio before counting a send as timed out.
    provider_timeout: float = field(default_factory=lambda: _env_float("DESMIGRAS_PROVIDER_TIMEOUT", 10.0))
    # Delivery worker: seconds between outbox passes when idle, between timer runs.
    delivery_interval: float = field(default_factory=lambda: _env_float("DESMIGRAS_DELIVERY_INTERVAL", 1.0))
    timers_interval: float = field(default_factory=lambda: _env_float("DESMIGRAS_TIMERS_INTERVAL", 30.0))
    # Run the delivery worker inside each web process ("1") or only in a
    # separate `python -m bot.delivery` process ("0").
    worker_in_web: bool = field(
        default_factory=lambda: os.environ.get("DESMIGRAS_WORKER_IN_WEB", "1").strip().lower()
        not in ("0", "false", "no", "off")
    )
    # WhatsApp: chats a delivery worker sends to at the same time (each chat's
    # messages stay in order). Twilio takes a few hundred milliseconds per
    # send, so one chat after another would cap a worker at a few per second.
    send_parallel: int = field(default_factory=lambda: _env_int("DESMIGRAS_SEND_PARALLEL", 8))
    # Seconds a claimed outbox message belongs to one worker; after that (the
    # worker died) another may take it, asking the provider first whether it went.
    outbox_lease: float = field(default_factory=lambda: _env_float("DESMIGRAS_OUTBOX_LEASE", 120.0))
    web_host: str = field(default_factory=lambda: os.environ.get("DESMIGRAS_HOST", "127.0.0.1").strip())
    web_port: int = field(default_factory=lambda: _env_int("DESMIGRAS_PORT", 8000))
    web_workers: int = field(default_factory=lambda: _env_int("DESMIGRAS_WEB_WORKERS", 1))
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated addresses or networks, e.g. "127.0.0.1" for nginx on the
    # same machine). Default none: a header anyone can send must not choose the
    # address that sign-in throttling counts.
    trusted_proxies: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            part.strip() for part in os.environ.get("DESMIGRAS_TRUSTED_PROXIES", "").split(",") if part.strip()
        )
    )


def load_settings() -> Settings:
    return Settings()

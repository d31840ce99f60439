"""The web application: provider webhooks, a health check and, by default, the
delivery worker, in one Starlette app served by uvicorn.

    python -m bot.web         # serves the channels configured in the environment

Routes:
    POST /webhooks/telegram   Telegram updates (secret-token header checked)
    POST /webhooks/whatsapp   Twilio WhatsApp messages (X-Twilio-Signature checked)
    GET  /health              database and NLU model, about 1 s at most: 200 (ok, degraded) or 503, JSON

A webhook commits the turn (the reply goes to the outbox in the same
transaction) and answers at once; the delivery worker sends. Bodies over 64 KB
are refused with 413 before they are read to the end, bad input gets a 4xx,
and only a message that could not be stored within DESMIGRAS_WEBHOOK_DEADLINE
gets a 5xx (503: Telegram retries it; Twilio only with the connection
overrides of docs/deployment.md, section 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any, Optional

from sqlalchemy import func, select, text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bot.app import Bot
from bot.channels import Channels, build_senders, channels_or_exit, check_settings, configure_logging
from bot.channels.intake import TurnGate
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.knowledge import knowledge_for
from bot.storage.models import OutboundMessage
from nlu.classifier import NluUnavailable
from nlu.worker_process import own_worker_trouble, share_own_worker

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # a Telegram update or Twilio form is a few KB
NO_CHANNEL = (
    "Tidak ada kanal yang diatur: isi TELEGRAM_BOT_TOKEN dan/atau TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,"
    " TWILIO_WHATSAPP_FROM (lihat docs/deployment.md), atau jalankan './dev run' untuk chat di konsol."
    " / No channel is configured: set TELEGRAM_BOT_TOKEN and/or the TWILIO_* variables"
    " (see docs/deployment.md), or use './dev run' for the console chat."
)


class OneCheckAtATime:
    """Runs a health check in its own thread, one run at a time.

    A probe waits at most its time box for the answer. A check stuck behind a
    write lock or a stalled NLU worker keeps running after that (a thread
    cannot be interrupted), so the next probe joins the run in progress
    instead of starting another one: a load balancer probing every few seconds
    cannot pile up threads and database connections behind one lock.
    """

    def __init__(self, work: Callable[[], Any], name: str) -> None:
        self._work = work
        self._name = name
        self._lock = threading.Lock()
        self._running: Optional[Future[Any]] = None

    def start(self) -> Future[Any]:
        with self._lock:
            if self._running is None or self._running.done():
                future: Future[Any] = Future()
                self._running = future
                threading.Thread(target=self._run, args=(future,), name=self._name, daemon=True).start()
            return self._running

    def _run(self, future: Future[Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._work())
        except BaseException as error:  # delivered to the probe, which reports it
            future.set_exception(error)


class Health:
    """GET /health: can this process answer people right now?

    Every check (database, NLU) gets `time_box` seconds, run side by side: a
    database write-locked by a long transaction or a stalled NLU worker makes
    the answer "degraded" with the reason within about a second, instead of
    holding the probe for the busy timeout (14.8 s seen in issue 24), which a
    load balancer would read as a dead process.
    """

    def __init__(self, bot: Bot, channels: Channels, time_box: float = 1.0) -> None:
        self.bot = bot
        self.channels = channels
        self.time_box = time_box
        self._database = OneCheckAtATime(self._check_database, "health-database")
        self._nlu = OneCheckAtATime(self._check_nlu, "health-nlu")

    async def endpoint(self, _request: Request) -> JSONResponse:
        report = await run_in_threadpool(self.check)
        return JSONResponse(report, status_code=200 if report["status"] in ("ok", "degraded") else 503)

    def check(self) -> dict[str, Any]:
        checks: dict[str, str] = {}
        reasons: list[str] = []
        outbox: dict[str, int] = {}
        deadline = time.monotonic() + self.time_box
        database, nlu = self._database.start(), self._nlu.start()
        try:
            outbox = database.result(timeout=max(0.0, deadline - time.monotonic()))
            checks["database"] = "ok"
        except FutureTimeout:
            # Busy (a write lock held, SQLite's BEGIN IMMEDIATE waiting) or slow:
            # the process may still serve; say why instead of waiting.
            checks["database"] = "busy"
            reasons.append(f"database: no answer within {self.time_box:g} s (busy or locked)")
        except Exception as error:
            logger.error("health: database check failed: %s", type(error).__name__)
            checks["database"] = "unavailable"
            reasons.append("database: unavailable")
        try:
            checks["nlu"], trouble = nlu.result(timeout=max(0.0, deadline - time.monotonic()))
            if trouble:
                reasons.append(f"nlu: {trouble}")
        except FutureTimeout:
            checks["nlu"] = "degraded"
            reasons.append(f"nlu: no answer within {self.time_box:g} s")
        except Exception as error:
            logger.error("health: NLU check failed: %s", type(error).__name__)
            checks["nlu"] = "unavailable"
            reasons.append("nlu: unavailable")
        if checks["database"] == "unavailable" or checks["nlu"] not in ("ok", "degraded"):
            status = "unavailable"
        elif all(value == "ok" for value in checks.values()):
            status = "ok"
        else:
            status = "degraded"
        return {
            "status": status,
            "checks": checks,
            "reasons": reasons,
            "channels": list(self.channels.names),
            "outbox": outbox,
        }

    def _check_database(self) -> dict[str, int]:
        """Reachable, and the outbox's backlog (pending, failed in 24 h)."""
        with self.bot.sessions() as session:
            session.execute(text("SELECT 1"))
            since = self.bot.clock.now() - timedelta(hours=24)
            pending = session.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(("pending", "sending")))
            ).scalar_one()
            failed = session.execute(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status == "failed", OutboundMessage.created_at >= since)
            ).scalar_one()
        return {"pending": pending, "failed_24h": failed}

    def _check_nlu(self) -> tuple[str, Optional[str]]:
        """The NLU check and why it is degraded. While the worker this process
        started itself is being started again (nlu/worker_process.py) that is
        the answer at once, without waiting on its socket. A worker that is
        down or stalled degrades: menus, forms, patterns and satgas commands
        still work, free text gets the menu."""
        trouble = own_worker_trouble()
        if trouble:
            return "degraded", trouble
        try:
            understood = self.bot.classifier.parse("halo")
        except NluUnavailable:
            return "degraded", "worker unavailable"
        return ("ok", None) if understood.intent else ("no intent", "the model gave no intent")


def create_app(
    bot: Optional[Bot] = None,
    *,
    run_worker: Optional[bool] = None,
    run_poller: Optional[bool] = None,
    console: Optional[bool] = None,
) -> Starlette:
    """The app for `bot` (tests pass one); without it, settings come from the
    environment and the bot is built here (uvicorn calls this in every worker).

    run_worker / run_poller override the settings (tests drive delivery and
    polling themselves, deterministically). `console` mounts the web console
    at /kelola (default: DESMIGRAS_CONSOLE=1, which `python -m bot.kelola` sets).
    """
    if bot is None:
        configure_logging()
        settings = Settings()
        channels = check_settings(settings)  # before the slow part: fail fast
        from bot.app import build_bot
        from bot.content import ContentError
        from nlu.classifier import ModelMissingError

        try:
            bot = build_bot(settings)
        except (ContentError, ModelMissingError) as error:
            raise SystemExit(f"Desmigras tidak bisa dimulai / cannot start: {error}") from error
        # Importing scikit-learn and fitting the knowledge finder takes seconds: do it
        # before serving, not in the first question someone asks (past the webhook deadline).
        knowledge_for(bot.content)
    else:
        settings = bot.settings
        channels = check_settings(settings)

    routes: list[Any] = [Route("/health", Health(bot, channels).endpoint, methods=["GET"])]
    if console if console is not None else os.environ.get("DESMIGRAS_CONSOLE", "0") == "1":
        routes.append(console_mount(bot))
    updates = None
    gate = TurnGate.for_settings(settings)  # the channels share the process's turns
    if channels.telegram:
        from bot.channels import telegram

        updates = telegram.TelegramUpdates(bot, gate=gate)
        if channels.telegram_mode == "webhook":
            webhook = telegram.TelegramWebhook(updates, settings.telegram_webhook_secret)
            routes.append(Route(telegram.WEBHOOK_PATH, webhook.endpoint, methods=["POST"]))
    if channels.whatsapp:
        from bot.channels import whatsapp

        routes.append(Route(whatsapp.WEBHOOK_PATH, whatsapp.WhatsAppWebhook(bot, gate).endpoint, methods=["POST"]))
        routes.append(Route(whatsapp.STATUS_PATH, whatsapp.WhatsAppStatus(bot).endpoint, methods=["POST"]))

    worker_on = (settings.worker_in_web if run_worker is None else run_worker) and bool(channels.names)
    poller_on = (
        channels.telegram and channels.telegram_mode == "polling" if run_poller is None else run_poller
    ) and updates is not None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        worker: Optional[DeliveryWorker] = None
        worker_task: Optional[asyncio.Task[None]] = None
        poller_task: Optional[asyncio.Task[None]] = None
        if worker_on:
            worker = DeliveryWorker(bot, await asyncio.to_thread(build_senders, bot, channels))
            worker_task = asyncio.create_task(worker.run(stop), name="delivery")
        if poller_on:
            from bot.channels.telegram import TelegramPoller

            assert updates is not None
            poller_task = asyncio.create_task(TelegramPoller(updates).run(), name="telegram-poller")
        app.state.worker = worker
        logger.info("serving %s (worker %s, polling %s)", ", ".join(channels.names) or "no channel", worker_on, poller_on)
        try:
            yield
        finally:
            stop.set()
            if poller_task is not None:
                poller_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller_task
            if worker_task is not None:
                await worker_task  # finishes the pass in progress: nothing is left half-settled
            if worker is not None:
                await asyncio.to_thread(worker.close)
            if updates is not None:
                await updates.close()

    app = Starlette(routes=routes, lifespan=lifespan, max_body_size=MAX_BODY, middleware=web_middleware(settings))
    app.state.bot = bot
    app.state.channels = channels
    return app


# uvicorn's own forwarded-header handling is off: by default it believes
# X-Forwarded-For from 127.0.0.1, so any client on the machine (or behind a
# proxy that passes the header on) could choose the address that sign-in
# throttling counts. web_middleware believes only DESMIGRAS_TRUSTED_PROXIES.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}


def web_middleware(settings: Settings) -> list[Middleware]:
    """Forwarded headers believed only from DESMIGRAS_TRUSTED_PROXIES (uvicorn
    itself trusts none: see main), then the security headers on every answer."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from bot.security_headers import SecurityHeaders

    middleware = [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))] if settings.trusted_proxies else []
    return middleware + [Middleware(SecurityHeaders, https=settings.public_url.startswith("https://"))]


def console_mount(bot: Bot) -> Mount:
    """The web console under /kelola; refuses to start without its secret."""
    from bot.kelola.pages import build_console
    from bot.kelola.security import NoSecret, console_secret

    try:
        secret = console_secret(bot.settings)
    except NoSecret as error:
        raise SystemExit(f"Konsol web tidak bisa dimulai: {error}") from error
    return Mount("/kelola", app=build_console(bot, secret, secure=bot.settings.public_url.startswith("https://")))


def prepare_database(settings: Settings) -> None:
    """Migrate and load the reference data once, before several uvicorn workers
    start and each would do it at the same moment (bot.app.sync_reference_data,
    the same sync every build_bot does)."""
    from bot.app import sync_reference_data
    from bot.storage.db import make_engine, make_session_factory, migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        with sessions() as session, session.begin():
            sync_reference_data(session, settings.content_dir)
    finally:
        engine.dispose()


def main() -> None:
    """`python -m bot.web`: check the settings, then serve with uvicorn."""
    configure_logging()
    settings = Settings()
    channels = channels_or_exit(settings, NO_CHANNEL)
    if channels.telegram and channels.telegram_mode == "polling" and settings.web_workers > 1:
        sys.exit(
            "Mode polling Telegram hanya boleh satu proses: DESMIGRAS_WEB_WORKERS=1 atau pakai webhook."
            " / Telegram polling allows a single process: set DESMIGRAS_WEB_WORKERS=1 or use the webhook."
        )
    if settings.web_workers > 1:
        prepare_database(settings)
    share_own_worker(settings.model_dir)  # one NLU model for all web processes
    import uvicorn

    uvicorn.run(
        "bot.web:create_app",
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        workers=settings.web_workers,
        **SERVER_OPTIONS,
        log_config=None,  # keep our handler: it masks personal data
        ws="none",  # we serve no websockets
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()

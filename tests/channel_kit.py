"""What the channel tests share: a bot wired to the fake Telegram and Twilio
servers, builders for real-looking provider payloads (Telegram updates, signed
Twilio forms), a uvicorn server in a thread, and exactly-once accounting."""

from __future__ import annotations

import itertools
import re
import shutil
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Optional

import httpx
import uvicorn
import yaml
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from bot.app import Bot, build_bot
from bot.channels import build_senders, check_settings
from bot.channels.split import WHATSAPP_LIMIT, split_text
from bot.channels.telegram import SECRET_HEADER, message_parts
from bot.clock import ManualClock
from bot.config import PROJECT_ROOT, Settings
from bot.delivery import DeliveryWorker
from bot.messages import Option, Outbound
from bot.storage.models import OutboundMessage
from bot.web import create_app
from tests.conftest import make_settings
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM, FakeTwilio

PUBLIC_URL = "https://bot.desmigras.test"
SECRET = "test-webhook-secret_0123456789"
WA_URL = PUBLIC_URL + "/webhooks/whatsapp"
GROUP = "-1001234567890"  # the village satgas group in the satgas tests
SATGAS_TG = "7001"  # a registered satgas member's Telegram user id

_update_ids = itertools.count(910_000)
_message_ids = itertools.count(1)


def channel_settings(database_url: str, telegram: FakeTelegram, twilio: FakeTwilio, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        public_url=PUBLIC_URL,
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_mode="webhook",
        telegram_api_url=telegram.api_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=WHATSAPP_FROM,
        twilio_messaging_service_sid="",
        twilio_api_url=twilio.base_url,
        whatsapp_template_sid="",
        whatsapp_template_text="",
        provider_timeout=0.5,
        worker_in_web=False,
    )
    values.update(overrides)
    return make_settings(database_url, **values)


@dataclass
class Rig:
    """One running deployment: bot, web app (TestClient), worker, fake providers."""

    bot: Bot
    app: Starlette
    client: TestClient
    worker: DeliveryWorker
    telegram: FakeTelegram
    twilio: FakeTwilio
    clock: ManualClock

    # --- inbound ------------------------------------------------------------------------
    def telegram_update(self, update: dict[str, Any], secret: Optional[str] = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return self.client.post("/webhooks/telegram", json=update, headers=headers)

    def whatsapp(self, form: dict[str, str], signature: Optional[str] = "sign") -> httpx.Response:
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = sign(form)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return self.client.post("/webhooks/whatsapp", data=form, headers=headers)

    # --- delivery -----------------------------------------------------------------------
    def deliver(self, passes: int = 60, step: timedelta = timedelta(seconds=3)) -> int:
        """Run the worker until nothing is due any more, moving the clock on so
        backoffs and Retry-After delays pass; returns the passes it took."""
        for number in range(1, passes + 1):
            self.worker.run_once()
            if not self.unsent():
                return number
            self.clock.advance(step)
        return passes

    def unsent(self) -> list[OutboundMessage]:
        with self.bot.sessions() as session:
            return list(
                session.execute(
                    select(OutboundMessage).where(OutboundMessage.status.in_(("pending", "sending")))
                ).scalars()
            )

    def rows(self, channel: Optional[str] = None) -> list[OutboundMessage]:
        with self.bot.sessions() as session:
            query = select(OutboundMessage).order_by(OutboundMessage.id)
            if channel:
                query = query.where(OutboundMessage.channel == channel)
            return list(session.execute(query).scalars())


@contextmanager
def running_rig(
    database_url: str,
    classifier: Any,
    clock: ManualClock,
    telegram: Optional[FakeTelegram] = None,
    twilio: Optional[FakeTwilio] = None,
    **overrides: Any,
) -> Iterator[Rig]:
    """A rig on `database_url`; pass existing fakes to 'restart' against them."""
    own_tg, own_tw = telegram is None, twilio is None
    telegram = telegram or FakeTelegram().start()
    twilio = twilio or FakeTwilio().start()
    bot = build_bot(channel_settings(database_url, telegram, twilio, **overrides), classifier=classifier, clock=clock)
    worker = DeliveryWorker(bot, build_senders(bot, check_settings(bot.settings)))
    app = create_app(bot, run_worker=False, run_poller=False)
    try:
        with TestClient(app) as client:
            yield Rig(bot, app, client, worker, telegram, twilio, clock)
    finally:
        worker.close()
        bot.engine.dispose()
        if own_tg:
            telegram.stop()
        if own_tw:
            twilio.stop()


# --- provider payloads ------------------------------------------------------------------
def tg_user(user_id: int, name: str = "Siti") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "id"}


def tg_chat(chat_id: int, chat_type: str = "private") -> dict[str, Any]:
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = "Siti"
    else:
        chat["title"] = "Satgas Desa Jlamprang"
    return chat


def tg_message(
    chat_id: int,
    text: Optional[str] = "halo",
    *,
    user_id: Optional[int] = None,
    chat_type: str = "private",
    update_id: Optional[int] = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Telegram `message` update as the Bot API sends it."""
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": tg_chat(chat_id, chat_type),
        "from": tg_user(user_id if user_id is not None else chat_id),
    }
    if text is not None:
        message["text"] = text
    message.update(fields)
    return {"update_id": update_id if update_id is not None else next(_update_ids), "message": message}


def tg_callback(
    chat_id: int,
    data: str,
    *,
    user_id: Optional[int] = None,
    chat_type: str = "private",
    buttons: Optional[list[tuple[str, str]]] = None,
    update_id: Optional[int] = None,
) -> dict[str, Any]:
    """A button tap (`callback_query`) on a message the bot sent with `buttons`."""
    bot_message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": tg_chat(chat_id, chat_type),
        "from": {"id": int(TOKEN.split(":")[0]), "is_bot": True, "first_name": "Desmigras"},
        "text": "...",
    }
    if buttons:
        bot_message["reply_markup"] = {"inline_keyboard": [[{"text": t, "callback_data": d}] for t, d in buttons]}
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "callback_query": {
            "id": f"cbq-{uuid.uuid4().hex[:12]}",
            "from": tg_user(user_id if user_id is not None else chat_id),
            "chat_instance": "-4242",
            "data": data,
            "message": bot_message,
        },
    }


def wa_form(phone: str, body: str = "halo", sid: Optional[str] = None, **fields: str) -> dict[str, str]:
    """The form Twilio posts for an incoming WhatsApp message."""
    sid = sid or "SM" + uuid.uuid4().hex
    form = {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": "Siti",
        "MessageType": "text",
        "SmsSid": sid,
        "WaId": phone.lstrip("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": WHATSAPP_FROM,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{phone}",
        "ApiVersion": "2010-04-01",
    }
    form.update(fields)
    return form


def sign(form: dict[str, str], url: str = WA_URL, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature exactly as Twilio computes it."""
    return RequestValidator(token).compute_signature(url, form)


# --- content with a Telegram satgas group -------------------------------------------------
def content_with_telegram_group(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", target)
    data = yaml.safe_load((target / "villages.yml").read_text())
    village = data["villages"][0]  # jlamprang
    village["telegram_group"] = GROUP
    village["satgas"].append({"name": "Satgas Jlamprang Telegram", "role": "anggota", "telegram": SATGAS_TG})
    (target / "villages.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return target


# --- exactly-once accounting -----------------------------------------------------------------
def expected_parts(row: OutboundMessage) -> list[str]:
    """What the provider should receive for one outbox row (the spec, restated)."""
    options = tuple(Option(o["value"], o["label"]) for o in row.options or [])
    if row.channel == "telegram":
        # The formatting itself is tested in tests/test_telegram_format.py;
        # here only "each part once" is counted.
        return message_parts(row)
    return split_text(Outbound(row.text, options).as_plain_text(), WHATSAPP_LIMIT)


_BOLD = re.compile(r"(?<![\w*])\*(\S(?:[^*\n]*?\S)?)\*(?![\w*])")


def telegram_html(ours: str) -> str:
    """One of our texts (no person's words, no < > &) as the Telegram
    sendMessage text: *bold* as <b>bold</b> (WhatsApp's rule, restated)."""
    return _BOLD.sub(r"<b>\1</b>", ours)


def telegram_shown(ours: str) -> str:
    """What a person reads on Telegram for one of our texts: no asterisks."""
    return _BOLD.sub(r"\1", ours)


def accounting(rig: Rig) -> dict[str, int]:
    """Compare what the outbox says was sent with what the providers accepted."""
    rows = [r for r in rig.rows() if r.channel in ("telegram", "whatsapp")]
    expected: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        for part in expected_parts(row):
            expected[(row.channel, row.address, part)] += 1
    delivered: Counter[tuple[str, str, str]] = Counter()
    for sent in rig.telegram.sent():
        delivered[("telegram", sent.chat_id, sent.text)] += 1
    for message in rig.twilio.sent():
        if not message.content_sid:
            delivered[("whatsapp", message.to.removeprefix("whatsapp:"), message.body)] += 1
    faults = Counter(rig.telegram.faults_served()) + Counter(rig.twilio.faults_served())
    requests = len([r for r in rig.telegram.requests if r.path.endswith("/sendMessage")]) + len(
        [r for r in rig.twilio.requests if r.path.endswith("/Messages.json")]
    )
    attempts = sum(r.attempts for r in rows)
    return {
        "outbox_rows": len(rows),
        "parts_expected": sum(expected.values()),
        "provider_requests": requests,
        "provider_retries": requests - sum(delivered.values()),
        # attempts that did not reach the provider: waiting for an earlier message
        # to the same chat (single-part messages only; parts make this approximate)
        "order_deferrals": attempts - requests,
        "delivered": sum(delivered.values()),
        "rows_sent": sum(1 for r in rows if r.status == "sent"),
        "rows_failed": sum(1 for r in rows if r.status == "failed"),
        "rows_retried": sum(1 for r in rows if r.attempts > 1),
        "attempts_total": attempts,
        "faults_500": faults.get("error", 0),
        "faults_429": faults.get("rate_limited", 0),
        "faults_timeout": faults.get("timeout", 0),
        "duplicated": sum((delivered - expected).values()),
        "lost": sum((expected - delivered).values()),
    }


# --- uvicorn on 127.0.0.1, in a thread ------------------------------------------------------------
class Served:
    """The app served by a real uvicorn on a free port (lifespan included)."""

    def __init__(self, app: Starlette) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="none"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> "Served":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def wait_until(condition: Any, timeout: float = 15.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())

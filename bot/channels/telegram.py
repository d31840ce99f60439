"""Telegram: updates in (webhook or long polling), outbox rows out (Bot API).

Everything Telegram-specific lives here and goes through python-telegram-bot:
updates are parsed with `Update.de_json`, messages sent with `Bot.send_message`
and button taps acknowledged with `Bot.answer_callback_query`. Nothing is sent
from the webhook except that acknowledgement; replies come from the outbox.

Identities: in a private chat the person is the chat (sender = chat id). In a
group (a village satgas group) the person is `from_user` (that is who the satgas
check must see) and replies go to the group (`Inbound.chat`).

    python -m bot.channels.telegram set-webhook     # register DESMIGRAS_PUBLIC_URL + secret
    python -m bot.channels.telegram webhook-info
    python -m bot.channels.telegram delete-webhook
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Coroutine, Optional, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import Bot as TelegramBot
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.app import Bot
from bot.channels import TELEGRAM, clip, where
from bot.channels.intake import TurnGate, take
from bot.channels.parts import PartJournal, send_in_parts
from bot.channels.split import TELEGRAM_LIMIT
from bot.channels.telegram_format import PARSE_MODE, telegram_parts
from bot.config import Settings
from bot.messages import Attachment, Inbound, Outbound, options_from_rows
from bot.outbox import PermanentDeliveryError, TemporaryDeliveryError
from bot.privacy import mask
from bot.storage.models import OutboundMessage

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Only these reach us (set with setWebhook / getUpdates): everything else a
# group produces (joins, edits, reactions) is never sent in the first place.
ALLOWED_UPDATES = ("message", "callback_query")
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit for callback_data
NAME_LIMIT = 120  # Contact.display_name
# A leading "/ambil@DesmigrasBot ADU-7K3P" (how Telegram writes commands in
# groups) becomes "/ambil ADU-7K3P", which the satgas parser understands.
_COMMAND_MENTION = re.compile(r"^(/\w+)@\w+")
_NUMBERED_LABEL = re.compile(r"^\d{1,2}\.\s+")

T = TypeVar("T")


def make_api(settings: Settings, connections: int = 8) -> TelegramBot:
    """A python-telegram-bot `Bot` with our timeouts and base URL (the fake one
    in tests); `connections` is how many requests may be open at once."""
    timeout = settings.provider_timeout

    def request(pool: int) -> HTTPXRequest:
        return HTTPXRequest(
            connection_pool_size=pool,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )

    return TelegramBot(
        settings.telegram_bot_token,
        base_url=settings.telegram_api_url,
        request=request(connections),
        get_updates_request=request(1),
    )


# --- inbound: update -> Inbound ---------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    """What one update means for the bot."""

    inbound: Optional[Inbound] = None
    callback_query_id: Optional[str] = None  # to acknowledge the tap
    ignored: str = ""  # why nothing goes to the core (logged, answered 200)


def is_known_update(data: dict[str, Any]) -> bool:
    """A dict with an integer update_id and at least one update type Telegram defines."""
    update_id = data.get("update_id")
    if not _int64(update_id):
        return False
    return any(kind in data for kind in Update.ALL_TYPES)


def _int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _id(value: Any) -> str:
    """A Telegram chat or user id as we store it; anything else is malformed."""
    if not _int64(value):
        raise ValueError("not a Telegram id")
    return str(value)


def _name(user: Any) -> str:
    if user is None:
        return ""
    return clip(" ".join(part for part in (user.first_name, user.last_name) if part), NAME_LIMIT)


def parse_update(update: Update, is_command: Callable[[str], bool]) -> Parsed:
    """Translate a Telegram update. `is_command` says which group texts are
    the bot's (`Bot.is_command`: the features know their commands, not the channel)."""
    message_id = f"tg-{update.update_id}"
    if update.callback_query is not None:
        return _parse_callback(update, message_id)
    if update.message is not None:
        return _parse_message(update.message, message_id, is_command)
    kinds = [kind for kind in Update.ALL_TYPES if getattr(update, str(kind), None) is not None]
    return Parsed(ignored=f"update type {kinds[0] if kinds else 'unknown'} not handled")


def _parse_message(message: Message, message_id: str, is_command: Callable[[str], bool]) -> Parsed:
    chat = message.chat
    if chat.type == "channel":
        return Parsed(ignored="channel post")
    text = message.text or message.caption or ""
    text = _COMMAND_MENTION.sub(r"\1", text.strip())
    attachments = _attachments(message)
    if message.location is not None:
        text = f"lokasi: {message.location.latitude:.6f},{message.location.longitude:.6f}"
    if not text and not attachments:
        return Parsed(ignored="service message (join, pin, title, ...)")
    user = message.from_user
    name = _name(user)
    if chat.type == "private":
        sender, reply_chat = _id(chat.id), ""
    else:
        if user is None or user.is_bot:
            return Parsed(ignored="group message without a person")
        if not is_command(text):
            # In a group only satgas commands in their exact form are ours (taps
            # arrive as callbacks); anything else, replies to the bot included,
            # is talk between members: neither stored nor answered. Whether
            # this sender may command in this group is the satgas flow's call.
            return Parsed(ignored="group chatter")
        sender, reply_chat = _id(user.id), _id(chat.id)
    return Parsed(
        inbound=Inbound(
            channel=TELEGRAM,
            sender=sender,
            text=text,
            message_id=message_id,
            attachments=attachments,
            sender_name=name,
            chat=reply_chat,
        )
    )


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.voice:
        found.append(Attachment("voice", message.voice.file_id, message.voice.mime_type or "audio/ogg"))
    if message.audio:
        found.append(Attachment("audio", message.audio.file_id, message.audio.mime_type or "audio/mpeg"))
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        found.append(Attachment("photo", largest.file_id, "image/jpeg"))
    if message.document:
        found.append(Attachment("document", message.document.file_id, message.document.mime_type or ""))
    if message.video:
        found.append(Attachment("video", message.video.file_id, message.video.mime_type or "video/mp4"))
    if message.video_note:
        found.append(Attachment("video", message.video_note.file_id, "video/mp4"))
    if message.animation and not message.document:
        found.append(Attachment("animation", message.animation.file_id, message.animation.mime_type or ""))
    if message.sticker:
        found.append(Attachment("sticker", message.sticker.file_id, "image/webp"))
    if message.contact:
        found.append(Attachment("contact"))  # a third person's number is not ours to keep
    return tuple(found)


def _parse_callback(update: Update, message_id: str) -> Parsed:
    query = update.callback_query
    assert query is not None
    if not query.data:
        return Parsed(callback_query_id=query.id, ignored="callback without data")
    user = query.from_user
    message = query.message
    if message is not None and message.chat.type != "private":
        sender, reply_chat = _id(user.id), _id(message.chat.id)
    else:
        sender, reply_chat = _id(message.chat.id if message is not None else user.id), ""
    # The core reads the tap as the button's label typed by the person, with the
    # option value as payload (so flows never depend on how buttons look).
    label = _button_label(message, query.data) if isinstance(message, Message) else None
    return Parsed(
        inbound=Inbound(
            channel=TELEGRAM,
            sender=sender,
            text=label or query.data,
            message_id=message_id,
            payload=query.data,
            sender_name=_name(user),
            chat=reply_chat,
        ),
        callback_query_id=query.id,
    )


def _button_label(message: Message, data: str) -> Optional[str]:
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return _NUMBERED_LABEL.sub("", button.text)
    return None


# --- inbound: the shared path of webhook and poller --------------------------------
class TelegramUpdates:
    """Turns updates into turns: parse, hand to the core, acknowledge taps.

    The webhook and the long-polling loop both end here, so they behave the same.
    The python-telegram-bot `Bot` used for acknowledgements belongs to the
    event loop that serves requests; it is made on first use in that loop.
    """

    def __init__(self, bot: Bot, api: Optional[TelegramBot] = None, gate: Optional[TurnGate] = None) -> None:
        self.bot = bot
        self._api = api
        self.gate = gate or TurnGate.for_settings(bot.settings)

    @property
    def api(self) -> TelegramBot:
        if self._api is None:
            self._api = make_api(self.bot.settings)
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            await self._api.shutdown()
            self._api = None

    async def handle(self, update: Update) -> bool:
        """Process one update; False only when it could not be stored (retry it)."""
        try:
            parsed = parse_update(update, self.bot.is_command)
        except Exception:  # a well-formed update missing what its type always has
            logger.warning("telegram update %s malformed; skipped", update.update_id)
            return True
        return await self.handle_parsed(update.update_id, parsed)

    async def handle_parsed(self, update_id: int, parsed: Parsed) -> bool:
        if parsed.inbound is not None:
            if not await take(self.bot, parsed.inbound, self.gate):
                return False
        elif parsed.ignored:
            logger.info("telegram update %s ignored: %s", update_id, parsed.ignored)
        if parsed.callback_query_id:
            await self._acknowledge(parsed.callback_query_id)
        return True

    async def _acknowledge(self, callback_query_id: str) -> None:
        """Stop the spinner on the tapped button. Failing here loses nothing:
        the tap was already stored and its reply is in the outbox."""
        try:
            await self.api.answer_callback_query(callback_query_id)
        except TelegramError as error:
            logger.warning("answerCallbackQuery failed: %s", type(error).__name__)


class TelegramWebhook:
    """POST /webhooks/telegram: Telegram's secret header, then the update."""

    def __init__(self, updates: TelegramUpdates, secret: str) -> None:
        self.updates = updates
        self._secret = secret.encode()

    async def endpoint(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, self._secret):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        body = await request.body()  # the app refuses bodies over its limit with 413
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return JSONResponse({"ok": False, "error": "malformed JSON"}, status_code=400)
        if not isinstance(data, dict) or not _int64(data.get("update_id")):
            return JSONResponse({"ok": False, "error": "not a Telegram update"}, status_code=400)
        if not is_known_update(data):
            return JSONResponse({"ok": False, "error": "unknown update type"}, status_code=422)
        try:
            update = Update.de_json(data, self.updates.api)
        except Exception:  # python-telegram-bot raises various errors on malformed fields
            return JSONResponse({"ok": False, "error": "malformed update"}, status_code=400)
        if update is None:
            return JSONResponse({"ok": False, "error": "malformed update"}, status_code=400)
        try:
            parsed = parse_update(update, self.updates.bot.is_command)
        except Exception:  # well-formed JSON missing what every update of its type has
            return JSONResponse({"ok": False, "error": "malformed update"}, status_code=400)
        if not await self.updates.handle_parsed(update.update_id, parsed):
            # Telegram delivers the update again later; the core dedupes it.
            return JSONResponse({"ok": False, "error": "not stored, retry"}, status_code=503)
        return JSONResponse({"ok": True})


class TelegramPoller:
    """Long polling (getUpdates), for deployments without a public URL.

    The offset moves past an update only after it was stored, so a crash or a
    database outage makes Telegram deliver it again (and the core dedupes it).
    Telegram allows one poller per bot: run a single web process in this mode.
    """

    def __init__(self, updates: TelegramUpdates, timeout: int = 25, retry_delay: float = 5.0) -> None:
        self.updates = updates
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.offset: Optional[int] = None
        self._webhook_removed = False

    async def poll_once(self) -> int:
        """One getUpdates call; returns how many updates were handled."""
        api = self.updates.api
        if not self._webhook_removed:
            await api.delete_webhook(drop_pending_updates=False)  # getUpdates refuses while one is set
            self._webhook_removed = True
        batch = await api.get_updates(offset=self.offset, timeout=self.timeout, allowed_updates=list(ALLOWED_UPDATES))
        handled = 0
        for update in batch:
            if not await self.updates.handle(update):
                break  # not stored: ask again from here after a pause
            self.offset = update.update_id + 1
            handled += 1
        if handled < len(batch):
            await asyncio.sleep(self.retry_delay)
        return handled

    async def run(self) -> None:
        """Poll until cancelled; provider errors pause, never stop, the loop."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Conflict:
                logger.error("telegram: another poller or a webhook is active for this bot; retrying")
                self._webhook_removed = False
                await asyncio.sleep(self.retry_delay)
            except TelegramError as error:
                logger.warning("telegram getUpdates failed: %s", type(error).__name__)
                await asyncio.sleep(self.retry_delay)
            except Exception as error:
                logger.error("telegram poller pass failed: %s", where(error))
                await asyncio.sleep(self.retry_delay)


# --- outbound: outbox row -> sendMessage ---------------------------------------------
def keyboard(rows: list[dict[str, str]]) -> Optional[InlineKeyboardMarkup]:
    """One button per option, numbered like the WhatsApp menu so that typing
    "2" and tapping the second button mean the same; None when an option value
    does not fit Telegram's 64-byte callback_data."""
    options = options_from_rows(rows)
    if not options or any(len(o.value.encode()) > CALLBACK_DATA_LIMIT for o in options):
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"{n}. {o.label}", callback_data=o.value)] for n, o in enumerate(options, 1)]
    )


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class TelegramSender:
    """Sends outbox rows with `Bot.send_message`, for the (synchronous) delivery worker.

    python-telegram-bot is async; the worker is not (it shares the outbox's
    transactions). The sender owns an event loop running in its own thread and
    hands each API call to it from the worker's sending threads: like WhatsApp,
    several chats are sent to at the same time (`parallel`, the outbox's
    threads, each chat in order: `bot.delivery.InOrder`), where one loop
    taking one call at a time managed about 7 messages a second.
    """

    channel = TELEGRAM

    def __init__(self, bot: Bot, api: Optional[TelegramBot] = None) -> None:
        self.parallel = max(1, bot.settings.send_parallel)
        self.api = api or make_api(bot.settings, connections=max(8, self.parallel))
        self.journal = PartJournal(bot.sessions, bot.clock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-send", daemon=True)
        self._thread.start()

    def prepare(self) -> None:
        return None

    def send(self, row: OutboundMessage) -> str:
        parts = message_parts(row)
        if not parts:
            raise PermanentDeliveryError("empty message")
        markup = keyboard(row.options or [])

        # A message with a secret (the one-time sign-in link) gets no preview:
        # building one would fetch the link from Telegram's servers.
        preview = NO_PREVIEW if row.secret else None

        def send_part(index: int, part: str) -> str:
            # The buttons go under the last part, where the person reads on.
            reply_markup = markup if index == len(parts) - 1 else None
            return self._send_one(row.address, part, reply_markup, preview)

        return send_in_parts(row, parts, send_part, self.journal)

    def _send_one(
        self, chat_id: str, text: str, reply_markup: Optional[InlineKeyboardMarkup], preview: Optional[LinkPreviewOptions] = None
    ) -> str:
        try:
            try:
                message = self._run(
                    self.api.send_message(
                        chat_id=chat_id, text=text, parse_mode=PARSE_MODE, reply_markup=reply_markup, link_preview_options=preview
                    )
                )
            except ChatMigrated as moved:
                # A group became a supergroup and has a new id: deliver there now,
                # and tell the operator to update content/villages.yml.
                logger.warning("telegram group %s moved to %s; update villages.yml", mask(chat_id), mask(str(moved.new_chat_id)))
                message = self._run(
                    self.api.send_message(
                        chat_id=moved.new_chat_id, text=text, parse_mode=PARSE_MODE, reply_markup=reply_markup,
                        link_preview_options=preview,
                    )
                )
        except RetryAfter as error:
            raise TemporaryDeliveryError("telegram rate limit", retry_after=_seconds(error.retry_after)) from error
        except TimedOut as error:
            raise TemporaryDeliveryError("telegram timed out") from error
        except Forbidden as error:
            raise PermanentDeliveryError(f"telegram refused: {error.message}") from error
        except BadRequest as error:
            raise PermanentDeliveryError(f"telegram bad request: {error.message}") from error
        except InvalidToken as error:
            # A configuration mistake, not the message's fault: keep retrying.
            raise TemporaryDeliveryError("telegram rejected the bot token", retry_after=60) from error
        except (NetworkError, TelegramError) as error:
            raise TemporaryDeliveryError(f"telegram error: {error.message}") from error
        return str(message.message_id)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run one API call on the sender's loop; safe from any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        try:
            self._run(self.api.shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._loop.is_running():
                self._loop.close()


def message_parts(row: OutboundMessage) -> list[str]:
    """The sendMessage texts (parse_mode HTML) for one outbox row, in order.

    Options go as buttons; when they cannot (a value over 64 bytes) they are
    written under the text as the numbered list WhatsApp gets, read as plain
    words (no markup in option labels)."""
    literal = list(row.literal_spans or [])
    text = row.text
    if row.options and keyboard(row.options) is None:
        text = Outbound(row.text, options_from_rows(row.options)).as_plain_text()
        literal.append([len(row.text), len(text)])
    return telegram_parts(text, literal, TELEGRAM_LIMIT)


# --- operator commands -----------------------------------------------------------------
async def _operator(command: str, settings: Settings) -> str:
    api = make_api(settings)
    async with api:
        if command == "set-webhook":
            url = settings.public_url + WEBHOOK_PATH
            await api.set_webhook(
                url, secret_token=settings.telegram_webhook_secret, allowed_updates=list(ALLOWED_UPDATES)
            )
            return f"webhook set: {url}"
        if command == "delete-webhook":
            await api.delete_webhook(drop_pending_updates=False)
            return "webhook deleted (pending updates kept)"
        info = await api.get_webhook_info()
        return json.dumps(
            {
                "url": info.url,
                "pending_update_count": info.pending_update_count,
                "last_error_message": info.last_error_message,
                "allowed_updates": list(info.allowed_updates or ()),
            },
            indent=2,
        )


def main(argv: Optional[list[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    commands = ("set-webhook", "delete-webhook", "webhook-info")
    if len(args) != 1 or args[0] not in commands:
        sys.exit(f"usage: python -m bot.channels.telegram {{{'|'.join(commands)}}}")
    settings = Settings()
    if not settings.telegram_bot_token:
        sys.exit("TELEGRAM_BOT_TOKEN belum diisi / TELEGRAM_BOT_TOKEN is not set")
    if args[0] == "set-webhook" and not (settings.public_url and settings.telegram_webhook_secret):
        sys.exit(
            "DESMIGRAS_PUBLIC_URL dan TELEGRAM_WEBHOOK_SECRET wajib diisi"
            " / DESMIGRAS_PUBLIC_URL and TELEGRAM_WEBHOOK_SECRET are required"
        )
    print(asyncio.run(_operator(args[0], settings)))


if __name__ == "__main__":
    main()

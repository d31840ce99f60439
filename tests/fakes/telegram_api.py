"""A fake Telegram Bot API: /bot<token>/<method>, as python-telegram-bot calls it.

Point the real library at it with `Bot(token, base_url=f"{fake.base_url}/bot")`
(the bot does this with TELEGRAM_API_URL). It checks the token, reads
`parse_mode=HTML` as the Bot API documents it (only the documented tags and
entities; any other `<`, `>` or `&`, an unknown tag, or a tag left open or
closed out of order is a 400 "can't parse entities"), refuses texts over 4096
UTF-16 code units after the tags are read, answers sendMessage with a Message
carrying the visible text and its entities, and serves queued updates to
getUpdates for the polling tests. `latency` makes every send take that long.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from tests.fakes.base import Fault, FakeServer, Recorded, Reply

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$")


@dataclass(frozen=True)
class Sent:
    """A message Telegram accepted: `text` as the bot sent it, `shown` and
    `entities` as Telegram answered (what the person reads)."""

    chat_id: str
    text: str
    reply_markup: Optional[dict[str, Any]]
    message_id: int
    parse_mode: Optional[str] = None
    shown: str = ""
    entities: tuple[dict[str, Any], ...] = ()

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button, top to bottom."""
        if not self.reply_markup:
            return []
        return [(b["text"], b["callback_data"]) for row in self.reply_markup["inline_keyboard"] for b in row]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(FakeServer):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.bot_id = int(token.split(":")[0])
        self._message_ids = itertools.count(1000)
        self._updates: list[dict[str, Any]] = []
        self._updates_lock = threading.Condition()
        self.blocked_chats: set[str] = set()
        self.webhook: dict[str, Any] = {}
        self.latency = 0.0  # seconds each sendMessage takes
        self.in_flight = 0  # sendMessage requests being answered right now
        self.most_in_flight = 0  # the most at one moment
        self.fault_chats: Optional[set[str]] = None

    @property
    def api_url(self) -> str:
        """What TELEGRAM_API_URL / Bot(base_url=...) should be."""
        return f"{self.base_url}/bot"

    def counts_for_faults(self, recorded: Recorded) -> bool:
        # Faults hit sends only; getUpdates long polls and acknowledgements are left alone.
        # With `fault_chats` set, only sends to those chats (chats are sent to at
        # the same time, so "the next request" would otherwise be any of them).
        if not recorded.path.endswith("/sendMessage"):
            return False
        return self.fault_chats is None or str(recorded.fields.get("chat_id")) in self.fault_chats

    # --- what the bot sent ------------------------------------------------------------
    def sent(self) -> list[Sent]:
        result = []
        for request in self.accepted():
            if request.path.endswith("/sendMessage"):
                fields = request.fields
                markup = fields.get("reply_markup")
                message = request.reply["result"]
                result.append(
                    Sent(
                        chat_id=str(fields["chat_id"]),
                        text=fields["text"],
                        reply_markup=json.loads(markup) if isinstance(markup, str) else markup,
                        message_id=int(message["message_id"]),
                        parse_mode=fields.get("parse_mode"),
                        shown=message["text"],
                        entities=tuple(message.get("entities", ())),
                    )
                )
        return result

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/" + method)]

    # --- updates for getUpdates -----------------------------------------------------------
    def queue_update(self, update: dict[str, Any]) -> None:
        with self._updates_lock:
            self._updates.append(update)
            self._updates_lock.notify_all()

    # --- serving ---------------------------------------------------------------------------
    def error_reply(self, fault: Fault) -> Reply:
        if fault.kind == "rate_limited":
            return Reply(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {fault.retry_after}",
                    "parameters": {"retry_after": fault.retry_after},
                },
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.kind == "timeout":
            return Reply(504, {"ok": False, "error_code": 504, "description": "Gateway Timeout"})
        return Reply(fault.status, {"ok": False, "error_code": fault.status, "description": "Internal Server Error"})

    def respond(self, request: Recorded) -> Reply:
        match = _PATH.match(request.path)
        if not match:
            return Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if match["token"] != self.token:
            return Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = match["method"]
        fields = request.fields
        handler = getattr(self, f"_method_{method}", None)
        if handler is None:
            return Reply(404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
        return handler(fields)

    def _method_getMe(self, _fields: dict[str, Any]) -> Reply:  # noqa: N802 - Bot API names
        return _ok({"id": self.bot_id, "is_bot": True, "first_name": "Desmigras", "username": "DesmigrasTestBot"})

    def _method_sendMessage(self, fields: dict[str, Any]) -> Reply:  # noqa: N802
        chat_id, text = fields.get("chat_id"), fields.get("text")
        if not chat_id or not text:
            return _bad("Bad Request: message text is empty")
        parse_mode = fields.get("parse_mode")
        entities: list[dict[str, Any]] = []
        if parse_mode is not None:
            if parse_mode != "HTML":
                return _bad(f"Bad Request: unsupported parse_mode {parse_mode!r} in this fake")
            try:
                text, entities = parse_html(text)
            except EntityError as error:
                return _bad(f"Bad Request: can't parse entities: {error}")
        if not text.strip():
            return _bad("Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            return _bad("Bad Request: message is too long")
        if self.latency:
            with self._lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(self.latency)
            with self._lock:
                self.in_flight -= 1
        if str(chat_id) in self.blocked_chats:
            return Reply(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
        chat_type = "private" if not str(chat_id).startswith("-") else "supergroup"
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": chat_type},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Desmigras"},
            "text": text,
        }
        if entities:
            message["entities"] = entities
        return _ok(message)

    def _method_answerCallbackQuery(self, fields: dict[str, Any]) -> Reply:  # noqa: N802
        if not fields.get("callback_query_id"):
            return _bad("Bad Request: query is too old and response timeout expired or query ID is invalid")
        return _ok(True)

    def _method_setWebhook(self, fields: dict[str, Any]) -> Reply:  # noqa: N802
        self.webhook = dict(fields)
        return _ok(True)

    def _method_deleteWebhook(self, _fields: dict[str, Any]) -> Reply:  # noqa: N802
        self.webhook = {}
        return _ok(True)

    def _method_getWebhookInfo(self, _fields: dict[str, Any]) -> Reply:  # noqa: N802
        return _ok({"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0})

    def _method_getUpdates(self, fields: dict[str, Any]) -> Reply:  # noqa: N802
        offset = int(fields.get("offset") or 0)
        wait = min(float(fields.get("timeout") or 0), 0.2)  # long polls are kept short in tests
        deadline = time.monotonic() + wait
        with self._updates_lock:
            while True:
                # Like Telegram: an offset confirms (forgets) every earlier update.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or time.monotonic() >= deadline:
                    return _ok(list(self._updates))
                self._updates_lock.wait(max(0.0, deadline - time.monotonic()))


# --- parse_mode HTML, as https://core.telegram.org/bots/api#html-style documents it ------
# Tags the Bot API reads, with the entity type each one makes.
HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
    "code": "code", "pre": "pre", "blockquote": "blockquote",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG = re.compile(r"<(/?)([a-z-]+)>")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));")


class _ByteOffset:
    def __init__(self, source: str, index: int) -> None:
        self.source, self.index = source, index

    def __str__(self) -> str:
        return str(len(self.source[: self.index].encode("utf-8")))


class EntityError(Exception):
    """What Telegram says after "can't parse entities: "."""


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """The visible text and its entities (UTF-16 offsets), or EntityError.

    Strict where the documentation says "must": every `<`, `>` and `&` that is
    not part of a supported tag or entity is refused, tags must nest, and every
    tag must be closed. (Attributes, links and custom emoji are not needed by
    the bot and are refused as unsupported here.)"""
    text: list[str] = []
    units = 0  # UTF-16 length of the text so far
    open_tags: list[tuple[str, int]] = []
    entities: list[dict[str, Any]] = []
    index = 0
    while index < len(source):
        char = source[index]
        offset = _ByteOffset(source, index)  # worked out only when an error names it
        if char == "<":
            tag = _TAG.match(source, index)
            name = tag.group(2) if tag else source[index + 1 : index + 12].split(">")[0].split(" ")[0]
            if tag is None or name not in HTML_TAGS:
                raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
            if tag.group(1):
                if not open_tags or open_tags[-1][0] != name:
                    expected = f'"</{open_tags[-1][0]}>"' if open_tags else "no end tag"
                    raise EntityError(f'Unmatched end tag at byte offset {offset}, expected {expected}, found "</{name}>"')
                opened, start = open_tags.pop()
                if units > start:
                    entities.append({"offset": start, "length": units - start, "type": HTML_TAGS[opened]})
            else:
                open_tags.append((name, units))
            index = tag.end()
            continue
        if char == ">":
            raise EntityError(f'Character ">" is reserved and must be escaped as "&gt;" at byte offset {offset}')
        if char == "&":
            entity = _ENTITY.match(source, index)
            if entity is None:
                raise EntityError(f'Character "&" is reserved and must be escaped as "&amp;" at byte offset {offset}')
            if entity.group(1):
                char = _NAMED_ENTITIES[entity.group(1)]
            else:
                char = chr(int(entity.group(2)) if entity.group(2) else int(entity.group(3), 16))
            index = entity.end()
        else:
            index += 1
        text.append(char)
        units += utf16_len(char)
    if open_tags:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(text), entities


def _ok(result: Any) -> Reply:
    return Reply(200, {"ok": True, "result": result})


def _bad(description: str) -> Reply:
    return Reply(400, {"ok": False, "error_code": 400, "description": description})

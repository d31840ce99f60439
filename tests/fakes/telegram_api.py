"""A fake Telegram Bot API: /bot<token>/<method>, as python-telegram-bot calls it.

Point the real library at it with `Bot(token, base_url=f"{fake.base_url}/bot")`
(the bot does this with TELEGRAM_API_URL). It checks the token, refuses texts
over 4096 characters like Telegram does, answers sendMessage with a Message,
and serves queued updates to getUpdates for the polling tests.
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
    """A message Telegram accepted."""

    chat_id: str
    text: str
    reply_markup: Optional[dict[str, Any]]
    message_id: int

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

    @property
    def api_url(self) -> str:
        """What TELEGRAM_API_URL / Bot(base_url=...) should be."""
        return f"{self.base_url}/bot"

    def counts_for_faults(self, recorded: Recorded) -> bool:
        # Faults hit sends only; getUpdates long polls and acknowledgements are left alone.
        return recorded.path.endswith("/sendMessage")

    # --- what the bot sent ------------------------------------------------------------
    def sent(self) -> list[Sent]:
        result = []
        for request in self.accepted():
            if request.path.endswith("/sendMessage"):
                fields = request.fields
                markup = fields.get("reply_markup")
                result.append(
                    Sent(
                        chat_id=str(fields["chat_id"]),
                        text=fields["text"],
                        reply_markup=json.loads(markup) if isinstance(markup, str) else markup,
                        message_id=int(request.reply["result"]["message_id"]),
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
        if utf16_len(text) > 4096:
            return _bad("Bad Request: message is too long")
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


def _ok(result: Any) -> Reply:
    return Reply(200, {"ok": True, "result": result})


def _bad(description: str) -> Reply:
    return Reply(400, {"ok": False, "error_code": 400, "description": description})

"""A fake Twilio REST API: POST /2010-04-01/Accounts/<sid>/Messages.json.

The real twilio `Client` is pointed at it through the bot's TWILIO_API_URL
setting. It checks HTTP Basic auth, refuses bodies over 1600 characters
(Twilio error 21617) and answers like Twilio (201 with a Message resource,
errors as {"code", "message", "status"}, 429 with Retry-After).
"""

from __future__ import annotations

import base64
import time
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.base import Fault, FakeServer, Recorded, Reply

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake_twilio_auth_token_0123456789"
WHATSAPP_FROM = "whatsapp:+14155238886"
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")


@dataclass(frozen=True)
class Sent:
    """A message Twilio accepted."""

    to: str
    from_: str
    body: str
    content_sid: str
    sid: str
    content_variables: str = ""
    status_callback: str = ""


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        # Numbers whose 24-hour window is closed on WhatsApp's side: free text
        # to them is refused with error 63016 (a template goes through).
        self.closed_windows: set[str] = set()
        self._created: list[tuple[str, datetime, dict[str, Any]]] = []  # (to, created, resource)
        self.latency = 0.0  # seconds each send takes (a crash then lands mid-request)

    def sent(self) -> list[Sent]:
        return [
            Sent(
                to=r.form.get("To", ""),
                from_=r.form.get("From", ""),
                body=r.form.get("Body", ""),
                content_sid=r.form.get("ContentSid", ""),
                sid=r.reply["sid"],
                content_variables=r.form.get("ContentVariables", ""),
                status_callback=r.form.get("StatusCallback", ""),
            )
            for r in self.accepted()
            if r.method == "POST" and r.path.endswith("/Messages.json")
        ]

    def error_reply(self, fault: Fault) -> Reply:
        if fault.kind == "rate_limited":
            return Reply(
                429,
                {"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429},
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.kind == "timeout":
            return Reply(504, {"code": 20504, "message": "Gateway Timeout", "status": 504})
        return Reply(fault.status, {"code": 20500, "message": "Internal Server Error", "status": fault.status})

    def counts_for_faults(self, recorded: Recorded) -> bool:
        return recorded.method == "POST"  # queued faults hit sends, not the list lookups

    def respond(self, request: Recorded) -> Reply:
        match = _PATH.match(request.path)
        if request.method not in ("POST", "GET") or not match:
            return Reply(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if match["sid"] != self.account_sid or request.headers.get("Authorization") != expected:
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if request.method == "GET":
            return self._list(request)
        form = request.form
        to, body, content_sid = form.get("To", ""), form.get("Body", ""), form.get("ContentSid", "")
        if not to.startswith("whatsapp:+"):
            return Reply(400, {"code": 21211, "message": f"The 'To' number {to} is not a valid phone number.", "status": 400})
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return Reply(400, {"code": 21603, "message": "A 'From' or 'MessagingServiceSid' parameter is required", "status": 400})
        if not body and not content_sid:
            return Reply(400, {"code": 21619, "message": "A text message body or media urls must be specified.", "status": 400})
        if len(body) > 1600:
            return Reply(400, {"code": 21617, "message": "The concatenated message body exceeds the 1600 character limit.", "status": 400})
        if body and not content_sid and to[len("whatsapp:"):] in self.closed_windows:
            return Reply(400, {"code": 63016, "message": "Failed to send freeform message because you are outside the allowed window.", "status": 400})
        if self.latency:
            time.sleep(self.latency)
        created = datetime.now(timezone.utc)
        resource = _message(self.account_sid, "SM" + uuid.uuid4().hex, form, format_datetime(created))
        with self._lock:
            self._created.append((to, created, resource))
        return Reply(201, resource)

    def _list(self, request: Recorded) -> Reply:
        """GET Messages.json?To=...&DateSent>=...: what was sent to a number since a time."""
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        to = params.get("To", "")
        since_raw = params.get("DateSent>") or params.get("DateSent>=") or ""
        since = datetime.fromisoformat(since_raw.replace("Z", "+00:00")) if since_raw else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        with self._lock:
            found = [r for t, created, r in self._created if (not to or t == to) and (since is None or created >= since)]
        page = {
            "messages": list(reversed(found)),
            "end": max(0, len(found) - 1), "first_page_uri": request.path, "next_page_uri": None,
            "page": 0, "page_size": 50, "previous_page_uri": None, "start": 0, "uri": request.path,
        }
        return Reply(200, page)


def _message(account_sid: str, sid: str, form: dict[str, str], now: str) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form.get("Body", ""),
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": form.get("To"),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }

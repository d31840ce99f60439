"""The benchmark's fake Twilio sends status callbacks as Twilio does (issue 29):
for every message sent with a StatusCallback, each status of its fate once
(Twilio does not promise their order, nor does this fake), with Twilio's fields, signed so that twilio's RequestValidator (what the
bot's webhook checks) accepts it. Messages go through the real twilio
client; the callbacks land on a small HTTP server of the test's own.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bench.fake_twilio import BenchTwilio
from bench.twilio_callbacks import FAILED_CODE, UNDELIVERED_CODE, Settings
from bot.channels.whatsapp import STATUS_ORDER, TwilioHttp
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM

MESSAGES = 60


class Receiver:
    """Where the callbacks go: checks each signature as the bot does and
    keeps the forms in arrival order."""

    def __init__(self) -> None:
        self.validator = RequestValidator(AUTH_TOKEN)
        self.received: list[tuple[dict[str, str], bool]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                url = f"http://127.0.0.1:{receiver.port}{self.path}"
                valid = receiver.validator.validate(url, form, self.headers.get("X-Twilio-Signature", ""))
                with receiver.lock:
                    receiver.received.append((form, valid))
                self.send_response(204 if valid else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[BenchTwilio]:
    twilio = BenchTwilio(Settings(failed_share=0.2, read_share=0.5, delay_scale=0.02))
    twilio.start()
    yield twilio
    twilio.stop()


def test_every_message_gets_its_signed_callbacks_each_status_once(fake: BenchTwilio) -> None:
    receiver = Receiver()
    callback = f"http://127.0.0.1:{receiver.port}/webhooks/whatsapp/status"
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttp(fake.base_url))

    quiet = client.messages.create(to="whatsapp:+6281234529100", from_=WHATSAPP_FROM, body="sebelum dinyalakan", status_callback=callback)
    fake.callbacks.enabled.set()
    sids = [
        client.messages.create(to=f"whatsapp:+62812345{i:05d}", from_=WHATSAPP_FROM, body=f"pesan {i}", status_callback=callback).sid
        for i in range(MESSAGES)
    ]
    client.messages.create(to="whatsapp:+6281234529101", from_=WHATSAPP_FROM, body="tanpa callback")

    deadline = time.monotonic() + 30
    while (fake.callbacks.summary()["pending"] or not fake.callbacks.summary()["sent"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    summary = fake.callbacks.summary(with_fates=True)
    assert summary["pending"] == 0

    by_sid: dict[str, list[dict[str, str]]] = defaultdict(list)
    for form, valid in receiver.received:
        assert valid, form
        by_sid[form["MessageSid"]].append(form)
    assert set(by_sid) == set(sids), "every message sent with a StatusCallback after 'on', and no other"
    assert quiet.sid not in by_sid

    endings = set()
    for sid, forms in by_sid.items():
        statuses = sorted((form["MessageStatus"] for form in forms), key=lambda s: STATUS_ORDER.get(s, len(STATUS_ORDER)))
        assert len(statuses) == len(set(statuses)), f"a status sent twice for {sid}: {statuses}"
        assert statuses in (["sent", "delivered"], ["sent", "delivered", "read"], ["failed"], ["sent", "undelivered"]), statuses
        assert summary["fates"][sid] == statuses[-1]
        endings.add(statuses[-1])
        for form in forms:
            assert form["SmsStatus"] == form["MessageStatus"] and form["SmsSid"] == sid
            assert form["AccountSid"] == ACCOUNT_SID and form["ApiVersion"] == "2010-04-01"
            assert form["From"] == WHATSAPP_FROM and form["To"].startswith("whatsapp:+62")
            assert form["ChannelPrefix"] == "whatsapp" and form["ChannelToAddress"] == form["To"].removeprefix("whatsapp:")
            expected_code = {"failed": FAILED_CODE, "undelivered": UNDELIVERED_CODE}.get(form["MessageStatus"])
            assert form.get("ErrorCode") == expected_code
    assert endings == {"delivered", "read", "failed", "undelivered"}, "with these shares every fate shows in 60 messages"
    assert summary["sent"] == len(receiver.received) == summary["answers"]["204"] == summary["answered_2xx"]
    assert summary["duplicated"] == 0 and summary["messages"] == MESSAGES

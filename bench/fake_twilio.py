"""The tests' fake Twilio REST server (tests/fakes/twilio_api.py) in its own
process, so that recording sends does not compete with the load generator for
the GIL. Extra routes for the benchmark:

    GET  /__bench/sent             JSON list of accepted messages {to, body, content_sid, sid}
    POST /__bench/clear            forget everything recorded so far (callbacks too)
    POST /__bench/callbacks/on     from now on, every accepted message with a
    POST /__bench/callbacks/off    StatusCallback gets Twilio's status callbacks
    GET  /__bench/callbacks        what was sent and how the bot answered
                                   (?fates=1: each SID's last status too)

Status callbacks (issue 29, bench/twilio_callbacks.py): sent, delivered,
read, or failed/undelivered, signed with the auth token, with Twilio's
delays. BENCH_TWILIO_CALLBACKS=1 turns them on from the start;
BENCH_TWILIO_FAILED_SHARE (0.02) and BENCH_TWILIO_READ_SHARE (0.7) set the
fates, BENCH_TWILIO_CALLBACK_DELAY_SCALE (1.0) the delays.

Prints "PORT <n>" on stdout once listening; stops on SIGTERM. With
BENCH_TWILIO_LATENCY_MS set every answer takes that long, as Twilio's do.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from bench.twilio_callbacks import Settings, StatusCallbacks
from tests.fakes.base import Recorded, Reply
from tests.fakes.twilio_api import FakeTwilio


class BenchTwilio(FakeTwilio):
    keep_alive = True  # Twilio's API keeps connections open: the sender's pool is measured warm

    def __init__(self, callback_settings: Settings = Settings()) -> None:
        super().__init__()
        self.callbacks = StatusCallbacks(self.account_sid, self.auth_token, callback_settings)

    def respond(self, request: Recorded) -> Reply:
        if request.path == "/__bench/sent":
            return Reply(200, [s.__dict__ for s in self.sent()])
        if request.path == "/__bench/clear":
            with self._lock:
                self.requests.clear()
            self.callbacks.clear()
            return Reply(200, {"ok": True})
        if request.path == "/__bench/callbacks/on":
            self.callbacks.enabled.set()
            return Reply(200, {"ok": True})
        if request.path == "/__bench/callbacks/off":
            self.callbacks.enabled.clear()
            return Reply(200, {"ok": True})
        if request.path == "/__bench/callbacks":
            return Reply(200, self.callbacks.summary(with_fates="fates=1" in request.query))
        reply = super().respond(request)
        if reply.status == 201 and request.method == "POST" and request.form.get("StatusCallback"):
            form = request.form
            self.callbacks.message_accepted(reply.body["sid"], form.get("To", ""), form.get("From", ""), form["StatusCallback"])
        return reply

    def stop(self) -> None:
        self.callbacks.stop()
        super().stop()


def main() -> None:
    fake = BenchTwilio(Settings(
        failed_share=float(os.environ.get("BENCH_TWILIO_FAILED_SHARE", "0.02")),
        read_share=float(os.environ.get("BENCH_TWILIO_READ_SHARE", "0.7")),
        delay_scale=float(os.environ.get("BENCH_TWILIO_CALLBACK_DELAY_SCALE", "1.0")),
    ))
    if os.environ.get("BENCH_TWILIO_CALLBACKS") == "1":
        fake.callbacks.enabled.set()
    fake.latency = float(os.environ.get("BENCH_TWILIO_LATENCY_MS", "0")) / 1000  # Twilio's own answer time, to model it
    fake.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"PORT {fake.port}", flush=True)
    stop.wait()
    fake.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()

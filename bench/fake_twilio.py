"""The tests' fake Twilio REST server (tests/fakes/twilio_api.py) in its own
process, so that recording sends does not compete with the load generator for
the GIL. Two extra routes for the benchmark:

    GET  /__bench/sent    JSON list of accepted messages {to, body, content_sid, sid}
    POST /__bench/clear   forget everything recorded so far

Prints "PORT <n>" on stdout once listening; stops on SIGTERM. With
BENCH_TWILIO_LATENCY_MS set every answer takes that long, as Twilio's do.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from tests.fakes.base import Recorded, Reply
from tests.fakes.twilio_api import FakeTwilio


class BenchTwilio(FakeTwilio):
    keep_alive = True  # Twilio's API keeps connections open: the sender's pool is measured warm

    def respond(self, request: Recorded) -> Reply:
        if request.path == "/__bench/sent":
            return Reply(200, [s.__dict__ for s in self.sent()])
        if request.path == "/__bench/clear":
            with self._lock:
                self.requests.clear()
            return Reply(200, {"ok": True})
        return super().respond(request)


def main() -> None:
    fake = BenchTwilio()
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

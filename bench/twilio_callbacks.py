"""Twilio's status callbacks, as the benchmark's fake Twilio sends them (issue 29).

Twilio calls a message's StatusCallback URL as the message moves on: sent,
delivered, read; or failed (it never left) or undelivered (it left and did
not arrive), with an ErrorCode. Each call is a form POST signed like an
inbound webhook: X-Twilio-Signature is the HMAC-SHA1 of the URL and the
sorted parameters with the auth token (twilio's `RequestValidator`, used
here to compute it). The fields are Twilio's documented ones for a WhatsApp
message: MessageSid, SmsSid, MessageStatus, SmsStatus, AccountSid, From, To,
ApiVersion, ChannelPrefix, ChannelToAddress, and ErrorCode on a failure.

Delays follow what a phone does: sent within about a second of the send,
delivered a second or three later, read (by a share of people) some seconds
after that. Every message with a StatusCallback gets its whole sequence,
each status exactly once; the fate of each SID is kept, so the benchmark can
check that the bot's outbox row ended in it (nothing lost), and every
(SID, status) call is counted, so a second one would show (duplicated).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

# Twilio's error codes for the two failures (never 63016, "outside the
# window": the bot answers that one by sending the message again as a template).
FAILED_CODE = "30008"  # unknown error: the message never left
UNDELIVERED_CODE = "30003"  # unreachable destination handset


@dataclass(frozen=True)
class Settings:
    failed_share: float = 0.02  # half failed, half undelivered
    read_share: float = 0.7  # the others stay delivered
    delay_scale: float = 1.0  # 0.1: ten times faster (tests)
    senders: int = 4  # connections to the bot at once


@dataclass(order=True)
class _Due:
    at: float
    order: int
    url: str = field(compare=False)
    form: dict[str, str] = field(compare=False)


def fate(rng: random.Random, settings: Settings) -> list[tuple[float, str, Optional[str]]]:
    """One message's callbacks: (seconds after the send, status, error code)."""
    scale = settings.delay_scale
    roll = rng.random()
    if roll < settings.failed_share / 2:
        return [(rng.uniform(0.5, 2.0) * scale, "failed", FAILED_CODE)]
    sent = rng.uniform(0.3, 1.2) * scale
    if roll < settings.failed_share:
        return [(sent, "sent", None), (sent + rng.uniform(1.0, 5.0) * scale, "undelivered", UNDELIVERED_CODE)]
    delivered = sent + rng.uniform(0.5, 3.0) * scale
    steps: list[tuple[float, str, Optional[str]]] = [(sent, "sent", None), (delivered, "delivered", None)]
    if rng.random() < settings.read_share:
        steps.append((delivered + rng.uniform(3.0, 30.0) * scale, "read", None))
    return steps


class StatusCallbacks:
    """Schedules and sends the callbacks from a few threads, each with its own
    keep-alive connection; counts what it sent and how the bot answered."""

    def __init__(self, account_sid: str, auth_token: str, settings: Settings = Settings(), seed: int = 29) -> None:
        self.account_sid = account_sid
        self.validator = RequestValidator(auth_token)
        self.settings = settings
        self.rng = random.Random(seed)
        self.enabled = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[_Due] = []
        self._order = itertools.count()
        self._work: queue.Queue[Optional[_Due]] = queue.Queue()
        self._stopping = False
        self.fates: dict[str, str] = {}  # SID -> the last status sent for it
        self.calls: Counter[tuple[str, str]] = Counter()  # (SID, status) -> times sent
        self.answers: Counter[str] = Counter()  # the bot's HTTP status, or the error's name
        self.latencies: list[float] = []  # seconds from sending a callback to the bot's answer
        self.lag: list[float] = []  # seconds a callback left after its due time (this sender keeping up)
        self._threads = [threading.Thread(target=self._dispatch, name="callbacks-clock", daemon=True)] + [
            threading.Thread(target=self._send_loop, name=f"callbacks-{i}", daemon=True) for i in range(settings.senders)
        ]
        for thread in self._threads:
            thread.start()

    def message_accepted(self, sid: str, to: str, from_: str, url: str) -> None:
        """Twilio took a message with this StatusCallback: its callbacks follow."""
        if not url or not self.enabled.is_set():
            return
        now = time.monotonic()
        base = {
            "AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": from_, "To": to,
            "MessageSid": sid, "SmsSid": sid, "ChannelPrefix": "whatsapp", "ChannelToAddress": to.removeprefix("whatsapp:"),
        }
        with self._wake:
            steps = fate(self.rng, self.settings)
            self.fates[sid] = steps[-1][1]
            for after, status, code in steps:
                form = dict(base, MessageStatus=status, SmsStatus=status)
                if code:
                    form["ErrorCode"] = code
                heapq.heappush(self._heap, _Due(now + after, next(self._order), url, form))
            self._wake.notify()

    def _dispatch(self) -> None:
        with self._wake:
            while not self._stopping:
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0].at - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                self._work.put(heapq.heappop(self._heap))

    def _send_loop(self) -> None:
        connections: dict[str, http.client.HTTPConnection] = {}
        while (due := self._work.get()) is not None:
            parts = urlsplit(due.url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": self.validator.compute_signature(due.url, due.form),
                "User-Agent": "TwilioProxy/1.1",
            }
            body = urlencode(due.form)
            started = time.monotonic()
            answer: str
            for attempt in (1, 2):  # once more on a fresh connection when a kept-alive one was closed
                connection = connections.get(parts.netloc)
                if connection is None:
                    connection = connections[parts.netloc] = http.client.HTTPConnection(parts.netloc, timeout=30)
                try:
                    connection.request("POST", path, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    answer = str(response.status)
                    break
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    connections.pop(parts.netloc, None)
                    answer = type(error).__name__
                    if attempt == 2 or not isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)):
                        break
            done = time.monotonic()
            with self._lock:
                self.calls[(due.form["MessageSid"], due.form["MessageStatus"])] += 1
                self.answers[answer] += 1
                self.latencies.append(done - started)
                self.lag.append(max(0.0, started - due.at))

    def summary(self, with_fates: bool = False) -> dict[str, Any]:
        with self._lock:
            pending = len(self._heap) + self._work.qsize()
            sent = sum(self.calls.values())
            ordered = sorted(self.latencies)
            lag = sorted(self.lag)

            def pct(values: list[float], q: float) -> Optional[float]:
                return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1) if values else None

            result: dict[str, Any] = {
                "enabled": self.enabled.is_set(), "messages": len(self.fates), "pending": pending, "sent": sent,
                "answers": dict(self.answers), "answered_2xx": sum(n for a, n in self.answers.items() if a.startswith("2")),
                "duplicated": sum(n - 1 for n in self.calls.values() if n > 1),
                "by_status": dict(Counter(status for _sid, status in self.calls)),
                "bot_answer_ms_p50": pct(ordered, 0.5), "bot_answer_ms_p95": pct(ordered, 0.95),
                "bot_answer_ms_p99": pct(ordered, 0.99), "sender_lag_ms_p95": pct(lag, 0.95),
            }
            if with_fates:
                result["fates"] = dict(self.fates)
            return result

    def clear(self) -> None:
        with self._lock:
            self.fates.clear()
            self.calls.clear()
            self.answers.clear()
            self.latencies.clear()
            self.lag.clear()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        for _ in self._threads[1:]:
            self._work.put(None)

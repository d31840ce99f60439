"""A local HTTP server standing in for a provider API in tests.

It listens on 127.0.0.1 on a free port chosen by the OS, records every request
(method, path, headers, parsed form or JSON) and answers through the subclass.
It can be told to misbehave for the next N requests: answer 500, answer 429
with Retry-After, or stall past the client's timeout. A stalled request is
answered with 504 afterwards and never counts as accepted: it models a
provider that did not take the message, so a retry is not a duplicate.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    status: int = 0  # what the fake answered
    fault: str = ""  # "", "error", "rate_limited", "timeout"
    reply: Any = None  # the JSON the fake answered

    @property
    def fields(self) -> dict[str, Any]:
        """Form fields or JSON object, whichever the client sent."""
        return self.json if isinstance(self.json, dict) else self.form


@dataclass
class Fault:
    kind: str  # "pass", "error", "rate_limited", "timeout"
    status: int = 500
    retry_after: int = 0
    delay: float = 0.0


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # clients that connect at once (parallel sends) are not dropped and retried after 1 s


class FakeServer:
    # HTTP/1.1 keep-alive, as the real APIs do; off by default so that a test's
    # client never waits on a connection the fake keeps open (bench/fake_twilio sets it).
    keep_alive = False

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._serve(self)

            def do_POST(self) -> None:  # noqa: N802
                fake._serve(self)

            def log_message(self, *_args: Any) -> None:  # keep test output clean
                return None

        if self.keep_alive:
            Handler.protocol_version = "HTTP/1.1"
            Handler.disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK wait

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> "FakeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- faults -----------------------------------------------------------------------
    def pass_next(self, count: int) -> None:
        """Let `count` requests through before the faults queued after this."""
        self._add(Fault("pass"), count)

    def fail_next(self, count: int, status: int = 500) -> None:
        self._add(Fault("error", status=status), count)

    def rate_limit_next(self, count: int, retry_after: int = 3) -> None:
        self._add(Fault("rate_limited", status=429, retry_after=retry_after), count)

    def timeout_next(self, count: int, delay: float = 2.0) -> None:
        self._add(Fault("timeout", status=504, delay=delay), count)

    def _add(self, fault: Fault, count: int) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    def _next_fault(self, recorded: Recorded) -> Optional[Fault]:
        if not self.counts_for_faults(recorded):
            return None
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def counts_for_faults(self, recorded: Recorded) -> bool:
        """Which requests a queued fault may hit (subclasses narrow it)."""
        return True

    # --- what came in -----------------------------------------------------------------
    def accepted(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def faults_served(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for r in self.requests:
                if r.fault:
                    counts[r.fault] = counts.get(r.fault, 0) + 1
            return counts

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- serving ------------------------------------------------------------------------
    def respond(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def error_reply(self, fault: Fault) -> Reply:
        return Reply(fault.status, {"error": fault.kind})

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        recorded = Recorded(
            method=handler.command,
            path=url.path,
            query=url.query,
            headers={k: v for k, v in handler.headers.items()},
            body=body,
        )
        content_type = handler.headers.get("Content-Type", "")
        if "json" in content_type and body:
            recorded.json = json.loads(body)
        elif body:
            recorded.form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        fault = self._next_fault(recorded)
        if fault is None or fault.kind == "pass":
            reply = self.respond(recorded)
        else:
            recorded.fault = fault.kind
            if fault.kind == "timeout":
                self._stopping.wait(fault.delay)  # the client gives up meanwhile
            reply = self.error_reply(fault)
        recorded.status = reply.status
        recorded.reply = reply.body
        with self._lock:
            self.requests.append(recorded)
        payload = json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

"""The web process's side of the NLU worker (nlu/worker.py): the same
`Classifier` interface the flows always saw, over a local socket.

A slow or dead worker must not hold people's turns: each call has a timeout
and one retry on a fresh connection; after `failures_to_open` failures in a
row the circuit opens and calls fail at once (`NluUnavailable`) for
`cooldown` seconds, then one call tries again. The dialogue answers free text
with the menu and an apology meanwhile; patterns, menus, forms and satgas
commands never needed NLU.

A TCP worker answers only requests that carry its token (any local user can
connect to 127.0.0.1); the client sends it in every request, so a reconnect
after a restart needs no handshake. A Unix socket needs none: its file
permissions decide who may connect.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable, Optional

from nlu.classifier import Entity, NluUnavailable, Understanding
from nlu.worker_process import configured_token

PROTOCOL = 1


def connect(address: str, timeout: float) -> socket.socket:
    """'127.0.0.1:5055' or 'unix:/path/nlu.sock'."""
    if address.startswith("unix:"):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(timeout)
        conn.connect(address[len("unix:"):])
        return conn
    host, _, port = address.rpartition(":")
    conn = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def from_json(answer: dict[str, Any]) -> Understanding:
    return Understanding(
        intent=str(answer["intent"]),
        confidence=float(answer["confidence"]),
        entities=tuple(Entity(str(n), str(v), str(t)) for n, v, t in answer.get("entities") or []),
        ranking=tuple((str(n), float(c)) for n, c in answer.get("ranking") or []),
    )


class WorkerClassifier:
    def __init__(
        self,
        address: str,
        timeout: float = 2.0,
        failures_to_open: int = 3,
        cooldown: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
        token: Optional[str] = None,
    ) -> None:
        """`token`: the TCP worker's secret; by default the configured one
        (DESMIGRAS_NLU_TOKEN or DESMIGRAS_NLU_TOKEN_FILE). Never sent to a Unix socket."""
        self.address = address
        self._token = None if address.startswith("unix:") else (token or configured_token())
        self.timeout = timeout
        self.failures_to_open = failures_to_open
        self.cooldown = cooldown
        self._monotonic = monotonic
        self._local = threading.local()  # one connection per thread (turns run in a thread pool)
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self.model: Optional[str] = None

    # --- the circuit --------------------------------------------------------------------
    @property
    def available(self) -> bool:
        with self._lock:
            return self._monotonic() >= self._open_until

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.failures_to_open:
                self._open_until = self._monotonic() + self.cooldown
                self._failures = 0

    def _succeeded(self) -> None:
        with self._lock:
            self._failures, self._open_until = 0, 0.0

    # --- calls ---------------------------------------------------------------------------
    def parse(self, text: str) -> Understanding:
        if not self.available:
            raise NluUnavailable("NLU worker circuit open")
        body: dict[str, Any] = {"v": PROTOCOL, "text": text}
        if self._token:
            body["token"] = self._token
        request = (json.dumps(body, ensure_ascii=False) + "\n").encode("utf-8")
        for attempt in (1, 2):
            try:
                answer = self._exchange(request)
            except (OSError, ValueError) as error:
                self._drop()
                if attempt == 2:
                    self._failed()
                    raise NluUnavailable(f"NLU worker at {self.address}: {type(error).__name__}") from error
                continue
            if not answer.get("ok"):
                raise NluUnavailable(f"NLU worker refused: {answer.get('error')}")
            self._succeeded()
            self.model = answer.get("model")
            return from_json(answer)
        raise NluUnavailable("unreachable")  # for type checkers; the loop returns or raises

    def _exchange(self, request: bytes) -> dict[str, Any]:
        conn, reader = self._connection()
        conn.sendall(request)
        line = reader.readline(1 << 20)
        if not line.endswith(b"\n"):
            raise ConnectionError("worker closed the connection")
        answer = json.loads(line)
        if not isinstance(answer, dict) or answer.get("v") != PROTOCOL:
            raise ValueError("unexpected answer")
        return answer

    def _connection(self) -> tuple[socket.socket, Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.address, self.timeout)
            conn.settimeout(self.timeout)
            self._local.conn, self._local.reader = conn, conn.makefile("rb")
        return conn, self._local.reader

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
        self._local.conn = self._local.reader = None

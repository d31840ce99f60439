"""/health is time-boxed (issue 24): a probe gets its answer in about a second
even while the database is write-locked or the NLU worker stalls, "degraded"
with the reason, instead of waiting for SQLite's busy timeout (14.8 s seen in
the review) or the NLU client's timeouts and retry. The lock is real (another
SQLite connection holds BEGIN IMMEDIATE, as in tests/test_overload.py); the
stalled worker is a real Unix socket that accepts and never answers."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

from bot.app import build_bot
from bot.channels import check_settings
from bot.web import Health
from nlu.worker_client import WorkerClassifier
from tests.channel_kit import running_rig, wait_until
from tests.conftest import make_settings


def _health_threads(name: str) -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == name and thread.is_alive())


def test_health_answers_within_a_second_while_sqlite_is_write_locked(classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "locked.sqlite3"
    with running_rig(f"sqlite:///{path}", classifier, clock, sqlite_busy_timeout=20.0) as rig:
        assert rig.client.get("/health").json()["status"] == "ok"
        blocker = sqlite3.connect(path, timeout=10, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the write lock every transaction of ours takes at BEGIN
        try:
            for _probe in range(3):
                started = time.monotonic()
                answer = rig.client.get("/health")
                seconds = time.monotonic() - started
                assert seconds < 2.0, f"/health took {seconds:.1f} s while the database was locked"
                assert answer.status_code == 200, answer.text
                report = answer.json()
                assert report["status"] == "degraded" and report["checks"] == {"database": "busy", "nlu": "ok"}, report
                assert report["reasons"] == ["database: no answer within 1 s (busy or locked)"], report
            # the probes joined the check stuck behind the lock instead of each starting one more
            assert _health_threads("health-database") == 1
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert wait_until(lambda: rig.client.get("/health").json()["status"] == "ok", timeout=10)
        assert rig.client.get("/health").json()["reasons"] == []


def test_health_answers_within_a_second_while_the_nlu_worker_stalls(clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A worker that accepts connections but never answers (stopped, swapping):
    the client would wait its timeout twice (one retry) before giving up."""
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.bind(str(tmp_path / "nlu.sock"))
    stalled.listen(16)  # the kernel completes connections; nobody reads or answers
    classifier = WorkerClassifier(f"unix:{tmp_path / 'nlu.sock'}", timeout=5.0)
    bot = build_bot(make_settings(f"sqlite:///{tmp_path / 'stall.sqlite3'}"), classifier=classifier, clock=clock)
    try:
        health = Health(bot, check_settings(bot.settings))
        started = time.monotonic()
        report = health.check()
        seconds = time.monotonic() - started
        assert seconds < 2.0, f"/health took {seconds:.1f} s while the NLU worker stalled"
        assert report["status"] == "degraded" and report["checks"] == {"database": "ok", "nlu": "degraded"}, report
        assert report["reasons"] == ["nlu: no answer within 1 s"], report
    finally:
        stalled.close()
        bot.engine.dispose()

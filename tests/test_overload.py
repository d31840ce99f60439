"""A web process under more messages than it can take: it refuses the extra
ones at once with "retry" (503) instead of letting every turn wait past the
webhook deadline, and nothing is lost: what was refused is stored and
answered when the provider sends it again (bot/channels/intake.py).

The process is made busy for real: another connection holds SQLite's write
lock, so the one turn allowed to run waits on it (no part of ours is mocked).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Optional

import httpx
from sqlalchemy import func, select

from bot.storage.models import InboundMessage, OutboundMessage
from tests.channel_kit import Served, running_rig, sign, wa_form, wait_until


def _stored(rig) -> int:  # type: ignore[no-untyped-def]
    with rig.bot.sessions() as session:
        return session.execute(select(func.count()).select_from(InboundMessage)).scalar_one()


def _replied_to(rig, phone: str) -> int:  # type: ignore[no-untyped-def]
    with rig.bot.sessions() as session:
        return session.execute(
            select(func.count()).select_from(OutboundMessage).where(OutboundMessage.address == phone)
        ).scalar_one()


class Post(threading.Thread):
    """One webhook call in the background; keeps its status and duration."""

    def __init__(self, url: str, form: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.form = url, form
        self.status: Optional[int] = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        answer = httpx.post(
            self.url + "/webhooks/whatsapp", data=self.form, headers={"X-Twilio-Signature": sign(self.form)}, timeout=30
        )
        self.status, self.seconds = answer.status_code, time.monotonic() - started


def test_a_busy_process_refuses_extra_messages_at_once_and_loses_none(classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "busy.sqlite3"
    settings = dict(turns_at_once=1, turns_waiting=1, webhook_deadline=8.0, sqlite_busy_timeout=20.0)
    with running_rig(f"sqlite:///{path}", classifier, clock, **settings) as rig, Served(rig.app) as served:
        phones = ["+6281234500081", "+6281234500082", "+6281234500083"]
        forms = [wa_form(phone, "halo") for phone in phones]
        blocker = sqlite3.connect(path, timeout=10, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the one running turn waits on this lock
        try:
            running, waiting = Post(served.url, forms[0]), Post(served.url, forms[1])
            running.start()
            time.sleep(0.5)
            waiting.start()
            time.sleep(0.5)
            refused = Post(served.url, forms[2])
            refused.run()
            assert refused.status == 503, "a third message while one runs and one waits: retry later"
            assert refused.seconds < 1.0, f"refused after {refused.seconds:.1f} s: it must not wait for the deadline"
            assert running.status is None and waiting.status is None, "the first two are still in progress"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        running.join(20)
        waiting.join(20)
        assert (running.status, waiting.status) == (200, 200)
        assert _stored(rig) == 2, "the refused message was not stored: the provider's retry brings it"

        again = Post(served.url, forms[2])
        again.run()  # the provider's retry, same MessageSid
        assert again.status == 200
        assert wait_until(lambda: _stored(rig) == 3)
        assert [_replied_to(rig, phone) > 0 for phone in phones] == [True, True, True], (
            "every message, the refused one too, has its reply in the outbox"
        )

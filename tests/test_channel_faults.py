"""Faults: providers failing (500), rate limiting (429 + Retry-After) and timing
out, webhooks delivered twice, and the app dying between a committed turn and
its delivery. Every message must reach the provider exactly once.

Run with `-s` to see the figures:
    ./dev test tests/test_channel_faults.py -s -q
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Optional

from sqlalchemy import func, select

from bot.storage.models import InboundMessage
from tests.channel_kit import Rig, accounting, running_rig, telegram_html, tg_message, wa_form
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

TELEGRAM_PEOPLE = [556100 + i for i in range(6)]
WHATSAPP_PEOPLE = [f"+62812345601{i:02d}" for i in range(6)]
CONVERSATION = ("halo", "1", "berapa biaya kerja ke taiwan")


def _inbound(rig: Rig) -> int:
    with rig.bot.sessions() as session:
        return session.execute(select(func.count()).select_from(InboundMessage)).scalar_one()


def _print_figures(title: str, figures: dict[str, int]) -> None:
    width = max(len(k) for k in figures)
    print(f"\n=== {title} ===")
    for key, value in figures.items():
        print(f"  {key.ljust(width)}  {value}")


def test_provider_faults_every_message_delivered_exactly_once(database_url, classifier, clock, request) -> None:  # type: ignore[no-untyped-def]
    posted = duplicates = 0
    with running_rig(database_url, classifier, clock) as rig:
        for round_number, text in enumerate(CONVERSATION):
            # Each round the providers misbehave first: errors, rate limits, timeouts.
            for fake in (rig.telegram, rig.twilio):
                fake.fail_next(2, status=500)
                fake.rate_limit_next(2, retry_after=3)
                fake.timeout_next(1, delay=1.0)
                fake.pass_next(3)
                fake.fail_next(1, status=503)
            for chat_id in TELEGRAM_PEOPLE:
                update = tg_message(chat_id, text)
                for _ in range(2):  # Telegram delivers some updates twice
                    assert rig.telegram_update(update).status_code == 200
                    posted += 1
                duplicates += 1
            for phone in WHATSAPP_PEOPLE:
                form = wa_form(phone, text)
                for _ in range(2):  # so does Twilio, with the same MessageSid
                    assert rig.whatsapp(form).status_code == 200
                    posted += 1
                duplicates += 1
            passes = rig.deliver(passes=80)
            assert not rig.unsent(), f"round {round_number}: undelivered after {passes} passes"

        figures = {
            "webhooks_posted": posted,
            "duplicate_webhooks": duplicates,
            "inbound_stored": _inbound(rig),
            **accounting(rig),
            "worker_sent": rig.worker.totals.sent,
            "worker_retries": rig.worker.totals.retried,
            "worker_failed": rig.worker.totals.failed,
            "worker_postponed_for_order": rig.worker.totals.postponed,
        }
        _print_figures(f"fault test [{request.node.callspec.id}]", figures)

        people = len(TELEGRAM_PEOPLE) + len(WHATSAPP_PEOPLE)
        assert figures["inbound_stored"] == people * len(CONVERSATION), "duplicates were processed once"
        assert figures["faults_500"] >= 6 and figures["faults_429"] >= 6 and figures["faults_timeout"] >= 3
        assert figures["rows_failed"] == 0 and figures["rows_sent"] == figures["outbox_rows"]
        assert figures["duplicated"] == 0, "a message reached a person twice"
        assert figures["lost"] == 0, "a message never reached the provider"
        assert figures["delivered"] == figures["parts_expected"]
        # ...and every provider id the outbox recorded is one the provider issued
        issued = {str(s.message_id) for s in rig.telegram.sent()} | {m.sid for m in rig.twilio.sent()}
        recorded = {pid for row in rig.rows() for pid in (row.provider_message_id or "").split(",")}
        assert recorded <= issued


def test_rate_limit_waits_as_long_as_retry_after_says(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.telegram_update(tg_message(556200, "halo"))
        rig.whatsapp(wa_form("+6281234560200", "halo"))
        rig.telegram.rate_limit_next(1, retry_after=40)
        rig.twilio.rate_limit_next(1, retry_after=50)
        rig.worker.run_once()
        first = {row.channel: row for row in reversed(rig.rows())}  # each channel's first reply
        now = clock.now()
        assert first["telegram"].next_attempt_at - now >= timedelta(seconds=40)
        assert first["whatsapp"].next_attempt_at - now >= timedelta(seconds=50)
        assert "rate limit" in first["telegram"].last_error and "429" in first["whatsapp"].last_error
        clock.advance(timedelta(seconds=39))
        rig.worker.run_once()
        assert len(rig.telegram.sent()) == 0, "nothing before Retry-After, and nothing overtakes it"
        clock.advance(timedelta(seconds=12))
        rig.deliver()
        assert len(rig.telegram.sent()) == 2 and len(rig.twilio.sent()) == 2


def test_app_killed_before_delivery_is_recovered_after_restart(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    """The turn is committed, the process dies before (or while) sending; a new
    process on the same database delivers everything once, and the providers'
    redelivery of the unacknowledged webhooks is recognised."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        update = tg_message(556300, "halo")
        form = wa_form("+6281234560300", "halo")
        with running_rig(database_url, classifier, clock, telegram=telegram, twilio=twilio) as first:
            assert first.telegram_update(update).status_code == 200
            assert first.whatsapp(form).status_code == 200
            queued = len(first.rows())
            # A worker claimed the Telegram welcome and died in the middle of sending it.
            claimed = first.bot.outbox.claim("telegram", limit=1)
            assert len(claimed) == 1
            # killed here: no delivery, the engine and worker go away with the process
        assert telegram.calls("sendMessage") == [] and twilio.requests == []

        clock.advance(timedelta(seconds=1))
        with running_rig(database_url, classifier, clock, telegram=telegram, twilio=twilio) as second:
            # The providers never saw a 200 from the dead process and deliver again.
            assert second.telegram_update(update).status_code == 200
            assert second.whatsapp(form).status_code == 200
            assert _inbound(second) == 2 and len(second.rows()) == queued, "no second turn, no second reply"
            passes = second.deliver(passes=80)
            figures = {"restart_passes": passes, **accounting(second)}
            _print_figures("restart test", figures)
            assert figures["duplicated"] == 0 and figures["lost"] == 0
            assert [r.status for r in second.rows()] == ["sent"] * queued
            telegram_texts = [s.text for s in telegram.sent()]
            assert telegram_texts[0] == telegram_html(second.bot.content.text("welcome").strip()), "order kept after the crash"


def test_provider_down_for_longer_keeps_messages_until_it_recovers(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.telegram_update(tg_message(556400, "halo"))
        rig.telegram.fail_next(5, status=500)
        for _ in range(5):
            rig.worker.run_once()
            clock.advance(timedelta(minutes=1))
        assert rig.telegram.sent() == [] and len(rig.unsent()) == 2
        rig.deliver()
        figures = accounting(rig)
        assert figures["duplicated"] == 0 and figures["lost"] == 0 and figures["rows_sent"] == 2


class TwilioThatLocksTheDatabase(FakeTwilio):
    """Accepts the first message, and at that moment another SQLite connection
    takes the write lock, as a burst of webhooks does under load: the worker
    cannot record what the provider has just accepted."""

    def __init__(self, database_path: str) -> None:
        super().__init__()
        self.database_path = database_path
        self.holder: Optional[sqlite3.Connection] = None

    def respond(self, request):  # type: ignore[no-untyped-def]
        if self.holder is None and request.path.endswith("/Messages.json"):
            self.holder = sqlite3.connect(self.database_path, isolation_level=None, check_same_thread=False)
            self.holder.execute("BEGIN IMMEDIATE")
        return super().respond(request)

    def release(self) -> None:
        assert self.holder is not None, "the worker never sent"
        self.holder.execute("COMMIT")
        self.holder.close()


def test_sent_but_not_recorded_is_never_sent_again(tmp_path, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    """The duplicate the load benchmark once saw on SQLite ("database is locked"
    right after Twilio accepted a message): the lease ran out and the message
    went out twice. Now the outbox remembers what it sent and records it first
    (a batch's sends are settled together, so all of them are owed here)."""
    path = tmp_path / "locked.sqlite3"
    with TwilioThatLocksTheDatabase(str(path)) as twilio:
        with running_rig(f"sqlite:///{path}", classifier, clock, twilio=twilio, sqlite_busy_timeout=0.3) as rig:
            assert rig.whatsapp(wa_form("+6281234560500", "halo")).status_code == 200
            queued = len(rig.rows("whatsapp"))
            rig.worker.run_once()  # sends the batch (the lock is taken at the first send), then cannot record it
            twilio.release()
            assert len(twilio.sent()) == queued
            assert {r.status for r in rig.rows("whatsapp")} == {"sending"}, "the record really failed"
            clock.advance(timedelta(seconds=rig.bot.outbox.lease + 1))  # its lease runs out
            rig.deliver()
            figures = accounting(rig)
            assert figures["duplicated"] == 0, [m.body[:40] for m in twilio.sent()]
            assert figures["lost"] == 0 and figures["rows_sent"] == queued

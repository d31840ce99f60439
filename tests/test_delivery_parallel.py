"""Several chats are sent to at the same time, each chat in order.

Twilio answers a send in a few hundred milliseconds; a worker that sends one
chat after another would reach a few messages per second. The fake Twilio
here takes 0.3 s per send, like the real one; the fake Telegram 0.25 s.
"""

from __future__ import annotations

import time

from tests.channel_kit import running_rig, tg_message, wa_form
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

PHONES = [f"+62812345602{n:02d}" for n in range(8)]
LATENCY = 0.3


def test_eight_chats_are_sent_at_once_each_in_order_and_once(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with FakeTwilio() as twilio, running_rig(database_url, classifier, clock, twilio=twilio, send_parallel=8) as rig:
        twilio.latency = LATENCY
        for phone in PHONES:
            assert rig.whatsapp(wa_form(phone, "halo")).status_code == 200
            assert rig.whatsapp(wa_form(phone, "menu")).status_code == 200
        queued = rig.rows("whatsapp")
        per_chat = max(sum(1 for row in queued if row.address == phone) for phone in PHONES)
        assert len(queued) >= 2 * len(PHONES) and per_chat >= 2

        started = time.monotonic()
        rig.worker.run_once()
        elapsed = time.monotonic() - started

        assert not rig.unsent(), [(r.id, r.status, r.last_error) for r in rig.unsent()]
        one_after_another = len(queued) * LATENCY
        assert elapsed < one_after_another / 2, f"{elapsed:.1f} s for {len(queued)} sends of {LATENCY} s each"
        sent = twilio.sent()
        assert len(sent) == len(queued)
        for phone in PHONES:  # each chat in the order the bot wrote, each message once
            rows = [row for row in rig.rows("whatsapp") if row.address == phone]
            bodies = [m.body for m in sent if m.to == f"whatsapp:{phone}"]
            assert len(bodies) == len(rows)
            assert [body[:30] for body in bodies] == [row.text[:30] for row in rows], phone


TELEGRAM_CHATS = [556600 + n for n in range(8)]
# Telegram usually answers in about 0.15 s; a little more here, so that the
# client's own CPU time (about 20-30 ms a send on a busy 2-core machine,
# under one GIL) does not decide the result.
TELEGRAM_LATENCY = 0.25


def test_telegram_sends_to_eight_chats_at_once_each_in_order_and_once(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with FakeTelegram() as telegram, running_rig(database_url, classifier, clock, telegram=telegram, send_parallel=8) as rig:
        for chat in TELEGRAM_CHATS:
            assert rig.telegram_update(tg_message(chat, "halo")).status_code == 200
            assert rig.telegram_update(tg_message(chat, "menu")).status_code == 200
        queued = rig.rows("telegram")
        per_chat = max(sum(1 for row in queued if row.address == str(chat)) for chat in TELEGRAM_CHATS)
        assert len(queued) >= 2 * len(TELEGRAM_CHATS) and per_chat >= 2
        telegram.latency = TELEGRAM_LATENCY

        started = time.monotonic()
        rig.worker.run_once()
        elapsed = time.monotonic() - started

        assert not rig.unsent(), [(r.id, r.status, r.last_error) for r in rig.unsent()]
        one_after_another = len(queued) * TELEGRAM_LATENCY
        print(f"\ntelegram: {len(queued)} messages to {len(TELEGRAM_CHATS)} chats in {elapsed:.2f} s"
              f" ({one_after_another:.1f} s one after another; {per_chat} per chat take {per_chat * TELEGRAM_LATENCY:.1f} s);"
              f" at most {telegram.most_in_flight} requests at once")
        assert telegram.most_in_flight == len(TELEGRAM_CHATS), "every chat had a request open at the same time"
        assert elapsed < one_after_another / 2, f"{elapsed:.2f} s for {len(queued)} sends of {TELEGRAM_LATENCY} s each"
        # The fake records a request when it has answered it; a chat's next
        # message is sent only after that answer, so per chat this is the order sent.
        sent = telegram.sent()
        assert len(sent) == len(queued)
        for chat in TELEGRAM_CHATS:
            rows = [row for row in rig.rows("telegram") if row.address == str(chat)]
            ids = [s.message_id for s in sent if s.chat_id == str(chat)]
            assert [row.provider_message_id for row in rows] == [str(i) for i in ids], chat
            assert [s.shown for s in sent if s.chat_id == str(chat)][0].startswith("Halo"), chat

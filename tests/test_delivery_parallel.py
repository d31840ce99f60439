"""Several chats are sent to at the same time, each chat in order.

Twilio answers a send in a few hundred milliseconds; a worker that sends one
chat after another would reach a few messages per second. The fake Twilio
here takes 0.3 s per send, like the real one.
"""

from __future__ import annotations

import time

from tests.channel_kit import running_rig, wa_form
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

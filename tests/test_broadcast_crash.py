"""A broadcast of 500 recipients survives the sending process being killed
(issue 12): the real `python -m bot.delivery` process sends it to the fake
Twilio, which fails some requests (500, 429) and takes a little while per
message; the process is killed with SIGKILL half-way, ten more people opt out
meanwhile, and a new process finishes the job. Every recipient gets the
message exactly once, nobody who opted out gets it. SQLite and PostgreSQL.
The figures are printed and written to reports/broadcast_crash_<db>.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bot.app import build_bot
from bot.config import PROJECT_ROOT
from bot.domain import broadcasts, subscriptions
from bot.message_templates import templates_for
from bot.storage.broadcast_models import Broadcast
from bot.storage.models import Contact, OutboundMessage
from nlu.classifier import NoUnderstanding
from tests.conftest import make_settings
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM, FakeTwilio

RECIPIENTS = 500
OPTED_OUT_BEFORE = 30
OPTED_OUT_DURING = 10


def start_delivery(database_url: str, twilio: FakeTwilio, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "DESMIGRAS_DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_API_URL": twilio.base_url,
        "TELEGRAM_BOT_TOKEN": "",
        "DESMIGRAS_PUBLIC_URL": "https://bot.example.test",
        "DESMIGRAS_TIMERS_INTERVAL": "0.3",
        "DESMIGRAS_DELIVERY_INTERVAL": "0.05",
        "DESMIGRAS_OUTBOX_LEASE": "6",
        "DESMIGRAS_PROVIDER_TIMEOUT": "1",
    }
    return subprocess.Popen([sys.executable, "-m", "bot.delivery"], cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def sends(twilio: FakeTwilio) -> list[str]:
    return [m.to for m in twilio.sent() if "calo" in m.body]


def test_a_500_recipient_broadcast_is_sent_exactly_once_across_a_kill_and_restart(database_url: str, tmp_path: Path) -> None:
    bot = build_bot(make_settings(database_url), classifier=NoUnderstanding())
    now = bot.clock.now()
    phones = [f"+6281390{i:05d}" for i in range(RECIPIENTS)]
    with bot.sessions() as session, session.begin():
        contacts = [
            Contact(channel="whatsapp", address=phone, village_code="jlamprang", created_at=now, last_seen_at=now) for phone in phones
        ]
        session.add_all(contacts)
        session.flush()
        ids = {contact.address: contact.id for contact in contacts}
        for phone in phones[:OPTED_OUT_BEFORE]:
            subscriptions.opt_out_all(session, ids[phone], "kata:berhenti", now)
        broadcast_id = broadcasts.create(
            session, title="Waspada calo", topic="peringatan", template=templates_for(bot.settings.content_dir)["siaran_peringatan"],
            variables={"peringatan": "Ada calo yang menjanjikan kerja ke Kamboja tanpa biaya. Itu penipuan."},
            segment="desa:jlamprang", created_by="uji", now=now, per_minute=60_000,
        ).id

    log = tmp_path / "delivery.log"
    with FakeTwilio() as twilio:
        twilio.latency = 0.01
        for round_ in range(60):
            twilio.pass_next(9)
            if round_ % 15 == 7:
                twilio.rate_limit_next(1, retry_after=1)
            else:
                twilio.fail_next(1)
        first = start_delivery(database_url, twilio, log)
        deadline = time.monotonic() + 180
        while len(sends(twilio)) < RECIPIENTS // 2 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        sent_before_kill = len(sends(twilio))
        assert 0 < sent_before_kill < RECIPIENTS - OPTED_OUT_BEFORE, log.read_text()[-3000:]

        # Ten people who have not been sent to yet say "berhenti" while nothing runs.
        reached = {to.removeprefix("whatsapp:") for to in sends(twilio)}
        late = [phone for phone in phones[OPTED_OUT_BEFORE:] if phone not in reached][-OPTED_OUT_DURING:]
        with bot.sessions() as session, session.begin():
            for phone in late:
                subscriptions.opt_out_all(session, ids[phone], "kata:stop", bot.clock.now())

        second = start_delivery(database_url, twilio, log)
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                with bot.sessions() as session:
                    status = session.get(Broadcast, broadcast_id).status
                    open_rows = session.execute(
                        select(OutboundMessage.id).where(
                            OutboundMessage.broadcast_id == broadcast_id, OutboundMessage.status.in_(("pending", "sending"))
                        )
                    ).first()
                if status == "selesai" and open_rows is None:
                    break
                time.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(60)
        received = Counter(to.removeprefix("whatsapp:") for to in sends(twilio))
        lookups = len([r for r in twilio.requests if r.method == "GET"])

    with bot.sessions() as session:
        report = broadcasts.report(session, broadcast_id)
    opted_out = set(phones[:OPTED_OUT_BEFORE]) | set(late)
    expected = set(phones) - opted_out
    duplicates = sum(count - 1 for count in received.values() if count > 1)
    figures = {
        "database": database_url.split(":")[0].split("+")[0],
        "recipients": RECIPIENTS,
        "sent_before_kill": sent_before_kill,
        "sent": sum(received.values()),
        "distinct_reached": len(received),
        "duplicates": duplicates,
        "to_opted_out": len(set(received) & opted_out),
        "skipped": sum(report.skipped.values()),
        "skipped_by_reason": report.skipped,
        "provider_failures_served": twilio.faults_served(),
        "resend_checks_after_the_kill": lookups,
    }
    print(json.dumps(figures))
    reports = PROJECT_ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / f"broadcast_crash_{figures['database']}.json").write_text(json.dumps(figures, indent=2))
    bot.engine.dispose()
    assert duplicates == 0, figures
    assert set(received) == expected, figures
    assert figures["to_opted_out"] == 0
    assert report.sent == len(expected) and figures["skipped"] == len(opted_out), figures

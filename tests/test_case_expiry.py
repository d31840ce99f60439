"""Open cases nobody acts on (issue 24): idle for the retention period they are
announced to the district contact and the village satgas; still idle a grace
period later they close as "kedaluwarsa" (the reporter is told) and then fall
under the closed-case retention. The timers' own reminders are no activity;
anything a person does is. Real core, real NLU model, SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from sqlalchemy import select

from bot.app import Bot, build_bot
from bot.clock import ManualClock
from bot.config import PROJECT_ROOT
from bot.domain import cases
from bot.storage.complaint_models import Case, CaseEvent
from tests.chat import Chat
from tests.conftest import CountingClassifier, make_settings
from tests.test_complaints import SATGAS_1, outbox_to, report_unpaid_wages

DISTRICT = "kabupaten-wonosobo"
IDLE_WARNING = "tanpa tindak lanjut"


@pytest.fixture
def bot(database_url: str, classifier: CountingClassifier, clock: ManualClock, tmp_path: Path) -> Iterator[Bot]:
    """The shipped content, with a district contact for Jlamprang (none is shipped)."""
    content_dir = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content_dir)
    data = yaml.safe_load((content_dir / "villages.yml").read_text(encoding="utf-8"))
    data["villages"][0]["escalation"] = {"channel": "console", "address": DISTRICT}
    (content_dir / "villages.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    built = build_bot(make_settings(database_url, content_dir=content_dir), classifier=classifier, clock=clock)
    yield built
    built.engine.dispose()


def settings(bot: Bot) -> cases.ComplaintSettings:
    return cases.settings_for(bot.content.directory)


def case_of(bot: Bot, code: str) -> Case:
    with bot.sessions() as session:
        return session.execute(select(Case).where(Case.code == code)).scalar_one()


def warnings_to(bot: Bot, address: str, code: str) -> list[str]:
    return [text for text in outbox_to(bot, address) if IDLE_WARNING in text and code in text]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # reads content only: once, not per database
def test_the_shipped_periods_are_a_year_and_a_month(bot: Bot) -> None:
    assert (settings(bot).retention_days, settings(bot).idle_grace_days) == (365, 30)


def test_an_idle_open_case_is_announced_then_closed_as_expired_then_anonymised(bot: Bot, chat: Chat, clock: ManualClock) -> None:
    code = report_unpaid_wages(chat)
    retention, grace = settings(bot).retention_days, settings(bot).idle_grace_days
    clock.advance(timedelta(days=retention - 1))
    bot.run_timers()  # the daily reminder goes out; it is the system's, not activity
    assert warnings_to(bot, DISTRICT, code) == []
    clock.advance(timedelta(days=2))
    bot.run_timers()
    [warning] = warnings_to(bot, DISTRICT, code)
    assert "kedaluwarsa" in warning and "lihat" in warning and "Siti Aminah" not in warning
    assert warnings_to(bot, SATGAS_1, code), "the village satgas are told too"
    bot.run_timers()
    assert len(warnings_to(bot, DISTRICT, code)) == 1, "announced once"
    assert case_of(bot, code).status == "baru"

    clock.advance(timedelta(days=grace - 1))
    bot.run_timers()
    assert case_of(bot, code).status == "baru", "the district still has a day"
    clock.advance(timedelta(days=2))
    bot.run_timers()
    expired = case_of(bot, code)
    assert (expired.status, expired.closed_at, expired.remind_at) == ("kedaluwarsa", clock.now(), None)
    assert expired.worker_name == "Siti Aminah", "closed, not yet anonymised: the closed-case retention counts from now"
    assert "kami tutup" in outbox_to(bot, chat.sender)[-1]
    assert "lama tidak ada tindak lanjut" in chat.says(f"cek status {code}")
    reminders_before = len(outbox_to(bot, SATGAS_1))
    clock.advance(timedelta(days=2))
    bot.run_timers()
    assert len(outbox_to(bot, SATGAS_1)) == reminders_before, "no more reminders for a closed case"

    clock.advance(timedelta(days=retention))
    bot.run_timers()
    anonymous = case_of(bot, code)
    assert anonymous.anonymised_at is not None and anonymous.worker_name is None and anonymous.description is None
    assert (anonymous.status, anonymous.category) == ("kedaluwarsa", "gaji_tidak_dibayar")


def test_what_a_person_does_after_the_warning_keeps_the_case_open_and_the_clock_starts_again(
    bot: Bot, chat: Chat, clock: ManualClock
) -> None:
    code = report_unpaid_wages(chat)
    satgas = Chat(bot, sender=SATGAS_1)
    assert "Anda tangani" in satgas.says(f"ambil {code}")
    retention, grace = settings(bot).retention_days, settings(bot).idle_grace_days
    clock.advance(timedelta(days=retention + 1))
    bot.run_timers()
    assert len(warnings_to(bot, DISTRICT, code)) == 1
    clock.advance(timedelta(hours=3))
    assert "tersimpan" in satgas.says(f"catat {code} keluarga sudah ditelepon lagi")
    clock.advance(timedelta(days=grace + 1))
    bot.run_timers()
    assert case_of(bot, code).status == "diambil", "the note was activity"
    clock.advance(timedelta(days=retention - grace - 2))
    bot.run_timers()
    assert warning_events(bot) == 1, "not idle for a full period since the note"
    clock.advance(timedelta(days=2))
    bot.run_timers()
    assert warning_events(bot) == 2, "idle again: announced again"
    assert warnings_to(bot, DISTRICT, code), "(the first announcement is older than the retention: deleted)"
    assert case_of(bot, code).status == "diambil"


def warning_events(bot: Bot) -> int:
    with bot.sessions() as session:
        return len(session.execute(select(CaseEvent.id).where(CaseEvent.kind == "peringatan_kedaluwarsa")).all())

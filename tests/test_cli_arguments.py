"""Wrong arguments to the command lines (issue 24): every integer has a range
and every code must name something, so a coordinator's typo ends with one
Indonesian line and exit status 2, never a traceback, a database error or a
broadcast to nobody. Through `bot.cli.main`, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import cli, clock
from bot.config import PROJECT_ROOT, Settings
from bot.domain import broadcasts
from bot.domain.catalog_file import load_catalog
from bot.domain.trainings import sync_catalog
from bot.domain.villages import load_villages, sync_villages
from bot.message_templates import templates_for
from bot.storage.broadcast_models import Broadcast
from bot.storage.db import make_engine, make_session_factory, migrate
from bot.storage.training_models import Training
from tests.conftest import make_settings

WARNING = ["--topic", "peringatan", "--template", "siaran_peringatan", "--var", "peringatan=Hati-hati calo."]
SEND = ["broadcast", "send", *WARNING, "--title", "Uji"]
PREVIEW = ["broadcast", "preview", *WARNING]
HUGE = "99999999999999999999"

# (arguments, what the answer must say)
WRONG = [
    ([*SEND, "--segment", "semua", "--per-minute", HUGE], "--per-minute: harus bilangan bulat dari 1 sampai 60000"),
    ([*SEND, "--segment", "semua", "--per-minute", "0"], "harus bilangan bulat dari 1 sampai 60000"),
    ([*SEND, "--segment", "semua", "--per-minute", "-5"], "harus bilangan bulat dari 1 sampai 60000"),
    ([*SEND, "--segment", "semua", "--per-minute", "60001"], "harus bilangan bulat dari 1 sampai 60000"),
    ([*SEND, "--segment", "semua", "--per-minute", "9" * 5000], "harus bilangan bulat"),
    ([*SEND, "--segment", "semua", "--at", "besok pagi"], "tulis waktu sebagai 'YYYY-MM-DD HH:MM'"),
    ([*SEND, "--segment", "semua", "--at", "0001-01-01 00:00"], "tulis waktu sebagai"),
    (["broadcast", "report", HUGE], "harus bilangan bulat dari 1 sampai 2147483647"),
    (["broadcast", "report", "satu"], "harus bilangan bulat"),
    (["broadcast", "cancel", "-1"], "harus bilangan bulat dari 1 sampai 2147483647"),
    (["broadcast", "campaign", "--training", "batik-lanjutan-2026-12", "--days-before", "-3"], "--days-before: harus bilangan bulat dari 1 sampai 365"),
    (["broadcast", "campaign", "--training", "batik-lanjutan-2026-12", "--days-before", HUGE], "dari 1 sampai 365"),
    (["broadcast", "campaign", "--training", "tidak-ada", "--days-before", "3"], "Pelatihan 'tidak-ada' tidak ada"),
    ([*PREVIEW, "--segment", "desa:tidakada"], "Desa 'tidakada' tidak ada"),
    ([*SEND, "--segment", "desa:tidakada"], "Desa 'tidakada' tidak ada"),
    ([*PREVIEW, "--segment", "pelatihan:tidak-ada"], "Pelatihan 'tidak-ada' tidak ada"),
    ([*PREVIEW, "--segment", "negara:atlantis:30"], "Negara 'atlantis' tidak dikenal"),
    ([*PREVIEW, "--segment", f"negara:malaysia:{HUGE}"], "harus 1 sampai 365"),
    ([*PREVIEW, "--segment", "negara:malaysia:-3"], "harus 1 sampai 365"),
    ([*PREVIEW, "--segment", "planet:mars"], "Segmen tidak dikenal"),
    ([*PREVIEW, "--segment", "desa:'; drop table contacts; --"], "Segmen tidak dikenal"),
    (["broadcast", "preview", "--segment", "semua", "--topic", "gosip", "--template", "siaran_peringatan"], "pilihan tidak dikenal: 'gosip'"),
    (["broadcast", "preview", "--segment", "semua", "--topic", "peringatan", "--template", "tidakada"], "Template 'tidakada' tidak ada"),
    (["broadcast", "preview", "--topic", "peringatan", "--template", "siaran_peringatan"], "wajib diisi: --segment"),
    (["cases", "list", "--village", "tidakada"], "Desa 'tidakada' tidak ada"),
    (["cases", "show", "ADU-ZZZZ"], "Kasus ADU-ZZZZ tidak ditemukan"),
    (["knowledge", "review", "--months", "0"], "--months: harus bilangan bulat dari 1 sampai 120"),
    (["trainings", "registrants", "tidak-ada"], "tidak-ada"),
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A database as the bot leaves it: migrated, villages and trainings loaded."""
    engine = make_engine(database_url)
    migrate(engine)
    with make_session_factory(engine)() as session, session.begin():
        sync_villages(session, load_villages(PROJECT_ROOT / "content"))
        sync_catalog(session, load_catalog(PROJECT_ROOT / "content"))
    engine.dispose()
    return make_settings(database_url)


def broadcasts_made(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        count = session.execute(select(func.count()).select_from(Broadcast)).scalar_one()
    engine.dispose()
    return count


def test_a_wrong_integer_or_unknown_code_exits_2_with_an_indonesian_line(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    failures = []
    for argv, expected in WRONG:
        out = io.StringIO()
        status = cli.main(list(argv), out=out, settings=settings)
        said = out.getvalue() + capsys.readouterr().err
        if status != 2 or expected not in said or "Traceback" in said or "error:" in said:
            failures.append(f"{' '.join(argv)[:120]} -> {status}: {said.strip()[:300]}")
    assert failures == [], "\n".join(failures)
    assert broadcasts_made(settings) == 0, "nothing refused was stored"


def test_the_same_arguments_written_right_work(settings: Settings) -> None:
    """The control: the commands above succeed with values in range."""
    out = io.StringIO()
    assert cli.main([*PREVIEW, "--segment", "desa:jlamprang"], out=out, settings=settings) == 0
    assert cli.main([*PREVIEW, "--segment", "negara:malaysia:30"], out=out, settings=settings) == 0
    assert cli.main([*SEND, "--segment", "desa:jlamprang", "--per-minute", "60000", "--at", "2099-12-01 08:00"], out=out, settings=settings) == 0
    assert cli.main(["broadcast", "report", "1"], out=out, settings=settings) == 0
    assert cli.main(["broadcast", "cancel", "1"], out=out, settings=settings) == 0
    assert cli.main(["cases", "list", "--village", "jlamprang"], out=out, settings=settings) == 0
    assert "Siaran 1 dibuat" in out.getvalue() and "0 kasus" in out.getvalue()
    assert cli.main(["--help"], out=out, settings=settings) == 0


def test_the_domain_refuses_the_same_values_for_every_caller(settings: Settings) -> None:
    """The web console makes broadcasts through the same operations."""
    engine = make_engine(settings.database_url)
    template = templates_for(PROJECT_ROOT / "content")["siaran_peringatan"]
    now = clock.utcnow()
    with make_session_factory(engine)() as session, session.begin():
        def make(**changes: object) -> None:
            values: dict[str, object] = dict(
                title="Uji", topic="peringatan", template=template, variables={"peringatan": "Hati-hati calo."},
                segment="desa:jlamprang", created_by="uji", now=now,
            )
            values.update(changes)
            broadcasts.create(session, **values)  # type: ignore[arg-type]

        for changes, expected in (
            ({"per_minute": 10**20}, "1 sampai 60000"),
            ({"per_minute": 0}, "1 sampai 60000"),
            ({"segment": "desa:tidakada"}, "Desa 'tidakada' tidak ada"),
            ({"segment": "pelatihan:tidak-ada"}, "tidak ada"),
            ({"segment": "negara:malaysia:-3"}, "1 sampai 365"),
        ):
            with pytest.raises(broadcasts.BroadcastError, match=expected):
                make(**changes)
        for broadcast_id in (0, -1, 10**20):
            with pytest.raises(broadcasts.BroadcastError, match="tidak ada"):
                broadcasts.report(session, broadcast_id)
            with pytest.raises(broadcasts.BroadcastError, match="tidak ada"):
                broadcasts.cancel(session, broadcast_id, now)
        training = session.get(Training, "batik-lanjutan-2026-12")
        with pytest.raises(broadcasts.BroadcastError, match="1 sampai 365"):
            broadcasts.campaign(session, training, [-3], templates_for(PROJECT_ROOT / "content")["pengingat_pelatihan"], "besok", now - timedelta(days=1), "uji")
    engine.dispose()

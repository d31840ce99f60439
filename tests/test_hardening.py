"""Smaller holes from the review of issue 10: satgas identities in
villages.yml, logs of crashes, invisible bidi controls, CSV exports, and
registering with somebody else's phone number."""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import cli
from bot.app import Bot
from bot.clock import ManualClock
from bot.config import PROJECT_ROOT
from bot.content import ContentError
from bot.normalise import clean
from bot import privacy
from bot.storage.models import OutboundMessage
from bot.domain.villages import load_villages
from tests.chat import Chat
from tests.conftest import make_settings
from tests.test_complaints import SATGAS_1
from tests.test_trainings import set_village, sign_up


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 3, 0))


def villages_file(tmp_path: Path, text: str) -> Path:
    target = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", target)
    (target / "villages.yml").write_text(text, encoding="utf-8")
    return target


VILLAGE = """villages:
  - code: jlamprang
    name: Desa Jlamprang
    district: Kabupaten Wonosobo
    escalation: {escalation}
    satgas:
      - name: Bu Ketua
        {identity}
"""


# --- villages.yml identities ------------------------------------------------------------
def test_an_unquoted_whatsapp_number_is_refused_naming_file_and_entry(tmp_path: Path) -> None:
    content = villages_file(tmp_path, VILLAGE.format(escalation="null", identity="whatsapp: +6281234567890"))
    with pytest.raises(ContentError, match=r"villages\.yml -> villages\[0\] -> satgas\[0\] -> whatsapp: .*tanda kutip"):
        load_villages(content)


@pytest.mark.parametrize("written", ["'+6281234567890'", "'081234567890'", "'+62 812-3456-7890'", "'6281234567890'"])
def test_whatsapp_identities_are_normalised_to_e164(tmp_path: Path, written: str) -> None:
    content = villages_file(tmp_path, VILLAGE.format(escalation="null", identity=f"whatsapp: {written}"))
    [village] = load_villages(content)
    assert village.satgas[0].identities == (("whatsapp", "+6281234567890"),)


@pytest.mark.parametrize(
    "identity, field",
    [("whatsapp: '12345'", "whatsapp"), ("telegram: '@ketua'", "telegram"), ("telegram: 12.5", "telegram"), ("console: ''", "kontak")],
)
def test_malformed_identities_are_refused(tmp_path: Path, identity: str, field: str) -> None:
    content = villages_file(tmp_path, VILLAGE.format(escalation="null", identity=identity))
    with pytest.raises(ContentError, match=rf"villages\.yml -> villages\[0\] -> satgas\[0\].*{field}"):
        load_villages(content)


def test_telegram_ids_and_escalation_numbers_are_checked_too(tmp_path: Path) -> None:
    ok = villages_file(
        tmp_path / "ok",
        VILLAGE.format(escalation="{channel: whatsapp, address: '0812 3456 7890'}", identity="telegram: 7001")
        + "    telegram_group: -1001234567890\n",
    )
    [village] = load_villages(ok)
    assert village.escalation == ("whatsapp", "+6281234567890")
    assert village.satgas[0].identities == (("telegram", "7001"),) and village.telegram_group == "-1001234567890"
    bad = villages_file(tmp_path / "bad", VILLAGE.format(escalation="{channel: whatsapp, address: +6281234567890}", identity="telegram: 7001"))
    with pytest.raises(ContentError, match=r"villages\[0\] -> escalation -> address: .*tanda kutip"):
        load_villages(bad)


def test_the_shipped_villages_file_loads() -> None:
    assert load_villages(PROJECT_ROOT / "content")


# --- logs ---------------------------------------------------------------------------------
def test_formatted_exceptions_in_the_log_carry_no_personal_data() -> None:
    stream = io.StringIO()
    handler = privacy.private_handler(stream)
    logger = logging.getLogger("desmigras.test.crash")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        typed = "".join(["0812", "34567890", "\u00b2 Si", "ti Aminah"])  # not in any source line
        try:
            int(typed)
        except ValueError:
            logger.exception("turn failed for %s", "+6281234567890")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    logged = stream.getvalue()
    assert "ValueError" in logged and "test_hardening.py" in logged, logged  # still useful to a developer
    assert "081234567890" not in logged and "Siti" not in logged and "6281234567890" not in logged, logged


# --- text cleaning --------------------------------------------------------------------------
def test_bidi_controls_are_removed_from_text() -> None:
    sneaky = "Siti\u2066 Aminah\u2069 \u2067x\u2068y\u202e\u061c\u200e"
    assert clean(sneaky, 100).text == "Siti Aminah xy"


def test_bidi_isolates_do_not_reach_a_satgas_alert(bot: Bot) -> None:
    chat = Chat(bot, sender="6281200000201")
    chat.send("gaji kakak saya di malaysia belum dibayar 3 bulan")
    for answer in ("ya setuju", "2", "saudara", "\u2067Siti\u2069 Aminah", "PT Maju", "gaji tidak dikirim 3 bulan", "1", "jlamprang", "1"):
        chat.send(answer)
    with bot.sessions() as session:
        alerts = session.execute(select(OutboundMessage.text).where(OutboundMessage.address == SATGAS_1)).scalars().all()
    assert alerts and "Siti Aminah" in alerts[-1]
    assert not any(ch in text for text in alerts for ch in "\u2066\u2067\u2068\u2069")


# --- CSV exports --------------------------------------------------------------------------------
def test_csv_exports_escape_formulas_and_are_readable_only_by_the_owner(bot: Bot, tmp_path: Path) -> None:
    chat = Chat(bot, sender="6281200000202")
    set_village(bot, chat, "jlamprang")
    sign_up(chat, "081234567890", name="=HYPERLINK(\"http://x\",\"klik\")")
    settings = make_settings(bot.settings.database_url)
    registrants, cases_file = tmp_path / "peserta.csv", tmp_path / "kasus.csv"
    cases_file.write_text("lama\n")
    os.chmod(cases_file, 0o644)  # an existing, world-readable file is tightened too
    assert cli.main(["trainings", "export", "batik-lanjutan-2026-12", "--out", str(registrants)], out=io.StringIO(), settings=settings) == 0
    assert cli.main(["cases", "export", "--out", str(cases_file), "--include-personal"], out=io.StringIO(), settings=settings) == 0
    text = registrants.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    assert ",+6281234567890," in text, "our own E.164 numbers are not formulas"
    for path in (registrants, cases_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_csv_cell_escaping() -> None:
    from bot.csv_safe import cell

    assert [cell(v) for v in ("=1+2", "+1+2", "-2+3", "@SUM(A1)", "\t=x", "\r=x", "Siti", "+6281234567890", 5, None)] == [
        "'=1+2", "'+1+2", "'-2+3", "'@SUM(A1)", "'\t=x", "'\r=x", "Siti", "+6281234567890", 5, None]


# --- registering with somebody else's number -----------------------------------------------------
def test_registering_someone_elses_phone_reveals_nothing_about_them(bot: Bot) -> None:
    owner, stranger = Chat(bot, sender="6281200000203"), Chat(bot, sender="6281200000204")
    set_village(bot, owner, "jlamprang")
    set_village(bot, stranger, "jlamprang")
    first = sign_up(owner, "081299990000", name="Siti Aminah")
    code = next(word.strip("*.,") for word in first.split() if word.strip("*.,").startswith("PLT-"))
    again = sign_up(stranger, "081299990000", name="Orang Lain")
    assert "sudah terdaftar" in again
    assert code not in again and "kursi" not in again and "tunggu" not in again and "Siti" not in again
    own_again = sign_up(owner, "081299990000", name="Siti A.")
    assert code in own_again, "the chat that registered still gets its code back"

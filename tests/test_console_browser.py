"""The web console in a real browser: Playwright for Python driving Debian's
Chromium (/usr/bin/chromium, installed by ./dev; no browser is downloaded),
against the app served by a real uvicorn. A family reports through the core;
a satgas signs in, filters the queue, claims the case, replies (the reply
reaches the family's outbox) and closes it; another village's satgas, in a
second browser session, cannot open it. Screenshots of the queue, the case
and the dashboard are saved under reports/console/."""

from __future__ import annotations

import os
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, TypeVar

import pytest
from sqlalchemy import select

from bot.app import Bot
from bot.config import PROJECT_ROOT
from bot.storage.complaint_models import Case
from bot.storage.models import OutboundMessage
from bot.web import create_app
from tests.channel_kit import Served
from tests.chat import Chat
from tests.test_complaints import report_unpaid_wages
from tests.test_console import PASSWORD, make_accounts

T = TypeVar("T")
CHROMIUM = os.environ.get("DESMIGRAS_CHROMIUM", "/usr/bin/chromium")
SHOTS = PROJECT_ROOT / "reports" / "console"
# As the machine's notes advise: no background networking (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def served(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DESMIGRAS_WEB_SECRET", "uji-browser-" + "y" * 40)
    make_accounts(bot)
    with Served(create_app(bot, run_worker=False, run_poller=False, console=True)) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./dev installs Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def sign_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/kelola")
    assert "Masuk ke konsol" in page.content()
    page.fill("input[name=nama]", name)
    page.fill("input[name=sandi]", PASSWORD)
    page.click("button:has-text('Masuk')")


def in_own_thread(work: Callable[[], T]) -> T:
    """Playwright's sync API keeps an event loop running in the test's thread,
    and the in-process NLU model runs its own: a family's chat turns run beside."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result(timeout=300)


def test_a_satgas_works_a_family_report_in_the_browser(bot: Bot, served: str, browser: Any, database_url: str) -> None:
    family = Chat(bot, sender="6281200000088")
    code = in_own_thread(lambda: report_unpaid_wages(family))
    SHOTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if database_url.startswith("sqlite") else "-postgres"

    satgas = browser.new_context(viewport={"width": 1100, "height": 900})
    page = satgas.new_page()
    sign_in(page, served, "satgas1")
    page.wait_for_url("**/kelola/antrean")
    page.select_option("select[name=desa]", "jlamprang")
    page.click("button:has-text('Saring')")
    page.wait_for_url("**desa=jlamprang**")
    assert page.locator(f"a:has-text('{code}')").count() == 1
    page.screenshot(path=str(SHOTS / f"antrean{suffix}.png"), full_page=True)

    page.click(f"a:has-text('{code}')")
    page.wait_for_url(f"**/kelola/kasus/{code}")
    page.click("button:has-text('Ambil kasus ini')")
    page.wait_for_selector("text=sekarang Anda tangani")
    page.fill("form[action$='/balas'] textarea[name=teks]", "Bu, besok saya datang ke rumah jam 9.")
    page.click("button:has-text('Kirim balasan')")
    page.wait_for_selector("text=sudah dikirim")
    with bot.sessions() as session:
        to_family = session.execute(select(OutboundMessage.text).where(OutboundMessage.address == family.sender)).scalars().all()
    assert any("besok saya datang ke rumah jam 9" in text for text in to_family), to_family
    page.screenshot(path=str(SHOTS / f"kasus{suffix}.png"), full_page=True)

    other = browser.new_context()
    lipur = other.new_page()
    sign_in(lipur, served, "lipur")
    lipur.wait_for_url("**/kelola/antrean")
    answer = lipur.goto(f"{served}/kelola/kasus/{code}")
    assert answer is not None and answer.status == 404 and "Tidak ditemukan" in lipur.content()
    assert code not in lipur.content()
    other.close()

    page.fill("form[action$='/selesai'] textarea[name=teks]", "Gaji sudah dibayar agen")
    page.click("button:has-text('Tutup sebagai selesai')")
    page.wait_for_selector("text=ditutup sebagai")
    assert page.inner_text("#status") == "Selesai" or "selesai" in page.inner_text("#status").lower()
    with bot.sessions() as session:
        assert session.execute(select(Case.status).where(Case.code == code)).scalar_one() == "selesai"
    satgas.close()

    coordinator = browser.new_context(viewport={"width": 1100, "height": 900})
    board = coordinator.new_page()
    sign_in(board, served, "koor")
    board.goto(f"{served}/kelola/dasbor")
    assert board.locator("svg").count() >= 4
    board.screenshot(path=str(SHOTS / f"dasbor{suffix}.png"), full_page=True)
    coordinator.close()

"""The web console against the second security review (issue 24): broadcasts
and "belum dipahami" scoped to the viewer's villages, labels only from the
offered ones and an export written by a YAML emitter, sessions that end on the
server, security headers, sign-in that believes forwarded addresses only from
configured proxies, answers unknown names as slowly as wrong passwords and
backs off per name and address instead of locking the owner out, the one-time
link spent only by its button (and sent without preview, its text dropped once
sent), and every number and code a browser sends checked (400/404, never 500).

Real core, real NLU model, SQLite and PostgreSQL; the accounts, the `console`
app and the `Browser` cookie jar are those of tests/test_console.py."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import statistics
import threading
import time
from datetime import timedelta
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
import uvicorn
import yaml
from sqlalchemy import select
from starlette.testclient import TestClient

from bot import cli
from bot.app import Bot, build_bot
from bot.clock import ManualClock
from bot.domain import accounts, broadcasts
from bot.kelola.queries import rasa_yaml
from bot.message_templates import templates_for
from bot.security_headers import CONTENT_SECURITY_POLICY
from bot.storage.broadcast_models import Broadcast
from bot.storage.console_models import NluExample, WebSession, WebUser
from bot.storage.models import SECRET_SENT_TEXT, Contact, Event, InboundMessage, OutboundMessage
from bot.web import SERVER_OPTIONS, create_app
from tests.channel_kit import PUBLIC_URL, SATGAS_TG, content_with_telegram_group, running_rig, tg_message
from tests.chat import Chat
from tests.conftest import make_settings
from tests.test_complaints import SATGAS_1, report_unpaid_wages
from tests.test_console import BATIK, CSRF, PASSWORD, Browser, console, signed_in  # noqa: F401 (console: the fixture)

WONOSOBO, LAMPUNG = "Kabupaten Wonosobo", "Kabupaten Lampung Timur"  # jlamprang is in Wonosobo, sumbergede in Lampung


def add_user(bot: Bot, name: str, role: str = "koordinator", **kwargs: Any) -> None:
    with bot.sessions() as session, session.begin():
        accounts.create_user(session, name, role, bot.clock.now(), password=PASSWORD, **kwargs)


@pytest.fixture
def district_console(console: Any, bot: Bot) -> Any:
    """The console with two district coordinators besides test_console's accounts."""
    add_user(bot, "koor.wonosobo", district=WONOSOBO)
    add_user(bot, "koor.lampung", district=LAMPUNG)
    return console


def broadcast_to_jlamprang(bot: Bot) -> int:
    template = templates_for(bot.content.directory)["siaran_peringatan"]
    with bot.sessions() as session, session.begin():
        made = broadcasts.create(
            session, title="Siaran uji Jlamprang", topic="peringatan", template=template,
            variables={"peringatan": "Ada calo yang menawarkan kerja ke Kamboja."}, segment="desa:jlamprang",
            created_by="web:koor", now=bot.clock.now(),
        )
        return made.id


# --- 1. broadcasts scoped to the district ---------------------------------------------------------
def test_a_coordinator_of_another_district_neither_sees_nor_cancels_a_broadcast_to_jlamprang(district_console: Any, bot: Bot) -> None:
    broadcast_id = broadcast_to_jlamprang(bot)
    lampung = signed_in(district_console, "koor.lampung")
    assert "Siaran uji Jlamprang" not in lampung.client.get("/kelola/siaran").text
    answer = lampung.client.post(f"/kelola/siaran/{broadcast_id}/batal", data={"csrf": lampung.csrf("/kelola/siaran")})
    assert answer.status_code == 404
    with bot.sessions() as session:
        assert session.get(Broadcast, broadcast_id).status == "terjadwal"
    page = lampung.client.get("/kelola/siaran").text
    offered = re.findall(r'<option value="([^"]+)"', page)
    assert "desa:sumbergede" in offered and not {"desa:jlamprang", "semua"} & set(offered), offered
    assert not [value for value in offered if value.startswith(("pelatihan:", "topik:"))], "only the district's villages are offered"

    wonosobo = signed_in(district_console, "koor.wonosobo")
    assert "Siaran uji Jlamprang" in wonosobo.client.get("/kelola/siaran").text
    answer = wonosobo.client.post(f"/kelola/siaran/{broadcast_id}/batal", data={"csrf": wonosobo.csrf("/kelola/siaran")})
    assert answer.status_code == 303
    with bot.sessions() as session:
        assert session.get(Broadcast, broadcast_id).status == "dibatalkan"


# --- 2. and 3. belum dipahami: what can be marked, and the export ---------------------------------------
def clarified_message(bot: Bot, monkeypatch: pytest.MonkeyPatch, sender: str, text: str, village: str) -> int:
    """A message of a person of `village` that the bot answered with a
    clarification (threshold 1: every free text is one, through the real model)."""
    monkeypatch.setattr(bot.core, "settings", dataclasses.replace(bot.core.settings, nlu_threshold=1.0))
    Chat(bot, sender=sender).send(text)
    with bot.sessions() as session, session.begin():
        contact = session.execute(select(Contact).where(Contact.address == sender)).scalar_one()
        contact.village_code = village
        return session.execute(select(InboundMessage.id).where(InboundMessage.text == text)).scalar_one()


def mark(browser: Browser, message_id: Any, label: str) -> Any:
    return browser.client.post(
        "/kelola/belum-dipahami/tandai", data={"csrf": browser.csrf("/kelola/belum-dipahami"), "pesan": str(message_id), "label": label}
    )


def test_only_a_clarified_message_inside_the_viewers_villages_can_be_marked_and_only_with_an_offered_label(
    district_console: Any, bot: Bot, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_unpaid_wages(chat)
    with bot.sessions() as session:
        story = session.execute(select(InboundMessage.id).where(InboundMessage.text.like("gaji kakak saya%"))).scalar_one()
    lampung_words = clarified_message(bot, monkeypatch, "6281200000071", "zzkw qqxv blorp lampung", "sumbergede")
    koor = signed_in(district_console, "koor")
    assert mark(koor, story, "intent:sapa").status_code == 404, "a report's story is no clarified message"

    wonosobo = signed_in(district_console, "koor.wonosobo")
    assert "zzkw qqxv blorp lampung" not in wonosobo.client.get("/kelola/belum-dipahami").text
    assert mark(wonosobo, lampung_words, "intent:sapa").status_code == 404, "another district's message"

    lampung = signed_in(district_console, "koor.lampung")
    assert "zzkw qqxv blorp lampung" in lampung.client.get("/kelola/belum-dipahami").text
    for label in ("intent:tidak_ada_intent_ini", "kb:tidak-ada", "intent:sapa: x", "sapaan\n- intent: palsu", ""):
        answer = mark(lampung, lampung_words, label)
        assert answer.status_code == 400 and "Pilih maksud pesan atau pertanyaan dari daftar" in answer.text, label
    with bot.sessions() as session:
        assert session.execute(select(NluExample)).first() is None
    assert mark(lampung, lampung_words, "sapa").status_code == 303  # a bare intent name means intent:...
    with bot.sessions() as session:
        assert session.execute(select(NluExample.label)).scalars().all() == ["intent:sapa"]


def test_the_nlu_export_is_written_by_a_yaml_emitter_whatever_labels_and_texts_hold(console: Any, bot: Bot) -> None:
    tricky = 'a: b # c [d] {e} "f" \'g\' | > & * ! % @ ` - intent: palsu'
    with bot.sessions() as session, session.begin():
        now = bot.clock.now()
        session.add_all([
            NluExample(text=tricky, label="intent:sapa", marked_by="web:koor", created_at=now),
            # a free-typed label marked before labels were checked
            NluExample(text="halo", label="intent:x: y\n- intent: z", marked_by="web:koor", created_at=now),
            NluExample(text="berapa biaya", label="kb:biaya-penempatan", marked_by="web:koor", created_at=now),
        ])
    exported = signed_in(console, "koor").client.get("/kelola/belum-dipahami/contoh-nlu.yml").text
    document = yaml.safe_load(exported)
    intents = {item["intent"]: item["examples"] for item in document["nlu"]}
    assert intents == {"sapa": f"- {tricky}\n", "x: y\n- intent: z": "- halo\n"}
    assert document["pengetahuan"] == [{"entri": "biaya-penempatan", "pertanyaan": ["berapa biaya"]}]
    assert document["version"] == "3.1"
    with bot.sessions() as session:
        assert rasa_yaml(session) == exported


# --- 4. sessions end on the server -----------------------------------------------------------------------
def copy_of(app: Any, browser: Browser) -> Browser:
    """A second browser holding a copy of `browser`'s cookie (as stolen)."""
    thief = Browser(app)
    for cookie in browser.client.cookies.jar:
        thief.client.cookies.set(cookie.name, cookie.value, domain=cookie.domain, path=cookie.path)
    return thief


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(console: Any, bot: Bot) -> None:
    koor = signed_in(console, "koor")
    thief = copy_of(console, koor)
    assert thief.client.get("/kelola/antrean").status_code == 200
    assert koor.post("/kelola/keluar").headers["location"] == "/kelola/masuk"
    assert thief.client.get("/kelola/antrean").status_code == 303, "the copied cookie died with the session"
    with bot.sessions() as session:
        assert session.execute(select(WebSession)).first() is None


def test_a_password_change_or_disabling_the_account_ends_all_its_sessions(console: Any, bot: Bot) -> None:
    first, second = signed_in(console, "koor"), signed_in(console, "koor")
    other = signed_in(console, "amat")
    with bot.sessions() as session, session.begin():
        accounts.set_password(session, "koor", "sandi-baru-yang-panjang")
    assert first.client.get("/kelola/antrean").status_code == 303
    assert second.client.get("/kelola/antrean").status_code == 303
    assert other.client.get("/kelola/dasbor").status_code == 200, "another account's session goes on"
    assert Browser(console).login("koor").status_code == 401 and Browser(console).login("koor", "sandi-baru-yang-panjang").status_code == 303

    copied = copy_of(console, other)
    assert cli.main(["users", "disable", "amat"], out=io.StringIO(), settings=bot.settings) == 0
    with bot.sessions() as session:
        assert session.execute(select(WebSession).join(WebUser).where(WebUser.username == "amat")).first() is None
    assert copied.client.get("/kelola/dasbor").status_code == 303
    with bot.sessions() as session, session.begin(), pytest.raises(accounts.AccountError, match="minimal 10"):
        accounts.set_password(session, "koor", "pendek")


# --- 5. security headers ------------------------------------------------------------------------------------
def test_every_answer_carries_the_security_headers_and_console_pages_are_not_stored(console: Any) -> None:
    browser = Browser(console)
    for answer in (browser.client.get("/kelola/masuk"), browser.client.get("/health"), browser.client.get("/kelola/tautan/xyz")):
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in answer.headers, "plain http: no HSTS"
    koor = signed_in(console, "koor")
    for path in ("/kelola/antrean", "/kelola/dasbor", "/kelola/belum-dipahami", "/kelola/siaran", f"/kelola/pelatihan/{BATIK}"):
        page = koor.client.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store", path
        # the policy allows inline styles and this origin's script file only (issue 26: konsol.js)
        assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/kelola/konsol.js" defer>'], path
        assert page.text.count(" src=") == 1 and "<link" not in page.text and "</script>" in page.text, path
        assert not re.search(r"<script[^>]*>[^<]", page.text) and " on" + "click=" not in page.text, f"{path}: nothing inline"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "'unsafe-inline'" not in CONTENT_SECURITY_POLICY.split("script-src")[1].split(";")[0]
    assert "no-store" not in Browser(console).client.get("/health").headers.get("cache-control", "")
    secure = TestClient(console, base_url="https://127.0.0.1:8000").get("/kelola/masuk")
    assert secure.headers["strict-transport-security"].startswith("max-age=")


# --- 6. sign-in: forwarded addresses, timing, backoff ------------------------------------------------------
@pytest.fixture
def served(console: Any) -> Iterator[str]:
    """The console behind a real uvicorn on 127.0.0.1, with bot.web's server options."""
    server = uvicorn.Server(uvicorn.Config(console, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **SERVER_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(30)


def test_a_forwarded_address_from_a_client_on_loopback_does_not_escape_the_per_address_limit(served: str) -> None:
    with httpx.Client(base_url=served) as client:
        csrf = CSRF.search(client.get("/kelola/masuk").text).group(1)  # type: ignore[union-attr]
        for number in range(accounts.MAX_FAILURES_PER_ADDRESS):
            answer = client.post("/kelola/masuk", data={"csrf": csrf, "nama": f"tamu{number}", "sandi": "salah-salah-salah"},
                                 headers={"X-Forwarded-For": f"10.9.0.{number}"})
            assert answer.status_code == 401
        answer = client.post("/kelola/masuk", data={"csrf": csrf, "nama": "koor", "sandi": PASSWORD},
                             headers={"X-Forwarded-For": "10.9.9.9"})
    assert answer.status_code == 401 and "Terlalu banyak percobaan" in answer.text, "the header chose a fresh address"


@pytest.fixture
def behind_proxy(console: Any, bot: Bot, database_url: str, classifier: Any) -> Iterator[Any]:
    """The same database, served by a process that trusts the test client as its proxy."""
    settings = make_settings(database_url, trusted_proxies=("testclient",))
    proxied = build_bot(settings, classifier=classifier, clock=bot.clock)
    yield create_app(proxied, run_worker=False, run_poller=False, console=True)
    proxied.engine.dispose()


def login_from(browser: Browser, address: str, password: str) -> Any:
    token = browser.csrf()
    return browser.client.post("/kelola/masuk", data={"csrf": token, "nama": "koor", "sandi": password}, headers={"X-Forwarded-For": address})


def test_wrong_guesses_from_elsewhere_back_off_there_and_never_lock_the_owner_out(behind_proxy: Any, bot: Bot) -> None:
    attacker, owner = Browser(behind_proxy), Browser(behind_proxy)
    for _ in range(accounts.BACKOFF_AFTER):
        assert login_from(attacker, "203.0.113.7", "salah-salah-salah").status_code == 401
    refused = login_from(attacker, "203.0.113.7", PASSWORD)
    assert refused.status_code == 401 and "Coba lagi 1 menit lagi" in refused.text, "the attacker's address waits, even with the password"
    assert login_from(owner, "198.51.100.20", PASSWORD).status_code == 303, "the owner at home is not locked out"

    bot.clock.advance(accounts.BACKOFF_BASE + timedelta(seconds=1))
    assert login_from(attacker, "203.0.113.7", "salah-lagi-salah").status_code == 401  # the sixth failure: now 2 minutes
    bot.clock.advance(accounts.BACKOFF_BASE + timedelta(seconds=1))
    assert "Coba lagi 1 menit lagi" in login_from(attacker, "203.0.113.7", PASSWORD).text, "the wait doubled"
    bot.clock.advance(accounts.BACKOFF_BASE)
    assert login_from(attacker, "203.0.113.7", PASSWORD).status_code == 303


def test_an_unknown_name_is_refused_as_slowly_as_a_wrong_password(bot: Bot) -> None:
    add_user(bot, "nyata")
    now = bot.clock.now()

    def refuse(name: str, number: int) -> float:
        with bot.sessions() as session, session.begin():
            started = time.perf_counter()
            assert accounts.authenticate(session, name, "salah-salah-salah", f"192.0.2.{number}", now) is None
            return time.perf_counter() - started

    refuse("belum-ada", 0)  # the first unknown name makes the dummy hash
    known, unknown = [], []
    for number in range(1, 8):
        known.append(refuse("nyata", number))
        unknown.append(refuse(f"tidak-ada-{number}", number + 100))
    assert statistics.median(unknown) >= 0.5 * statistics.median(known), (known, unknown)


# --- 7. the one-time link --------------------------------------------------------------------------------
LINK = re.compile(r"https?://[^/\s]+(/kelola/tautan/\S+)")


def test_a_link_preview_does_not_spend_the_sign_in_link_only_the_masuk_button_does(console: Any, bot: Bot) -> None:
    path = LINK.search(Chat(bot, sender=SATGAS_1).says("masuk")).group(1)  # type: ignore[union-attr]
    preview = Browser(console)
    for _ in range(2):  # Telegram's and WhatsApp's preview fetchers
        page = preview.client.get(path)
        assert page.status_code == 200 and "Masuk</button>" in page.text
    browser = Browser(console)
    assert browser.client.get(path).status_code == 200
    assert browser.client.post(path, data={}).status_code == 403, "the button's form carries this browser's token"
    assert preview.client.get("/kelola/antrean").status_code == 303, "the previews signed nobody in"
    token = CSRF.search(browser.client.get(path).text).group(1)  # type: ignore[union-attr]
    assert browser.client.post(path, data={"csrf": token}).status_code == 303
    assert browser.client.get("/kelola/antrean").status_code == 200
    assert browser.client.get(path).status_code == 404 and Browser(console).client.get(path).status_code == 404, "spent"


def test_the_link_message_goes_without_preview_and_its_text_is_dropped_once_sent(
    database_url: str, classifier: Any, clock: ManualClock, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESMIGRAS_WEB_SECRET", "uji-" + "x" * 40)
    content = content_with_telegram_group(tmp_path)
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        with rig.bot.sessions() as session, session.begin():
            accounts.create_user(session, "satgas.tg", "satgas", clock.now(), identity=f"telegram:{SATGAS_TG}")
        assert rig.telegram_update(tg_message(int(SATGAS_TG), "masuk")).status_code == 200
        assert rig.telegram_update(tg_message(int(SATGAS_TG), "bantuan")).status_code == 200
        rig.deliver()
        sent = [request.fields for request in rig.telegram.accepted() if request.path.endswith("/sendMessage")]
        link = [fields for fields in sent if "/kelola/tautan/" in fields["text"]]
        options = link[0]["link_preview_options"] if len(link) == 1 else None
        assert (json.loads(options) if isinstance(options, str) else options) == {"is_disabled": True}, sent
        assert all("link_preview_options" not in fields for fields in sent if fields is not link[0]), "other messages as before"
        rows = rig.rows("telegram")
        assert [row.text for row in rows if row.secret] == [SECRET_SENT_TEXT]
        assert all("/kelola/tautan/" not in row.text for row in rows)
        assert any(not row.secret and row.status == "sent" and row.text != SECRET_SENT_TEXT for row in rows)
        path = LINK.search(link[0]["text"]).group(1)  # type: ignore[union-attr]
        app = create_app(rig.bot, run_worker=False, run_poller=False, console=True)
        browser = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)  # https: the cookie is Secure
        token = CSRF.search(browser.get(path).text).group(1)  # type: ignore[union-attr]
        assert browser.post(path, data={"csrf": token}).status_code == 303, "the link sent still works"


# --- 8. numbers and codes a browser sends ----------------------------------------------------------------
BAD = ("99999999999999999999", "2147483648", "-1", "abc", "1.5", "²", "٣", "\x00", "1 OR 1=1")


def test_huge_negative_and_malformed_numbers_and_codes_get_400_or_404_never_500(console: Any, bot: Bot) -> None:
    koor = Browser(console)
    koor.client = TestClient(console, base_url="http://127.0.0.1:8000", follow_redirects=False, raise_server_exceptions=False)
    assert koor.login("koor").status_code == 303
    csrf = koor.csrf("/kelola/siaran")
    broadcast = {"template": "siaran_peringatan", "judul_siaran": "Uji", "segmen": "desa:jlamprang", "topik": "peringatan",
                 "isian_peringatan": "Waspada calo.", "per_menit": "60"}
    answers: list[tuple[str, str, int, str]] = []

    def check(method: str, path: str, data: dict[str, str] | None = None) -> None:
        if method == "GET":
            answer = koor.client.get(path)
        else:
            answer = koor.client.post(path, data={"csrf": csrf, **(data or {})})
        answers.append((method, path if data is None else f"{path} {data}", answer.status_code, answer.text))

    for value in BAD:
        quoted = quote(value, safe="")
        for path in (f"/kelola/kasus/{quoted}", f"/kelola/pelatihan/{quoted}", f"/kelola/pelatihan/{quoted}/peserta.csv",
                     f"/kelola/antrean?desa={quoted}", f"/kelola/antrean?jenis={quoted}", f"/kelola/siaran?template={quoted}"):
            check("GET", path)
        for path in (f"/kelola/kasus/{quoted}/cetak", f"/kelola/jejak?orang={quoted}", f"/kelola/jejak?tindakan={quoted}",
                     f"/kelola/jejak?halaman={quoted}"):
            check("GET", path)
        for path in (f"/kelola/kasus/{quoted}/catat", f"/kelola/siaran/{quoted}/batal", f"/kelola/kasus/{quoted}/ingatkan"):
            check("POST", path, {"teks": "catatan"})
        check("POST", f"/kelola/pelatihan/{BATIK}/hadir", {"kode": value, "hadir": "1"})
        check("POST", f"/kelola/pelatihan/{BATIK}/hadir", {"kode": "PLT-AAAA", "hadir": value})
        check("POST", "/kelola/belum-dipahami/tandai", {"pesan": value, "label": "intent:sapa"})
        for field in ("per_menit", "segmen", "topik", "template"):
            check("POST", "/kelola/siaran/pratinjau", {**broadcast, field: value})
            check("POST", "/kelola/siaran/kirim", {**broadcast, field: value})
    wrong = [(method, path, status) for method, path, status, _text in answers if status not in (400, 404)]
    assert wrong == [], wrong
    for _method, path, status, text in answers:
        if status == 400:
            assert "Isian tidak sah" in text and ("Pilih" in text or "harus" in text), path
    with bot.sessions() as session:
        assert session.execute(select(Broadcast)).first() is None, "nothing was created from a bad form"
    for name in ("\x00", "koor\x00", "x" * 5000, "²"):
        fresh = Browser(console)
        token = fresh.csrf()
        assert fresh.client.post("/kelola/masuk", data={"csrf": token, "nama": name, "sandi": "salah\x00"}).status_code == 401, name


# --- 7. the audit view (issue 26) -------------------------------------------------------------------------------
def audit_rows(browser: Browser, query: str = "") -> list[str]:
    page = browser.client.get("/kelola/jejak" + query)
    assert page.status_code == 200, page.text[:300]
    table = page.text[page.text.index('id="jejak"'):page.text.index("</table>", page.text.index('id="jejak"'))]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]


def test_the_audit_view_lists_who_did_what_to_which_case_inside_the_viewers_villages_only(district_console: Any, bot: Bot, chat: Chat) -> None:
    from tests.test_complaints import OTHER_VILLAGE_SATGAS
    from tests.test_console import make_cases

    code = report_unpaid_wages(chat)  # Jlamprang, Kabupaten Wonosobo
    [lipursari] = make_cases(bot, 1, village_code="lipursari")  # Wonosobo too
    [lampung] = make_cases(bot, 1, village_code="sumbergede")  # Lampung Timur
    satgas = signed_in(district_console, "satgas1")
    satgas.post(f"/kelola/kasus/{code}/ambil")
    satgas.post(f"/kelola/kasus/{code}/balas", teks="Bu, saya cek dulu ya.")
    Chat(bot, sender=SATGAS_1).send(f"lihat {code}")  # a chat command is in the trail too
    Chat(bot, sender=OTHER_VILLAGE_SATGAS).send(f"ambil {lipursari}")
    Chat(bot, sender=OTHER_VILLAGE_SATGAS).send(f"ambil {code}")  # refused: another village's case
    koor = signed_in(district_console, "koor")
    koor.post(f"/kelola/kasus/{lipursari}/catat", teks="Sudah koordinasi")
    koor.post(f"/kelola/kasus/{lampung}/catat", teks="Catatan Lampung")
    koor.client.get(f"/kelola/kasus/{code}/cetak")

    everything = audit_rows(koor)
    assert len(everything) == 8, everything
    assert any("satgas1 (web) Mengambil kasus " + code in row for row in everything)
    assert any("satgas1 (web) Mengirim pesan ke keluarga " + code in row for row in everything)
    assert any("Satgas Jlamprang 1 (contoh) (chat) Melihat kasus lewat chat " + code in row for row in everything)
    assert any("Perintah ditolak " + code + " mengambil kasus: kasus desa lain" in row for row in everything)
    assert any("koor (web) Membuka versi cetak " + code in row for row in everything)
    assert all(re.match(r"\d\d-\d\d-\d{4} \d\d:\d\d WIB ", row) for row in everything), "village time on every row"

    village = audit_rows(satgas)
    assert lipursari not in " ".join(village) and lampung not in " ".join(village), "another village's entries never show"
    assert len(village) == 5 and all(code in row for row in village)
    wonosobo = " ".join(audit_rows(signed_in(district_console, "koor.wonosobo")))
    assert code in wonosobo and lipursari in wonosobo and lampung not in wonosobo
    lampung_rows = audit_rows(signed_in(district_console, "koor.lampung"))
    assert len(lampung_rows) == 1 and lampung in lampung_rows[0]

    page = satgas.client.get("/kelola/jejak").text
    assert 'value="web:koor"' in page and 'value="web:satgas1"' in page and "Satgas Lipursari" in page
    assert 'value="web:koor.lampung"' not in page
    assert [row.split(" ", 3)[3].startswith("satgas1 (web)") for row in audit_rows(satgas, "?orang=web:satgas1")] == [True, True]
    assert len(audit_rows(koor, "?tindakan=ambil")) == 2, "the web claim and Lipursari's chat claim; a refused command is one row, 'ditolak'"
    assert len(audit_rows(koor, "?tindakan=ditolak")) == 1
    assert satgas.client.get("/kelola/jejak?orang=web:koor.lampung").status_code == 400, "only people the viewer's entries name"
    assert satgas.client.get("/kelola/jejak?tindakan=hapus").status_code == 400
    assert signed_in(district_console, "amat").client.get("/kelola/jejak").status_code == 403
    assert signed_in(district_console, "panitia").client.get("/kelola/jejak").status_code == 403
    assert "/kelola/jejak" not in signed_in(district_console, "amat").client.get("/kelola/antrean").text


def test_the_audit_view_has_pages_with_the_true_count(console: Any, bot: Bot, chat: Chat) -> None:
    code = report_unpaid_wages(chat)
    koor = signed_in(console, "koor")
    with bot.sessions() as session, session.begin():
        for number in range(120):
            session.add(Event(kind="web_action", actor="web:koor", data={"action": "catat", "case": code, "done": True},
                              created_at=bot.clock.now() + timedelta(seconds=number)))
    first = koor.client.get("/kelola/jejak").text
    assert "120 catatan, halaman 1 dari 3" in first and first.count("Menulis catatan internal</td>") == 50
    last = koor.client.get("/kelola/jejak?tindakan=catat&halaman=3").text
    assert "halaman 3 dari 3" in last and last.count("Menulis catatan internal</td>") == 20
    assert 'href="/kelola/jejak?tindakan=catat&amp;halaman=2" rel="prev"' in last


def test_names_typed_in_sentences_are_masked(console: Any) -> None:
    from bot.privacy import mask_names

    cases = {
        "nama saya Siti Aminah, anak saya Budi di Malaysia": "nama saya S*** A*****, anak saya B*** di Malaysia",
        "namanya: Dewi Lestari.": "namanya: D*** L******.",
        "nama saya siti dari wonosobo": "nama saya s*** dari wonosobo",
        "tolong Bu Ratna": "tolong Bu R****",
        "anak saya belum digaji": "anak saya belum digaji",  # no name: nothing masked
        "pak satgas gimana ini": "pak satgas gimana ini",
        "kerja di Hongkong": "kerja di Hongkong",  # a place is not a name
    }
    for typed, expected in cases.items():
        assert mask_names(typed) == expected, typed
    assert mask_names("xyzzy wulan trombek", known=["Wulan Dari"]) == "xyzzy w**** trombek", "a name we know for the writer"

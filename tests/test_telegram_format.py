"""Telegram formatting (issue 27): our WhatsApp `*bold*` reaches Telegram as
bold (parse_mode HTML), a person's words never become formatting, and a long
message is split into parts whose tags are each complete.

The payloads are the exact sendMessage requests that the real
python-telegram-bot sent to the fake Bot API, which reads parse_mode HTML as
the Bot API documents it (tests/fakes/telegram_api.py) and answers with the
visible text and entities, as Telegram does.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from telegram import Bot as TelegramBot
from telegram.error import BadRequest

from bot.channels.split import measure
from bot.channels.telegram_format import parse, telegram_parts
from bot.domain.cases import create_case, load_settings as complaint_settings
from bot.messages import Outbound, literal_scope
from bot.outbox import queue
from bot.storage.complaint_models import Case
from bot.storage.models import Contact
from tests.channel_kit import SATGAS_TG, Rig, content_with_telegram_group, running_rig, tg_message, wa_form
from tests.fakes.telegram_api import TOKEN, EntityError, FakeTelegram, parse_html

SEND_PATH = f"/bot{TOKEN}/sendMessage"
# What a person might type: markup characters, HTML, an ampersand, an emoji.
TYPED = "Uangnya *sudah* saya kirim <b>kemarin</b> & bukti_transfer _menyusul_ 🙏"
TYPED_HTML = "Uangnya *sudah* saya kirim &lt;b&gt;kemarin&lt;/b&gt; &amp; bukti_transfer _menyusul_ 🙏"


def _payloads(rig: Rig, chat_id: str) -> list[dict[str, str]]:
    """The form fields of every sendMessage to `chat_id`, as sent."""
    return [c.form for c in rig.telegram.calls("sendMessage") if c.form.get("chat_id") == chat_id]


# --- exact payloads --------------------------------------------------------------------
def test_a_code_in_our_bold_is_sent_as_html_bold(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.telegram_update(tg_message(556401, "halo"))
        rig.deliver()
        rig.telegram.clear()
        assert rig.telegram_update(tg_message(556401, "cek status ADU-PYHR")).status_code == 200
        rig.deliver()

        ours = rig.bot.content.text("status_not_found", code="ADU-PYHR")
        assert "*ADU-PYHR*" in ours, "the content text this test is about"
        [payload] = _payloads(rig, "556401")
        assert payload == {"chat_id": "556401", "text": ours.replace("*ADU-PYHR*", "<b>ADU-PYHR</b>"), "parse_mode": "HTML"}
        [sent] = rig.telegram.sent()
        assert sent.shown == ours.replace("*ADU-PYHR*", "ADU-PYHR"), "the person reads no asterisks"
        start = sent.shown.index("ADU-PYHR")
        assert sent.entities == ({"offset": start, "length": 8, "type": "bold"},)


def test_a_persons_words_arrive_as_typed_both_ways(database_url, classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A family's message forwarded to the satgas, and the satgas's answer
    forwarded to the family: `*`, `_`, `<b>` and `&` stay what they are, only
    our own `*{code}*` is bold."""
    content_dir = content_with_telegram_group(tmp_path)
    family = "556402"
    with running_rig(database_url, classifier, clock, content_dir=content_dir) as rig:
        rig.telegram_update(tg_message(int(family), "halo"))
        rig.deliver()
        with rig.bot.sessions() as session, session.begin():
            reporter = session.execute(select(Contact.id).where(Contact.address == family)).scalar_one()
            code = create_case(
                session, complaint_settings(content_dir), clock.now(), village_code="jlamprang", reporter_id=reporter,
                reporter_relation="keluarga", category="gaji", description="gaji belum dibayar",
            ).code
        assert rig.telegram_update(tg_message(int(SATGAS_TG), f"ambil {code}")).status_code == 200
        rig.deliver()
        with rig.bot.sessions() as session:
            assert session.execute(select(Case.status).where(Case.code == code)).scalar_one() == "diambil"
        rig.telegram.clear()

        assert rig.telegram_update(tg_message(int(family), TYPED)).status_code == 200
        rig.deliver()
        forwarded = rig.bot.content.text("satgas_reporter_message", code=code, message=TYPED)
        expected = forwarded.replace(f"*{code}*", f"<b>{code}</b>").replace(TYPED, TYPED_HTML)
        [to_satgas] = _payloads(rig, SATGAS_TG)
        assert to_satgas == {"chat_id": SATGAS_TG, "text": expected, "parse_mode": "HTML"}
        [sent] = [s for s in rig.telegram.sent() if s.chat_id == SATGAS_TG]
        assert TYPED in sent.shown, "read exactly as the family typed it"
        assert [e["type"] for e in sent.entities] == ["bold"], "only the code is formatted"

        rig.telegram.clear()
        answer = "Baik, *bukti* <i>diterima</i> & dicatat_ya"
        assert rig.telegram_update(tg_message(int(SATGAS_TG), f"balas {code} {answer}")).status_code == 200
        rig.deliver()
        [to_family] = _payloads(rig, family)
        told = rig.bot.content.text("reporter_message", code=code, message=answer)
        assert to_family["parse_mode"] == "HTML"
        assert to_family["text"] == told.replace(f"*{code}*", f"<b>{code}</b>").replace(
            answer, "Baik, *bukti* &lt;i&gt;diterima&lt;/i&gt; &amp; dicatat_ya"
        )
        assert answer in [s for s in rig.telegram.sent() if s.chat_id == family][0].shown


def test_the_same_words_go_unchanged_to_whatsapp(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    """WhatsApp reads *bold* itself: its body is our text exactly as before."""
    with running_rig(database_url, classifier, clock) as rig:
        rig.whatsapp(wa_form("+6281234564030", "halo"))
        rig.deliver()
        rig.twilio.clear()
        with literal_scope(), rig.bot.sessions() as session, session.begin():
            text = rig.bot.content.text("satgas_reporter_message", code="ADU-PYHR", message=TYPED)
            session.add(queue("whatsapp", "+6281234564030", Outbound(text), clock.now()))
        rig.deliver()
        [message] = rig.twilio.sent()
        assert message.body == text and "*ADU-PYHR*" in message.body and TYPED in message.body


def test_a_long_message_is_split_with_complete_tags_in_each_part(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    """A story of exactly 4096 visible UTF-16 units (emoji count twice) fits
    one part although its escaped HTML is much longer: Telegram counts after
    reading the tags. Our heading and footer go in their own parts, each with
    its tags closed."""
    unit = "Tolong *bantu* <b>kami</b> & 😀 "
    story = (unit * (4096 // measure(unit))).strip()
    story += "!" * (4096 - measure(story))
    assert measure(story) == 4096 and len(story) < 4096, "the boundary, with emoji"
    with running_rig(database_url, classifier, clock) as rig:
        with literal_scope(), rig.bot.sessions() as session, session.begin():
            text = rig.bot.content.fill("*Laporan {code}*\n\n{story}\n\n_Ketik *menu* untuk pilihan lain._", code="ADU-PYHR", story=story)
            row = queue("telegram", "556403", Outbound(text), clock.now())
            session.add(row)
        rig.deliver()

        escaped = story.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert _payloads(rig, "556403") == [
            {"chat_id": "556403", "text": "<b>Laporan ADU-PYHR</b>", "parse_mode": "HTML"},
            {"chat_id": "556403", "text": escaped, "parse_mode": "HTML"},
            {"chat_id": "556403", "text": "<i>Ketik <b>menu</b> untuk pilihan lain.</i>", "parse_mode": "HTML"},
        ]
        sent = rig.telegram.sent()
        assert [s.shown for s in sent] == ["Laporan ADU-PYHR", story, "Ketik menu untuk pilihan lain."]
        assert sent[1].entities == (), "not one of the person's asterisks became bold"
        assert [r.status for r in rig.rows("telegram")] == ["sent"]


def test_the_fake_refuses_what_telegram_refuses() -> None:
    """The rules the payload tests rely on, through the real client: unknown or
    unbalanced tags and a bare '<', '>' or '&' are a 400 "can't parse
    entities"; over 4096 visible characters is "message is too long"."""
    for bad in ("<b>tebal", "<b>x</i>", "a < b", "a > b", "a & b", "<blink>x</blink>", '<a href="x">y</a>'):
        try:
            parse_html(bad)
        except EntityError:
            continue
        raise AssertionError(f"accepted {bad!r}")

    async def send(fake: FakeTelegram, text: str) -> str:
        async with TelegramBot(TOKEN, base_url=fake.api_url) as api:
            try:
                await api.send_message(chat_id="556404", text=text, parse_mode="HTML")
            except BadRequest as error:
                return error.message
            return "ok"

    with FakeTelegram() as fake:
        assert asyncio.run(send(fake, "<b>tebal")) == 'Can\'t parse entities: can\'t find end tag corresponding to start tag "b"'
        assert asyncio.run(send(fake, "<b>" + "😀" * 2048 + "</b>")) == "ok"
        assert asyncio.run(send(fake, "<b>" + "a" * 4096 + "</b>")) == "ok"
        assert asyncio.run(send(fake, "<b>" + "a" * 4097 + "</b>")) == "Message is too long"
        assert asyncio.run(send(fake, "😀" * 2049)) == "Message is too long", "UTF-16: an emoji counts twice"


# --- properties of the conversion ----------------------------------------------------------
PIECE = st.sampled_from(["*", "_", "<", ">", "&", " ", "\n", "\n\n", "😀", "kata", "ADU-7K3P", "**", "a*b", "x_y"])
MARKED = st.lists(PIECE, min_size=1, max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=MARKED, limit=st.integers(min_value=8, max_value=120), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_every_part_is_valid_html_within_the_limit_and_nothing_is_lost(text: str, limit: int, cuts: list[int]) -> None:
    bounds = sorted(min(c, len(text)) for c in cuts)
    literal = [[bounds[i], bounds[i + 1]] for i in range(0, len(bounds) - 1, 2)]
    parts = telegram_parts(text, literal, limit)
    shown = []
    for part in parts:
        visible, _entities = parse_html(part)  # raises on any tag or escape Telegram would refuse
        assert 0 < measure(visible) <= limit
        shown.append(visible)
    plain = parse(text, literal).plain
    assert "".join("".join(shown).split()) == "".join(plain.split()), "nothing lost, duplicated or reordered"
    inert = "".join(text[a:b] for a, b in literal)
    assert "".join(shown).count("*") >= inert.count("*") and "".join(shown).count("_") >= inert.count("_")


def test_markers_follow_whatsapps_rules() -> None:
    def html(text: str, literal: list[list[int]] | None = None) -> str:
        return "".join(telegram_parts(text, literal, 4096))

    assert html("Ketik *menu* atau _batal_.") == "Ketik <b>menu</b> atau <i>batal</i>."
    assert html("2*3*4 = 24, snake_case_name, **x**, * a *, *a\nb*") == "2*3*4 = 24, snake_case_name, **x**, * a *, *a\nb*"
    assert html("_Info *ini* belum diverifikasi._") == "<i>Info <b>ini</b> belum diverifikasi.</i>"
    assert html("*a _b* c_") == "<b>a _b</b> c_", "bold and italic never cross"
    # our bold around a person's words: bold, their asterisks kept
    text = "Baik, saya catat sebagai *x *y* <z>*."
    assert html(text, [[26, 35]]) == "Baik, saya catat sebagai <b>x *y* &lt;z&gt;</b>."
    # a person's asterisk never pairs with ours
    assert html("Nama: Siti* — ketik *menu*", [[6, 11]]) == "Nama: Siti* — ketik <b>menu</b>"


def test_our_texts_inside_our_texts_keep_their_markup_and_a_persons_words_do_not() -> None:
    """The new-case card: the urgent prefix is one of our texts (bold stays),
    the story and the worker's name are a family's words (asterisks stay)."""
    from bot.channels.telegram import message_parts
    from bot.config import PROJECT_ROOT
    from bot.content import load_content

    content = load_content(PROJECT_ROOT / "content")
    now = datetime(2026, 12, 8, 9, 0)
    with literal_scope():
        card = content.text(
            "satgas_new_case", urgent=content.text("satgas_urgent_prefix"), code="ADU-PYHR", village="Jlamprang",
            category="Gaji tidak dibayar", country="Taiwan", worker="Siti *Aminah*", employer="PT <Maju> & co",
            relation="Ibu", contact="0812", story="_tolong_ *segera* dibantu",
        )
        row = queue("telegram", "556405", Outbound(card), now)
    [html] = message_parts(row)
    assert "*MENDESAK*" in content.text("satgas_urgent_prefix")
    assert html.startswith("🚨 <b>MENDESAK</b> — Laporan baru <b>ADU-PYHR</b> — Jlamprang")
    assert "Siti *Aminah*" in html and "PT &lt;Maju&gt; &amp; co" in html and "_tolong_ *segera* dibantu" in html
    assert html.count("<b>") == 2

    # Words noted in one turn do not make the next turn's markup literal.
    with literal_scope():
        content.text("satgas_reporter_message", code="ADU-PYHR", message="*menu*")
    with literal_scope():
        row = queue("telegram", "556405", Outbound(content.text("answer_footer")), now)
    assert row.literal_spans is None and "<b>menu</b>" in message_parts(row)[0]

"""Telegram and WhatsApp end to end: real webhooks in (Starlette TestClient, real
python-telegram-bot parsing, real Twilio signatures), the real core and NLU
model, the outbox, and the delivery worker sending through the real
python-telegram-bot and twilio clients to fake provider servers on 127.0.0.1.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.domain.cases import create_case, load_settings as complaint_settings
from bot.channels.telegram import TelegramPoller
from bot.storage.complaint_models import Case
from bot.storage.models import Contact, Event, InboundMessage, OutboundMessage
from tests.channel_kit import (
    GROUP,
    PUBLIC_URL,
    SATGAS_TG,
    Rig,
    content_with_telegram_group,
    running_rig,
    sign,
    telegram_html,
    telegram_shown,
    tg_callback,
    tg_message,
    wa_form,
)
from tests.fakes.telegram_api import TOKEN
from tests.fakes.twilio_api import ACCOUNT_SID, WHATSAPP_FROM

MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def inbound_count(rig: Rig) -> int:
    with rig.bot.sessions() as session:
        return session.execute(select(func.count()).select_from(InboundMessage)).scalar_one()


def menu_buttons(rig: Rig) -> list[dict[str, str]]:
    return [
        {"text": f"{n}. {item.label}", "callback_data": item.intent}
        for n, item in enumerate(rig.bot.content.main_menu, start=1)
    ]


# --- Telegram ------------------------------------------------------------------------------
def test_telegram_message_is_answered_through_the_outbox_with_inline_keyboard(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        response = rig.telegram_update(tg_message(555001, "halo"))
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert rig.telegram.calls("sendMessage") == [], "the webhook must not send: the worker does"

        rig.deliver()
        calls = rig.telegram.calls("sendMessage")
        assert [c.method for c in calls] == ["POST", "POST"]
        assert {c.path for c in calls} == {f"/bot{TOKEN}/sendMessage"}
        welcome, menu = (c.form for c in calls)
        ours = rig.bot.content.text("welcome").strip()
        assert "*Desmigras*" in ours
        assert welcome == {"chat_id": "555001", "text": telegram_html(ours), "parse_mode": "HTML"}
        assert "<b>Desmigras</b>" in welcome["text"] and "*" not in welcome["text"]
        assert menu["chat_id"] == "555001" and menu["text"] == telegram_html(rig.bot.content.text("menu_intro").strip())
        assert json.loads(menu["reply_markup"]) == {"inline_keyboard": [[b] for b in menu_buttons(rig)]}
        # provider ids are recorded on the outbox rows
        rows = rig.rows("telegram")
        assert [r.status for r in rows] == ["sent", "sent"]
        assert [r.provider_message_id for r in rows] == [str(s.message_id) for s in rig.telegram.sent()]


def test_telegram_button_tap_is_a_payload_and_is_acknowledged(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.telegram_update(tg_message(555002, "halo"))
        rig.deliver()
        buttons = [(b["text"], b["callback_data"]) for b in menu_buttons(rig)]
        calls_before = rig.bot.classifier.calls
        tap = tg_callback(555002, "tanya_syarat", buttons=buttons)
        assert rig.telegram_update(tap).status_code == 200
        assert rig.bot.classifier.calls == calls_before, "a button tap needs no NLU"

        answers = rig.telegram.calls("answerCallbackQuery")
        assert [a.form["callback_query_id"] for a in answers] == [tap["callback_query"]["id"]]
        with rig.bot.sessions() as session:
            stored = session.execute(select(InboundMessage).order_by(InboundMessage.id.desc())).scalars().first()
            assert stored.payload == "tanya_syarat" and stored.external_id == f"tg-{tap['update_id']}"
            assert stored.text == buttons[0][0].split(". ", 1)[1], "the tap reads as the button label"
        rig.deliver()
        answer = rig.telegram.sent()[-1].text + rig.telegram.sent()[-2].text
        assert "18 tahun" in answer


def test_telegram_secret_token_is_required(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        assert rig.telegram_update(tg_message(555003), secret=None).status_code == 403
        assert rig.telegram_update(tg_message(555003), secret="wrong-secret").status_code == 403
        assert rig.telegram_update(tg_message(555003), secret="").status_code == 403
        assert inbound_count(rig) == 0 and rig.rows() == []


def test_telegram_bad_input_gets_4xx_and_nothing_is_processed(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.channel_kit import SECRET

    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    with running_rig(database_url, classifier, clock) as rig:
        post = lambda body, **kw: rig.client.post("/webhooks/telegram", content=body, headers=headers, **kw)  # noqa: E731
        assert post(b"{not json").status_code == 400
        assert post(b"\xff\xfe\x00garbage").status_code == 400
        assert post(b"[1, 2, 3]").status_code == 400
        assert post(b'{"message": {"text": "no update id"}}').status_code == 400
        assert post(b'{"update_id": "7", "message": {}}').status_code == 400
        assert post(b'{"update_id": 7, "something_new": {"x": 1}}').status_code == 422
        assert post(b'{"update_id": 8, "message": "not an object"}').status_code == 400
        assert post(b'{"update_id": 9, "message": {"message_id": 1}}').status_code == 400
        assert post(b'{"update_id": 10, "callback_query": {"id": "x", "data": "menu"}}').status_code == 400
        assert post(b"[" * 30_000 + b"]" * 30_000).status_code == 400  # nesting deeper than the parser goes
        assert post(json.dumps(tg_message(555004, update_id=10**30)).encode()).status_code == 400
        assert post(json.dumps(tg_message(10**30, "halo")).encode()).status_code == 400
        huge = json.dumps(tg_message(555004, "x" * 70_000)).encode()
        assert post(huge).status_code == 413
        chunks = (huge[i : i + 8192] for i in range(0, len(huge), 8192))  # no Content-Length: chunked
        assert post(chunks).status_code == 413
        # a known update type we do not use is acknowledged, so Telegram stops resending it
        edited = tg_message(555004, "diedit")
        edited["edited_message"] = edited.pop("message")
        assert rig.telegram_update(edited).status_code == 200
        assert rig.client.get("/webhooks/telegram").status_code == 405
        assert inbound_count(rig) == 0 and rig.rows() == []


def test_provider_values_too_long_for_our_columns_are_clipped_not_retried_forever(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        update = tg_message(555012, "halo")
        update["message"]["from"].update(first_name="N" * 64, last_name="M" * 64)  # Telegram allows 64 + 64
        assert rig.telegram_update(update).status_code == 200
        form = wa_form("+6281234500016", "halo", ProfileName="P" * 300, ButtonPayload="b" * 300)
        assert rig.whatsapp(form).status_code == 200
        with rig.bot.sessions() as session:
            names = sorted(len(c.display_name or "") for c in session.execute(select(Contact)).scalars())
        assert names == [120, 120] and inbound_count(rig) == 2


def test_telegram_media_and_location_become_attachments_and_text(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        voice = {"file_id": "AwACAgVoice", "file_unique_id": "u1", "duration": 4, "mime_type": "audio/ogg"}
        photo = [
            {"file_id": "AgPhotoSmall", "file_unique_id": "p1", "width": 90, "height": 60},
            {"file_id": "AgPhotoLarge", "file_unique_id": "p2", "width": 1280, "height": 960},
        ]
        document = {"file_id": "BQDocument", "file_unique_id": "d1", "file_name": "kontrak.pdf", "mime_type": "application/pdf"}
        location = {"latitude": -7.360834, "longitude": 109.902345}
        for update in (
            tg_message(555005, None, voice=voice),
            tg_message(555005, None, photo=photo, caption=""),
            tg_message(555005, None, document=document),
            tg_message(555005, None, location=location),
        ):
            assert rig.telegram_update(update).status_code == 200
        with rig.bot.sessions() as session:
            stored = list(session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars())
        assert [s.attachments for s in stored[:3]] == [
            [{"kind": "voice", "reference": "AwACAgVoice", "mime_type": "audio/ogg"}],
            [{"kind": "photo", "reference": "AgPhotoLarge", "mime_type": "image/jpeg"}],
            [{"kind": "document", "reference": "BQDocument", "mime_type": "application/pdf"}],
        ]
        assert stored[3].text == "lokasi: -7.360834,109.902345" and stored[3].attachments == []
        rig.deliver()
        polite = rig.bot.content.text("media_not_supported").strip()
        assert [s.shown for s in rig.telegram.sent()[:3]] == [telegram_shown(polite)] * 3


def test_satgas_group_claims_case_with_a_button(database_url, classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content_dir = content_with_telegram_group(tmp_path)
    with running_rig(database_url, classifier, clock, content_dir=content_dir) as rig:
        with rig.bot.sessions() as session, session.begin():
            case = create_case(
                session, complaint_settings(content_dir), clock.now(), village_code="jlamprang",
                reporter_relation="keluarga", category="gaji", urgent=True, description="gaji belum dibayar",
            )
            code = case.code
        clock.advance(timedelta(hours=2))  # past the escalation time: the worker's timers alert the group
        rig.deliver()
        alert = [s for s in rig.telegram.sent() if s.chat_id == GROUP][-1]
        assert code in alert.text
        assert (f"ambil {code}") in [data for _text, data in alert.buttons]

        # someone in the group who is not satgas taps it: refused, in the group
        stranger = tg_callback(int(GROUP), f"ambil {code}", user_id=7999, chat_type="supergroup", buttons=alert.buttons)
        assert rig.telegram_update(stranger).status_code == 200
        # the registered satgas taps it: claimed
        tap = tg_callback(int(GROUP), f"ambil {code}", user_id=int(SATGAS_TG), chat_type="supergroup", buttons=alert.buttons)
        assert rig.telegram_update(tap).status_code == 200
        rig.deliver()
        replies = [s.text for s in rig.telegram.sent() if s.chat_id == GROUP][-2:]
        assert replies[0] == telegram_html(rig.bot.content.text("satgas_refused").strip())
        assert code in replies[1] and "Anda tangani" in replies[1]
        with rig.bot.sessions() as session:
            assert session.execute(select(Case.status).where(Case.code == code)).scalar_one() == "diambil"
            contacts = {c.address for c in session.execute(select(Contact)).scalars()}
        assert SATGAS_TG in contacts and GROUP not in contacts, "identity is the user, the group is only where replies go"
        assert len(rig.telegram.calls("answerCallbackQuery")) == 2


def test_group_commands_are_read_and_group_chatter_is_ignored(database_url, classifier, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    content_dir = content_with_telegram_group(tmp_path)
    with running_rig(database_url, classifier, clock, content_dir=content_dir) as rig:
        chatter = tg_message(int(GROUP), "besok rapat jam 9 ya", user_id=int(SATGAS_TG), chat_type="supergroup")
        assert rig.telegram_update(chatter).status_code == 200
        assert inbound_count(rig) == 0, "talk between members is neither answered nor stored"
        command = tg_message(int(GROUP), "/kasus@DesmigrasTestBot", user_id=int(SATGAS_TG), chat_type="supergroup")
        assert rig.telegram_update(command).status_code == 200
        rig.deliver()
        reply = rig.telegram.sent()[-1]
        assert reply.chat_id == GROUP and "Desa Jlamprang" in reply.text


def test_telegram_long_polling_processes_each_update_once(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from bot.channels.telegram import TelegramUpdates

    with running_rig(database_url, classifier, clock, telegram_mode="polling") as rig:
        assert rig.client.post("/webhooks/telegram", json={}).status_code == 404, "no webhook in polling mode"
        first = tg_message(555006, "halo")
        rig.telegram.queue_update(first)

        async def poll() -> None:
            updates = TelegramUpdates(rig.bot)
            poller = TelegramPoller(updates, timeout=1, retry_delay=0.01)
            assert await poller.poll_once() == 1
            assert poller.offset == first["update_id"] + 1
            # a restart before the offset was confirmed: Telegram sends the first one again
            rig.telegram.queue_update(tg_callback(555006, "menu"))
            poller.offset = first["update_id"]
            assert await poller.poll_once() == 2
            await updates.close()

        asyncio.run(poll())
        assert inbound_count(rig) == 2, "the resent update was recognised"
        assert rig.telegram.calls("deleteWebhook") and rig.telegram.calls("answerCallbackQuery")
        assert rig.telegram.calls("getUpdates")[0].form["allowed_updates"] == '["message", "callback_query"]'
        rig.deliver()
        sent = rig.telegram.sent()
        assert [s.chat_id for s in sent] == ["555006"] * 3  # welcome + menu, then the tapped "menu"
        assert sent[1].text == sent[2].text == telegram_html(rig.bot.content.text("menu_intro").strip())


# --- WhatsApp ------------------------------------------------------------------------------
def test_whatsapp_message_is_answered_through_the_rest_api(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        response = rig.whatsapp(wa_form("+6281234500001", "halo"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
        assert rig.twilio.requests == [], "the webhook answers with empty TwiML; the worker sends"

        rig.deliver()
        calls = rig.twilio.requests
        assert [(c.method, c.path) for c in calls] == [("POST", MESSAGES_PATH)] * 2
        welcome, menu = (c.form for c in calls)
        assert welcome == {
            "To": "whatsapp:+6281234500001", "From": WHATSAPP_FROM, "Body": rig.bot.content.text("welcome").strip(),
            "StatusCallback": PUBLIC_URL + "/webhooks/whatsapp/status",
        }
        expected_menu = rig.bot.content.text("menu_intro").strip() + "\n\n" + "\n".join(
            f"{n}. {item.label}" for n, item in enumerate(rig.bot.content.main_menu, start=1)
        )
        assert menu["Body"] == expected_menu
        assert [r.provider_message_id for r in rig.rows("whatsapp")] == [m.sid for m in rig.twilio.sent()]

        # a numbered answer works like on the console
        rig.whatsapp(wa_form("+6281234500001", "1"))
        rig.deliver()
        assert "18 tahun" in " ".join(m.body for m in rig.twilio.sent()[2:])


def test_whatsapp_forged_or_missing_signature_is_refused(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        form = wa_form("+6281234500002", "halo")
        assert rig.whatsapp(form, signature=None).status_code == 403
        assert rig.whatsapp(form, signature="").status_code == 403
        assert rig.whatsapp(form, signature=sign(form, token="not-the-auth-token")).status_code == 403
        assert rig.whatsapp(form, signature=sign(form, url="https://evil.example/webhooks/whatsapp")).status_code == 403
        tampered = dict(form, Body="ambil ADU-7K3P")
        assert rig.whatsapp(tampered, signature=sign(form)).status_code == 403
        assert inbound_count(rig) == 0 and rig.rows() == []
        assert rig.whatsapp(form).status_code == 200  # the genuine one


def test_whatsapp_bad_input_gets_4xx(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        url = "/webhooks/whatsapp"
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        assert rig.client.post(url, json={"Body": "halo"}).status_code == 415
        assert rig.client.post(url, content=b"Body=halo&&=x&broken", headers=form_type).status_code == 400
        assert rig.client.post(url, content=b"Body=%FF%FE", headers=form_type).status_code == 400
        no_sid = {"From": "whatsapp:+6281234500003", "Body": "halo"}
        assert rig.whatsapp(no_sid).status_code == 400
        sms = wa_form("+6281234500003", "halo", From="+6281234500003")
        assert rig.whatsapp(sms).status_code == 400
        bad_media = wa_form("+6281234500003", "", NumMedia="lots")
        assert rig.whatsapp(bad_media).status_code == 400
        huge = wa_form("+6281234500003", "x" * 70_000)
        assert rig.whatsapp(huge).status_code == 413
        status_callback = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "From": WHATSAPP_FROM,
                           "To": "whatsapp:+6281234500003", "AccountSid": ACCOUNT_SID}
        assert rig.whatsapp(status_callback).status_code == 200
        assert inbound_count(rig) == 0 and rig.rows() == []


def test_whatsapp_media_and_location(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
    with running_rig(database_url, classifier, clock) as rig:
        photo = wa_form("+6281234500004", "", NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/jpeg")
        voice = wa_form("+6281234500004", "", NumMedia="1", MediaUrl0=media_url + "2", MediaContentType0="audio/ogg")
        place = wa_form("+6281234500004", "", Latitude="-7.360834", Longitude="109.902345", Address="Jlamprang")
        for form in (photo, voice, place):
            assert rig.whatsapp(form).status_code == 200
        with rig.bot.sessions() as session:
            stored = list(session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars())
        assert stored[0].attachments == [{"kind": "photo", "reference": media_url, "mime_type": "image/jpeg"}]
        assert stored[1].attachments == [{"kind": "voice", "reference": media_url + "2", "mime_type": "audio/ogg"}]
        assert stored[2].text == "lokasi: -7.360834,109.902345"
        rig.deliver()
        assert rig.twilio.sent()[0].body == rig.bot.content.text("media_not_supported").strip()


# --- long messages, order, permanent failures --------------------------------------------------
def _queue(rig: Rig, channel: str, address: str, text: str, options: list[dict[str, str]] | None = None) -> None:
    """Put a proactive message in the outbox the way features do (timers, alerts)."""
    with rig.bot.sessions() as session, session.begin():
        session.add(
            OutboundMessage(
                channel=channel, address=address, text=text, options=options or [], status="pending",
                attempts=0, next_attempt_at=rig.clock.now(), created_at=rig.clock.now(),
            )
        )


def _long_text(paragraphs: int, width: int = 700) -> str:
    return "\n\n".join(f"Paragraf {i}: " + ("kata " * (width // 5)).strip() for i in range(1, paragraphs + 1))


def test_long_messages_are_split_on_paragraphs_in_order(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.whatsapp(wa_form("+6281234500005", "halo"))
        rig.deliver()
        rig.twilio.clear()
        rig.telegram.clear()
        text = _long_text(9)  # ~6300 characters
        options = [{"value": "menu", "label": "Menu utama"}]
        _queue(rig, "telegram", "555007", text, options)
        _queue(rig, "whatsapp", "+6281234500005", text, options)
        rig.deliver()

        tg = rig.telegram.sent()
        assert len(tg) == 2 and all(len(s.text) <= 4096 for s in tg)
        assert "\n\n".join(s.text for s in tg) == text, "cut between paragraphs, nothing lost"
        assert tg[0].reply_markup is None and tg[1].buttons == [("1. Menu utama", "menu")]
        wa = rig.twilio.sent()
        assert len(wa) == 5 and all(len(m.body) <= 1600 for m in wa)
        assert "\n\n".join(m.body for m in wa) == text + "\n\n1. Menu utama"
        assert all(m.body.startswith("Paragraf") for m in wa[:-1])
        rows = {r.channel: r for r in rig.rows() if r.text == text}
        assert rows["telegram"].provider_message_id == ",".join(str(s.message_id) for s in tg)
        assert rows["whatsapp"].provider_message_id == ",".join(m.sid for m in wa)  # every part's id


def test_a_failed_part_is_retried_without_resending_the_parts_before_it(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        text = _long_text(12)  # three Telegram parts
        _queue(rig, "telegram", "555008", text)
        rig.telegram.pass_next(1)
        rig.telegram.fail_next(1, status=502)
        rig.worker.run_once()
        assert len(rig.telegram.sent()) == 1
        rig.clock.advance(timedelta(seconds=5))
        rig.deliver()
        texts = [s.text for s in rig.telegram.sent()]
        assert len(texts) == 3 and len(set(texts)) == 3, "every part exactly once"
        assert "\n\n".join(texts) == text
        row = rig.rows("telegram")[0]
        assert row.status == "sent" and row.attempts == 2
        with rig.bot.sessions() as session:
            parts = session.execute(select(func.count()).select_from(Event).where(Event.kind == "delivery_part")).scalar_one()
        assert parts == 3


def test_messages_to_one_chat_keep_their_order_when_one_fails(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        for text in ("satu", "dua", "tiga"):
            _queue(rig, "telegram", "555009", text)
        _queue(rig, "telegram", "555010", "untuk orang lain")
        rig.telegram.fault_chats = {"555009"}  # the two chats are sent to at the same time
        rig.telegram.fail_next(1)  # "satu" fails once
        rig.worker.run_once()
        assert [s.text for s in rig.telegram.sent()] == ["untuk orang lain"], "the others wait for 'satu'"
        rig.deliver()
        assert [s.text for s in rig.telegram.sent() if s.chat_id == "555009"] == ["satu", "dua", "tiga"]


def test_blocked_bot_is_a_final_failure_with_reason(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.telegram.blocked_chats.add("555011")
        _queue(rig, "telegram", "555011", "halo")
        rig.deliver()
        row = rig.rows("telegram")[0]
        assert row.status == "failed" and row.attempts == 1
        assert "blocked" in row.last_error
        assert len(rig.telegram.calls("sendMessage")) == 1, "no retry of a permanent refusal"


# --- WhatsApp 24-hour window --------------------------------------------------------------------
def test_outside_the_24h_window_without_template_the_message_fails_with_reason(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.whatsapp(wa_form("+6281234500012", "halo"))
        rig.deliver()
        clock.advance(timedelta(hours=23))
        _queue(rig, "whatsapp", "+6281234500012", "masih di dalam jendela")
        rig.deliver()
        clock.advance(timedelta(hours=2))
        _queue(rig, "whatsapp", "+6281234500012", "sudah di luar jendela")
        rig.deliver()
        late = rig.rows("whatsapp")[-1]
        assert late.status == "failed" and "24-hour window" in late.last_error
        assert [m.body for m in rig.twilio.sent()][-1] == "masih di dalam jendela"


def test_outside_the_window_the_template_is_sent_once_and_messages_wait_for_the_answer(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    template = "HX" + "a" * 32
    phone = "+6281234500013"
    with running_rig(database_url, classifier, clock, whatsapp_template_sid=template) as rig:
        rig.whatsapp(wa_form(phone, "halo"))
        rig.deliver()
        clock.advance(timedelta(hours=30))
        _queue(rig, "whatsapp", phone, "Kabar kasus Anda: satgas sudah menghubungi agen.")
        _queue(rig, "whatsapp", phone, "Balas pesan ini jika ada pertanyaan.")
        for _ in range(3):
            rig.worker.run_once()
            clock.advance(timedelta(minutes=10))
        knocks = [m for m in rig.twilio.sent() if m.content_sid]
        assert [(k.to, k.content_sid, k.body) for k in knocks] == [(f"whatsapp:{phone}", template, "")]
        assert [r.status for r in rig.rows("whatsapp")[-2:]] == ["pending", "pending"]

        # the person answers the template: the held messages go out, in order, before the new replies
        rig.whatsapp(wa_form(phone, "iya"))
        rig.deliver()
        bodies = [m.body for m in rig.twilio.sent() if not m.content_sid]
        held_at = bodies.index("Kabar kasus Anda: satgas sudah menghubungi agen.")
        assert bodies[held_at + 1] == "Balas pesan ini jika ada pertanyaan."
        assert len(bodies) > held_at + 2, "the answer itself was answered after them"
        assert len([m for m in rig.twilio.sent() if m.content_sid]) == 1


def test_held_messages_fail_when_the_template_is_never_answered(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    phone = "+6281234500014"
    with running_rig(database_url, classifier, clock, whatsapp_template_text="Ada pesan untuk Anda dari Desmigras. Balas pesan ini untuk membacanya.") as rig:
        rig.whatsapp(wa_form(phone, "halo"))
        rig.deliver()
        clock.advance(timedelta(days=2))
        _queue(rig, "whatsapp", phone, "pesan 1")
        _queue(rig, "whatsapp", phone, "pesan 2")
        rig.worker.run_once()
        clock.advance(timedelta(hours=73))
        rig.deliver()
        assert [m.body for m in rig.twilio.sent()][-1].startswith("Ada pesan untuk Anda")
        assert [(r.status, "template" in r.last_error) for r in rig.rows("whatsapp")[-2:]] == [("failed", True)] * 2
        assert len([m for m in rig.twilio.sent() if m.body.startswith("Ada pesan")]) == 1


# --- health ----------------------------------------------------------------------------------
def test_health_reports_database_and_model(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from sqlalchemy import create_engine

    from bot.core import Core
    from bot.outbox import Outbox
    from bot.storage.db import make_session_factory
    from bot.web import create_app
    from starlette.testclient import TestClient

    with running_rig(database_url, classifier, clock) as rig:
        response = rig.client.get("/health")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "nlu": "ok"}
        assert response.json()["channels"] == ["telegram", "whatsapp"]

        # the same bot with its database gone: health says so, and webhooks ask for a retry
        unreachable = create_engine("postgresql+psycopg2://nobody@127.0.0.1:9/none", future=True)
        sessions = make_session_factory(unreachable)
        bot = rig.bot
        core = Core(sessions, bot.content, bot.classifier, bot.dialogue, bot.settings, bot.clock)
        broken = dataclasses.replace(bot, sessions=sessions, core=core, outbox=Outbox(sessions, bot.clock))
        form = wa_form("+6281234500015", "halo")
        try:
            with TestClient(create_app(broken, run_worker=False)) as client:
                health = client.get("/health")
                assert health.status_code == 503 and health.json()["checks"]["database"] == "unavailable"
                retry = client.post("/webhooks/whatsapp", data=form, headers={"X-Twilio-Signature": sign(form)})
                assert retry.status_code == 503
        finally:
            unreachable.dispose()
        assert rig.whatsapp(form).status_code == 200  # the provider's retry, once the database is back
        assert inbound_count(rig) == 1

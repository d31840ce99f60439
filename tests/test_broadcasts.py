"""Reaching people first (issue 12): templates per message kind outside
WhatsApp's window, 63016, Twilio status callbacks, opt-out and opt-in, and
broadcasts (segments, preview, consent at queue and send time, rate, report).
Real core, real twilio client against the fake Twilio, SQLite and PostgreSQL.
The crash test (500 recipients, `python -m bot.delivery` killed half-way) is
in tests/test_broadcast_crash.py."""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot import cli
from bot.config import PROJECT_ROOT
from bot.content import ContentError
from bot.domain import broadcasts, subscriptions
from bot.message_templates import fit, load_templates, templates_for
from bot.storage.broadcast_models import BroadcastRecipient, Subscription
from bot.storage.models import Contact, OutboundMessage
from tests.channel_kit import PUBLIC_URL, Rig, running_rig, sign, wa_form
from tests.chat import Chat
from tests.test_complaints import SATGAS_1

STATUS = "/webhooks/whatsapp/status"


def registered_content(tmp_path: Path) -> Path:
    """The project's content with every template given a Content SID, as after
    registering them with Twilio."""
    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    raw = yaml.safe_load((content / "templates.yml").read_text(encoding="utf-8"))
    for index, entry in enumerate(raw["templates"].values()):
        entry["twilio_content_sid"] = "HX" + f"{index:02d}" * 16
    (content / "templates.yml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return content


def sid_of(content: Path, name: str) -> str:
    return load_templates(content)[name].twilio_content_sid


def wa_report(rig: Rig, phone: str) -> str:
    """A family reports unpaid wages over WhatsApp; returns the case code."""
    for text in ("gaji kakak saya di malaysia belum dibayar 3 bulan", "ya setuju", "Siti Aminah", "PT Maju Jaya", "1", "jlamprang"):
        rig.whatsapp(wa_form(phone, text))
    rig.whatsapp(wa_form(phone, "1"))
    rig.deliver()
    replies = " ".join(m.body for m in rig.twilio.sent() if m.to.endswith(phone))
    found = re.findall(r"ADU-[A-Z2-9]{4}", replies)
    assert found, replies
    return found[-1]


def status_callback(rig: Rig, sid: str, status: str, code: str = "", signature: str = "sign") -> Any:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 31 + "1"}
    if code:
        form["ErrorCode"] = code
    headers = {"X-Twilio-Signature": sign(form, PUBLIC_URL + STATUS) if signature == "sign" else signature}
    return rig.client.post(STATUS, data=form, headers=headers)


# --- templates per message kind ------------------------------------------------------------------
def test_case_updates_go_as_text_inside_the_window_and_as_their_template_outside(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phone = "+6281234560001"
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        code = wa_report(rig, phone)
        Chat(rig.bot, sender=SATGAS_1).send(f"ambil {code}")
        rig.deliver()
        claimed = [m for m in rig.twilio.sent() if m.to == f"whatsapp:{phone}"][-1]
        assert claimed.content_sid == "" and "sudah diambil oleh" in claimed.body

        clock.advance(timedelta(hours=25))  # the family has not written for a day
        Chat(rig.bot, sender=SATGAS_1).send(f"selesai {code} gaji sudah dibayar agen bulan ini")
        rig.deliver()
        resolved = [m for m in rig.twilio.sent() if m.to == f"whatsapp:{phone}"][-1]
        assert resolved.content_sid == sid_of(content, "kabar_kasus") and resolved.body == ""
        assert json.loads(resolved.content_variables) == {"1": code, "2": "sudah selesai ditangani. Hasil: gaji sudah dibayar agen bulan ini"}
        row = rig.rows("whatsapp")[-1]
        assert row.status == "sent" and row.template == "kabar_kasus"


def test_a_satgas_message_outside_the_window_is_announced_by_its_template_and_waits_for_the_answer(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phone = "+6281234560002"
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        code = wa_report(rig, phone)
        satgas = Chat(rig.bot, sender=SATGAS_1)
        satgas.send(f"ambil {code}")
        rig.deliver()
        clock.advance(timedelta(hours=30))
        satgas.send(f"balas {code} Bu, apakah ada nomor majikan yang bisa dihubungi?")
        rig.deliver(passes=3)
        last = [m for m in rig.twilio.sent() if m.to == f"whatsapp:{phone}"][-1]
        assert last.content_sid == sid_of(content, "pesan_satgas") and json.loads(last.content_variables) == {"1": code}
        assert rig.rows("whatsapp")[-1].status == "pending", "the message itself waits for the answer"
        rig.whatsapp(wa_form(phone, "iya pak"))
        rig.deliver()
        bodies = [m.body for m in rig.twilio.sent() if m.to == f"whatsapp:{phone}"]
        assert any("nomor majikan yang bisa dihubungi" in body for body in bodies)


def test_error_63016_sends_the_same_message_as_its_template(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phone = "+6281234560003"
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        code = wa_report(rig, phone)
        rig.twilio.closed_windows.add(phone)  # WhatsApp disagrees with our estimate of the window
        Chat(rig.bot, sender=SATGAS_1).send(f"ambil {code}")
        rig.deliver()
        to_family = [r for r in rig.twilio.requests if r.method == "POST" and r.form.get("To") == f"whatsapp:{phone}"]
        assert [(r.status, bool(r.form.get("ContentSid"))) for r in to_family[-2:]] == [(400, False), (201, True)]
        assert to_family[-1].form["ContentSid"] == sid_of(content, "kabar_kasus")
        assert rig.rows("whatsapp")[-1].status == "sent"


def test_an_unregistered_template_falls_back_to_the_general_one_and_without_it_fails_with_the_reason(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    phone = "+6281234560004"
    with running_rig(database_url, classifier, clock) as rig:  # content/templates.yml as shipped: no SIDs
        code = wa_report(rig, phone)
        clock.advance(timedelta(hours=25))
        Chat(rig.bot, sender=SATGAS_1).send(f"ambil {code}")
        rig.deliver()
        row = rig.rows("whatsapp")[-1]
        assert row.status == "failed" and "24-hour window" in row.last_error and row.provider_status == "failed"


def test_templates_yml_is_checked_at_start_and_names_the_entry(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    raw = yaml.safe_load((content / "templates.yml").read_text(encoding="utf-8"))
    raw["templates"]["kabar_kasus"]["text"] = "Kabar {kode}: {isi_yang_tidak_ada}"
    (content / "templates.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match="templates.kabar_kasus"):
        load_templates(content)
    raw["templates"]["kabar_kasus"]["text"] = "Kabar {kode}: {kabar}"
    raw["templates"]["kabar_kasus"]["twilio_content_sid"] = "bukan-sid"
    (content / "templates.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match="twilio_content_sid"):
        load_templates(content)


def test_variables_are_cut_safely_to_their_maximum() -> None:
    template = templates_for(PROJECT_ROOT / "content")["kabar_kasus"]
    values = json.loads(template.twilio_variables({"kode": "ADU-AAAA", "kabar": "kata " * 200}))
    assert len(values["2"]) <= 400 and values["2"].endswith("…") and "\n" not in values["2"]
    assert fit("satu dua tiga", 8) == "satu…"
    assert len(template.render({"kode": "ADU-AAAA", "kabar": "x" * 5000})) <= 1024


# --- status callbacks ------------------------------------------------------------------------------
def test_status_callbacks_are_recorded_in_order_and_forged_ones_refused(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    phone = "+6281234560005"
    with running_rig(database_url, classifier, clock) as rig:
        rig.whatsapp(wa_form(phone, "halo"))
        rig.deliver()
        assert all(m.status_callback == PUBLIC_URL + STATUS for m in rig.twilio.sent())
        row = rig.rows("whatsapp")[-1]
        sid = row.provider_message_id
        assert status_callback(rig, sid, "delivered", signature="salah").status_code == 403
        assert rig.client.post(STATUS, data={"MessageSid": sid, "MessageStatus": "read"}).status_code == 403
        assert status_callback(rig, sid, "meledak").status_code == 400
        assert status_callback(rig, sid, "delivered").status_code == 204
        assert status_callback(rig, sid, "read").status_code == 204
        assert status_callback(rig, sid, "sent").status_code == 204  # late and out of order: ignored
        assert rig.rows("whatsapp")[-1].provider_status == "read"
        assert status_callback(rig, "SM" + "f" * 32, "delivered").status_code == 204  # not ours: nothing to do


def test_a_63016_status_callback_sends_a_templated_message_again_as_its_template(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phone = "+6281234560006"
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        code = wa_report(rig, phone)
        Chat(rig.bot, sender=SATGAS_1).send(f"ambil {code}")
        rig.deliver()
        row = rig.rows("whatsapp")[-1]
        assert row.template == "kabar_kasus" and row.status == "sent"
        assert status_callback(rig, row.provider_message_id, "undelivered", code="63016").status_code == 204
        rig.deliver()
        last = rig.twilio.sent()[-1]
        assert last.content_sid == sid_of(content, "kabar_kasus") and last.to == f"whatsapp:{phone}"


# --- opting out and in -------------------------------------------------------------------------------
@pytest.mark.parametrize("words", ["berhenti", "stop", "ora usah ngirim maneh", "eureun", "unsubscribe", "STOP"])
def test_opt_out_in_each_language_mid_form_is_confirmed_and_ends_the_form(chat: Chat, bot, words: str) -> None:  # type: ignore[no-untyped-def]
    chat.send("mau lapor masalah")
    chat.send("ya")  # consent given, the form asks who is reporting
    reply = chat.says(words)
    assert "tidak akan lagi menerima" in reply and "dibatalkan" in reply
    with bot.sessions() as session:
        contact = session.execute(select(Contact).where(Contact.address == chat.sender)).scalar_one()
        said = subscriptions.topics_of(session, contact.id)
    assert said == {"info_pelatihan": False, "peringatan": False, "kabar_kasus": False}
    assert "menerima lagi" in chat.says("mulai lagi")
    with bot.sessions() as session:
        assert all(subscriptions.topics_of(session, contact.id).values())


def test_after_a_training_registration_the_bot_asks_about_news_of_new_trainings(bot, chat: Chat) -> None:  # type: ignore[no-untyped-def]
    from tests.test_trainings import sign_up

    sign_up(chat, "081234560007")
    assert "Mau kami kabari kalau ada pelatihan baru" in chat.transcript()
    assert "kami akan mengirim kabar pelatihan baru" in chat.says("iya boleh")
    with bot.sessions() as session:
        row = session.execute(select(Subscription)).scalar_one()
    assert (row.topic, row.subscribed, row.source) == ("info_pelatihan", True, "ditanya:info_pelatihan")


# --- broadcasts ------------------------------------------------------------------------------------------
def contacts_in_village(rig: Rig, phones: list[str]) -> None:
    for phone in phones:
        rig.whatsapp(wa_form(phone, "halo"))
    rig.deliver()
    with rig.bot.sessions() as session, session.begin():
        for contact in session.execute(select(Contact).where(Contact.address.in_(phones))).scalars():
            contact.village_code = "jlamprang"


def test_a_broadcast_previews_skips_opted_out_rechecks_at_send_time_and_reports(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phones = [f"+62812345610{i:02d}" for i in range(12)]
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        contacts_in_village(rig, phones)
        rig.whatsapp(wa_form(phones[0], "berhenti"))  # before: never queued
        rig.deliver()
        templates = templates_for(content)
        with rig.bot.sessions() as session, session.begin():
            counted = broadcasts.preview(session, "desa:jlamprang", "peringatan", templates["siaran_peringatan"], clock.now())
            assert (counted.recipients, counted.opted_out, counted.would_send) == (12, 1, 11)
            created = broadcasts.create(
                session, title="Waspada calo", topic="peringatan", template=templates["siaran_peringatan"],
                variables={"peringatan": "Ada calo yang menjanjikan kerja di Kamboja tanpa biaya. Itu penipuan."},
                segment="desa:jlamprang", created_by="uji", now=clock.now(), per_minute=6,
            )
            broadcast_id = created.id
        rig.bot.run_timers()  # queued, spaced 10 s apart
        rig.whatsapp(wa_form(phones[1], "stop"))  # after queuing, before sending: not sent
        rig.deliver(passes=200, step=timedelta(seconds=5))
        warned = [m for m in rig.twilio.sent() if "calo yang menjanjikan" in m.body]
        assert sorted(m.to for m in warned) == sorted(f"whatsapp:{p}" for p in phones[2:])
        with rig.bot.sessions() as session:
            report = broadcasts.report(session, broadcast_id)
            due = sorted(r.next_attempt_at for r in session.execute(select(OutboundMessage).where(OutboundMessage.broadcast_id == broadcast_id)).scalars())
        assert report.sent == 10 and report.skipped == {"berhenti berlangganan": 1, "berhenti sebelum terkirim": 1}
        assert report.recipients == 12 and report.pending == 0 and report.broadcast.status == "selesai"
        assert (due[-1] - due[0]) >= timedelta(seconds=10 * 10), "the rate limit spaced them"


def test_a_marketing_broadcast_goes_only_to_people_who_said_yes(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phones = [f"+62812345620{i:02d}" for i in range(3)]
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        contacts_in_village(rig, phones)
        rig.whatsapp(wa_form(phones[0], "mulai lagi"))
        rig.deliver()
        with rig.bot.sessions() as session, session.begin():
            template = templates_for(content)["siaran_pelatihan"]
            broadcast_id = broadcasts.create(
                session, title="Batik", topic="info_pelatihan", template=template,
                variables={"judul": "Batik tulis lanjutan", "keterangan": "Pendaftaran dibuka sampai 1 Desember."},
                segment="desa:jlamprang", created_by="uji", now=clock.now(), per_minute=600,
            ).id
        rig.bot.run_timers()
        rig.deliver()
        got = [m.to for m in rig.twilio.sent() if "Batik tulis lanjutan" in m.body]
        assert got == [f"whatsapp:{phones[0]}"]
        with rig.bot.sessions() as session:
            reasons = dict(
                session.execute(select(BroadcastRecipient.reason, BroadcastRecipient.id).where(BroadcastRecipient.broadcast_id == broadcast_id)).all()
            )
        assert "belum setuju" in reasons


def test_outside_the_window_a_broadcast_goes_as_its_template(database_url, classifier, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = registered_content(tmp_path)
    phone = "+6281234563001"
    with running_rig(database_url, classifier, clock, content_dir=content) as rig:
        contacts_in_village(rig, [phone])
        clock.advance(timedelta(days=3))
        with rig.bot.sessions() as session, session.begin():
            broadcasts.create(
                session, title="Waspada", topic="peringatan", template=templates_for(content)["siaran_peringatan"],
                variables={"peringatan": "Lowongan admin di Kamboja lewat Facebook adalah penipuan."},
                segment="desa:jlamprang", created_by="uji", now=clock.now(),
            )
        rig.bot.run_timers()
        rig.deliver()
        last = rig.twilio.sent()[-1]
        assert last.content_sid == sid_of(content, "siaran_peringatan")
        assert json.loads(last.content_variables) == {"1": "Lowongan admin di Kamboja lewat Facebook adalah penipuan."}


def test_broadcast_cli_previews_sends_and_reports(bot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    args = ["--segment", "desa:jlamprang", "--topic", "peringatan", "--template", "siaran_peringatan", "--var", "peringatan=Hati-hati calo."]
    assert cli.main(["broadcast", "preview", *args], out=out, settings=bot.settings) == 0
    assert cli.main(["broadcast", "send", *args, "--title", "Uji"], out=out, settings=bot.settings) == 0
    assert cli.main(["broadcast", "report", "1"], out=out, settings=bot.settings) == 0
    # a wrong segment is a wrong argument (2, tests/test_cli_arguments.py); a missing template value is refused (1)
    assert cli.main(["broadcast", "preview", "--segment", "planet:mars", "--topic", "peringatan", "--template", "siaran_peringatan"], out=out, settings=bot.settings) == 2
    assert cli.main(["broadcast", "send", "--segment", "semua", "--topic", "peringatan", "--template", "siaran_peringatan", "--title", "x"], out=out, settings=bot.settings) == 1
    text = out.getvalue()
    assert "akan dikirimi 0" in text and "Siaran 1 dibuat" in text and "belum diisi: peringatan" in text


def wa_says(rig: Rig, phone: str, text: str) -> str:
    before = len(rig.twilio.sent())
    rig.whatsapp(wa_form(phone, text))
    rig.deliver()
    return "\n".join(m.body for m in rig.twilio.sent()[before:] if m.to == f"whatsapp:{phone}")


def test_a_campaign_reminds_registrants_three_and_one_days_before_the_training(database_url, classifier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    from bot.clock import ManualClock
    from bot.domain.catalog_file import catalog_for
    from bot.storage.training_models import Training

    clock = ManualClock(datetime(2026, 11, 26, 3, 0))
    phone = "+6281234564001"
    with running_rig(database_url, classifier, clock) as rig:
        reply = wa_says(rig, phone, "mau daftar pelatihan batik")
        if "desa mana" in reply:
            reply = wa_says(rig, phone, "Jlamprang")
        if "Pelatihan mana" in reply:
            reply = wa_says(rig, phone, "1")
        transcript = [reply]
        for text in ("Siti Aminah", "keluarga", "081234564001", "ya", "1"):
            reply = wa_says(rig, phone, text)
            transcript.append(f"> {text}\n{reply}")
        assert "PLT-" in reply, "\n".join(transcript)
        with rig.bot.sessions() as session, session.begin():
            training = session.get(Training, "batik-lanjutan-2026-12")
            made = broadcasts.campaign(
                session, training, [3, 1], templates_for(rig.bot.settings.content_dir)["pengingat_pelatihan"],
                catalog_for(rig.bot.settings.content_dir).when(training.start_at, training.end_at), clock.now(), "uji",
            )
            start = training.start_at
        assert [b.send_at for b in made] == [start - timedelta(days=3), start - timedelta(days=1)]
        rig.bot.run_timers()
        rig.deliver()
        assert not [m for m in rig.twilio.sent() if m.body.startswith("Pengingat: pelatihan")], "not yet"
        clock.advance(start - timedelta(days=3) - clock.now() + timedelta(minutes=1))
        rig.whatsapp(wa_form(phone, "halo"))  # keeps the WhatsApp window open: the full text goes
        rig.bot.run_timers()
        rig.deliver()
        reminders = [m for m in rig.twilio.sent() if m.body.startswith("Pengingat: pelatihan Batik")]
        assert [m.to for m in reminders] == [f"whatsapp:{phone}"]


def test_after_a_report_the_bot_asks_about_warnings_and_a_no_is_kept(bot, chat: Chat) -> None:  # type: ignore[no-untyped-def]
    from tests.test_complaints import report_unpaid_wages

    report_unpaid_wages(chat)
    assert "peringatan bila ada calo" in chat.transcript()
    assert "tidak akan mengirim peringatan" in chat.says("ga usah")
    with bot.sessions() as session:
        contact = session.execute(select(Contact).where(Contact.address == chat.sender)).scalar_one()
        assert subscriptions.topics_of(session, contact.id) == {"info_pelatihan": None, "peringatan": False, "kabar_kasus": None}


def test_a_broadcast_outside_the_window_without_a_template_is_reported_as_skipped(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    phone = "+6281234565001"
    with running_rig(database_url, classifier, clock) as rig:  # shipped templates.yml: no SIDs, no general template
        contacts_in_village(rig, [phone])
        clock.advance(timedelta(days=3))
        with rig.bot.sessions() as session, session.begin():
            broadcast_id = broadcasts.create(
                session, title="Waspada", topic="peringatan", template=templates_for(rig.bot.settings.content_dir)["siaran_peringatan"],
                variables={"peringatan": "Hati-hati calo."}, segment="desa:jlamprang", created_by="uji", now=clock.now(),
            ).id
        rig.bot.run_timers()
        rig.deliver()
        with rig.bot.sessions() as session:
            report = broadcasts.report(session, broadcast_id)
        assert report.skipped == {"di luar 24 jam tanpa template": 1} and report.sent == 0 and report.failed == {}

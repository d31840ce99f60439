"""The reporter's side of a complaint: report, follow up, get news.

The questions themselves are in content/flows/lapor_masalah.yml; this module
decides what happens around them: not asking twice what the first message
already said, joining a second report to the open one, deciding urgency,
alerting the village satgas, and escalating when nobody picks an urgent case up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.content import Content
from bot.domain import cases
from bot.domain.villages import alert_recipients
from bot.messages import Option, Outbound, Proactive
from bot.storage.complaint_models import Case
from bot.storage.models import SatgasMember, Village
from bot.turn import IntentHandler, TickContext, Turn
from flows import case_talk, consent_question, reading, safety
from flows import idle_cases
from flows.feature import Feature
from flows.forms import FormSpec
from flows.village_question import remember_village
from nlu.classifier import Understanding

if TYPE_CHECKING:
    from flows.dialogue import Dialogue

REPORT_FORM = "lapor_masalah"
CONSULT_FORM = "minta_petugas"


def settings_of(content: Content) -> cases.ComplaintSettings:
    return cases.settings_for(content.directory)


# --- starting a report ---------------------------------------------------------
def start_report(dialogue: "Dialogue") -> IntentHandler:
    def handle(turn: Turn, understanding: Optional[Understanding]) -> None:
        from flows.dialogue import prefill_from

        # Chosen from the emergency message ("1"): the danger message before it told the story.
        told = str((turn.state or {}).get("danger_message") or "")
        turn.forget("danger_message")
        chosen_from_menu = understanding is None
        source = told if chosen_from_menu and told else turn.text
        prefill = prefill_from(understanding, dialogue.forms, REPORT_FORM, source)
        if chosen_from_menu and told:
            prefill = _prefill_from_words(dialogue, source)
        country = turn.content.country_from_text(source) if source is told else turn.country_in_message()
        if country and "negara" not in prefill:
            prefill["negara"] = country
        prefill.update(_from_first_message(turn, dialogue, source))
        prefill.update(_known_answers(turn))
        open_case = cases.open_case_of(turn.session, turn.contact.id)
        if open_case is not None:
            turn.say(turn.content.text("case_open_already", code=open_case.code))
        if (turn.state or {}).get("report_urgent_from_emergency") or turn.emergency_shown:
            turn.remember("report_urgent_from_emergency", True)
        dialogue.forms.start(turn, REPORT_FORM, prefill)

    return handle


def _prefill_from_words(dialogue: "Dialogue", text: str) -> dict[str, str]:
    from flows.dialogue import prefill_from
    from nlu.classifier import Understanding as Nothing

    return prefill_from(Nothing("lapor_masalah", 1.0), dialogue.forms, REPORT_FORM, text)


def start_urgent_report(dialogue: "Dialogue") -> IntentHandler:
    """Chosen from the emergency message: the report is urgent from the start."""
    report = start_report(dialogue)

    def handle(turn: Turn, understanding: Optional[Understanding]) -> None:
        turn.remember("report_urgent_from_emergency", True)
        report(turn, understanding)

    return handle


def start_consultation(dialogue: "Dialogue") -> IntentHandler:
    def handle(turn: Turn, _understanding: Optional[Understanding]) -> None:
        dialogue.forms.start(turn, CONSULT_FORM, _known_answers(turn))

    return handle


STORY_WORDS = 8  # a first message this long already tells the story


def _from_first_message(turn: Turn, dialogue: "Dialogue", text: str) -> dict[str, str]:
    """What the first message already said is not asked again: who writes
    ("kakak saya ..." = family, sister or brother) and the story itself."""
    found: dict[str, str] = {}
    if dialogue.forms.active(turn) is not None:
        return found
    lexicon = reading.load_lexicon(turn.content.directory)
    relation = reading.relative_in(lexicon, text)
    if relation:
        found["pelapor"] = "keluarga"
        found["hubungan"] = relation
    if len(text.split()) >= STORY_WORDS:
        found["cerita"] = text
    return found


def _known_answers(turn: Turn) -> dict[str, str]:
    """A returning reporter is not asked again for their village or consent."""
    known: dict[str, str] = {}
    if turn.contact.village_code:
        known["desa"] = turn.contact.village_code
    if turn.contact.consent_at:
        known["persetujuan"] = turn.contact.consent_at.isoformat(timespec="seconds")
    return known


# --- finishing the forms ----------------------------------------------------------
def is_urgent(turn: Turn, slots: dict[str, Any]) -> bool:
    settings = settings_of(turn.content)
    if (turn.state or {}).get("report_urgent_from_emergency") or turn.emergency_shown:
        return True
    if slots.get("jenis_masalah") in settings.urgent_categories:
        return True
    if slots.get("lama_hilang") == "lebih_7_hari":
        return True
    story = str(slots.get("cerita", ""))
    if slots.get("negara") in turn.content.risk_countries:
        # Held in a scam compound: "disekap", "paspornya diambil", "ga bisa pulang".
        lowered = " ".join(story.casefold().split())
        if any(word in lowered for word in turn.content.risk_held_words):
            return True
    return safety.mentions_danger(turn.content, story)


def create_report(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
    urgent = is_urgent(turn, slots)
    turn.forget("report_urgent_from_emergency")
    case = _open_case(
        turn,
        slots,
        urgent,
        reporter_relation=slots.get("hubungan") or slots.get("pelapor", "pekerja"),
        worker_name=slots.get("nama_pekerja"),
        country=slots.get("negara"),
        employer=slots.get("majikan"),
        category=slots.get("jenis_masalah", "lainnya"),
        contact_phone=slots.get("nomor_hp"),
    )
    if case is None:
        return
    village = turn.session.get(Village, case.village_code)
    turn.say(turn.content.text("case_created", code=case.code, village=village.name))
    if urgent:
        # Someone in danger already got the emergency guidance when the danger
        # was written; the family gets what they can do from home.
        turn.say(turn.content.text("case_created_urgent", village=village.name))
        turn.say(turn.content.text("case_urgent_guidance"))
    else:
        # A natural moment to ask about warnings (not when someone is in danger).
        consent_question.ask(turn, "peringatan")
    alert_village(turn, case)


def create_consultation(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
    case = _open_case(turn, slots, False, reporter_relation="warga", category="konsultasi")
    if case is None:
        return
    village = turn.session.get(Village, case.village_code)
    turn.say(turn.content.text("consultation_created", code=case.code, village=village.name))
    alert_village(turn, case)


def _open_case(turn: Turn, slots: dict[str, Any], urgent: bool, **fields: Any) -> Optional[Case]:
    """A new case, or None when the report joined the reporter's open case."""
    remember_village(turn, slots["desa"])
    existing = cases.open_case_of(turn.session, turn.contact.id)
    if existing is not None:
        _attach(turn, existing, slots, urgent)
        return None
    case = cases.create_case(
        turn.session,
        settings_of(turn.content),
        turn.now,
        village_code=slots["desa"],
        reporter_id=turn.contact.id,
        description=slots.get("cerita"),
        urgent=urgent,
        **fields,
    )
    turn.record("case_created", case=case.code, urgent=urgent, category=case.category)
    return case


def _attach(turn: Turn, case: Case, slots: dict[str, Any], urgent: bool) -> None:
    """A second report while one is open joins it: one family, one case."""
    summary = "; ".join(f"{key}: {value}" for key, value in slots.items() if key not in ("persetujuan",))
    cases.log(turn.session, case, "pelapor", "laporan_tambahan", turn.now, note=summary)
    if urgent:
        cases.mark_urgent(case, settings_of(turn.content), turn.now)
    turn.record("case_attached", case=case.code)
    turn.say(turn.content.text("case_attached", code=case.code))
    for channel, address in _case_audience(turn.session, case):
        turn.notify(
            channel, address, Outbound(turn.content.text("satgas_reporter_message", code=case.code, message=summary)),
            subject_case_id=case.id, proactive=news_for_satgas(case),
        )


# --- telling the satgas ------------------------------------------------------------
def case_card(content: Content, session: Session, case: Case) -> str:
    settings = settings_of(content)
    village = session.get(Village, case.village_code)
    contact = case.contact_phone or content.text("contact_via_chat")
    return content.text(
        "satgas_new_case",
        urgent=content.text("satgas_urgent_prefix") if case.urgent else "",
        code=case.code,
        village=village.name if village else case.village_code,
        category=settings.categories.get(case.category, case.category),
        country=content.country_name(case.country),
        worker=case.worker_name or "-",
        employer=case.employer or "-",
        relation=settings.relations.get(case.reporter_relation, case.reporter_relation),
        contact=contact,
        story=case.description or "-",
    )


def new_case_template(content: Content, session: Session, case: Case) -> Proactive:
    village = session.get(Village, case.village_code)
    category = settings_of(content).categories.get(case.category, case.category)
    return Proactive("kasus_baru_satgas", {"kode": case.code, "jenis": category, "desa": village.name if village else case.village_code})


def news_for_satgas(case: Case) -> Proactive:
    """A reply, evidence or an addition from the family: outside the window the
    satgas is told there is news and reads it after answering."""
    return Proactive("kabar_untuk_satgas", {"kode": case.code})


def alert_village(turn: Turn, case: Case) -> None:
    card = case_card(turn.content, turn.session, case)
    options = (
        Option(f"ambil {case.code}", turn.content.text("satgas_claim_option", code=case.code)),
        Option("kasus", turn.content.text("satgas_list_option")),
    )
    for channel, address in alert_recipients(turn.session, case.village_code):
        turn.notify(channel, address, Outbound(card, options), subject_case_id=case.id, proactive=new_case_template(turn.content, turn.session, case))


def _case_audience(session: Session, case: Case) -> list[tuple[str, str]]:
    """The assignee if there is one, otherwise the whole village satgas."""
    if case.assigned_to:
        member = session.get(SatgasMember, case.assigned_to)
        if member is not None and member.active:
            return [(member.channel, member.address)]
    return alert_recipients(session, case.village_code)


# --- the reporter follows up ---------------------------------------------------------
def check_status(turn: Turn, understanding: Optional[Understanding]) -> None:
    settings = settings_of(turn.content)
    code = understanding.entity("kode_tiket") if understanding else None
    if code:
        case = turn.session.execute(
            select(Case).where(Case.code == code.upper(), Case.reporter_id == turn.contact.id)
        ).scalar_one_or_none()
        if case is None:
            turn.say(turn.content.text("status_not_found", code=code.upper()))
            return
        turn.say(_status_text(turn.content, settings, case))
        return
    mine = list(
        turn.session.execute(
            select(Case).where(Case.reporter_id == turn.contact.id).order_by(Case.id.desc()).limit(3)
        ).scalars()
    )
    if not mine:
        turn.say(turn.content.text("status_none"))
        return
    if len(mine) > 1:
        turn.say(turn.content.text("status_list_intro"))
    for case in mine:
        turn.say(_status_text(turn.content, settings, case))


def _status_text(content: Content, settings: cases.ComplaintSettings, case: Case) -> str:
    update_line = (
        content.text("status_update_line", update=case.public_update)
        if case.public_update
        else content.text("status_no_update")
    )
    return content.text(
        "status_one",
        code=case.code,
        category=settings.categories.get(case.category, case.category),
        status=settings.statuses.get(case.status, case.status),
        created=cases.local_time(settings, case.created_at),
        update=update_line,
    )


def family_relay(dialogue: "Dialogue") -> list[Callable[[Turn], bool]]:
    """While a satgas holds the family's case, what they write goes to that
    satgas (flows/case_talk.py), except the intents every feature declares as
    requests to the bot (`Feature.reply_exempt`, collected on the dialogue)."""
    return [case_talk.relay(dialogue)]


# --- timers ----------------------------------------------------------------------
def fire_timers(ctx: TickContext) -> int:
    """Escalate unclaimed urgent cases; remind satgas of unclaimed ones daily;
    announce, then close, open cases idle past retention; anonymise old closed ones."""
    settings = settings_of(ctx.content)
    fired = 0
    for case in cases.due_escalations(ctx.session, ctx.now):
        village = ctx.session.get(Village, case.village_code)
        message = Outbound(
            ctx.content.text(
                "satgas_escalation",
                code=case.code,
                village=village.name,
                minutes=settings.escalation_minutes,
                category=settings.categories.get(case.category, case.category),
                country=(ctx.content.countries[case.country].name if case.country in ctx.content.countries else case.country or "-"),
            ),
            (Option(f"ambil {case.code}", ctx.content.text("satgas_claim_option", code=case.code)),),
        )
        escalation = Proactive("eskalasi_kasus", {"kode": case.code, "desa": village.name})
        if village.escalation_channel and village.escalation_address:
            ctx.notify(village.escalation_channel, village.escalation_address, message, subject_case_id=case.id, proactive=escalation)
        for channel, address in alert_recipients(ctx.session, case.village_code):
            ctx.notify(channel, address, message, subject_case_id=case.id, proactive=escalation)
        cases.escalated(ctx.session, case, ctx.now)
        fired += 1
    for case in cases.due_reminders(ctx.session, ctx.now):
        village = ctx.session.get(Village, case.village_code)
        text = ctx.content.text(
            "satgas_reminder",
            code=case.code,
            category=settings.categories.get(case.category, case.category),
            village=village.name,
            created=cases.local_time(settings, case.created_at),
        )
        reminder = Proactive("pengingat_kasus", {"kode": case.code, "desa": village.name})
        for channel, address in alert_recipients(ctx.session, case.village_code):
            ctx.notify(channel, address, Outbound(text), subject_case_id=case.id, proactive=reminder)
        cases.reminded(ctx.session, case, settings, ctx.now)
        fired += 1
    fired += idle_cases.fire(ctx, settings)  # open cases nobody acts on: warned, then closed (issue 24)
    return fired + cases.purge_expired(ctx.session, settings, ctx.now)


def _handlers(dialogue: "Dialogue") -> dict[str, IntentHandler]:
    return {
        "lapor_masalah": start_report(dialogue),
        "lapor_darurat": start_urgent_report(dialogue),
        "darurat": lambda turn, _u: safety.show_emergency(turn, offer_report=True),
        "cek_status": check_status,
        "minta_petugas": start_consultation(dialogue),
    }


FEATURE = Feature(
    name="complaints",
    actions={"buat_laporan": create_report, "buat_konsultasi": create_consultation},
    handlers=_handlers,
    tick=fire_timers,
    relays=family_relay,
    erasers=[cases.erase_reporter],
    media=case_talk.keep_media,
)

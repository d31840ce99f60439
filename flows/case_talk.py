"""The conversation between a family and the satgas member who took their case.

From the moment a satgas member claims a case (`ambil` in chat or "Ambil" on
the web console) until it is closed or released, what the family writes is
meant for that person, not for the bot: "belum ada kabar pak", the employer's
number, "gajinya belum dikirim lagi", "makasih pak", "berapa lama lagi?". Each
such message goes into the case history and to the member holding the case;
the family is told it was passed on (once every few minutes, not after every
line of a burst). Only explicit requests stay with the bot: deleting data,
the menu, stopping or restarting our messages, a status check, training
requests (each feature's `reply_exempt` intents) and the answer to a pending
yes/no question. Danger gets the emergency guidance at once and goes to the
satgas as urgent.

Attachments (photo, document, voice, video) from a family with an open case
are evidence on every path: alone or with a caption, before or after the
claim. The reference is stored on the case (history kind `bukti`, which the
console's case page marks as evidence and `lihat` lists) and the satgas is
told what came, caption included.

The relay looks at a message right after the satgas commands and before the
bot reads it for itself (danger, steering words, menus, NLU): a sentence like
"gaji kakak belum dibayar" from a family whose case is being worked on must
reach their satgas, never open a second report form (issue 24).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, AbstractSet, Callable, Optional

from bot.domain import cases, casework
from bot.messages import Attachment, Outbound
from bot.normalise import for_matching
from bot.storage.complaint_models import Case
from bot.storage.models import SatgasMember
from bot.turn import IntentHandler, Turn
from flows import consent_question, reading, safety

if TYPE_CHECKING:
    from flows.dialogue import Dialogue

# Files worth keeping for a case (stickers, locations and contacts are not).
EVIDENCE_KINDS = frozenset({"photo", "image", "document", "voice", "audio", "video"})
# One "sudah diteruskan" per burst: a family typing five lines in a row is
# told once; after a pause this long they are told again.
CONFIRM_EVERY = timedelta(minutes=5)
CONFIRMED_AT = "relay_confirmed_at"
EVIDENCE_CONFIRMED_AT = "evidence_confirmed_at"
# Steering words that stay requests to the bot (the dialogue acts on them):
# "berhenti", "mulai lagi", "hapus data", "menu", "lanjut". "batal" and
# "petugas" outside a form are words for the satgas holding the case.
BOT_REQUESTS = frozenset({"unsubscribe", "resubscribe", "delete_data", "menu", "resume"})
# Typed status checks ("cek status", "status laporan saya") get the status card;
# "belum ada kabar" is news for the satgas, not a status request.
STATUS_WORDS = frozenset({"status", "cek status", "cek laporan", "status laporan", "gimana laporan saya", "sudah sampai mana"})
# Only a short message is asked whether it is a request to the bot: a long one
# that mentions a training is still talk for the satgas.
MAX_REQUEST_WORDS = 6
STATUS_INTENT = "cek_status"


def relay(dialogue: "Dialogue") -> Callable[[Turn], bool]:
    """The relay for the assembled dialogue: its reply-exempt intents
    (collected from every feature by bot.app) and its status handler."""
    return lambda turn: relay_family_message(turn, dialogue.reply_exempt, dialogue.handlers.get(STATUS_INTENT))


def relay_family_message(turn: Turn, exempt: AbstractSet[str], show_status: Optional[IntentHandler] = None) -> bool:
    """True when the message was the family's (kept and passed on to the
    satgas) or an explicit status request answered here."""
    if turn.inbound.chat or turn.inbound.payload:
        return False  # a group is never a family's chat; a tapped button is a choice
    case = casework.case_in_hand(turn.session, turn.contact.id)
    if case is None:
        return False
    files = [a for a in turn.inbound.attachments if a.kind in EVIDENCE_KINDS]
    in_form = bool(turn.conversation.flow)
    if files:
        urgent = not in_form and safety.is_danger(turn, ask_nlu=True)
        if urgent:
            safety.show_emergency(turn, offer_report=False)
        keep_evidence(turn, case, files, caption=turn.text, urgent=urgent)
        # Inside a form the caption still answers the question asked.
        return not in_form
    if in_form or not casework.is_held(case) or not _talk_for_the_satgas(turn):
        return False
    if safety.is_danger(turn, ask_nlu=True):
        safety.show_emergency(turn, offer_report=False)
        forward(turn, case, urgent=True)
        return True
    if consent_question.answer(turn):
        return True  # "iya boleh" to the question about warnings we just asked
    if _asks_status(turn) and show_status is not None:
        # Answered here, before the dialogue reads it as a question to look up.
        show_status(turn, None)
        return True
    if _request_to_the_bot(turn, exempt):
        return False
    forward(turn, case, urgent=False)
    return True


def _talk_for_the_satgas(turn: Turn) -> bool:
    """Free text, not a steering request nor a menu number."""
    if not turn.clean.has_words:
        return False
    if reading.steering(reading.load_lexicon(turn.content.directory), turn.text) in BOT_REQUESTS:
        return False
    return not for_matching(turn.text).replace(" ", "").isdigit()  # "2": an option of the last menu


def _asks_status(turn: Turn) -> bool:
    typed = " ".join(turn.text.casefold().split())
    return typed in STATUS_WORDS or "status" in typed.split()


def _request_to_the_bot(turn: Turn, exempt: AbstractSet[str]) -> bool:
    if _asks_status(turn):
        return True
    if len(turn.text.split()) > MAX_REQUEST_WORDS:
        return False
    understanding = turn.understand()
    return understanding.intent in exempt and understanding.confidence >= turn.nlu_threshold


def forward(turn: Turn, case: Case, urgent: bool) -> None:
    """Into the case history and to the member holding the case; the family is told."""
    cases.log(turn.session, case, "pelapor", "balasan_darurat" if urgent else "balasan_pelapor", turn.now, note=turn.text)
    if urgent:
        cases.mark_urgent(case, cases.settings_for(turn.content.directory), turn.now)
    text = turn.content.text("satgas_reporter_message", code=case.code, message=turn.text)
    _tell_satgas(turn, case, _urgent(turn, text) if urgent else text)
    turn.record("reply_forwarded", case=case.code, urgent=urgent)
    if turn.clean.truncated:
        turn.say(turn.content.text("too_long"))
    if urgent:
        turn.say(turn.content.text("reporter_urgent_forwarded", code=case.code))
    else:
        # Who holds the case and its status: "pripun laporan kula?" is
        # answered too, while the satgas learns the family is waiting.
        member = turn.session.get(SatgasMember, case.assigned_to) if case.assigned_to else None
        status = cases.settings_for(turn.content.directory).statuses.get(case.status, case.status)
        _confirm(turn, CONFIRMED_AT, "reporter_reply_forwarded", code=case.code, satgas=member.name if member else "-", status=status)


def keep_evidence(turn: Turn, case: Case, files: list[Attachment], caption: str = "", urgent: bool = False) -> None:
    """The files' references (and the caption) on the case as evidence; the
    satgas hears what came ("Keluarga mengirim foto: ...")."""
    kinds = ", ".join(dict.fromkeys(_kind_label(turn, a.kind) for a in files))
    note = ", ".join(f"{_kind_label(turn, a.kind)} ({a.mime_type or '-'}): {a.reference or '-'}" for a in files)
    caption = caption.strip()
    if caption:
        note += f". Keterangan: {caption}"  # a history note, like "Diambil oleh ..."
    cases.log(turn.session, case, "pelapor", "bukti", turn.now, note=note)
    if urgent:
        cases.mark_urgent(case, cases.settings_for(turn.content.directory), turn.now)
    if caption:
        text = turn.content.text("satgas_evidence_caption", code=case.code, kinds=kinds, caption=caption)
    else:
        text = turn.content.text("satgas_evidence", code=case.code, kinds=kinds)
    _tell_satgas(turn, case, _urgent(turn, text) if urgent else text)
    turn.record("evidence_kept", case=case.code, kinds=sorted({a.kind for a in files}), caption=bool(caption), urgent=urgent)
    if urgent:
        turn.say(turn.content.text("reporter_urgent_forwarded", code=case.code))
    else:
        _confirm(turn, EVIDENCE_CONFIRMED_AT, "evidence_saved_caption" if caption else "evidence_saved", code=case.code)


def keep_media(turn: Turn) -> bool:
    """A message that is only files (no caption): evidence when a case is open."""
    files = [a for a in turn.inbound.attachments if a.kind in EVIDENCE_KINDS]
    if not files or turn.inbound.chat:
        return False
    case = casework.case_in_hand(turn.session, turn.contact.id)
    if case is None:
        return False
    keep_evidence(turn, case, files)
    return True


def _tell_satgas(turn: Turn, case: Case, text: str) -> None:
    for channel, address in casework.case_audience(turn.session, case):
        turn.notify(channel, address, Outbound(text), subject_case_id=case.id, proactive=casework.news_for_satgas(case))


def _urgent(turn: Turn, text: str) -> str:
    return turn.content.text("satgas_urgent_prefix") + text


def _kind_label(turn: Turn, kind: str) -> str:
    key = f"media_kind_{kind}"
    return turn.content.text(key) if key in turn.content.texts else kind


def _confirm(turn: Turn, key: str, text_key: str, **values: str) -> None:
    """Say it unless it was said in the last few minutes."""
    last = turn.remembered_time(key)
    if last is not None and timedelta(0) <= turn.now - last < CONFIRM_EVERY:
        return
    turn.say(turn.content.text(text_key, **values))
    turn.remember(key, turn.now.isoformat(timespec="seconds"))

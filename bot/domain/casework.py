"""What a satgas does to a case, typed in chat or clicked in the web console.

Both front ends call these functions, so claiming, replying, closing,
referring and releasing have one implementation: the same checks (only the
member who claimed a case may work it), the same race-safe claim (one
conditional UPDATE, exactly one winner), the same messages to the family and
the other satgas, the same audit records. The front end only decides how to
show the `Result` (a chat reply, a notice on a web page).

A `Desk` is where the action happens: the caller's transaction, the texts,
the time, and the caller's way to queue messages (a chat turn caps alerts per
minute; the console queues directly) and to write the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Optional

from sqlalchemy import select

from bot.content import Content
from bot.domain import cases
from bot.domain.villages import alert_recipients, village_members
from bot.messages import Notification, Outbound, Proactive
from bot.storage.complaint_models import OPEN_STATUSES, TALKING_STATUSES, Case
from bot.storage.models import Contact, SatgasMember


@dataclass
class Desk:
    session: Any  # sqlalchemy Session (kept loose: turns and web requests both pass theirs)
    content: Content
    now: datetime
    notify: Callable[[Notification], None]
    audit: Callable[..., None]  # audit(kind, actor=..., **data)
    # Text keys this front end words its own way: the console does not tell
    # a satgas to "ketik balas ADU-..." (chat wording) after a click.
    wording: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """Whether the action happened, and what to tell the satgas (Indonesian)."""

    done: bool
    text: str


def _say(desk: Desk, done: bool, key: str, **values: Any) -> Result:
    return Result(done, desk.content.text(desk.wording.get(key, key), **values))


def assignee_name(desk: Desk, case: Case) -> str:
    member = desk.session.get(SatgasMember, case.assigned_to) if case.assigned_to else None
    return member.name if member else "-"


def find(desk: Desk, member: SatgasMember, code: str, verb: str, lock: bool = True) -> tuple[Optional[Case], Optional[Result]]:
    """The case with this code in the member's village, or the refusal to show.

    A case of another village reads exactly like a code that does not exist
    (codes cannot be probed), and the attempt is audited."""
    case = cases.find_in_village(desk.session, code, member.village_code, lock=lock)
    if case is not None:
        return case, None
    exists = desk.session.query(Case.id).filter(Case.code == code.upper()).first() is not None
    if exists:
        desk.audit("satgas_refused", actor=cases.actor(member), verb=verb, case=code.upper(), reason="desa_lain")
    return None, _say(desk, False, "satgas_unknown_case", code=code.upper())


def owned_refusal(desk: Desk, member: SatgasMember, case: Case, verb: str) -> Optional[Result]:
    """Why this member may not work this case now, or None: cases being worked
    may only be changed by the member who claimed them."""
    if case.status not in OPEN_STATUSES:
        return _say(desk, False, "satgas_case_closed", code=case.code, status=case.status)
    if case.assigned_to is None:
        return _say(desk, False, "satgas_must_claim", code=case.code)
    if case.assigned_to != member.id:
        desk.audit("satgas_refused", actor=cases.actor(member), verb=verb, case=case.code, reason="bukan_petugasnya")
        return _say(desk, False, "satgas_not_yours", code=case.code, satgas=assignee_name(desk, case))
    return None


def claim(desk: Desk, member: SatgasMember, case: Case) -> Result:
    """The family hears who holds their case: "sudah diambil" the first time;
    after a release (which they were told of) "sekarang ditangani oleh", never
    the same good news twice."""
    handed_over = cases.was_claimed_before(desk.session, case)
    if not cases.claim(desk.session, case, member, desk.now):
        desk.session.refresh(case)
        if case.status in OPEN_STATUSES:
            return _say(desk, False, "satgas_claimed_by_other", code=case.code, satgas=assignee_name(desk, case))
        return _say(desk, False, "satgas_case_closed", code=case.code, status=case.status)
    for other in village_members(desk.session, case.village_code):
        if other.id != member.id:
            desk.notify(
                Notification(
                    other.channel, other.address,
                    Outbound(desk.content.text("satgas_claim_announce", code=case.code, satgas=member.name)),
                    subject_case_id=case.id,
                    proactive=Proactive("kabar_untuk_satgas", {"kode": case.code}),
                )
            )
    if handed_over:
        tell_reporter(
            desk, case, desk.content.text("reporter_reclaimed", code=case.code, satgas=member.name),
            news=f"sekarang ditangani oleh {member.name} dari satgas PMI desa.",
        )
    else:
        tell_reporter(
            desk, case, desk.content.text("reporter_claimed", code=case.code, satgas=member.name),
            news=f"sudah diambil oleh {member.name} dari satgas PMI desa.",
        )
    return _say(desk, True, "satgas_claimed", code=case.code)


def note(desk: Desk, actor: str, case: Case, text: str) -> Result:
    """A note on the case; any satgas of the village (or a coordinator) may add one."""
    if case.status not in OPEN_STATUSES or case.anonymised_at is not None:
        # A closed case is a record, and an anonymised one must stay empty.
        return _say(desk, False, "satgas_case_closed", code=case.code, status=case.status)
    cases.log(desk.session, case, actor, "catatan", desk.now, note=text)
    return _say(desk, True, "satgas_note_saved", code=case.code)


def reply(desk: Desk, member: SatgasMember, case: Case, text: str) -> Result:
    refusal = owned_refusal(desk, member, case, "balas")
    if refusal is not None:
        return refusal
    cases.message_reporter(desk.session, case, member, text, desk.now)
    if tell_reporter(desk, case, desk.content.text("reporter_message", code=case.code, message=text)):
        return _say(desk, True, "satgas_message_sent", code=case.code)
    return _say(desk, True, "satgas_reporter_gone", code=case.code)


def resolve(desk: Desk, member: SatgasMember, case: Case, outcome: str) -> Result:
    refusal = owned_refusal(desk, member, case, "selesai")
    if refusal is not None:
        return refusal
    cases.close(desk.session, case, member, cases.RESOLVED, outcome, desk.now)
    tell_reporter(
        desk, case, desk.content.text("reporter_resolved", code=case.code, outcome=outcome), news=f"sudah selesai ditangani. Hasil: {outcome}"
    )
    return _say(desk, True, "satgas_resolved", code=case.code)


def referral_refusal(desk: Desk, target: str) -> Optional[Result]:
    """None when `target` is a known referral (content/complaints.yml), else the list to choose from."""
    referrals = cases.settings_for(desk.content.directory).referrals
    if target.lower() in referrals:
        return None
    return _say(desk, False, "satgas_bad_referral", targets=", ".join(referrals))


def refer(desk: Desk, member: SatgasMember, case: Case, target: str, outcome: str) -> Result:
    settings = cases.settings_for(desk.content.directory)
    target = target.lower()
    unknown = referral_refusal(desk, target)
    if unknown is not None:
        return unknown
    if not outcome.strip():
        # The note goes to the family: "Catatan: -" tells them nothing (issue 26).
        return _say(desk, False, "satgas_need_text", example=f"rujuk {case.code} {target} sudah dilaporkan ke petugas di sana")
    refusal = owned_refusal(desk, member, case, "rujuk")
    if refusal is not None:
        return refusal
    target_name = settings.referrals[target]
    cases.close(desk.session, case, member, cases.REFERRED, outcome, desk.now, target=target)
    tell_reporter(
        desk, case, desk.content.text("reporter_referred", code=case.code, target=target_name, outcome=outcome),
        news=f"dirujuk ke {target_name}. Catatan: {outcome}",
    )
    return _say(desk, True, "satgas_referred", code=case.code, target=target_name)


def release(desk: Desk, member: SatgasMember, case: Case) -> Result:
    refusal = owned_refusal(desk, member, case, "lepas")
    if refusal is not None:
        return refusal
    cases.unclaim(desk.session, case, member, cases.settings_for(desk.content.directory), desk.now)
    # From now on what the family writes is no longer passed to this member:
    # they are told the case goes to another officer, and told who when it is
    # claimed again (claim), so they never write into the void.
    tell_reporter(
        desk, case, desk.content.text("reporter_released", code=case.code),
        news="sedang dialihkan ke petugas satgas desa yang lain.",
    )
    return _say(desk, True, "satgas_unclaimed", code=case.code)


def assign(desk: Desk, who: str, case: Case, member: SatgasMember) -> Result:
    """A coordinator gives an open case to an active member of its village
    (issue 26: an overdue case could only get a note). The member is told in
    chat, a member who held it before is told it moved, and the family hears
    who holds it the way a claim tells them (never "sudah diambil" twice)."""
    if case.status not in OPEN_STATUSES:
        return _say(desk, False, "satgas_case_closed", code=case.code, status=case.status)
    if member.village_code != case.village_code or not member.active:
        return _say(desk, False, "web_assign_not_village", code=case.code)
    if case.assigned_to == member.id:
        return _say(desk, False, "web_assign_same", code=case.code, satgas=member.name)
    previous = desk.session.get(SatgasMember, case.assigned_to) if case.assigned_to else None
    handed_over = cases.was_claimed_before(desk.session, case)
    if not cases.assign(desk.session, case, member, who, desk.now):
        return _say(desk, False, "web_assign_changed", code=case.code)
    settings = cases.settings_for(desk.content.directory)
    desk.notify(
        Notification(
            member.channel, member.address,
            Outbound(desk.content.text("satgas_assigned", code=case.code, category=settings.categories.get(case.category, case.category))),
            subject_case_id=case.id, proactive=Proactive("kabar_untuk_satgas", {"kode": case.code}),
        )
    )
    if previous is not None and previous.active:
        desk.notify(
            Notification(
                previous.channel, previous.address, Outbound(desk.content.text("satgas_assigned_away", code=case.code, satgas=member.name)),
                subject_case_id=case.id, proactive=Proactive("kabar_untuk_satgas", {"kode": case.code}),
            )
        )
    key, news = ("reporter_reclaimed", "sekarang ditangani oleh") if handed_over else ("reporter_claimed", "sudah diambil oleh")
    tell_reporter(desk, case, desk.content.text(key, code=case.code, satgas=member.name), news=f"{news} {member.name} dari satgas PMI desa.")
    return _say(desk, True, "web_assigned", code=case.code, satgas=member.name)


def reopen(desk: Desk, who: str, case: Case, reason: str) -> Result:
    """A coordinator reopens a closed case: back to the village's queue, the
    village satgas alerted, the family told it is being looked at again. Not
    an anonymised case (its data is gone), and not while the family has another
    open case (their messages can follow only one)."""
    if case.status in OPEN_STATUSES:
        return _say(desk, False, "web_reopen_open", code=case.code)
    if case.anonymised_at is not None or case.status not in cases.REOPENABLE:
        return _say(desk, False, "web_reopen_erased", code=case.code)
    other = case_in_hand(desk.session, case.reporter_id) if case.reporter_id else None
    if other is not None:
        return _say(desk, False, "web_reopen_other_open", code=case.code, other=other.code)
    cases.reopen(desk.session, case, who, reason, cases.settings_for(desk.content.directory), desk.now)
    for channel, address in alert_recipients(desk.session, case.village_code):
        desk.notify(
            Notification(
                channel, address, Outbound(desk.content.text("satgas_case_reopened", code=case.code, reason=reason)),
                subject_case_id=case.id, proactive=Proactive("kabar_untuk_satgas", {"kode": case.code}),
            )
        )
    tell_reporter(desk, case, desk.content.text("reporter_reopened", code=case.code), news="dibuka kembali dan akan ditindaklanjuti lagi oleh satgas desa.")
    return _say(desk, True, "web_reopened", code=case.code)


def tell_reporter(desk: Desk, case: Case, text: str, news: Optional[str] = None) -> bool:
    """Message the reporter through the bot; the satgas never sees the address.

    Both are service messages the family asked for by reporting, sent even
    after "berhenti" (which stops broadcasts): a family with an open case must
    not miss "dirujuk ke KBRI" because they ended a form with "stop". A status
    change (`news`) fits its template; a satgas message (news=None) is the
    conversation itself: outside WhatsApp's window the family is told there is
    a message and reads it on answering. What the family writes back needs no
    state here: while the case is claimed and open it goes to the satgas
    (`case_in_hand`, issue 24)."""
    reporter = desk.session.get(Contact, case.reporter_id) if case.reporter_id else None
    if reporter is None or reporter.deleted_at is not None:
        return False
    proactive = (
        Proactive("kabar_kasus", {"kode": case.code, "kabar": news})
        if news is not None
        else Proactive("pesan_satgas", {"kode": case.code})
    )
    desk.notify(
        Notification(reporter.channel, reporter.address, Outbound(text), contact_id=reporter.id, subject_case_id=case.id, proactive=proactive)
    )
    return True


# --- the family's side of the conversation ---------------------------------------
def case_in_hand(session: Any, reporter_id: int) -> Optional[Case]:
    """The reporter's newest open case, claimed or not (None without one).

    Read without a lock: it is asked on every message a contact sends, and
    what follows only adds history rows. Whether a satgas holds it is
    `is_held`: from the claim (in chat or on the web) until the case is closed
    or released, the family's messages are the conversation with that satgas,
    with no window to run out and no state to keep in step (issue 24: replies
    between "ambil" and the first "balas" were lost)."""
    return session.execute(
        select(Case)
        .where(Case.reporter_id == reporter_id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def is_held(case: Case) -> bool:
    """A satgas member has claimed the case and it is still open."""
    return case.status in TALKING_STATUSES and case.assigned_to is not None


def case_audience(session: Any, case: Case) -> list[tuple[str, str]]:
    """Who hears what the family sends: the member holding the case, or the
    whole village satgas while nobody does (or the holder was deactivated)."""
    if case.assigned_to:
        member = session.get(SatgasMember, case.assigned_to)
        if member is not None and member.active:
            return [(member.channel, member.address)]
    return alert_recipients(session, case.village_code)


def news_for_satgas(case: Case) -> Proactive:
    """A reply, evidence or an addition from the family: outside WhatsApp's
    window the satgas is told there is news and reads it after answering."""
    return Proactive("kabar_untuk_satgas", {"kode": case.code})

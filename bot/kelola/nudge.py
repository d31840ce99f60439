"""A coordinator nudges the satgas member holding a case (issue 26).

A coordinator looking at a case that waits too long could only write a note
nobody is told about. *Ingatkan petugas* sends the member who holds the case
one chat message through the outbox (a WhatsApp template outside the reply
window, like every news for a satgas), naming the case; it is written in the
case's history (`diingatkan`, so the member sees it on the case page) and in
the audit trail by the console. At most one nudge per case every
`NUDGE_EVERY`: a second click within it, by anyone, is refused with the time
the next one is possible, so a member is reminded, not harassed.

A case nobody holds has nobody to nudge: the coordinator assigns it instead.

The texts would belong in content/console.yml with the other console texts;
that folder is being changed by someone else now, so each is read from there
when it exists (`satgas_nudged`, `web_nudged`, `web_nudge_*`) and otherwise
the wording below is used.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import func, select

from bot.domain import cases, casework
from bot.messages import Notification, Outbound, Proactive
from bot.storage.complaint_models import OPEN_STATUSES, TALKING_STATUSES, Case, CaseEvent
from bot.storage.models import SatgasMember, Village

NUDGE_EVERY = timedelta(hours=6)
KIND = "diingatkan"  # the case history's event
TEXTS = {
    "satgas_nudged": (
        "Pengingat dari koordinator: kasus *{code}* ({category}, {village}) masih menunggu tindak lanjut Anda. "
        "Mohon kabari keluarganya hari ini. Ketik *lihat {code}* untuk membaca kasusnya."
    ),
    "web_nudged": "{satgas} sudah diingatkan lewat chat tentang kasus *{code}*.",
    "web_nudge_nobody": "Kasus *{code}* belum dipegang siapa pun. Tugaskan ke anggota satgas dulu.",
    "web_nudge_too_soon": "Petugas kasus *{code}* sudah diingatkan {when}. Pengingat berikutnya bisa dikirim mulai {next}.",
}


def text(content: Any, key: str, **values: Any) -> str:
    """The console's wording from content when it has it, else ours."""
    if key in content.texts:
        return str(content.text(key, **values))
    return TEXTS[key].format(**values)


def last_nudge(session: Any, case: Case) -> Optional[datetime]:
    return session.execute(select(func.max(CaseEvent.created_at)).where(CaseEvent.case_id == case.id, CaseEvent.kind == KIND)).scalar_one()


def nudge(desk: casework.Desk, who: str, case: Case) -> casework.Result:
    """Tell the member holding `case` it waits for them; `who` is the
    coordinator's actor for the history. The case row is locked first, so two
    coordinators clicking at once send one message (SQLite: BEGIN IMMEDIATE
    already serialises the two)."""
    session, content, now = desk.session, desk.content, desk.now
    session.execute(select(Case.id).where(Case.id == case.id).with_for_update())
    session.refresh(case)
    settings = cases.settings_for(content.directory)
    if case.status not in OPEN_STATUSES:
        return casework.Result(False, content.text("satgas_case_closed", code=case.code, status=settings.statuses.get(case.status, case.status)))
    member = session.get(SatgasMember, case.assigned_to) if case.assigned_to else None
    if case.status not in TALKING_STATUSES or member is None or not member.active:
        return casework.Result(False, text(content, "web_nudge_nobody", code=case.code))
    previous = last_nudge(session, case)
    if previous is not None and now - previous < NUDGE_EVERY:
        return casework.Result(False, text(content, "web_nudge_too_soon", code=case.code,
                                           when=cases.local_time(settings, previous), next=cases.local_time(settings, previous + NUDGE_EVERY)))
    village = session.get(Village, case.village_code)
    desk.notify(
        Notification(
            member.channel, member.address,
            Outbound(text(content, "satgas_nudged", code=case.code, category=settings.categories.get(case.category, case.category),
                          village=village.name if village else case.village_code)),
            subject_case_id=case.id, proactive=Proactive("kabar_untuk_satgas", {"kode": case.code}),
        )
    )
    cases.log(session, case, who, KIND, now, note=f"Pengingat ke {member.name}")
    return casework.Result(True, text(content, "web_nudged", code=case.code, satgas=member.name))

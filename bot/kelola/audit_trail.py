"""The audit view (issue 26): who did what to which case, and when.

Every staff action on a case is already an `Event` row: a click in the
console (`web_action`, actor `web:<username>`), a chat command
(`satgas_command`, actor `satgas:<member id>`), a refused command
(`satgas_refused`) and opening a case's print view (`web_print`). Each names
its case by code in `data.case`; the page joins that code to the case, so a
viewer sees the entries of cases in their own villages only (a district
coordinator their district, a satgas their village) and another village's
entries never show, not even as a count. What a family did (replies,
evidence) is the case page's business, not the audit's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.domain.accounts import Viewer
from bot.kelola.forms import MAX_ID, BadInput, whole_number
from bot.kelola.queries import actor_name, scoped
from bot.storage.complaint_models import Case
from bot.storage.models import Event, SatgasMember

PAGE_SIZE = 50
STAFF_KINDS = ("web_action", "satgas_command", "satgas_refused", "web_print")
# What was done, in the words the page and its filter use. Keys are the
# verbs of the chat commands and of the console's case buttons.
ACTIONS = {
    "ambil": "Mengambil kasus",
    "tugaskan": "Menugaskan ke anggota",
    "balas": "Mengirim pesan ke keluarga",
    "catat": "Menulis catatan internal",
    "selesai": "Menutup sebagai selesai",
    "rujuk": "Merujuk ke instansi lain",
    "lepas": "Melepas ke antrean desa",
    "buka": "Membuka kembali",
    "ingatkan": "Mengingatkan petugas",
    "lihat": "Melihat kasus lewat chat",
    "cetak": "Membuka versi cetak",
    "ditolak": "Perintah ditolak",
}
REFUSALS = {
    "desa_lain": "kasus desa lain",
    "bukan_petugasnya": "bukan petugas kasus ini",
    "bukan_satgas": "bukan anggota satgas",
    "grup_lain": "dari grup desa lain",
}


@dataclass(frozen=True)
class AuditFilter:
    person: str = ""  # an actor as stored ("web:koor", "satgas:3"; "-": none), or "" for everyone
    action: str = ""  # a key of ACTIONS, or ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> "AuditFilter":
        action = params.get("tindakan", "")
        if action and action not in ACTIONS:
            raise BadInput("Pilih tindakan dari daftar.")
        return cls(
            person=str(params.get("orang", ""))[:80],
            action=action,
            page=whole_number(params.get("halaman") or "1", 1, MAX_ID, "Nomor halaman harus bilangan bulat mulai dari 1."),
        )

    def link(self, page: int) -> str:
        from urllib.parse import urlencode

        params = {"orang": self.person, "tindakan": self.action, "halaman": str(page) if page > 1 else ""}
        return "/kelola/jejak?" + urlencode({key: value for key, value in params.items() if value})


@dataclass
class AuditRow:
    when: datetime
    who: str
    action: str  # in words
    case: str  # the case code
    detail: str  # "tidak jadi", the reason of a refusal, the note's target...


@dataclass
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    people: list[tuple[str, str]]  # (actor, name) to filter by


def _case_code() -> Any:
    return Event.data["case"].as_string()


def _in_scope(viewer: Viewer) -> Any:
    """Staff events naming a case the viewer may see. A chat command is
    recorded before it runs, and a refused one gets its refusal too (same
    person, moment, verb and case): it shows once, as the refusal."""
    refusal = aliased(Event)
    refused = (
        select(refusal.id)
        .where(
            refusal.kind == "satgas_refused", refusal.actor == Event.actor, refusal.created_at == Event.created_at,
            refusal.data["case"].as_string() == _case_code(), refusal.data["verb"].as_string() == Event.data["verb"].as_string(),
        )
        .exists()
    )
    query = (
        select(Event)
        .join(Case, Case.code == _case_code())
        .where(Event.kind.in_(STAFF_KINDS), or_(Event.kind != "satgas_command", ~refused))
    )
    return scoped(query, viewer, Case.village_code)


def _action_condition(action: str) -> Any:
    if action == "ditolak":
        return Event.kind == "satgas_refused"
    if action == "cetak":
        return Event.kind == "web_print"
    return or_(
        and_(Event.kind == "web_action", Event.data["action"].as_string() == action),
        and_(Event.kind == "satgas_command", Event.data["verb"].as_string() == action),
    )


def read(session: Session, viewer: Viewer, chosen: AuditFilter) -> AuditPage:
    """One page of the viewer's audit entries, newest first, with the true count.
    A person not among those the viewer's entries name is a BadInput (400):
    the filter offers only those."""
    members = dict(session.execute(select(SatgasMember.id, SatgasMember.name)).all())
    actors = session.execute(_in_scope(viewer).with_only_columns(Event.actor).distinct()).scalars().all()
    people = sorted(((actor or "-", _who(actor, members)) for actor in actors), key=lambda pair: pair[1].lower())
    query = _in_scope(viewer)
    if chosen.person:
        if chosen.person not in {actor for actor, _name in people}:
            raise BadInput("Pilih orang dari daftar.")
        query = query.where(Event.actor.is_(None) if chosen.person == "-" else Event.actor == chosen.person)
    if chosen.action:
        query = query.where(_action_condition(chosen.action))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(chosen.page, pages)
    events = session.execute(query.order_by(Event.created_at.desc(), Event.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars()
    return AuditPage([_row(event, members) for event in events], total, page, pages, people)


def _who(actor: Optional[str], members: dict[int, str]) -> str:
    if not actor:
        return "orang yang bukan satgas"
    name = actor_name(actor, members)
    return f"{name} (chat)" if actor.startswith("satgas:") else name


def _row(event: Event, members: dict[int, str]) -> AuditRow:
    data = event.data or {}
    if event.kind == "web_action":
        key, detail = str(data.get("action", "")), "" if data.get("done", True) else "tidak jadi (lihat pesan di halaman kasus)"
    elif event.kind == "web_print":
        key, detail = "cetak", ""
    elif event.kind == "satgas_refused":
        verb = str(data.get("verb", ""))
        key, detail = "ditolak", f"{ACTIONS.get(verb, verb).lower()}: {REFUSALS.get(str(data.get('reason', '')), str(data.get('reason', '')))}"
    else:
        key, detail = str(data.get("verb", "")), "perintah di chat"
    return AuditRow(
        when=event.created_at,
        who=_who(event.actor, members),
        action=ACTIONS.get(key, key),
        case=str(data.get("case", "")),
        detail=detail,
    )

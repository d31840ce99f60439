"""What the console pages read: the case queue, one case, the dashboard's
figures and the messages the bot did not understand. Read-only; every query
takes the viewer's village scope, so a page cannot show what its viewer may
not see."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Optional
from urllib.parse import urlencode

import yaml
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.domain import cases
from bot.domain.accounts import Viewer
from bot.kelola import similar
from bot.kelola.case_search import MAX_SEARCH, condition
from bot.kelola.forms import MAX_ID, whole_number
from bot.normalise import clean
from bot.privacy import mask_digits, mask_names
from bot.storage.broadcast_models import Broadcast
from bot.storage.complaint_models import NEW, OPEN_STATUSES, STATUSES, Case, CaseEvent
from bot.storage.console_models import NluExample
from bot.storage.models import Contact, Event, InboundMessage, OutboundMessage, SatgasMember, Village
from bot.storage.training_models import CONFIRMED, WAITLISTED, Training, TrainingRegistration


PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilter:
    village: str = ""
    status: str = "terbuka"  # "terbuka" = every open status, "" = all, or one status
    urgent: bool = False
    category: str = ""
    overdue: bool = False
    mine: bool = False
    search: str = ""  # code, name, employer or phone (bot.kelola.case_search)
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> "QueueFilter":
        """The filter in the address. A page number that is not a whole number
        from 1 is a BadInput (400), never an error page."""
        status = params.get("status", "terbuka")
        page = params.get("halaman") or "1"
        return cls(
            village=params.get("desa", ""),
            status=status if status in (*STATUSES, "terbuka", "") else "terbuka",
            urgent=params.get("mendesak") == "1",
            category=params.get("jenis", ""),
            overdue=params.get("terlambat") == "1",
            mine=params.get("milik_saya") == "1",
            search=" ".join(clean(params.get("cari", ""), MAX_SEARCH).text.split()),
            page=whole_number(page, 1, MAX_ID, "Nomor halaman harus bilangan bulat mulai dari 1."),
        )

    def link(self, **changes: Any) -> str:
        """The queue's address with this filter (and `changes`): saved filters are links."""
        chosen = dataclasses.replace(self, **changes)
        params = {"desa": chosen.village, "status": chosen.status, "jenis": chosen.category, "cari": chosen.search,
                  "mendesak": "1" if chosen.urgent else "", "terlambat": "1" if chosen.overdue else "",
                  "milik_saya": "1" if chosen.mine else "", "halaman": str(chosen.page) if chosen.page > 1 else ""}
        return "/kelola/antrean?" + urlencode({key: value for key, value in params.items() if value or key == "status"})


def scoped(query: Any, viewer: Viewer, column: Any) -> Any:
    if viewer.villages is None:
        return query
    return query.where(column.in_(sorted(viewer.villages)))


def overdue_condition(settings: cases.ComplaintSettings, now: datetime) -> Any:
    """Unclaimed past its deadline: the escalation time for urgent cases, the
    daily reminder time for the others."""
    return and_(
        Case.status == NEW,
        or_(
            and_(Case.urgent.is_(True), Case.created_at <= now - timedelta(minutes=settings.escalation_minutes)),
            and_(Case.urgent.is_(False), Case.created_at <= now - timedelta(hours=settings.reminder_hours)),
        ),
    )


@dataclass
class QueueRow:
    case: Case
    village: str
    assignee: str
    waiting: str
    overdue: bool
    unread: int = 0  # family messages the viewer has not seen (bot.kelola.unread)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int  # cases matching the filter, on every page
    page: int  # the page shown (a number past the end shows the last page)
    pages: int


def matching(viewer: Viewer, chosen: QueueFilter, settings: cases.ComplaintSettings, now: datetime, personal: bool) -> Any:
    """The cases the filter selects inside the viewer's villages, urgent first,
    then the longest waiting (id breaks ties of one moment). `personal`: the
    viewer may read names, so the search looks in names, employers and phones too."""
    query = scoped(select(Case), viewer, Case.village_code)
    searched = condition(chosen.search, personal)
    if searched is not None:
        query = query.where(searched)
    if chosen.village:
        query = query.where(Case.village_code == chosen.village)
    if chosen.status == "terbuka":
        query = query.where(Case.status.in_(OPEN_STATUSES))
    elif chosen.status:
        query = query.where(Case.status == chosen.status)
    if chosen.urgent:
        query = query.where(Case.urgent.is_(True))
    if chosen.category:
        query = query.where(Case.category == chosen.category)
    if chosen.overdue:
        query = query.where(overdue_condition(settings, now))
    if chosen.mine:
        query = query.where(Case.assigned_to == (viewer.member_id or -1))
    return query.order_by(Case.urgent.desc(), Case.created_at, Case.id)


def queue(session: Session, viewer: Viewer, chosen: QueueFilter, settings: cases.ComplaintSettings, now: datetime, personal: bool) -> QueuePage:
    """One page of the cases matching the filter, with the true count (the
    list used to stop silently at 500)."""
    query = matching(viewer, chosen, settings, now, personal)
    total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(chosen.page, pages)
    query = query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    villages = dict(session.execute(select(Village.code, Village.name)).all())
    members = dict(session.execute(select(SatgasMember.id, SatgasMember.name)).all())
    rows = []
    for case in session.execute(query).scalars():
        end = case.closed_at or now
        rows.append(
            QueueRow(
                case=case,
                village=villages.get(case.village_code, case.village_code),
                assignee=members.get(case.assigned_to, "-") if case.assigned_to else "-",
                waiting=duration(end - case.created_at),
                overdue=case.status == NEW and is_overdue(case, settings, now),
            )
        )
    return QueuePage(rows=rows, total=total, page=page, pages=pages)


def latest_case(session: Session, viewer: Viewer) -> str:
    """The code of the newest case in the viewer's villages ("" without one):
    the queue remembers it, and its poll says "ada kasus baru" when it changes."""
    query = scoped(select(Case.code), viewer, Case.village_code).order_by(Case.id.desc()).limit(1)
    return session.execute(query).scalar_one_or_none() or ""


def is_overdue(case: Case, settings: cases.ComplaintSettings, now: datetime) -> bool:
    limit = timedelta(minutes=settings.escalation_minutes) if case.urgent else timedelta(hours=settings.reminder_hours)
    return case.status == NEW and now - case.created_at >= limit


def status_counts(session: Session, viewer: Viewer) -> dict[str, int]:
    query = scoped(select(Case.status, func.count()).group_by(Case.status), viewer, Case.village_code)
    return {status: count for status, count in session.execute(query).all()}


def duration(delta: timedelta) -> str:
    """'3 hari 4 jam', '2 jam 5 menit', '7 menit': how long a family has waited."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} hari {hours} jam"
    if hours:
        return f"{hours} jam {minutes} menit"
    return f"{minutes} menit"


def visible_case(session: Session, viewer: Viewer, code: str) -> Optional[Case]:
    """The case if it exists inside the viewer's scope; otherwise None (404)."""
    case = session.execute(select(Case).where(Case.code == code.upper())).scalar_one_or_none()
    if case is None or not viewer.sees_village(case.village_code):
        return None
    return case


@dataclass
class TimelineEntry:
    when: datetime
    kind: str
    actor: str
    note: str
    evidence: bool


def timeline(session: Session, case: Case, personal: bool) -> list[TimelineEntry]:
    members = dict(session.execute(select(SatgasMember.id, SatgasMember.name)).all())
    entries = []
    for event in cases.history(session, case):
        entries.append(
            TimelineEntry(
                when=event.created_at,
                kind=event.kind,
                actor=actor_name(event.actor, members),
                note=(event.note or "") if personal else "",
                evidence=event.kind == "bukti",
            )
        )
    return entries


def actor_name(actor: str, members: dict[int, str]) -> str:
    kind, _, ident = actor.partition(":")
    if kind == "satgas" and ident.isdigit():
        return members.get(int(ident), actor)
    if kind == "web":
        return f"{ident} (web)"
    return actor


# --- broadcasts ----------------------------------------------------------------------------
def broadcast_visible(viewer: Viewer, segment: str) -> bool:
    """A coordinator of a district sees, and may cancel, only broadcasts to a
    village of the district (the only segments it may send to); the others
    read as not there."""
    if viewer.villages is None:
        return True
    kind, _, code = segment.partition(":")
    return kind == "desa" and code in viewer.villages


def visible_broadcasts(session: Session, viewer: Viewer, limit: int) -> list[Broadcast]:
    """The newest broadcasts the viewer may see."""
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
    if viewer.villages is not None:
        query = query.where(Broadcast.segment.in_([f"desa:{code}" for code in sorted(viewer.villages)]))
    return list(session.execute(query).scalars())


# --- trainings --------------------------------------------------------------------------
@dataclass
class TrainingRow:
    training: Training
    confirmed: int
    waitlisted: int

    @property
    def seats_left(self) -> int:
        return max(0, self.training.capacity - self.confirmed)

    @property
    def fill_percent(self) -> int:
        return round(100 * self.confirmed / self.training.capacity) if self.training.capacity else 0


def training_rows(session: Session, trainings: list[Training]) -> list[TrainingRow]:
    ids = [t.id for t in trainings]
    counts: dict[tuple[str, str], int] = {
        (training_id, status): count
        for training_id, status, count in session.execute(
            select(TrainingRegistration.training_id, TrainingRegistration.status, func.count())
            .where(TrainingRegistration.training_id.in_(ids))
            .group_by(TrainingRegistration.training_id, TrainingRegistration.status)
        ).all()
    }
    return [TrainingRow(t, counts.get((t.id, CONFIRMED), 0), counts.get((t.id, WAITLISTED), 0)) for t in trainings]


def registrations(session: Session, training_id: str) -> list[TrainingRegistration]:
    return list(
        session.execute(
            select(TrainingRegistration)
            .where(TrainingRegistration.training_id == training_id, TrainingRegistration.status.in_((CONFIRMED, WAITLISTED)))
            .order_by(TrainingRegistration.status, TrainingRegistration.id)
        ).scalars()
    )


# --- dashboard ---------------------------------------------------------------------------
@dataclass
class Dashboard:
    weeks: list[date]
    per_week_by_category: dict[str, list[int]]
    per_week_by_village: dict[str, list[int]]
    claim_hours: tuple[Optional[float], Optional[float]]  # median, p90
    close_hours: tuple[Optional[float], Optional[float]]
    overdue: int
    escalations: int
    open_cases: int
    fill: list[tuple[str, int, int]]  # title, confirmed, capacity
    days: list[date]
    messages_per_day: list[int]
    not_understood_per_day: list[int]
    notes: list[str] = field(default_factory=list)

    @property
    def not_understood_rate(self) -> list[float]:
        return [round(100 * n / m, 1) if m else 0.0 for n, m in zip(self.not_understood_per_day, self.messages_per_day)]


def _percentiles(values: list[float]) -> tuple[Optional[float], Optional[float]]:
    if not values:
        return None, None
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return round(statistics.median(ordered), 1), round(p90, 1)


def dashboard(session: Session, viewer: Viewer, settings: cases.ComplaintSettings, now: datetime, weeks: int = 12, days: int = 14) -> Dashboard:
    offset = timedelta(hours=settings.utc_offset_hours)
    today = (now + offset).date()
    week_starts = [today - timedelta(days=today.weekday() + 7 * back) for back in range(weeks - 1, -1, -1)]
    since = datetime.combine(week_starts[0], datetime.min.time()) - offset
    villages = dict(session.execute(select(Village.code, Village.name)).all())
    by_category: dict[str, list[int]] = {}
    by_village: dict[str, list[int]] = {}
    claim_hours: list[float] = []
    close_hours: list[float] = []
    case_rows = session.execute(scoped(select(Case).where(Case.created_at >= since), viewer, Case.village_code)).scalars()
    for case in case_rows:
        local_day = (case.created_at + offset).date()
        index = (local_day - week_starts[0]).days // 7
        if 0 <= index < weeks:
            label = settings.categories.get(case.category, case.category)
            by_category.setdefault(label, [0] * weeks)[index] += 1
            by_village.setdefault(villages.get(case.village_code, case.village_code), [0] * weeks)[index] += 1
        if case.claimed_at:
            claim_hours.append((case.claimed_at - case.created_at).total_seconds() / 3600)
        if case.closed_at:
            close_hours.append((case.closed_at - case.created_at).total_seconds() / 3600)
    overdue = session.execute(
        scoped(select(func.count()).select_from(Case).where(overdue_condition(settings, now)), viewer, Case.village_code)
    ).scalar_one()
    open_cases = session.execute(
        scoped(select(func.count()).select_from(Case).where(Case.status.in_(OPEN_STATUSES)), viewer, Case.village_code)
    ).scalar_one()
    escalations = session.execute(
        scoped(
            select(func.count()).select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.kind == "dieskalasi", CaseEvent.created_at >= since),
            viewer, Case.village_code,
        )
    ).scalar_one()
    upcoming = list(session.execute(select(Training).where(Training.active.is_(True), Training.end_at >= now).order_by(Training.start_at)).scalars())
    fill = [(row.training.title, row.confirmed, row.training.capacity) for row in training_rows(session, upcoming)]

    day_list = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    day_since = datetime.combine(day_list[0], datetime.min.time()) - offset
    messages = [0] * days
    inbound = select(InboundMessage.received_at).where(InboundMessage.received_at >= day_since, InboundMessage.error.is_(None))
    if viewer.villages is not None:
        inbound = inbound.join(Contact, Contact.id == InboundMessage.contact_id).where(Contact.village_code.in_(sorted(viewer.villages)))
    for (received,) in session.execute(inbound).all():
        index = ((received + offset).date() - day_list[0]).days
        if 0 <= index < days:
            messages[index] += 1
    unclear = [0] * days
    clarifications = select(Event.created_at).where(Event.kind == "clarification", Event.created_at >= day_since)
    if viewer.villages is not None:
        clarifications = clarifications.join(Contact, Contact.id == Event.contact_id).where(Contact.village_code.in_(sorted(viewer.villages)))
    for (created,) in session.execute(clarifications).all():
        index = ((created + offset).date() - day_list[0]).days
        if 0 <= index < days:
            unclear[index] += 1
    return Dashboard(
        weeks=week_starts,
        per_week_by_category=by_category,
        per_week_by_village=by_village,
        claim_hours=_percentiles(claim_hours),
        close_hours=_percentiles(close_hours),
        overdue=overdue,
        escalations=escalations,
        open_cases=open_cases,
        fill=fill,
        days=day_list,
        messages_per_day=messages,
        not_understood_per_day=unclear,
    )


# --- what the bot did not understand -------------------------------------------------------
UNCLEAR_DAYS = 30


@dataclass
class Unclear:
    inbound_id: int
    text: str  # digits and names masked (bot.privacy)
    intent: str
    confidence: float
    when: datetime
    marked: str = ""
    village: str = "-"  # where the writer said they live
    answer: str = ""  # what the bot said back, masked the same way


@dataclass
class UnclearGroup:
    messages: list[Unclear]
    shared: list[str] = field(default_factory=list)  # words most of its messages share (bot.kelola.similar)

    @property
    def size(self) -> int:
        return len(self.messages)

    @property
    def intents(self) -> str:
        seen: dict[str, int] = {}
        for message in self.messages:
            seen[message.intent] = seen.get(message.intent, 0) + 1
        return ", ".join(f"{intent} ({count})" for intent, count in sorted(seen.items(), key=lambda kv: -kv[1]))


def _clarified(viewer: Viewer, now: datetime, days: int) -> Any:
    """Messages answered with a clarification in the last `days`, inside the
    viewer's villages (a district coordinator sees the messages of people of
    that district only): (inbound id, text, event data, event time)."""
    query = (
        select(InboundMessage.id, InboundMessage.text, Event.data, Event.created_at, Contact.village_code, InboundMessage.contact_id)
        .join(
            InboundMessage,
            or_(
                InboundMessage.id == Event.data["inbound"].as_integer(),
                # events written before they named their message: same person, same turn clock
                and_(
                    Event.data["inbound"].as_integer().is_(None),
                    InboundMessage.contact_id == Event.contact_id,
                    InboundMessage.received_at == Event.created_at,
                ),
            ),
        )
        .outerjoin(Contact, Contact.id == InboundMessage.contact_id)
        .where(Event.kind == "clarification", Event.created_at >= now - timedelta(days=days), InboundMessage.text != "")
    )
    if viewer.villages is not None:
        query = query.where(Contact.village_code.in_(sorted(viewer.villages)))
    return query


ANSWER_LIMIT = 300  # characters of the bot's answer shown beside a message


def known_names(session: Session, contact_ids: Iterable[int]) -> dict[int, list[str]]:
    """The names we hold for each writer: the name their chat app gives, the
    workers named in their reports and the participants they registered.
    `bot.privacy.mask_names` masks these wherever they appear in their words."""
    ids = sorted({cid for cid in contact_ids if cid is not None})
    names: dict[int, list[str]] = {cid: [] for cid in ids}
    if not ids:
        return names
    for cid, name in session.execute(select(Contact.id, Contact.display_name).where(Contact.id.in_(ids))).all():
        names[cid].append(name or "")
    for cid, name in session.execute(select(Case.reporter_id, Case.worker_name).where(Case.reporter_id.in_(ids))).all():
        names[cid].append(name or "")
    registered = select(TrainingRegistration.contact_id, TrainingRegistration.participant_name).where(TrainingRegistration.contact_id.in_(ids))
    for cid, name in session.execute(registered).all():
        names[cid].append(name or "")
    return names


def masked(text: str, names: Iterable[str] = ()) -> str:
    """A person's words as staff may read them: numbers and names masked."""
    return mask_names(mask_digits(text), names)


def not_understood(session: Session, viewer: Viewer, now: datetime, days: int = UNCLEAR_DAYS, limit: int = 500) -> list[UnclearGroup]:
    """Messages answered with a clarification in the last `days`, newest
    first, each with what the bot answered, numbers and names masked, grouped
    by likeness of wording (bot.kelola.similar), the biggest group first."""
    rows = session.execute(_clarified(viewer, now, days).order_by(Event.created_at.desc()).limit(limit)).all()
    ids = [r[0] for r in rows]
    marked = dict(session.execute(select(NluExample.inbound_id, NluExample.label).where(NluExample.inbound_id.in_(ids))).all())
    answers: dict[int, list[str]] = {}
    replies = (
        select(OutboundMessage.inbound_id, OutboundMessage.text)
        .where(OutboundMessage.inbound_id.in_(ids), OutboundMessage.secret.is_(False))
        .order_by(OutboundMessage.id)
    )
    for inbound_id, text in session.execute(replies).all():
        answers.setdefault(inbound_id, []).append(text)
    names = known_names(session, [r[5] for r in rows])
    villages = dict(session.execute(select(Village.code, Village.name)).all())
    items = []
    for inbound_id, text, data, created, village_code, contact_id in rows:
        theirs = names.get(contact_id, [])
        answer = " ".join(" ".join(answers.get(inbound_id, [])).replace("*", "").split())
        items.append(
            Unclear(
                village=villages.get(village_code or "", "-"),
                inbound_id=inbound_id,
                text=masked(text, theirs),
                intent=str((data or {}).get("intent", "-")),
                confidence=float((data or {}).get("confidence", 0.0)),
                when=created,
                marked=marked.get(inbound_id, ""),
                answer=masked(answer if len(answer) <= ANSWER_LIMIT else answer[:ANSWER_LIMIT - 1] + "…", theirs),
            )
        )
    return [UnclearGroup(group.items, group.shared) for group in similar.group_alike(items, lambda item: item.text)]


def clarified_message(session: Session, viewer: Viewer, inbound_id: int, now: datetime, days: int = UNCLEAR_DAYS) -> Optional[InboundMessage]:
    """The message if the page could have offered it for marking: answered with
    a clarification, recent, inside the viewer's villages; else None (404).
    Any other message (a report's story, another district's words) cannot be
    made into an NLU example by sending its id."""
    found = session.execute(_clarified(viewer, now, days).where(InboundMessage.id == inbound_id).limit(1)).first()
    return session.get(InboundMessage, inbound_id) if found is not None else None


def rasa_yaml(session: Session) -> str:
    """The marked examples as Rasa NLU training data (intents), and the
    questions marked for knowledge entries under `pengetahuan` (a key Rasa
    ignores), personal data masked. Written by a YAML emitter: whatever a text
    or an old free-typed label holds, it stays one string in the file."""
    intents: dict[str, list[str]] = {}
    knowledge: dict[str, list[str]] = {}
    for label, text in session.execute(select(NluExample.label, NluExample.text).order_by(NluExample.label, NluExample.id)).all():
        kind, _, name = label.partition(":")
        # Masked when marked (with the writer's known names); masked again here
        # for examples marked before names were masked.
        (intents if kind == "intent" else knowledge).setdefault(name, []).append(" ".join(masked(text).split()))
    document: dict[str, Any] = {
        "version": "3.1",
        "nlu": [{"intent": name, "examples": _LiteralBlock("".join(f"- {t}\n" for t in texts))} for name, texts in intents.items()],
    }
    if knowledge:
        document["pengetahuan"] = [{"entri": name, "pertanyaan": texts} for name, texts in knowledge.items()]
    header = "# Contoh dari konsol (Belum dipahami); data pribadi sudah disamarkan.\n"
    header += "# 'pengetahuan': pertanyaan untuk 'questions' di content/knowledge (diabaikan Rasa).\n" if knowledge else ""
    return header + yaml.dump(document, Dumper=_ExportDumper, allow_unicode=True, sort_keys=False, width=1000)


class _LiteralBlock(str):
    """Rasa's `examples: |` block (the emitter falls back to a quoted string
    when a text cannot be written as a block)."""


class _ExportDumper(yaml.SafeDumper):
    pass


_ExportDumper.add_representer(
    _LiteralBlock, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")
)


def label_choices(content: Any) -> list[str]:
    """What a message can be marked as: the NLU intents (nlu/data) and the
    knowledge entries (content/knowledge), for the form's suggestions."""
    import re

    from bot.config import PROJECT_ROOT
    from bot.knowledge import knowledge_for

    intents: set[str] = set()
    for path in sorted((PROJECT_ROOT / "nlu" / "data").glob("*.yml")):
        intents.update(re.findall(r"^- intent: *([A-Za-z0-9_]+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE))
    entries, _finder = knowledge_for(content)
    return [f"intent:{name}" for name in sorted(intents)] + [f"kb:{entry.id}" for entry in entries]


def label_menu(content: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """The offered labels in plain words, grouped for the page's list: what
    the message means (an intent of the model) or which answer it asks for (a
    knowledge entry, by its title). Values stay `intent:...` / `kb:...`."""
    from bot.knowledge import knowledge_for

    entries, _finder = knowledge_for(content)
    titles = {f"kb:{entry.id}": entry.title for entry in entries}
    meanings, answers = [], []
    for value in label_choices(content):
        kind, _, name = value.partition(":")
        if kind == "intent":
            meanings.append((value, name.replace("_", " ")))
        else:
            answers.append((value, titles.get(value, name)))
    return [("Maksud pesan (untuk model bahasa)", meanings), ("Pertanyaan yang jawabannya sudah ada", answers)]

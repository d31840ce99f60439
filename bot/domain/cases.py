"""Case records: creation, lookup and the status changes satgas make.

Every function here works inside the caller's transaction and appends to the
case's event log, so a status never changes without a record of who changed it.
Claiming is a single conditional UPDATE: under any concurrency exactly one
claimer matches `status = 'baru'`, everyone else sees zero rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain import personal_data
from bot import clock
from bot.content import ContentError, load_yaml
from bot.domain.codes import fresh_code
from bot.storage.complaint_models import (  # the status constants travel with the operations that change them
    CLAIMED,
    EXPIRED,
    IN_PROGRESS,
    NEW,
    OPEN_STATUSES,
    REFERRED,
    RESOLVED,
    STATUSES,
    TALKING_STATUSES,
    Case,
    CaseEvent,
)
from bot.storage.models import Contact, SatgasMember

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud over the phone
# A month for the district to act on an open case nobody touched for the
# retention period, before it is closed as expired (bot.domain.case_expiry).
DEFAULT_IDLE_GRACE_DAYS = 30


@dataclass(frozen=True)
class ComplaintSettings:
    escalation_minutes: int
    reminder_hours: int
    retention_days: int
    # An open case idle for retention_days is announced; closed this many days later if still idle.
    idle_grace_days: int
    utc_offset_hours: int
    timezone_label: str
    urgent_categories: tuple[str, ...]
    statuses: dict[str, str]
    referrals: dict[str, str]
    categories: dict[str, str]
    relations: dict[str, str]


def load_settings(content_dir: Path) -> ComplaintSettings:
    path = content_dir / "complaints.yml"
    raw = load_yaml(path)
    try:
        settings = raw["settings"]
        return ComplaintSettings(
            escalation_minutes=int(settings["escalation_minutes"]),
            reminder_hours=int(settings["reminder_hours"]),
            retention_days=int(settings["retention_days"]),
            idle_grace_days=int(settings.get("idle_grace_days", DEFAULT_IDLE_GRACE_DAYS)),
            utc_offset_hours=int(settings["utc_offset_hours"]),
            timezone_label=str(settings["timezone_label"]),
            urgent_categories=tuple(settings["urgent_categories"]),
            statuses=dict(raw["statuses"]),
            referrals=dict(raw["referrals"]),
            categories=dict(raw["categories"]),
            relations=dict(raw["relations"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ContentError(f"{path}: pengaturan tidak lengkap atau salah ({error})") from error


@lru_cache(maxsize=8)
def settings_for(content_dir: Path) -> ComplaintSettings:
    """load_settings, read once per content directory (timers run every 30 s)."""
    return load_settings(content_dir)


def local_time(settings: ComplaintSettings, moment: datetime, with_year: bool = True) -> str:
    """Stored UTC shown as village time, e.g. '23-11-2026 18:20 WIB'."""
    shown = clock.local(moment, timedelta(hours=settings.utc_offset_hours))
    return shown.strftime("%d-%m-%Y %H:%M" if with_year else "%d-%m %H:%M") + f" {settings.timezone_label}"


def local_date(settings: ComplaintSettings, moment: datetime) -> str:
    """Stored UTC as the village's date only, e.g. '23-11-2026' (for viewers
    who must not see exact times: in a small village a time can point to a family)."""
    return clock.local(moment, timedelta(hours=settings.utc_offset_hours)).strftime("%d-%m-%Y")


def new_code(session: Session) -> str:
    """ADU-XXXX, unused so far."""
    return fresh_code("ADU-", CODE_ALPHABET, lambda code: session.execute(select(Case.id).where(Case.code == code)).first() is not None)


def log(session: Session, case: Case, actor: str, kind: str, now: datetime, note: str = "", public: bool = False) -> None:
    if case.anonymised_at is not None:
        note = ""  # an anonymised case never takes text again (what happened still counts)
    session.add(CaseEvent(case_id=case.id, actor=actor, kind=kind, note=note or None, public=public, created_at=now))
    case.updated_at = now
    if public and note:
        case.public_update = note


def open_case_of(session: Session, reporter_id: int) -> Optional[Case]:
    return session.execute(
        select(Case)
        .where(Case.reporter_id == reporter_id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()


def create_case(session: Session, settings: ComplaintSettings, now: datetime, **fields: Any) -> Case:
    case = Case(code=new_code(session), status=NEW, created_at=now, updated_at=now, **fields)
    case.remind_at = now + timedelta(hours=settings.reminder_hours)
    if case.urgent:
        case.escalate_at = now + timedelta(minutes=settings.escalation_minutes)
    session.add(case)
    session.flush()
    log(session, case, "pelapor", "dibuat", now)
    return case


def find_in_village(session: Session, code: str, village_code: str, lock: bool = False) -> Optional[Case]:
    query = select(Case).where(Case.code == code.upper(), Case.village_code == village_code)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def claim(session: Session, case: Case, member: SatgasMember, now: datetime) -> bool:
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == NEW)
        .values(status=CLAIMED, assigned_to=member.id, claimed_at=now, updated_at=now, escalate_at=None, remind_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(case)
    log(session, case, actor(member), "diambil", now, note=f"Diambil oleh {member.name}", public=True)
    return True


def assign(session: Session, case: Case, member: SatgasMember, who: str, now: datetime) -> bool:
    """A coordinator gives the case to a member (issue 26). One conditional
    UPDATE on the status and holder read before: a claim or another
    assignment in between makes it match no row (False), never two holders."""
    held_by = Case.assigned_to.is_(None) if case.assigned_to is None else Case.assigned_to == case.assigned_to
    values: dict[str, Any] = {"assigned_to": member.id, "updated_at": now}
    if case.status == NEW:
        values.update(status=CLAIMED, claimed_at=now, escalate_at=None, remind_at=None)
    result = session.execute(
        update(Case).where(Case.id == case.id, Case.status == case.status, held_by).values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(case)
    log(session, case, who, "ditugaskan", now, note=f"Ditangani oleh {member.name}", public=True)
    return True


def unclaim(session: Session, case: Case, member: SatgasMember, settings: ComplaintSettings, now: datetime) -> None:
    case.status, case.assigned_to, case.claimed_at = NEW, None, None
    case.remind_at = now + timedelta(hours=settings.reminder_hours)
    if case.urgent:
        case.escalate_at, case.escalated_at = now + timedelta(minutes=settings.escalation_minutes), None
    log(session, case, actor(member), "dilepas", now)


def close(session: Session, case: Case, member: SatgasMember, status: str, outcome: str, now: datetime, target: str = "") -> None:
    case.status, case.closed_at = status, now
    case.outcome = None if case.anonymised_at is not None else outcome
    case.referred_to = target or None
    case.escalate_at = case.remind_at = None
    log(session, case, actor(member), status, now, note=outcome, public=True)


REOPENABLE = (RESOLVED, REFERRED, EXPIRED)


def reopen(session: Session, case: Case, who: str, reason: str, settings: ComplaintSettings, now: datetime) -> None:
    """A closed case back in the village's queue, unclaimed, with its timers
    running again (issue 26: a case referred or closed by mistake had no way
    back). The reason is the event's note: the audit trail says who and why."""
    case.status, case.assigned_to, case.claimed_at, case.closed_at = NEW, None, None, None
    case.outcome = case.referred_to = None
    case.remind_at = now + timedelta(hours=settings.reminder_hours)
    if case.urgent:
        case.escalate_at, case.escalated_at = now + timedelta(minutes=settings.escalation_minutes), None
    log(session, case, who, "dibuka_kembali", now, note=reason)


def was_claimed_before(session: Session, case: Case) -> bool:
    """Whether someone held this case before, by a claim or an assignment
    (the family was told who then)."""
    return session.execute(
        select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.kind.in_(("diambil", "ditugaskan"))).limit(1)
    ).first() is not None


def actor(member: SatgasMember) -> str:
    return f"satgas:{member.id}"


def history(session: Session, case: Case) -> list[CaseEvent]:
    return list(session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).scalars())


def anonymise_reporter_cases(session: Session, reporter_id: int, now: datetime) -> None:
    anonymise(session, list(session.execute(select(Case).where(Case.reporter_id == reporter_id)).scalars()), now)


def erase_reporter(session: Session, contact: Contact, now: datetime) -> None:
    """The cases feature's eraser (bot.domain.personal_data.Eraser)."""
    anonymise_reporter_cases(session, contact.id, now)


def purge_expired(session: Session, settings: ComplaintSettings, now: datetime) -> int:
    """Retention: closed cases lose their personal data after `retention_days`."""
    expired = list(
        session.execute(
            select(Case)
            .where(
                Case.status.not_in(OPEN_STATUSES),
                Case.closed_at <= now - timedelta(days=settings.retention_days),
                Case.anonymised_at.is_(None),
            )
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    anonymise(session, expired, now)
    return len(expired)


def anonymise(session: Session, cases: list[Case], now: datetime) -> None:
    """Keep category, country, village and status for statistics; drop the rest,
    including the outcome the satgas wrote and every message quoting the case."""
    for case in cases:
        case.worker_name = case.employer = case.description = case.contact_phone = None
        case.public_update = case.outcome = None
        case.anonymised_at = now
        session.execute(update(CaseEvent).where(CaseEvent.case_id == case.id).values(note=None))
    personal_data.erase_messages_about_cases(session, [case.id for case in cases])


def message_reporter(session: Session, case: Case, member: SatgasMember, text: str, now: datetime) -> None:
    """A satgas writes to the family: a claimed case is now being worked on."""
    if case.status == CLAIMED:
        case.status = IN_PROGRESS
    log(session, case, actor(member), "pesan_ke_pelapor", now, note=text, public=True)


def mark_urgent(case: Case, settings: ComplaintSettings, now: datetime) -> None:
    """A report joined to an open case made it urgent: escalate it unless it is claimed."""
    if case.urgent:
        return
    case.urgent = True
    if case.status == NEW:
        case.escalate_at = now + timedelta(minutes=settings.escalation_minutes)


# --- timers: each due case is claimed (skip_locked: two timer processes never
# take the same one), changed and its alert queued in one transaction.
def due_escalations(session: Session, now: datetime) -> list[Case]:
    """Urgent cases nobody claimed in time, locked."""
    return list(
        session.execute(
            select(Case)
            .where(Case.status == NEW, Case.escalate_at.is_not(None), Case.escalate_at <= now, Case.escalated_at.is_(None))
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def escalated(session: Session, case: Case, now: datetime) -> None:
    case.escalated_at = now
    log(session, case, "sistem", "dieskalasi", now)


def due_reminders(session: Session, now: datetime) -> list[Case]:
    """Unclaimed cases whose daily reminder is due, locked."""
    return list(
        session.execute(
            select(Case)
            .where(Case.status == NEW, Case.remind_at.is_not(None), Case.remind_at <= now)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def reminded(session: Session, case: Case, settings: ComplaintSettings, now: datetime) -> None:
    case.remind_at = now + timedelta(hours=settings.reminder_hours)
    log(session, case, "sistem", "pengingat", now)

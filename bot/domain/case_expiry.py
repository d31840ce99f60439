"""Open cases nobody acts on: the retention of a case that is never closed (issue 24).

Closed cases lose their personal data `retention_days` after they close
(`cases.purge_expired`); an open case nobody claims or works would keep the
worker's name, employer, story and phone forever. So an open case with no
event by a person (reporter, satgas, staff; the timers' own reminders and
escalations do not count) for `retention_days` is first announced to the
district coordinator and the village satgas; if still nobody acts within
`idle_grace_days`, it is closed as `kedaluwarsa` and from then on falls under
the closed-case retention like any other closed case.

Both steps are case events by the system ("peringatan_kedaluwarsa",
"kedaluwarsa"), so the history says why a case closed, and no column is
needed: a person's event after the warning makes the case active again, and a
later idle period warns again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import cases
from bot.storage.complaint_models import EXPIRED, OPEN_STATUSES, Case, CaseEvent

SYSTEM = "sistem"
WARNING = "peringatan_kedaluwarsa"


def last_activity() -> ColumnElement[datetime]:
    """When a person last did something to the case (its creation at least)."""
    latest = (
        select(func.max(CaseEvent.created_at))
        .where(CaseEvent.case_id == Case.id, CaseEvent.actor != SYSTEM)
        .correlate(Case)
        .scalar_subquery()
    )
    return func.coalesce(latest, Case.created_at)


def last_warning() -> ColumnElement[datetime]:
    return (
        select(func.max(CaseEvent.created_at))
        .where(CaseEvent.case_id == Case.id, CaseEvent.kind == WARNING)
        .correlate(Case)
        .scalar_subquery()
    )


def due_warnings(session: Session, settings: cases.ComplaintSettings, now: datetime) -> list[Case]:
    """Open cases idle for the retention period and not yet warned about since
    their last activity, locked (skip_locked: two timer processes never take
    the same one)."""
    activity, warning = last_activity(), last_warning()
    return list(
        session.execute(
            select(Case)
            .where(
                Case.status.in_(OPEN_STATUSES),
                activity <= now - timedelta(days=settings.retention_days),
                or_(warning.is_(None), warning < activity),
            )
            .order_by(Case.id)
            .with_for_update(skip_locked=True, of=Case)
        ).scalars()
    )


def warned(session: Session, case: Case, now: datetime) -> None:
    cases.log(session, case, SYSTEM, WARNING, now)


def deadline(settings: cases.ComplaintSettings, warned_at: datetime) -> datetime:
    """When a case warned about at `warned_at` is closed if still idle."""
    return warned_at + timedelta(days=settings.idle_grace_days)


def due_expiries(session: Session, settings: cases.ComplaintSettings, now: datetime) -> list[Case]:
    """Open cases warned about at least `idle_grace_days` ago with no activity since, locked."""
    activity, warning = last_activity(), last_warning()
    return list(
        session.execute(
            select(Case)
            .where(
                Case.status.in_(OPEN_STATUSES),
                warning.is_not(None),
                warning >= activity,
                warning <= now - timedelta(days=settings.idle_grace_days),
            )
            .order_by(Case.id)
            .with_for_update(skip_locked=True, of=Case)
        ).scalars()
    )


def expire(session: Session, case: Case, now: datetime) -> None:
    """Close the case as expired: from now on the closed-case retention counts."""
    case.status, case.closed_at = EXPIRED, now
    case.escalate_at = case.remind_at = None
    cases.log(session, case, SYSTEM, EXPIRED, now)

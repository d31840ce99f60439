"""What is new for one console user: the family's messages on a case since
that user last opened it (issue 26).

A reply forwarded into a case used to leave the queue row unchanged. Now each
user's last view of a case is a `CaseRead` (the newest event they had on
screen); the family's messages after it are unread for them, counted per case
in the queue, summed in the menu and the page title, until they open the case.
Per user, not per case: a coordinator glancing at a case does not hide a
reply from the satgas holding it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.domain.accounts import Viewer
from bot.storage.complaint_models import OPEN_STATUSES, Case, CaseEvent
from bot.storage.console_models import CaseRead

# What the family sends into a case after reporting it.
FROM_FAMILY = ("balasan_pelapor", "balasan_darurat", "bukti", "laporan_tambahan")


def _unread_events(viewer: Viewer) -> object:
    """The family's events not yet seen by this viewer (a select to filter further)."""
    return (
        select(CaseEvent.case_id)
        .join(Case, Case.id == CaseEvent.case_id)
        .outerjoin(CaseRead, and_(CaseRead.case_id == CaseEvent.case_id, CaseRead.user_id == viewer.user_id))
        .where(CaseEvent.kind.in_(FROM_FAMILY), CaseEvent.id > func.coalesce(CaseRead.last_event_id, 0))
    )


def per_case(session: Session, viewer: Viewer, case_ids: Iterable[int]) -> dict[int, int]:
    """Unread family messages per case, for the cases on one queue page."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    query = _unread_events(viewer).where(CaseEvent.case_id.in_(ids))  # type: ignore[attr-defined]
    unseen = query.subquery()
    counted = select(unseen.c.case_id, func.count()).group_by(unseen.c.case_id)
    return {case_id: count for case_id, count in session.execute(counted).all()}


def cases_with_news(session: Session, viewer: Viewer) -> int:
    """Open cases in the viewer's villages with a family message they have not
    seen: the badge in the menu and the count in the page title."""
    query = _unread_events(viewer).where(Case.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
    if viewer.villages is not None:
        query = query.where(Case.village_code.in_(sorted(viewer.villages)))
    return session.execute(select(func.count(func.distinct(query.subquery().c.case_id)))).scalar_one()


def mark_read(session: Session, viewer: Viewer, case: Case, now: datetime) -> None:
    """The viewer has the case's whole history on screen: everything up to its
    newest event is read. One statement (insert or update), so two tabs opening
    the case at once cannot collide on the unique (case, user) pair."""
    newest = session.execute(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == case.id)).scalar_one()
    if newest is None:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(CaseRead).values(case_id=case.id, user_id=viewer.user_id, last_event_id=newest, seen_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CaseRead.case_id, CaseRead.user_id],
            set_={"last_event_id": statement.excluded.last_event_id, "seen_at": now},
        )
    )


def cases_with_news_by_village(session: Session, viewer: Viewer) -> dict[str, int]:
    """The same count per village (the dashboard's village table)."""
    unseen = _unread_events(viewer).add_columns(Case.village_code).where(Case.status.in_(OPEN_STATUSES)).subquery()  # type: ignore[attr-defined]
    counted = select(unseen.c.village_code, func.count(func.distinct(unseen.c.case_id))).group_by(unseen.c.village_code)
    return {village: count for village, count in session.execute(counted).all()}


def open_cases_with_news(session: Session, viewer: Viewer) -> dict[str, int]:
    """Unread family messages per open case of the viewer's villages, by case
    code (what the queue's badges show; konsol.js asks for it every ~20 s)."""
    query = _unread_events(viewer).add_columns(Case.code).where(Case.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
    if viewer.villages is not None:
        query = query.where(Case.village_code.in_(sorted(viewer.villages)))
    unseen = query.subquery()
    counted = select(unseen.c.code, func.count()).group_by(unseen.c.code)
    return {code: count for code, count in session.execute(counted).all()}

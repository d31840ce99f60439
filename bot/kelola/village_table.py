"""The dashboard's table per village (issue 26): a coordinator's first
question is "which village needs me": open cases, how many wait past their
deadline, how many have a family reply nobody (of the viewer) has read, and
how long claiming and closing take there (medians over the dashboard's
weeks). One row per village in the viewer's scope, the most overdue first."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import cases
from bot.domain.accounts import Viewer
from bot.kelola import unread
from bot.kelola.queries import is_overdue
from bot.storage.complaint_models import OPEN_STATUSES, Case
from bot.storage.models import Village


@dataclass
class VillageRow:
    code: str
    name: str
    open: int = 0
    overdue: int = 0
    unread: int = 0
    claim_median_hours: Optional[float] = None
    close_median_hours: Optional[float] = None


def _median(values: list[float]) -> Optional[float]:
    return round(statistics.median(values), 1) if values else None


def village_table(session: Session, viewer: Viewer, settings: cases.ComplaintSettings, now: datetime, since: datetime, with_unread: bool) -> list[VillageRow]:
    """`with_unread`: the viewer may read the family's words (an observer gets no unread column)."""
    rows = {code: VillageRow(code, name) for code, name in session.execute(select(Village.code, Village.name)).all() if viewer.sees_village(code)}
    claims: dict[str, list[float]] = {}
    closes: dict[str, list[float]] = {}
    query = select(Case).where(Case.village_code.in_(sorted(rows)))
    for case in session.execute(query.where((Case.status.in_(OPEN_STATUSES)) | (Case.created_at >= since))).scalars():
        row = rows[case.village_code]
        if case.status in OPEN_STATUSES:
            row.open += 1
            row.overdue += is_overdue(case, settings, now)
        if case.created_at >= since and case.claimed_at:
            claims.setdefault(case.village_code, []).append((case.claimed_at - case.created_at).total_seconds() / 3600)
        if case.created_at >= since and case.closed_at:
            closes.setdefault(case.village_code, []).append((case.closed_at - case.created_at).total_seconds() / 3600)
    if with_unread:
        for code, count in unread.cases_with_news_by_village(session, viewer).items():
            if code in rows:
                rows[code].unread = count
    for code, row in rows.items():
        row.claim_median_hours, row.close_median_hours = _median(claims.get(code, [])), _median(closes.get(code, []))
    return sorted(rows.values(), key=lambda row: (-row.overdue, -row.unread, -row.open, row.name))

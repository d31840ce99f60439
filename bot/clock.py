"""Time as a dependency, so timers (escalations, reminders) can be tested by
advancing a clock instead of sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


def utcnow() -> datetime:
    """Naive UTC: SQLite has no time zones, so every stored time is naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def local(moment: datetime, utc_offset: timedelta) -> datetime:
    """The one local-time helper: stored naive UTC as village time."""
    return moment + utc_offset


def from_local(moment: datetime, utc_offset: timedelta) -> datetime:
    """Village time (as written in content files) as stored naive UTC."""
    return moment - utc_offset


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

"""Send one outbox message as several provider messages, never a part twice.

A long message becomes several sends (see `bot.channels.split`). If part 2 of 3
fails, the outbox retries the whole message later; without a record of what
already went out, part 1 would be sent again. Each part that the provider
accepted is therefore written down (an `Event` of kind "delivery_part", in its
own transaction, right after the provider answered) and skipped on the retry.

The outbox keeps one provider id per message in a 100-character column; all
part ids are joined there when they fit and the full list stays in the events.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.storage.models import Event, OutboundMessage

PART_EVENT = "delivery_part"
# The column is Text; this cap only keeps one row readable (a 4096-character
# Telegram text never needs more than a handful of parts).
PROVIDER_ID_COLUMN = 1000

# Sends part `index` with text `part`; returns the provider's id for it.
SendPart = Callable[[int, str], str]


class PartJournal:
    """Which parts of a message the provider already accepted."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def sent(self, row: OutboundMessage) -> dict[int, str]:
        # Events have an index on created_at only: the time range keeps this
        # query small; the id match is done here (JSON filters differ per database).
        with self.sessions() as session:
            events = session.execute(
                select(Event.data).where(Event.created_at >= row.created_at, Event.kind == PART_EVENT)
            ).scalars()
            return {
                int(data["part"]): str(data["provider_id"])
                for data in events
                if isinstance(data, dict) and data.get("outbound_id") == row.id
            }

    def record(self, row: OutboundMessage, index: int, total: int, provider_id: str) -> None:
        with self.sessions() as session, session.begin():
            session.add(
                Event(
                    contact_id=row.contact_id,
                    kind=PART_EVENT,
                    actor="delivery",
                    data={"outbound_id": row.id, "part": index, "parts": total, "provider_id": provider_id},
                    created_at=self.clock.now(),
                )
            )


def send_in_parts(row: OutboundMessage, parts: list[str], send_part: SendPart, journal: PartJournal) -> str:
    """Send the parts still missing, in order; returns the id(s) for the outbox.

    A failure raises out of here (the outbox decides whether to retry); parts
    sent before it are remembered, so the retry continues where this stopped.
    """
    if len(parts) == 1:
        return send_part(0, parts[0])
    done = journal.sent(row)
    ids: list[str] = []
    for index, part in enumerate(parts):
        if index in done:
            ids.append(done[index])
            continue
        provider_id = send_part(index, part)
        journal.record(row, index, len(parts), provider_id)
        ids.append(provider_id)
    return joined_ids(ids)


def joined_ids(ids: list[str]) -> str:
    """All ids if they fit the column, else as many as fit and how many more."""
    for count in range(len(ids), 0, -1):
        rest = len(ids) - count
        candidate = ",".join(ids[:count]) + (f",+{rest}" if rest else "")
        if len(candidate) <= PROVIDER_ID_COLUMN:
            return candidate
    return ids[0][:PROVIDER_ID_COLUMN] if ids else ""

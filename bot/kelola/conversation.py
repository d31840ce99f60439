"""A case's history as the satgas reads it: the exchange with the family as a
conversation, and what staff and timers did as short lines between.

Raw event names (`pesan_ke_pelapor`) meant nothing to the satgas and six of
eight rows were system reminders (issue 26). Each event gets its Indonesian
label (content/console.yml, `timeline_<kind>`); the family's words sit on the
left, messages to the family on the right, and a run of automatic reminders
folds into one line that says how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from bot.kelola.queries import TimelineEntry

FROM_FAMILY = frozenset({"dibuat", "laporan_tambahan", "balasan_pelapor", "balasan_darurat", "bukti"})
TO_FAMILY = frozenset({"pesan_ke_pelapor"})
AUTOMATIC = frozenset({"pengingat", "dieskalasi", "peringatan_kedaluwarsa"})
# Notes that only repeat the label and the actor ("Diambil oleh ...").
SAYS_NOTHING_MORE = frozenset({"diambil"})


@dataclass
class Line:
    """One row of the conversation: side is "keluarga", "satgas" or "kejadian"."""

    side: str
    label: str
    when: datetime
    actor: str
    text: str
    urgent: bool = False
    evidence: bool = False
    repeated: int = 1
    last: Optional[datetime] = None


def label_of(content: Any, kind: str) -> str:
    key = f"timeline_{kind}"
    return content.text(key) if key in content.texts else kind.replace("_", " ").capitalize()


def conversation(entries: list[TimelineEntry], content: Any) -> list[Line]:
    """Oldest first, newest at the bottom, where the reply box is."""
    lines: list[Line] = []
    for entry in entries:
        side = "keluarga" if entry.kind in FROM_FAMILY else "satgas" if entry.kind in TO_FAMILY else "kejadian"
        previous = lines[-1] if lines else None
        if entry.kind in AUTOMATIC and previous is not None and previous.side == "kejadian" and previous.label == label_of(content, entry.kind):
            previous.repeated += 1
            previous.last = entry.when
            continue
        lines.append(
            Line(
                side=side,
                label=label_of(content, entry.kind),
                when=entry.when,
                actor=entry.actor,
                text="" if entry.kind in SAYS_NOTHING_MORE else entry.note,
                urgent=entry.kind == "balasan_darurat",
                evidence=entry.evidence,
            )
        )
    return lines

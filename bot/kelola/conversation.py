"""A case's history as the satgas reads it: the exchange with the family as a
conversation, and what staff and timers did as short lines between.

Raw event names (`pesan_ke_pelapor`) meant nothing to the satgas and six of
eight rows were system reminders (issue 26). Each event gets its Indonesian
label (content/console.yml, `timeline_<kind>`); the family's words sit on the
left, messages to the family on the right, and a run of automatic reminders
folds into one line that says how many there were.

Evidence (issue 26) shows inside the family's bubble as labelled items, one
per file: what it is (foto, dokumen, pesan suara), its type and the caption.
The project keeps only the chat provider's reference to a file (a Telegram
file id, a Twilio media address that needs the account's credentials), never
its bytes (`bot.messages.Attachment`), so the console cannot draw a
thumbnail; it says where the file is instead of showing an opaque id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from bot.kelola.queries import TimelineEntry

FROM_FAMILY = frozenset({"dibuat", "laporan_tambahan", "balasan_pelapor", "balasan_darurat", "bukti"})
TO_FAMILY = frozenset({"pesan_ke_pelapor"})
AUTOMATIC = frozenset({"pengingat", "dieskalasi", "peringatan_kedaluwarsa"})
# Notes that only repeat the label and the actor ("Diambil oleh ...").
SAYS_NOTHING_MORE = frozenset({"diambil"})
# flows.case_talk.keep_evidence writes "foto (image/jpeg): <ref>, dokumen (application/pdf): <ref>. Keterangan: ..."
_FILE = re.compile(r"(?:^|, )(?P<kind>[^,()]+?) \((?P<mime>[^()]*)\): (?P<reference>[^\s,]+)")
_CAPTION = ". Keterangan: "
# The media kinds as the chat names them (content/complaints.yml media_kind_*) that are pictures.
PICTURES = ("foto", "gambar", "photo", "image")


@dataclass(frozen=True)
class EvidenceFile:
    kind: str  # "foto", "dokumen", ... as the chat named it
    mime: str  # "image/jpeg", or "" when the provider did not say
    reference: str  # the provider's reference ("" when none came)

    @property
    def picture(self) -> bool:
        return self.kind.lower() in PICTURES or self.mime.startswith("image/")


def evidence_files(note: str) -> tuple[list[EvidenceFile], str]:
    """The files and the caption of a `bukti` note; ([], note) if the note is
    not in that shape (then it is shown as it was written)."""
    listing, _, caption = note.partition(_CAPTION)
    files = [
        EvidenceFile(m.group("kind").strip(), "" if m.group("mime") == "-" else m.group("mime"), "" if m.group("reference") == "-" else m.group("reference"))
        for m in _FILE.finditer(listing)
    ]
    if not files or "".join(m.group(0) for m in _FILE.finditer(listing)) != listing:
        return [], note
    return files, caption.strip()


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
    files: list[EvidenceFile] = field(default_factory=list)


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
        text, files = ("" if entry.kind in SAYS_NOTHING_MORE else entry.note), []
        if entry.evidence and text:
            files, text = evidence_files(text)
        lines.append(
            Line(
                side=side,
                label=label_of(content, entry.kind),
                when=entry.when,
                actor=entry.actor,
                text=text,
                urgent=entry.kind == "balasan_darurat",
                evidence=entry.evidence,
                files=files,
            )
        )
    return lines

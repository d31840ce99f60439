"""Organiser commands: `python -m bot.cli trainings list | registrants ID | export ID --out FILE.csv`.

Organisers need the participant list on paper or in a spreadsheet on the day;
these commands read the same database as the bot, without the NLU model. The
words they print come from content/trainings.yml like everything people read.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli_args import BAD_ARGUMENT
from bot.config import Settings
from bot.csv_safe import private_csv
from bot.storage.training_models import CONFIRMED, WAITLISTED, Training, TrainingRegistration
from bot.domain.catalog import Catalog
from bot.domain.catalog_file import catalog_for
from bot.domain.trainings import confirmed_counts, registrants_report

# Spreadsheet columns (field names, not sentences). Personal data is the point
# of this export: participants agreed that organisers use it to contact them.
CSV_COLUMNS = (
    "kode", "status", "urutan_tunggu", "nama_peserta", "nomor_hp", "status_peserta", "desa",
    "didaftarkan", "dapat_kursi", "dibatalkan",
)


def register(subparsers: Any) -> None:
    """Mount `trainings ...` on the main CLI's sub-command parsers."""
    group = subparsers.add_parser("trainings", help="pelatihan: jadwal, pendaftar, ekspor CSV")
    commands = group.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="semua pelatihan dengan jumlah pendaftar")
    listing.set_defaults(handler=list_trainings)
    registrants = commands.add_parser("registrants", help="peserta dan daftar tunggu satu pelatihan")
    registrants.add_argument("training_id", metavar="ID", help="kode pelatihan, lihat 'trainings list'")
    registrants.set_defaults(handler=show_registrants)
    export = commands.add_parser("export", help="ekspor pendaftar satu pelatihan ke CSV")
    export.add_argument("training_id", metavar="ID", help="kode pelatihan, lihat 'trainings list'")
    export.add_argument("--out", required=True, help="file CSV tujuan")
    export.set_defaults(handler=export_registrants)


def _catalog() -> Catalog:
    return catalog_for(Settings().content_dir)


def list_trainings(sessions: sessionmaker[Session], _args: argparse.Namespace, out: TextIO) -> int:
    catalog = _catalog()
    with sessions() as session:
        trainings = list(session.execute(select(Training).order_by(Training.start_at, Training.id)).scalars())
        if not trainings:
            out.write(catalog.text("cli_list_empty") + "\n")
            return 0
        confirmed = confirmed_counts(session, (t.id for t in trainings))
        waiting = _waitlist_counts(session)
        for training in trainings:
            line = catalog.text(
                "cli_list_line",
                id=training.id,
                date=catalog.local(training.start_at).strftime("%Y-%m-%d %H:%M"),
                confirmed=confirmed.get(training.id, 0),
                capacity=training.capacity,
                waitlisted=waiting.get(training.id, 0),
                title=training.title,
                inactive="" if training.active else catalog.text("cli_list_inactive"),
            )
            out.write(line + "\n")
    return 0


def _waitlist_counts(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (training_id,) in session.execute(
        select(TrainingRegistration.training_id).where(TrainingRegistration.status == WAITLISTED)
    ):
        counts[training_id] = counts.get(training_id, 0) + 1
    return counts


def show_registrants(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    with sessions() as session:
        exists = session.get(Training, args.training_id) is not None
        out.write(registrants_report(session, args.training_id, _catalog()) + "\n")
    return 0 if exists else BAD_ARGUMENT  # an id that names no training is a wrong argument


def export_registrants(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    catalog = _catalog()
    with sessions() as session:
        if session.get(Training, args.training_id) is None:
            out.write(catalog.text("report_unknown", id=args.training_id) + "\n")
            return BAD_ARGUMENT
        rows = list(
            session.execute(
                select(TrainingRegistration)
                .where(TrainingRegistration.training_id == args.training_id)
                .order_by(TrainingRegistration.id)
            ).scalars()
        )
    with private_csv(args.out) as writer:  # formulas escaped, mode 0600
        writer.writerow(CSV_COLUMNS)
        position = 0
        for registration in rows:
            position += registration.status == WAITLISTED
            writer.writerow(_csv_row(catalog, registration, position if registration.status == WAITLISTED else None))
    out.write(catalog.text("cli_exported", count=len(rows), path=args.out) + "\n")
    return 0


def _csv_row(catalog: Catalog, registration: TrainingRegistration, position: Any) -> list[Any]:
    def local(moment: Any) -> str:
        return catalog.local(moment).strftime("%Y-%m-%d %H:%M") if moment else ""

    return [
        registration.code,
        registration.status,
        position or "",
        registration.participant_name,
        registration.phone,
        catalog.audiences.get(registration.relation, registration.relation),
        catalog.village_names.get(registration.village_code or "", registration.village_code or ""),
        local(registration.created_at),
        local(registration.confirmed_at) if registration.status == CONFIRMED else "",
        local(registration.cancelled_at),
    ]

"""Coordinator and organiser command line: `./dev py -m bot.cli --help`.

Works on the same database as the bot (DESMIGRAS_DATABASE_URL) without loading
the NLU model, so it starts in a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli_args import BAD_ARGUMENT, BadArgument, Parser, bounded, identifier, local_time
from bot.config import Settings
from bot.csv_safe import private_csv
from bot.domain.broadcasts import DAYS_BEFORE_RANGE, PER_MINUTE_RANGE, UnknownSegment, segment_syntax
from bot.storage.broadcast_models import TOPICS
from bot.storage.complaint_models import STATUSES, Case, CaseEvent
from bot.storage.db import make_engine, make_session_factory, migrate
from bot.storage.console_models import ROLES
from bot.storage.models import SatgasMember, Village

# Columns with personal data are exported only with --include-personal.
PUBLIC_COLUMNS = ("code", "village_code", "category", "country", "urgent", "status", "referred_to",
                  "created_at", "claimed_at", "closed_at", "assigned_to")
PERSONAL_COLUMNS = ("reporter_relation", "worker_name", "employer", "description", "contact_phone", "outcome")


def open_sessions(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings.database_url)
    migrate(engine)
    return make_session_factory(engine)


def cases_query(status: Optional[str], village: Optional[str], urgent: bool):  # type: ignore[no-untyped-def]
    query = select(Case).order_by(Case.urgent.desc(), Case.created_at)
    if status:
        query = query.where(Case.status == status)
    if village:
        query = query.where(Case.village_code == village)
    if urgent:
        query = query.where(Case.urgent.is_(True))
    return query


def known_village(session: Session, code: Optional[str]) -> None:
    """`--village` must name a village: a typo would list "0 kasus" as if the village had none."""
    if code and session.get(Village, code) is None:
        raise BadArgument(f"Desa {code!r} tidak ada. Kode desa ada di content/villages.yml (misalnya jlamprang).")


def list_cases(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    with sessions() as session:
        known_village(session, args.village)
        rows = list(session.execute(cases_query(args.status, args.village, args.urgent)).scalars())
        out.write(f"{'kode':<9} {'desa':<12} {'status':<9} {'mendesak':<8} {'jenis':<20} dibuat\n")
        for case in rows:
            out.write(
                f"{case.code:<9} {case.village_code:<12} {case.status:<9} {'ya' if case.urgent else '-':<8} "
                f"{case.category:<20} {case.created_at:%Y-%m-%d %H:%M}\n"
            )
        out.write(f"{len(rows)} kasus\n")
    return 0


def show_case(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    with sessions() as session:
        case = session.execute(select(Case).where(Case.code == args.code.upper())).scalar_one_or_none()
        if case is None:
            raise BadArgument(f"Kasus {args.code} tidak ditemukan.")
        assignee = session.get(SatgasMember, case.assigned_to) if case.assigned_to else None
        for column in PUBLIC_COLUMNS + PERSONAL_COLUMNS:
            out.write(f"{column:<18} {getattr(case, column)}\n")
        out.write(f"{'petugas':<18} {assignee.name if assignee else '-'}\n\nriwayat:\n")
        for event in session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).scalars():
            out.write(f"  {event.created_at:%Y-%m-%d %H:%M} {event.kind:<18} {event.actor:<12} {event.note or ''}\n")
    return 0


def export_cases(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    columns = PUBLIC_COLUMNS + (PERSONAL_COLUMNS if args.include_personal else ())
    with sessions() as session:
        known_village(session, args.village)
    with sessions() as session, private_csv(args.out) as writer:
        writer.writerow(columns)
        count = 0
        for case in session.execute(cases_query(args.status, args.village, args.urgent)).scalars():
            writer.writerow([getattr(case, column) for column in columns])
            count += 1
    out.write(f"{count} kasus diekspor ke {args.out}{' (dengan data pribadi)' if args.include_personal else ''}\n")
    return 0


def add_user(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot import clock
    from bot.domain import accounts

    from bot.domain.villages import load_villages, sync_villages

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        with sessions() as session, session.begin():
            # The satgas named in content/villages.yml, as the bot would load them.
            sync_villages(session, load_villages(Settings().content_dir))
            user = accounts.create_user(
                session, args.name, args.role, clock.utcnow(),
                password=password, village=args.village, district=args.district, identity=args.identity,
            )
            out.write(f"Akun {user.username} ({user.role}) dibuat.\n")
    except accounts.AccountError as error:
        out.write(f"{error}\n")
        return 1
    return 0


def list_users(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot.domain import accounts
    from bot.privacy import mask

    with sessions() as session:
        out.write(f"{'nama':<20} {'peran':<14} {'wilayah':<16} {'identitas':<26} {'sandi':<6} aktif\n")
        for user in accounts.all_users(session):
            identity = f"{user.identity_channel}:{mask(user.identity_address)}" if user.identity_address else "-"
            area = user.village_code or user.district or "-"
            out.write(
                f"{user.username:<20} {user.role:<14} {area:<16} {identity:<26} "
                f"{'ya' if user.password_hash else 'tidak':<6} {'ya' if user.active else 'tidak'}\n"
            )
    return 0


def disable_user(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot.domain import accounts

    try:
        with sessions() as session, session.begin():
            accounts.disable_user(session, args.name)
    except accounts.AccountError as error:
        out.write(f"{error}\n")
        return 1
    out.write(f"Akun {args.name} dinonaktifkan.\n")
    return 0


def _template(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from bot.message_templates import templates_for

    templates = templates_for(Settings().content_dir)
    if args.template not in templates:
        raise BadArgument(f"Template {args.template!r} tidak ada di content/templates.yml ({', '.join(templates)}).")
    return templates[args.template]


def known_segment(session: Session, segment: str) -> None:
    """The segment names a village, training or country that exists (else BadArgument)."""
    from bot.content import load_content
    from bot.domain import broadcasts

    countries = None
    if segment.startswith("negara:"):
        content = load_content(Settings().content_dir)
        countries = set(content.countries) | set(content.world_countries)
    try:
        broadcasts.check_segment(session, segment, countries)
    except UnknownSegment as error:
        raise BadArgument(str(error)) from error


def segment_argument(text: str) -> str:
    """An argparse type: a segment written right (whether it exists is checked with the database)."""
    try:
        return segment_syntax(text.strip())
    except UnknownSegment as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def preview_broadcast(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot import clock
    from bot.domain import broadcasts

    try:
        template = _template(args)
        with sessions() as session:
            known_segment(session, args.segment)
            counted = broadcasts.preview(session, args.segment, args.topic, template, clock.utcnow())
    except broadcasts.BroadcastError as error:
        out.write(f"{error}\n")
        return 1
    out.write(
        f"Segmen {args.segment}: {counted.recipients} kontak; berhenti berlangganan {counted.opted_out};"
        f" belum setuju ({template.category}) {counted.not_opted_in}; akan dikirimi {counted.would_send}.\n"
        f"Contoh pesan: {template.render(broadcasts.parse_variables(args.var))}\n"
    )
    return 0


def send_broadcast(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from datetime import timedelta

    from bot import clock
    from bot.domain import broadcasts, cases

    now = clock.utcnow()
    try:
        template = _template(args)
        send_at = None
        if args.at:
            offset = timedelta(hours=cases.settings_for(Settings().content_dir).utc_offset_hours)
            send_at = clock.from_local(args.at, offset)
        with sessions() as session, session.begin():
            known_segment(session, args.segment)
            broadcast = broadcasts.create(
                session, title=args.title, topic=args.topic, template=template, variables=broadcasts.parse_variables(args.var),
                segment=args.segment, created_by=args.by, now=now, send_at=send_at, per_minute=args.per_minute,
            )
            count = broadcasts.preview(session, args.segment, args.topic, template, now).would_send
            broadcast_id = broadcast.id
    except (broadcasts.BroadcastError, ValueError) as error:
        out.write(f"{error}\n")
        return 1
    out.write(
        f"Siaran {broadcast_id} dibuat; saat ini {count} kontak akan dikirimi (daftar penerima ditetapkan saat waktunya tiba)."
        f" Dikirim oleh pekerja pengiriman. Lihat: broadcast report {broadcast_id}\n"
    )
    return 0


def campaign_broadcast(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot import clock
    from bot.domain import broadcasts
    from bot.domain.catalog_file import catalog_for
    from bot.message_templates import templates_for
    from bot.storage.training_models import Training

    settings = Settings()
    with sessions() as session, session.begin():
        training = session.get(Training, args.training)
        if training is None:
            raise BadArgument(f"Pelatihan {args.training!r} tidak ada. Lihat kodenya dengan: trainings list.")
        catalog = catalog_for(settings.content_dir)
        try:
            made = broadcasts.campaign(
                session, training, args.days_before, templates_for(settings.content_dir)["pengingat_pelatihan"],
                catalog.when(training.start_at, training.end_at), clock.utcnow(), args.by,
            )
        except broadcasts.BroadcastError as error:
            out.write(f"{error}\n")
            return 1
        for broadcast in made:
            out.write(f"Siaran {broadcast.id}: {broadcast.title}, dikirim {broadcast.send_at:%Y-%m-%d %H:%M} UTC\n")
    if not made:
        out.write("Tidak ada pengingat yang dibuat: semua tanggalnya sudah lewat.\n")
    return 0


def report_broadcast(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot.domain import broadcasts

    try:
        with sessions() as session:
            lines = broadcasts.report(session, args.id).lines()
    except broadcasts.BroadcastError as error:
        out.write(f"{error}\n")
        return 1
    out.write("\n".join(lines) + "\n")
    return 0


def list_broadcasts(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot.domain import broadcasts

    with sessions() as session:
        for broadcast in broadcasts.all_broadcasts(session):
            out.write(f"{broadcast.id:>4} {broadcast.status:<11} {broadcast.send_at:%Y-%m-%d %H:%M} UTC  {broadcast.segment:<24} {broadcast.title}\n")
    return 0


def cancel_broadcast(sessions: sessionmaker[Session], args: argparse.Namespace, out: TextIO) -> int:
    from bot import clock
    from bot.domain import broadcasts

    try:
        with sessions() as session, session.begin():
            stopped = broadcasts.cancel(session, args.id, clock.utcnow())
    except broadcasts.BroadcastError as error:
        out.write(f"{error}\n")
        return 1
    out.write(f"Siaran {args.id} dibatalkan; {stopped} pesan yang belum terkirim dibatalkan.\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bot.cli", description=__doc__)
    groups = parser.add_subparsers(dest="group", required=True)

    case_parser = groups.add_parser("cases", help="antrean kasus satgas")
    case_commands = case_parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (("list", list_cases, "daftar kasus"), ("export", export_cases, "ekspor CSV")):
        sub = case_commands.add_parser(name, help=help_text)
        sub.add_argument("--status", choices=STATUSES)
        sub.add_argument("--village")
        sub.add_argument("--urgent", action="store_true", help="hanya kasus mendesak")
        sub.set_defaults(handler=handler)
        if name == "export":
            sub.add_argument("--out", required=True, help="file CSV tujuan")
            sub.add_argument("--include-personal", action="store_true", help="sertakan kolom data pribadi")
    show = case_commands.add_parser("show", help="rincian dan riwayat satu kasus")
    show.add_argument("code")
    show.set_defaults(handler=show_case)

    users = groups.add_parser("users", help="akun konsol web (/kelola)")
    user_commands = users.add_subparsers(dest="command", required=True)
    add = user_commands.add_parser("add", help="buat akun")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--village", help="kode desa (koordinator: tidak perlu; satgas: diambil dari identitas)")
    add.add_argument("--district", help="koordinator: kabupaten/kecamatan yang diawasi (kosong = semua desa)")
    add.add_argument("--identity", help="identitas chat KANAL:ALAMAT, wajib untuk satgas dan penyelenggara")
    add.add_argument("--password-stdin", action="store_true", help="baca kata sandi dari stdin (tanpa ini: hanya masuk lewat tautan chat)")
    add.set_defaults(handler=add_user)
    user_commands.add_parser("list", help="daftar akun").set_defaults(handler=list_users)
    disable = user_commands.add_parser("disable", help="nonaktifkan akun (sesi yang terbuka ikut berakhir)")
    disable.add_argument("name")
    disable.set_defaults(handler=disable_user)

    siaran = groups.add_parser("broadcast", help="siaran ke sekelompok warga (lewat outbox, sekali per orang)")
    siaran_commands = siaran.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (("preview", preview_broadcast, "hitung penerima tanpa mengirim"),
                                     ("send", send_broadcast, "buat siaran; dikirim oleh pekerja pengiriman")):
        sub = siaran_commands.add_parser(name, help=help_text)
        sub.add_argument("--segment", required=True, type=segment_argument, help="desa:KODE | pelatihan:ID | topik:TOPIK | negara:KODE:HARI | semua")
        sub.add_argument("--topic", required=True, choices=TOPICS, help="info_pelatihan | peringatan | kabar_kasus")
        sub.add_argument("--template", required=True, help="nama template di content/templates.yml")
        sub.add_argument("--var", action="append", default=[], help="isian template NAMA=ISI (boleh berulang)")
        sub.set_defaults(handler=handler)
        if name == "send":
            sub.add_argument("--title", required=True, help="judul untuk laporan")
            sub.add_argument("--at", type=local_time, help="waktu kirim 'YYYY-MM-DD HH:MM' (waktu desa); kosong = sekarang")
            sub.add_argument("--per-minute", type=bounded(*PER_MINUTE_RANGE), default=60,
                             help="kecepatan kirim per kanal, %d-%d pesan per menit" % PER_MINUTE_RANGE)
            sub.add_argument("--by", default="cli", help="siapa yang membuat (untuk jejak audit)")
    campaign = siaran_commands.add_parser("campaign", help="pengingat pelatihan N hari sebelum mulai (terjadwal)")
    campaign.add_argument("--training", required=True, help="id pelatihan di content/trainings.yml")
    campaign.add_argument("--days-before", type=bounded(*DAYS_BEFORE_RANGE), action="append", required=True,
                          help="%d-%d hari; boleh berulang: --days-before 3 --days-before 1" % DAYS_BEFORE_RANGE)
    campaign.add_argument("--by", default="cli")
    campaign.set_defaults(handler=campaign_broadcast)
    report = siaran_commands.add_parser("report", help="terkirim / sampai / gagal / dilewati")
    report.add_argument("id", type=identifier)
    report.set_defaults(handler=report_broadcast)
    siaran_commands.add_parser("list", help="daftar siaran").set_defaults(handler=list_broadcasts)
    stop = siaran_commands.add_parser("cancel", help="batalkan siaran yang belum selesai")
    stop.add_argument("id", type=identifier)
    stop.set_defaults(handler=cancel_broadcast)

    knowledge = groups.add_parser("knowledge", help="basis pengetahuan (content/knowledge)")
    knowledge_commands = knowledge.add_subparsers(dest="command", required=True)
    review = knowledge_commands.add_parser("review", help="entri yang belum diverifikasi atau perlu ditinjau ulang")
    review.add_argument("--months", type=bounded(1, 120), default=6, help="tinjau ulang bila lebih lama dari ini (1-120 bulan)")
    review.set_defaults(handler=review_knowledge, needs_database=False)

    try:
        from bot import training_cli
    except ImportError:  # trainings not installed
        pass
    else:
        training_cli.register(groups)
    return parser


def review_knowledge(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Entries staff should look at: unverified, or reviewed longer ago than --months."""
    from datetime import date

    from bot.content import load_content
    from bot.knowledge import load_knowledge

    content = load_content(settings.content_dir)
    entries = load_knowledge(settings.content_dir / "knowledge", content)
    today = settings_today()
    due = []
    for entry in entries:
        try:
            reviewed = date.fromisoformat(entry.reviewed)
        except ValueError:
            due.append((entry, f"tanggal reviewed tidak terbaca: {entry.reviewed!r}"))
            continue
        months = (today.year - reviewed.year) * 12 + today.month - reviewed.month - (today.day < reviewed.day)
        reasons = []
        if not entry.verified:
            reasons.append("belum diverifikasi")
        if months >= args.months:
            reasons.append(f"ditinjau {entry.reviewed} ({months} bulan lalu)")
        if reasons:
            due.append((entry, "; ".join(reasons)))
    print(f"{len(entries)} entri, {sum(e.verified for e in entries)} terverifikasi; perlu dilihat: {len(due)}", file=out)
    for entry, reason in due:
        print(f"- {entry.id} ({Path(entry.file).name}): {entry.title} -- {reason}", file=out)
    return 0


def settings_today():  # type: ignore[no-untyped-def]
    """Today's date; a seam for tests through DESMIGRAS_TODAY (YYYY-MM-DD)."""
    import os
    from datetime import date

    return date.fromisoformat(os.environ["DESMIGRAS_TODAY"]) if os.environ.get("DESMIGRAS_TODAY") else date.today()


def main(argv: Optional[list[str]] = None, out: TextIO = sys.stdout, settings: Optional[Settings] = None) -> int:
    """Run one command; the exit status is 0 (done), 1 (refused, with the
    reason) or 2 (a wrong argument or a code that names nothing)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a wrong argument already explained on stderr
        return stop.code if isinstance(stop.code, int) else BAD_ARGUMENT
    settings = settings or Settings()
    try:
        if not getattr(args, "needs_database", True):
            return int(args.handler(settings, args, out) or 0)
        return int(args.handler(open_sessions(settings), args, out) or 0)
    except BadArgument as error:
        out.write(f"{error}\n")
        return BAD_ARGUMENT


if __name__ == "__main__":
    sys.exit(main())

"""A year of one district's traffic in a PostgreSQL database, for measuring
the bot, the console and retention at the size they will have (issue 29).

    ./dev py -m bench.seed_year --database-url postgresql://postgres@127.0.0.1:5432/desmigras_year --scale 1.0
    ./dev py -m bench.seed_year --database-url postgresql://postgres@127.0.0.1:5432/desmigras_year --teardown

Every benchmark before this one started from an empty database. At scale 1.0
the tool writes at least 200,000 contacts, 3 million inbound and 4 million
outbound messages (with their provider ids), 20,000 cases with their
histories, 5,000 training registrations, the turns' events and one
conversation state per person, spread over the year before now.

The database is the tool's own: it is created here (it must not exist yet),
brought to the newest schema by the bot's migrations, given the villages,
satgas and training catalogue from `content/` exactly as the bot's start-up
does (`bot.app.sync_reference_data`), and marked with a comment. `--teardown`
drops only a database that carries that mark.

Fast enough for 2 cores (scale 1.0 in well under 15 minutes): the rows are
generated in Python and streamed with COPY by a second thread while the next
ones are generated; during the load the loaded tables have no indexes, keys
or foreign keys (dropped from what the migrations made, written down first),
which are put back afterwards with the same definitions. Putting a foreign
key back makes PostgreSQL check every row, so the data is consistent by the
database's own check, and the schema is compared with what it was before the
load (the tool stops with an error if anything differs).

What the rows look like, and why:
- Times: a year back from now, more traffic as the service becomes known
  (about 0.6x the mean at the start, 1.4x at the end), fewer messages on
  Sundays, a daily curve in village time (WIB: quiet at night, busiest in the
  evening). Ids follow time, as they do when the bot writes them.
- People: 90% WhatsApp, 10% Telegram; villages from content/villages.yml with
  unequal weights and some who never said; messages per person heavy-tailed
  (most write a few times, a few write hundreds), in conversations of a few
  messages a few seconds apart. About 0.2% asked for their data to be
  deleted: their rows look as erasure leaves them.
- Numbers are clearly fake: WhatsApp +628000 followed by the contact's id
  (0800 is no Indonesian mobile prefix), Telegram ids of 13 digits. Names are
  common Indonesian first names; employers and descriptions are made up.
- Messages: questions from the knowledge base's own example questions,
  answered with the entry's answer; greetings, menu numbers, form answers,
  thanks and a share the bot did not understand (with the clarification
  event the console's "Belum dipahami" reads). Outbound: the replies (about
  1.3 per message) and what cases and trainings send (messages to the
  family, outcomes, training reminders, satgas alerts); status as Twilio's
  callbacks leave it (mostly read, some delivered or sent, about 2% failed
  or undelivered); long answers split in parts, every provider id in
  outbound_provider_ids.
- Cases: categories and relations from content/complaints.yml, urgent ones
  claimed faster, each with its history (reported, reminders while nobody
  claimed it, claimed, messages both ways, closed as resolved or referred);
  the youngest are still open, their timers set as the bot would leave them
  (nothing fires the moment the bot starts).
- Trainings: the catalogue's upcoming ones and past ones (as removed from the
  file: inactive, kept for their registrations), with confirmed, waitlisted
  and cancelled registrations, attendance for the past ones, reminders.

No broadcasts, console accounts or NLU examples are written.
"""

from __future__ import annotations

import argparse
import bisect
import io
import json
import math
import queue
import random
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import psycopg2
import yaml
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.app import sync_reference_data
from bot.channels.split import WHATSAPP_LIMIT, split_text
from bot.clock import SystemClock
from bot.config import PROJECT_ROOT
from bot.content import Content, load_content
from bot.domain import cases as case_domain
from bot.domain import trainings as training_domain
from bot.knowledge import load_knowledge
from bot.storage.db import make_engine, make_session_factory, migrate
from bot.storage.models import ERASED_ADDRESS, ERASED_TEXT, SatgasMember, Village
from bot.storage.training_models import Training

MARK = "desmigras bench.seed_year"
DAYS = 365
# What scale 1.0 writes (the "a year of a district").
PER_YEAR = {"contacts": 200_000, "inbound": 3_000_000, "outbound": 4_000_000, "cases": 20_000, "registrations": 5_000}
# The tables the load fills with COPY (their keys and indexes are dropped meanwhile).
LOADED = (
    "contacts", "conversations", "inbound_messages", "outbound_messages", "outbound_provider_ids",
    "events", "cases", "case_events", "trainings", "training_registrations", "subscriptions",
)
WIB = 7  # village time is UTC+7 (content/complaints.yml utc_offset_hours)
CHUNK_ROWS = 20_000  # rows per COPY statement
FAKE_WHATSAPP = "+628000"  # + 7 digits of the contact id: no Indonesian mobile number starts 0800
FAKE_TELEGRAM = 8_000_000_000_000  # + contact id: longer than any Telegram user id

FIRST_NAMES = (
    "Siti", "Dewi", "Sri", "Nur", "Aminah", "Yuli", "Rina", "Wati", "Lestari", "Ratna", "Suryani", "Eka",
    "Tuti", "Ani", "Yanti", "Rohmah", "Ningsih", "Umi", "Lilis", "Euis", "Budi", "Agus", "Joko", "Slamet",
    "Hendra", "Dedi", "Asep", "Ujang", "Iwan", "Wahyu", "Bambang", "Rudi", "Yusuf", "Eko", "Tono", "Darsih",
)
# Words people send that are no question (reply pool key, intent, event kind).
SMALL_TALK = (
    (("halo", "halo kak", "assalamualaikum", "p", "permisi", "sugeng enjing", "punten"), "sapa", "welcome", 6),
    (("menu", "menu utama", "kembali ke menu"), "menu", "menu", 4),
    (("makasih", "makasih ya kak", "matur nuwun", "hatur nuhun", "oke terima kasih"), "terima_kasih", "thanks", 5),
    (("1", "2", "3", "4", "ya", "iya", "tidak", "lanjut"), None, "choose", 22),
)
NOT_UNDERSTOOD = (
    "kak tolong bantu", "gmn ya", "saya bingung", "ini nomor siapa", "kok belum dibalas", "cara nya gimana",
    "bisa minta tolong ga", "itu maksudnya apa", "sy mau tanya2", "nomer ini bener ga",
)
REPORT_WORDS = (
    "gaji kakak saya belum dibayar 3 bulan", "anak saya tidak bisa dihubungi sejak bulan lalu",
    "paspor istri saya ditahan majikan", "mau lapor agen minta uang terus", "suami saya sakit di sana",
)
TRAINING_WORDS = ("mau daftar pelatihan", "daftar pelatihan batik", "ada pelatihan apa aja", "info pelatihan menjahit")
DESCRIPTIONS = {
    "gaji_tidak_dibayar": "Gaji belum dibayar beberapa bulan, majikan selalu bilang nanti.",
    "hilang_kontak": "Sudah lama tidak ada kabar, nomornya tidak aktif.",
    "dokumen_ditahan": "Paspor dipegang majikan dan tidak dikembalikan.",
    "kekerasan": "Cerita sering dimarahi dan dipukul, minta dipulangkan.",
    "sakit_kecelakaan": "Sakit sejak beberapa minggu, belum dibawa ke dokter.",
    "phk_dipulangkan": "Diberhentikan mendadak dan disuruh pulang tanpa pesangon.",
    "penipuan": "Sudah bayar ke calo tapi belum juga diberangkatkan.",
    "tppo": "Dijanjikan kerja di restoran, ternyata dipindah ke tempat lain dan tidak boleh keluar.",
    "lainnya": "Minta dibantu mengurus kepulangan.",
    "konsultasi": "Ingin bicara langsung dengan petugas.",
}
CATEGORY_WEIGHTS = {
    "gaji_tidak_dibayar": 25, "hilang_kontak": 15, "dokumen_ditahan": 10, "kekerasan": 6, "sakit_kecelakaan": 8,
    "phk_dipulangkan": 10, "penipuan": 12, "tppo": 2, "lainnya": 5, "konsultasi": 7,
}
RELATION_WEIGHTS = {"pekerja": 15, "suami_istri": 20, "orang_tua": 25, "anak": 15, "saudara": 18, "lainnya": 4, "warga": 3}
COUNTRY_WEIGHTS = {"malaysia": 30, "hong_kong": 20, "taiwan": 20, "singapura": 8, "arab_saudi": 8, "korea_selatan": 6, "jepang": 5}
VILLAGE_WEIGHTS = (0.36, 0.26, 0.22, 0.16)  # by the order of content/villages.yml; the rest share what is left
# Twilio's final states as its callbacks leave them, for WhatsApp replies.
PROVIDER_STATUSES = (("read", 70.0), ("delivered", 21.0), ("sent", 7.0), ("undelivered", 1.2), ("failed", 0.8))
PROVIDER_ERRORS = {"undelivered": "30003", "failed": "30008"}  # unreachable handset; unknown error (Twilio's codes)


@dataclass(frozen=True)
class Counts:
    contacts: int
    inbound: int
    outbound: int
    cases: int
    registrations: int

    @classmethod
    def at(cls, scale: float) -> "Counts":
        values = {key: max(1, round(value * scale)) for key, value in PER_YEAR.items()}
        values["inbound"] = max(values["inbound"], values["contacts"])  # everyone wrote at least once
        values["outbound"] = max(values["outbound"], values["inbound"])  # every message got a reply
        values["cases"] = min(values["cases"], values["contacts"])
        return cls(**values)


# --- time ---------------------------------------------------------------------------------------
class Moments:
    """When things happen over the year: hour slots weighted by growth, weekday
    and the village's daily curve; a moment is a slot plus a uniform offset."""

    HOURLY = (  # local hour 0..23 (WIB)
        0.2, 0.1, 0.1, 0.1, 0.3, 0.8, 1.2, 1.4, 1.5, 1.6, 1.6, 1.5,
        1.5, 1.4, 1.3, 1.3, 1.4, 1.6, 1.9, 2.3, 2.5, 2.3, 1.6, 0.7,
    )
    WEEKDAY = (1.05, 1.0, 1.0, 1.0, 0.95, 1.0, 0.8)  # Monday .. Sunday

    def __init__(self, end: datetime, rng: random.Random) -> None:
        self.end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        self.start = self.end - timedelta(days=DAYS)
        self.now_s = (end - self.start).total_seconds()
        self.rng = rng
        cumulative, total = [], 0.0
        slots = DAYS * 24
        for slot in range(slots):
            local = self.start + timedelta(hours=slot + WIB)
            growth = 0.6 + 0.8 * slot / slots
            total += growth * self.WEEKDAY[local.weekday()] * self.HOURLY[local.hour]
            cumulative.append(total)
        self.cumulative = cumulative
        self._hours: dict[float, str] = {}

    def after(self, earliest_s: float) -> float:
        """A moment (seconds since the start) no earlier than `earliest_s`, before now."""
        slot = min(int(earliest_s // 3600), len(self.cumulative) - 1)
        low = self.cumulative[slot - 1] if slot > 0 else 0.0
        chosen = bisect.bisect_left(self.cumulative, self.rng.uniform(low, self.cumulative[-1]))
        moment = chosen * 3600 + self.rng.random() * 3600
        return min(max(moment, earliest_s), self.now_s - 1)

    def many(self, count: int) -> list[float]:
        slots = self.rng.choices(range(len(self.cumulative)), cum_weights=self.cumulative, k=count)
        rnd = self.rng.random
        return [min(slot * 3600 + rnd() * 3600, self.now_s - 3600) for slot in slots]

    def stamp(self, seconds: float) -> str:
        """The moment as PostgreSQL reads a timestamp (milliseconds); the
        hour's text is made once (millions of rows share a few thousand hours)."""
        hour, rest = divmod(seconds, 3600.0)
        prefix = self._hours.get(hour)
        if prefix is None:
            prefix = self._hours[hour] = (self.start + timedelta(hours=hour)).strftime("%Y-%m-%d %H:")
        minute, second = divmod(rest, 60.0)
        return f"{prefix}{int(minute):02d}:{second:06.3f}"


# --- COPY ---------------------------------------------------------------------------------------
def copy_text(value: Any) -> str:
    """One field in COPY's text format."""
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def as_json(value: Any) -> str:
    return copy_text(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


class Loader:
    """Streams rows to PostgreSQL with COPY from a second thread (psycopg2
    sends without holding the GIL), so generating and loading overlap."""

    def __init__(self, dsn: str) -> None:
        self.connection = psycopg2.connect(dsn)
        self.pending: queue.Queue[Optional[tuple[str, Sequence[str], str]]] = queue.Queue(maxsize=6)
        self.buffers: dict[str, tuple[Sequence[str], list[str]]] = {}
        self.rows: dict[str, int] = {}
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="seed-copy", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit = off")
                while (item := self.pending.get()) is not None:
                    table, columns, data = item
                    cursor.copy_expert(
                        f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(data), size=1 << 20
                    )
            self.connection.commit()
        except BaseException as error:  # noqa: BLE001 - raised again in the main thread
            self.error = error
            while self.pending.get() is not None:  # let the producer finish instead of blocking
                pass

    def add(self, table: str, columns: Sequence[str], fields: Iterable[Any]) -> None:
        """One row; fields already in COPY text form (`copy_text`)."""
        entry = self.buffers.get(table)
        if entry is None:
            entry = self.buffers[table] = (columns, [])
        entry[1].append("\t".join(fields))
        self.rows[table] = self.rows.get(table, 0) + 1
        if len(entry[1]) >= CHUNK_ROWS:
            self._flush(table)

    def _flush(self, table: str) -> None:
        columns, lines = self.buffers[table]
        if lines:
            if self.error is not None:
                raise RuntimeError(f"COPY failed: {self.error}") from self.error
            self.pending.put((table, columns, "\n".join(lines) + "\n"))
            self.buffers[table] = (columns, [])

    def finish(self) -> None:
        for table in list(self.buffers):
            self._flush(table)
        self.pending.put(None)
        self.thread.join()
        self.connection.close()
        if self.error is not None:
            raise RuntimeError(f"COPY failed: {self.error}") from self.error


# --- the schema, put aside during the load and back after it -------------------------------------
@dataclass
class Schema:
    """Keys, unique constraints, indexes and foreign keys of the loaded tables,
    as the migrations made them (name -> definition)."""

    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (table, definition)
    indexes: dict[str, str] = field(default_factory=dict)  # name -> CREATE INDEX statement
    foreign: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, cursor: Any) -> "Schema":
        schema = cls()
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid),"
            " c.confrelid::regclass::text"
            " FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p', 'u', 'f')"
        )
        for table, name, kind, definition, referenced in cursor.fetchall():
            if kind == "f" and (table in LOADED or referenced in LOADED):
                schema.foreign[name] = (table, definition)
            elif kind in ("p", "u") and table in LOADED:
                schema.keys[name] = (table, definition)
        cursor.execute(
            "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public'"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.indexname))::regclass"
            " AND c.contype IN ('p', 'u'))"
        )
        for table, name, definition in cursor.fetchall():
            # Partial indexes stay through the load: they hold few rows, and
            # PostgreSQL may word a WHERE differently once it has been read
            # back (an IN list as an array), so a re-made one would not
            # compare equal with the migration's.
            if table in LOADED and " WHERE " not in definition:
                schema.indexes[name] = definition
        return schema

    def drop(self, cursor: Any) -> None:
        for name, (table, _definition) in self.foreign.items():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name in self.indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for name, (table, _definition) in self.keys.items():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')

    def restore(self, cursor: Any) -> None:
        """Keys first (foreign keys need them), then indexes, then foreign keys,
        each of which PostgreSQL checks against every row."""
        for name, (table, definition) in self.keys.items():
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for definition in self.indexes.values():
            cursor.execute(definition)
        for name, (table, definition) in self.foreign.items():
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


# --- the database -------------------------------------------------------------------------------
def driver_url(url: str) -> str:
    """The SQLAlchemy URL (psycopg2) for a postgresql:// URL as people write it."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise SystemExit(f"--database-url must be a PostgreSQL URL, not {parsed.drivername}")
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def libpq_dsn(url: str, database: Optional[str] = None) -> str:
    parsed = make_url(driver_url(url))
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise SystemExit("--database-url must name the database to create, e.g. .../desmigras_year")
    return name


def admin_connection(url: str) -> Any:
    connection = psycopg2.connect(libpq_dsn(url, "postgres"))
    connection.autocommit = True
    return connection


def mark_of(cursor: Any, name: str) -> Optional[str]:
    """The database's comment, or None when there is no such database."""
    cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,))
    row = cursor.fetchone()
    return None if row is None else (row[0] or "")


def create_database(url: str, scale: float) -> None:
    name = database_name(url)
    with closing(admin_connection(url)) as connection, connection.cursor() as cursor:
        existing = mark_of(cursor, name)
        if existing is not None:
            hint = " (seeded earlier: --teardown first)" if existing.startswith(MARK) else ""
            raise SystemExit(f"database {name} already exists{hint}; the tool seeds only a database it creates")
        cursor.execute(f'CREATE DATABASE "{name}"')
        cursor.execute(f"COMMENT ON DATABASE \"{name}\" IS %s", (f"{MARK} scale {scale} (loading)",))


def teardown(url: str) -> None:
    name = database_name(url)
    with closing(admin_connection(url)) as connection, connection.cursor() as cursor:
        existing = mark_of(cursor, name)
        if existing is None:
            print(f"database {name} does not exist: nothing to tear down")
            return
        if not existing.startswith(MARK):
            raise SystemExit(f"database {name} was not made by bench.seed_year (no mark): not dropped")
        cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    print(f"database {name} dropped")


# --- what the rows say --------------------------------------------------------------------------
@dataclass(frozen=True)
class Said:
    """One kind of inbound message and what the bot answers to it."""

    texts: tuple[str, ...]
    intent: Optional[str]
    reply: str  # copy_text form
    options: str  # copy_text form (JSON)
    event: Optional[str]
    event_data: str  # copy_text form (JSON)
    confidence: tuple[float, float]
    parts: int  # WhatsApp parts of the reply


def pools(content: Content) -> tuple[list[Said], list[float], Said, list[tuple[str, int]]]:
    """What people say and the bot answers, with weights; the not-understood
    kind apart (it gets a clarification event naming its message); and long
    texts (an entry's full explanation) with their WhatsApp part count."""
    texts = content.texts
    kb_options = as_json([{"value": "detail", "label": "Penjelasan lengkap"}, {"value": "sumber", "label": "Sumber"}])
    entries = load_knowledge(Path(content.directory) / "knowledge", content)
    said: list[Said] = []
    weights: list[float] = []
    kb_weight = 40.0 / max(1, len(entries))
    for entry in entries:
        if not entry.questions:
            continue
        said.append(Said(entry.questions, entry.intent, copy_text(entry.answer), kb_options, "answered",
                         as_json({"intent": entry.intent, "entry": entry.id, "how": "direct"}), (0.62, 0.99), 1))
        weights.append(kb_weight)
    replies = {"welcome": texts.get("welcome", "Halo"), "menu": texts.get("menu_intro", "Menu"),
               "thanks": texts.get("thanks", "Sama-sama"), "choose": texts.get("choose_number", "Pilih nomor")}
    for words, intent, reply, weight in SMALL_TALK:
        event = "option_chosen" if intent is None else "answered"
        data = {"how": "number"} if intent is None else {"intent": intent, "how": "topic"}
        said.append(Said(words, intent, copy_text(str(replies[reply])), "[]", event, as_json(data), (0.7, 0.99), 1))
        weights.append(float(weight))
    said.append(Said(REPORT_WORDS, "lapor_masalah", copy_text(str(texts.get("consent_why_default", "Boleh kami catat?"))),
                     as_json([{"value": "ya", "label": "Ya"}, {"value": "tidak", "label": "Tidak"}]), "flow_started",
                     as_json({"flow": "lapor_masalah", "prefilled": []}), (0.6, 0.97), 1))
    weights.append(3.0)
    said.append(Said(TRAINING_WORDS, "daftar_pelatihan", copy_text(str(texts.get("menu_option", "Pilih pelatihan"))), "[]",
                     "flow_started", as_json({"flow": "daftar_pelatihan", "prefilled": []}), (0.6, 0.97), 1))
    weights.append(3.0)
    unclear = Said(NOT_UNDERSTOOD, "di_luar_topik", copy_text(str(texts.get("clarify", "Maaf, maksudnya apa?"))), "[]",
                   "clarification", "{}", (0.2, 0.54), 1)
    said.append(unclear)
    weights.append(7.0)
    long_texts = []
    for entry in entries:
        if entry.detail:
            long_texts.append((copy_text(entry.detail), len(split_text(entry.detail, WHATSAPP_LIMIT))))
    return said, weights, unclear, long_texts


@dataclass
class Person:
    channel: str
    address: str
    village: Optional[str]
    name: Optional[str]
    created: float
    last_seen: float = 0.0
    consent: Optional[float] = None
    erased: bool = False


@dataclass
class Side:
    """A message not caused by an inbound one (cases, trainings), or a
    satgas alert: emitted in time order among the replies."""

    at: float
    person: Optional[int]  # contact id of the recipient, None for a satgas address
    channel: str
    address: str
    text: str  # copy_text form
    subject_case: Optional[int] = None
    subject_contact: Optional[int] = None
    subject_training: Optional[str] = None
    status: str = "sent"


class Year:
    """Generates every row and hands it to the loader, in id order."""

    def __init__(self, content: Content, counts: Counts, now: datetime, seed: int, loader: Loader,
                 villages: list[str], members: dict[str, list[tuple[int, str, str]]], catalog: list[Training]) -> None:
        self.content, self.counts, self.loader = content, counts, loader
        self.rng = random.Random(seed)
        self.moments = Moments(now, self.rng)
        self.villages, self.members, self.catalog = villages, members, catalog
        self.settings = case_domain.settings_for(Path(content.directory))
        self.people: list[Person] = []
        self.side: list[Side] = []
        self.outbound_id = 0
        self.telegram_message = 0
        self.telegram_update = 0

    # People -------------------------------------------------------------------------------------
    def make_people(self) -> None:
        rng = self.rng
        created = sorted(self.moments.many(self.counts.contacts))
        village_weights = list(VILLAGE_WEIGHTS[: len(self.villages)])
        village_weights += [0.1] * (len(self.villages) - len(village_weights))
        choices = self.villages + [None]
        weights = [w * 0.88 / sum(village_weights) for w in village_weights] + [0.12]
        chosen = rng.choices(choices, weights=weights, k=len(created))
        for number, (moment, village) in enumerate(zip(created, chosen), start=1):
            whatsapp = rng.random() < 0.9
            self.people.append(Person(
                channel="whatsapp" if whatsapp else "telegram",
                address=f"{FAKE_WHATSAPP}{number:07d}" if whatsapp else str(FAKE_TELEGRAM + number),
                village=village,
                name=rng.choice(FIRST_NAMES) if rng.random() < 0.85 else None,
                created=moment,
            ))

    def message_counts(self) -> list[int]:
        """Messages per person: heavy-tailed, at least one each, exactly the total."""
        rng, people, total = self.rng, len(self.people), self.counts.inbound
        weights = [min(rng.paretovariate(1.3), 400.0) for _ in range(people)]
        factor = (total - people) / sum(weights)
        counts = [1 + int(w * factor) for w in weights]
        missing = total - sum(counts)
        while missing > 0:
            index = rng.randrange(people)
            counts[index] += 1
            missing -= 1
        while missing < 0:
            index = rng.randrange(people)
            if counts[index] > 1:
                counts[index] -= 1
                missing += 1
        return counts

    def message_keys(self, counts: list[int]) -> list[int]:
        """Every inbound message as (milliseconds << 22 | contact index), sorted:
        the ids follow time. A person writes in conversations of a few messages
        a few seconds apart; the first conversation starts when they appear."""
        rng, keys = self.rng, []
        last_ms = int(self.moments.now_s * 1000) - 1
        for index, (person, count) in enumerate(zip(self.people, counts)):
            start = person.created
            left = count
            while left:
                size = min(left, rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 8)))
                moment = min(start, self.moments.now_s - 90 * size - 60)  # the conversation ends before now
                for _ in range(size):
                    keys.append((min(int(moment * 1000), last_ms) << 22) | index)
                    moment += rng.uniform(8, 90)
                left -= size
                start = self.moments.after(person.created)
        keys.sort()
        return keys

    # Cases --------------------------------------------------------------------------------------
    def make_cases(self, loader: Loader) -> set[int]:
        """Cases with their histories; the messages they send go to `side`.
        Returns the reporters' contact indexes."""
        rng, settings, moments = self.rng, self.settings, self.moments
        candidates = [i for i, p in enumerate(self.people) if p.village is not None and p.village in self.members]
        reporters = rng.sample(candidates, min(self.counts.cases, len(candidates)))
        stamped = []
        for index in reporters:
            person = self.people[index]
            at = person.created + 300 if rng.random() < 0.6 else moments.after(person.created)
            stamped.append((min(at, moments.now_s - 60), index))
        stamped.sort()
        codes = unique_codes(rng, "ADU-", case_domain.CODE_ALPHABET, len(stamped))
        categories = [c for c in CATEGORY_WEIGHTS if c in settings.categories] or list(settings.categories)
        relations = [r for r in RELATION_WEIGHTS if r in settings.relations] or list(settings.relations)
        countries = self.countries()
        event_id = 0
        case_columns = ("id", "code", "village_code", "reporter_id", "reporter_relation", "worker_name", "country",
                        "employer", "category", "description", "contact_phone", "urgent", "status", "assigned_to",
                        "outcome", "referred_to", "public_update", "created_at", "updated_at", "claimed_at", "closed_at",
                        "escalate_at", "escalated_at", "remind_at", "anonymised_at")
        event_columns = ("id", "case_id", "actor", "kind", "note", "public", "created_at")
        now = moments.now_s
        reminder = settings.reminder_hours * 3600.0
        escalation = settings.escalation_minutes * 60.0
        for case_id, ((t0, index), code) in enumerate(zip(stamped, codes), start=1):
            person = self.people[index]
            contact_id = index + 1
            person.consent = t0 if person.consent is None else min(person.consent, t0)
            category = rng.choices(categories, weights=[CATEGORY_WEIGHTS.get(c, 1) for c in categories])[0]
            urgent = category in settings.urgent_categories or rng.random() < 0.04
            member_id, member_channel, member_address = rng.choice(self.members[person.village or ""])
            claim_after = rng.lognormvariate(math.log(0.6 if urgent else 5.0), 1.0) * 3600
            if rng.random() < 0.03:
                claim_after = 10 * DAYS * 86400.0  # nobody took it: still new, reminded every day
            close_after = rng.lognormvariate(math.log(9.0), 0.9) * 86400 if rng.random() > 0.04 else 10 * DAYS * 86400.0
            claimed = t0 + claim_after
            closed = claimed + close_after
            events: list[tuple[float, str, str, Optional[str], bool]] = [(t0, "pelapor", "dibuat", None, False)]
            outbound: list[Side] = []
            for satgas_id, channel, address in self.members[person.village or ""]:
                outbound.append(Side(t0 + 1, None, channel, address,
                                     copy_text(f"Laporan baru {code}: {settings.categories.get(category, category)}."),
                                     subject_case=case_id, subject_contact=contact_id, status="pending" if channel == "console" else "sent"))
            escalate_at = escalated_at = remind_at = None
            status, outcome, referred, public_update, claimed_at, closed_at = case_domain.NEW, None, None, None, None, None
            actor = f"satgas:{member_id}"
            if urgent and t0 + escalation < min(claimed, now):
                escalated_at = escalate_at = t0 + escalation
                events.append((escalated_at, "sistem", "dieskalasi", None, False))
            reminders = int((min(claimed, now) - t0) // reminder)
            for k in range(1, min(reminders, 60) + 1):
                events.append((t0 + k * reminder, "sistem", "pengingat", None, False))
            if claimed >= now:
                remind_at = t0 + (reminders + 1) * reminder
                if urgent and escalated_at is None:
                    escalate_at = t0 + escalation
            else:
                status, claimed_at = case_domain.CLAIMED, claimed
                events.append((claimed, actor, "diambil", None, False))
                moment = claimed
                for _ in range(rng.choice((0, 1, 1, 2, 3))):
                    moment += rng.uniform(0.2, 3.0) * 86400
                    if moment >= min(closed, now):
                        break
                    status = case_domain.IN_PROGRESS
                    note = "Kami sudah menghubungi agen dan menunggu jawaban. Kabari kami kalau ada perkembangan."
                    public_update = note
                    events.append((moment, actor, "pesan_ke_pelapor", note, True))
                    outbound.append(Side(moment + 1, contact_id, person.channel, person.address, copy_text(note), subject_case=case_id))
                    answered = moment + rng.uniform(600, 86400)
                    if rng.random() < 0.6 and answered < min(closed, now):
                        events.append((answered, "pelapor", "balasan_pelapor",
                                       "Baik, terima kasih. Belum ada kabar dari sana.", False))
                if closed < now:
                    referred_choice = rng.random() < 0.22
                    status = case_domain.REFERRED if referred_choice else case_domain.RESOLVED
                    referred = rng.choice(list(settings.referrals)) if referred_choice else None
                    outcome = ("Dirujuk ke instansi yang berwenang." if referred_choice
                               else "Masalah sudah selesai, keluarga sudah mendapat kabar.")
                    public_update, closed_at = outcome, closed
                    events.append((closed, actor, status, outcome, True))
                    outbound.append(Side(closed + 1, contact_id, person.channel, person.address, copy_text(outcome), subject_case=case_id))
            if status != case_domain.NEW:
                escalate_at = remind_at = None  # a claim clears the timers (bot.domain.cases.claim)
            events.sort(key=lambda e: e[0])
            events = [e for e in events if e[0] < now]
            updated = events[-1][0]
            phone = person.address if person.channel == "whatsapp" else f"{FAKE_WHATSAPP}{contact_id:07d}"
            loader.add("cases", case_columns, (
                str(case_id), code, person.village or "", str(contact_id),
                rng.choices(relations, weights=[RELATION_WEIGHTS.get(r, 1) for r in relations])[0],
                rng.choice(FIRST_NAMES), rng.choices(countries[0], weights=countries[1])[0],
                r"\N" if rng.random() < 0.3 else "tidak tahu", category, copy_text(DESCRIPTIONS.get(category, "Minta bantuan.")),
                phone, copy_text(urgent), status, str(member_id) if claimed_at is not None else r"\N",
                copy_text(outcome), copy_text(referred), copy_text(public_update), moments.stamp(t0), moments.stamp(updated),
                stamp_or_null(moments, claimed_at), stamp_or_null(moments, closed_at), stamp_or_null(moments, escalate_at),
                stamp_or_null(moments, escalated_at), stamp_or_null(moments, remind_at), r"\N",
            ))
            for at, who, kind, note, public in events:
                event_id += 1
                loader.add("case_events", event_columns, (
                    str(event_id), str(case_id), who, kind, copy_text(note), copy_text(public), moments.stamp(at)))
            self.side.extend(s for s in outbound if s.at < now)
        return set(reporters)

    def countries(self) -> tuple[list[str], list[int]]:
        raw = yaml.safe_load((Path(self.content.directory) / "countries.yml").read_text(encoding="utf-8"))
        known = list((raw or {}).get("countries", {}))
        names = [c for c in COUNTRY_WEIGHTS if c in known] or known[:5]
        others = [c for c in known if c not in names][:10]
        return names + others, [COUNTRY_WEIGHTS.get(c, 1) for c in names] + [1] * len(others)

    # Trainings ----------------------------------------------------------------------------------
    def make_trainings(self, loader: Loader) -> set[int]:
        """Past trainings (inactive, as removed from the file) and the catalogue's
        upcoming ones, with registrations; reminders go to `side`."""
        rng, moments, now = self.rng, self.moments, self.moments.now_s
        template = self.catalog[0]
        topics = sorted({t.topic for t in self.catalog})
        total = self.counts.registrations
        past_count = max(1, round(total * 0.8 / 40))
        trainings: list[tuple[str, float, float, int, bool]] = []  # id, start, end, capacity, past
        columns = ("id", "topic", "title", "description", "villages", "location", "start_at", "end_at", "capacity",
                   "audiences", "organiser_name", "organiser_channel", "organiser_address", "example", "active")
        used = {t.id for t in self.catalog}
        for number in range(past_count):
            start = (number + 0.5) * (now - 20 * 86400) / past_count + rng.uniform(-3, 3) * 86400
            start = max(86400.0, start - (start % 3600) + 2 * 3600)
            topic = rng.choice(topics)
            village = rng.choice(self.villages)
            ident = f"{topic.replace('_', '-')}-{(moments.start + timedelta(seconds=start)):%Y-%m-%d}-{village}"
            while ident in used:
                ident += "-b"
            used.add(ident)
            capacity = rng.choice((25, 30, 30, 40, 50))
            trainings.append((ident, start, start + 6 * 3600, capacity, True))
            loader.add("trainings", columns, (
                ident, topic, copy_text(f"Pelatihan {topic.replace('_', ' ')}"), "", "[]",
                copy_text(f"Balai desa {village}"), moments.stamp(start), moments.stamp(start + 6 * 3600), str(capacity),
                as_json(["purna_pmi", "keluarga_pmi", "calon_pmi"]), copy_text(template.organiser_name),
                template.organiser_channel, copy_text(template.organiser_address), "f", "f"))
        for training in self.catalog:
            start = (training.start_at - moments.start).total_seconds()
            end = (training.end_at - moments.start).total_seconds()
            if start > now:
                trainings.append((training.id, start, end, training.capacity, False))
        upcoming = [t for t in trainings if not t[4]]
        past = [t for t in trainings if t[4]]
        shares = [(t, 0.8 / len(past) if past else 0.0) for t in past] + [(t, 0.2 / len(upcoming)) for t in upcoming]
        if not upcoming:
            shares = [(t, 1.0 / len(past)) for t in past]
        per_training = allocate(total, [share for _t, share in shares])
        codes = unique_codes(rng, training_domain.CODE_PREFIX, training_domain.CODE_ALPHABET, total)
        created_sorted = [p.created for p in self.people]
        registrants: set[int] = set()
        registration_columns = ("id", "code", "training_id", "contact_id", "village_code", "participant_name", "phone",
                                "relation", "status", "created_at", "confirmed_at", "cancelled_at", "cancel_reason",
                                "remind_at", "reminded_at", "attended", "attendance_by")
        rows: list[tuple[float, tuple[str, ...]]] = []
        code_iter = iter(codes)
        reminder_before = 24 * 3600.0
        for ((ident, start, _end, capacity, was), _share), count in zip(shares, per_training):
            opened = max(0.0, min(start - 40 * 86400, now - 30 * 86400))
            latest = min(start - 3600, now - 60)
            if count == 0 or latest <= opened:
                continue
            moments_in = sorted(rng.uniform(opened, latest) for _ in range(count))
            phones: set[str] = set()
            confirmed = 0
            for at in moments_in:
                known = bisect.bisect_right(created_sorted, at)
                if known == 0:
                    continue
                for _try in range(20):
                    index = rng.randrange(known)
                    person = self.people[index]
                    phone = person.address if person.channel == "whatsapp" else f"{FAKE_WHATSAPP}{index + 1:07d}"
                    if not person.erased and phone not in phones:
                        break
                else:
                    continue
                phones.add(phone)
                registrants.add(index)
                person.consent = at if person.consent is None else min(person.consent, at)
                cancelled = rng.random() < 0.08
                status = training_domain.CANCELLED if cancelled else (
                    training_domain.CONFIRMED if confirmed < capacity else training_domain.WAITLISTED)
                if status == training_domain.CONFIRMED:
                    confirmed += 1
                remind_at = start - reminder_before if status == training_domain.CONFIRMED else None
                reminded_at = remind_at if remind_at is not None and remind_at < now else None
                attended = (rng.random() < 0.85) if was and status == training_domain.CONFIRMED else None
                cancelled_at = at + rng.uniform(3600, 5 * 86400) if cancelled else None
                if cancelled_at is not None and cancelled_at >= now:
                    cancelled_at = now - 60
                rows.append((at, (
                    "", next(code_iter), ident, str(index + 1), person.village or r"\N", rng.choice(FIRST_NAMES),
                    phone, rng.choice(("purna_pmi", "keluarga_pmi", "calon_pmi")), status, moments.stamp(at),
                    moments.stamp(at) if status == training_domain.CONFIRMED else r"\N",
                    stamp_or_null(moments, cancelled_at), "peserta" if cancelled else r"\N",
                    stamp_or_null(moments, remind_at), stamp_or_null(moments, reminded_at),
                    copy_text(attended), "web:penyelenggara" if attended is not None else r"\N",
                )))
                if reminded_at is not None:
                    self.side.append(Side(reminded_at + 5, index + 1, person.channel, person.address,
                                          copy_text(f"Pengingat: besok pelatihan {ident}. Sampai jumpa!"), subject_training=ident))
        rows.sort(key=lambda r: r[0])
        for number, (_at, values) in enumerate(rows, start=1):
            loader.add("training_registrations", registration_columns, (str(number),) + values[1:])
        subscription_columns = ("id", "contact_id", "topic", "subscribed", "source", "updated_at")
        for number, index in enumerate(sorted(registrants), start=1):
            loader.add("subscriptions", subscription_columns, (
                str(number), str(index + 1), "info_pelatihan", "t", "pendaftaran_pelatihan",
                moments.stamp(self.people[index].consent or self.people[index].created)))
        self.registrations = len(rows)
        return registrants

    # Messages -----------------------------------------------------------------------------------
    def make_messages(self, keys: list[int], said: list[Said], weights: list[float], unclear: Said,
                      long_texts: list[tuple[str, int]]) -> None:
        rng, moments, loader = self.rng, self.moments, self.loader
        stamp = moments.stamp
        self.side.sort(key=lambda s: s.at)
        side, next_side = self.side, 0
        replies_total = self.counts.outbound - len(side)
        doubles = max(0, replies_total - len(keys))
        cumulative = []
        running = 0.0
        for weight in weights:
            running += weight
            cumulative.append(running)
        picks = rng.choices(said, cum_weights=cumulative, k=len(keys))
        inbound_columns = ("id", "channel", "external_id", "contact_id", "text", "payload", "attachments", "intent",
                           "confidence", "received_at", "processed_at", "error", "subject_case_id")
        event_columns = ("id", "contact_id", "kind", "actor", "data", "created_at")
        event_id = 0
        status_names = [s for s, _w in PROVIDER_STATUSES]
        status_cum = []
        running = 0.0
        for _s, weight in PROVIDER_STATUSES:
            running += weight
            status_cum.append(running)
        mask22 = (1 << 22) - 1
        for number, (key, kind) in enumerate(zip(keys, picks), start=1):
            index = key & mask22
            at = (key >> 22) / 1000.0
            while next_side < len(side) and side[next_side].at <= at:
                self.write_side(side[next_side], status_names, status_cum)
                next_side += 1
            person = self.people[index]
            contact_id = index + 1
            person.last_seen = max(person.last_seen, at)
            text = rng.choice(kind.texts)
            confidence = round(rng.uniform(*kind.confidence), 3) if kind.intent is not None else None
            if person.channel == "whatsapp":
                external = "SM%032x" % rng.getrandbits(128)
            else:
                self.telegram_update += 1
                external = f"tg-{700_000_000 + self.telegram_update}"
            loader.add("inbound_messages", inbound_columns, (
                str(number), person.channel, external, str(contact_id), "" if person.erased else copy_text(text),
                r"\N", "[]", kind.intent or r"\N", r"\N" if confidence is None else repr(confidence),
                stamp(at), stamp(at + rng.uniform(0.05, 0.6)), r"\N", r"\N",
            ))
            if kind.event is not None:
                event_id += 1
                data = kind.event_data
                if kind is unclear:  # what the bot records (flows/dialogue.py): the console finds the message by it
                    data = f'{{"intent": "{kind.intent}", "confidence": {confidence!r}, "inbound": {number}}}'
                loader.add("events", event_columns, (str(event_id), str(contact_id), kind.event, r"\N", data, stamp(at)))
            replies = 2 if doubles and (number * doubles) // len(keys) != ((number - 1) * doubles) // len(keys) else 1
            for reply in range(replies):
                reply_text, options, parts = kind.reply, kind.options, kind.parts
                if reply == 1 or (kind.event == "answered" and long_texts and rng.random() < 0.04):
                    reply_text, parts = rng.choice(long_texts) if long_texts else (kind.reply, 1)
                    options = "[]"
                self.write_reply(person, contact_id, number, at + 0.3 + reply * 0.2, reply_text, options, parts,
                                 status_names, status_cum)
        while next_side < len(side):
            self.write_side(side[next_side], status_names, status_cum)
            next_side += 1

    OUTBOUND_COLUMNS = (
        "id", "channel", "address", "contact_id", "inbound_id", "text", "options", "status", "attempts", "next_attempt_at",
        "last_error", "provider_message_id", "created_at", "sent_at", "subject_contact_id", "subject_case_id",
        "subject_training_id", "template", "variables", "topic", "broadcast_id", "provider_status", "provider_error", "secret",
    )

    def provider(self, channel: str, parts: int, status_names: list[str], status_cum: list[float]) -> tuple[list[str], str, str]:
        """Provider ids of one sent message and the status its callbacks left."""
        rng = self.rng
        if channel == "whatsapp":
            ids = ["SM%032x" % rng.getrandbits(128) for _ in range(parts)]
            status = rng.choices(status_names, cum_weights=status_cum)[0]
            return ids, status, PROVIDER_ERRORS.get(status, r"\N")
        ids = []
        for _ in range(parts):
            self.telegram_message += 1
            ids.append(str(self.telegram_message % 400_000 + 1))  # Telegram counts per chat: ids repeat
        return ids, r"\N", r"\N"

    def write_reply(self, person: Person, contact_id: int, inbound_id: int, at: float, text: str, options: str, parts: int,
                    status_names: list[str], status_cum: list[float]) -> None:
        self.outbound_id += 1
        stamp = self.moments.stamp
        ids, status, error = self.provider(person.channel, parts, status_names, status_cum)
        sent = at + self.rng.uniform(0.2, 2.5)
        self.loader.add("outbound_messages", self.OUTBOUND_COLUMNS, (
            str(self.outbound_id), person.channel, ERASED_ADDRESS if person.erased else person.address, str(contact_id),
            str(inbound_id), copy_text(ERASED_TEXT) if person.erased else text, "[]" if person.erased else options,
            "sent", "1", stamp(at + 120), r"\N", ",".join(ids), stamp(at), stamp(sent), r"\N", r"\N", r"\N", r"\N",
            r"\N", r"\N", r"\N", status, error, "f",
        ))
        for provider_id in dict.fromkeys(ids):
            self.loader.add("outbound_provider_ids", ("provider_id", "outbound_id"), (provider_id, str(self.outbound_id)))

    def write_side(self, message: Side, status_names: list[str], status_cum: list[float]) -> None:
        self.outbound_id += 1
        stamp = self.moments.stamp
        sent = message.status == "sent"
        ids: list[str] = []
        status = error = r"\N"
        if sent and message.channel in ("whatsapp", "telegram"):
            ids, status, error = self.provider(message.channel, 1, status_names, status_cum)
        self.loader.add("outbound_messages", self.OUTBOUND_COLUMNS, (
            str(self.outbound_id), message.channel, message.address, copy_text(message.person), r"\N", message.text, "[]",
            message.status, "1" if sent else "0", stamp(message.at + 120 if sent else message.at), r"\N",
            ",".join(ids) if ids else r"\N", stamp(message.at), stamp(message.at + 1.5) if sent else r"\N",
            copy_text(message.subject_contact), copy_text(message.subject_case), copy_text(message.subject_training),
            r"\N", r"\N", r"\N", r"\N", status, error, "f",
        ))
        for provider_id in ids:
            self.loader.add("outbound_provider_ids", ("provider_id", "outbound_id"), (provider_id, str(self.outbound_id)))

    def write_people(self) -> None:
        stamp = self.moments.stamp
        contact_columns = ("id", "channel", "address", "display_name", "village_code", "consent_at", "created_at",
                           "last_seen_at", "deleted_at", "recent_inbound")
        conversation_columns = ("contact_id", "flow", "step", "slots", "options", "context", "updated_at")
        for number, person in enumerate(self.people, start=1):
            last = max(person.last_seen, person.created)
            self.loader.add("contacts", contact_columns, (
                str(number), person.channel, f"dihapus-{number}" if person.erased else person.address,
                r"\N" if person.erased or person.name is None else person.name, person.village or r"\N",
                stamp_or_null(self.moments, None if person.erased else person.consent), stamp(person.created), stamp(last),
                stamp(last + 30) if person.erased else r"\N", r"\N",
            ))
            self.loader.add("conversations", conversation_columns, (str(number), r"\N", r"\N", "{}", "[]", "{}", stamp(last)))

    def choose_erased(self, keep: set[int]) -> None:
        """About 0.2% asked for their data to be deleted (never reporters or
        registrants here: their cases and registrations would need the
        erasers' changes too)."""
        for index, person in enumerate(self.people):
            if index not in keep and self.rng.random() < 0.002:
                person.erased = True


def stamp_or_null(moments: Moments, seconds: Optional[float]) -> str:
    return r"\N" if seconds is None else moments.stamp(seconds)


def unique_codes(rng: random.Random, prefix: str, alphabet: str, count: int) -> list[str]:
    """`count` distinct codes of the bot's form (prefix + four letters)."""
    if count > len(alphabet) ** 4:
        raise SystemExit(f"more than {len(alphabet) ** 4} codes {prefix}XXXX cannot be distinct")
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen["".join([prefix, *rng.choices(alphabet, k=4)])] = None
    return list(seen)


def allocate(total: int, shares: list[float]) -> list[int]:
    """`total` split by `shares` (largest remainder): the parts sum to `total`."""
    whole = sum(shares) or 1.0
    raw = [total * share / whole for share in shares]
    parts = [int(value) for value in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


# --- the run ------------------------------------------------------------------------------------
def reference(url: str, content_dir: Path) -> tuple[list[str], dict[str, list[tuple[int, str, str]]], list[Training]]:
    """The schema (the bot's migrations) and the reference rows (the bot's
    start-up sync), then the villages, satgas and catalogue as stored."""
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        with sessions() as session, session.begin():
            sync_reference_data(session, content_dir)
        with sessions() as session:
            villages = [v.code for v in session.execute(select(Village).where(Village.active.is_(True)).order_by(Village.code)).scalars()]
            order = [v["code"] for v in (yaml.safe_load((content_dir / "villages.yml").read_text(encoding="utf-8")) or {}).get("villages", [])]
            villages.sort(key=lambda code: order.index(code) if code in order else len(order))
            members: dict[str, list[tuple[int, str, str]]] = {}
            for member in session.execute(select(SatgasMember).where(SatgasMember.active.is_(True)).order_by(SatgasMember.id)).scalars():
                members.setdefault(member.village_code, []).append((member.id, member.channel, member.address))
            catalog = list(session.execute(select(Training).order_by(Training.start_at)).scalars())
    finally:
        engine.dispose()
    if not catalog:
        raise SystemExit("content/trainings.yml has no training: the seed needs one as the organiser's example")
    return villages, members, catalog


def seed(url: str, scale: float, seed_value: int, content_dir: Path = PROJECT_ROOT / "content", quiet: bool = False,
         counts: Optional[Counts] = None) -> dict[str, Any]:
    """Create, migrate and fill the database; returns what was written and how
    long it took. `counts` instead of the scale's: a test that needs one table
    at its year's size and the others small (query plans)."""
    say = (lambda *_a: None) if quiet else (lambda text: print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True))
    counts = counts or Counts.at(scale)
    started = time.perf_counter()
    url = driver_url(url)
    create_database(url, scale)
    villages, members, catalog = reference(url, content_dir)
    content = load_content(content_dir)
    dsn = libpq_dsn(url)
    ddl = psycopg2.connect(dsn)
    with ddl.cursor() as cursor:
        before = Schema.read(cursor)
        before.drop(cursor)
    ddl.commit()
    say(f"scale {scale}: {counts.contacts:,} contacts, {counts.inbound:,} inbound, {counts.outbound:,} outbound, "
        f"{counts.cases:,} cases, {counts.registrations:,} registrations; keys and indexes set aside")

    loader = Loader(dsn)
    year = Year(content, counts, SystemClock().now(), seed_value, loader, villages, members, catalog)
    try:
        year.make_people()
        counts_per_person = year.message_counts()
        keys = year.message_keys(counts_per_person)
        reporters = year.make_cases(loader)
        registrants = year.make_trainings(loader)
        year.choose_erased(reporters | registrants)
        said, weights, unclear, long_texts = pools(content)
        say(f"people, cases and trainings generated; writing messages")
        year.make_messages(keys, said, weights, unclear, long_texts)
        del keys
        year.write_people()
    finally:
        loader.finish()
    loaded = time.perf_counter()
    say(f"rows loaded in {loaded - started:.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in sorted(loader.rows.items())))

    with ddl.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        before.restore(cursor)
        for table in LOADED:
            cursor.execute(
                "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attname = 'id'", (table,))
            if cursor.fetchone() and table != "trainings":
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}")
        after = Schema.read(cursor)
    ddl.commit()
    if (after.keys, after.indexes, after.foreign) != (before.keys, before.indexes, before.foreign):
        raise SystemExit("the schema after the load differs from the migrations' (keys, indexes or foreign keys)")
    indexed = time.perf_counter()
    say(f"keys, indexes and foreign keys back (every row checked) in {indexed - loaded:.0f} s")
    ddl.autocommit = True
    with ddl.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
        cursor.execute("SELECT (SELECT count(*) FROM inbound_messages), (SELECT count(*) FROM outbound_messages)")
        inbound, outbound = cursor.fetchone()
    ddl.close()
    with closing(admin_connection(url)) as connection, connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON DATABASE \"{database_name(url)}\" IS %s", (f"{MARK} scale {scale} seed {seed_value}",))
    finished = time.perf_counter()
    messages = inbound + outbound
    report = {
        "scale": scale, "rows": dict(sorted(loader.rows.items())), "seconds": round(finished - started, 1),
        "seconds_loading": round(loaded - started, 1), "seconds_indexing": round(indexed - loaded, 1),
        "seconds_vacuum": round(finished - indexed, 1), "database_bytes": size,
        "bytes_per_million_messages": round(size / (messages / 1e6)) if messages else None,
    }
    say(f"done in {report['seconds']:.0f} s (load {report['seconds_loading']:.0f}, keys and indexes "
        f"{report['seconds_indexing']:.0f}, VACUUM ANALYZE {report['seconds_vacuum']:.0f}); database {size / 2**20:,.0f} MB, "
        f"{size / 2**20 / (messages / 1e6):,.0f} MB per million messages ({messages:,} messages)")
    return report


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL of the database to create (or to drop with --teardown)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = a year of a district (200,000 contacts, 7 million messages)")
    parser.add_argument("--seed", type=int, default=29, help="random seed (the same seed writes the same rows, times aside)")
    parser.add_argument("--teardown", action="store_true", help="drop the database (only one this tool made)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.teardown:
        teardown(args.database_url)
        return
    if not 0 < args.scale <= 20:
        parser.error("--scale must be above 0 and at most 20")
    report = seed(args.database_url, args.scale, args.seed)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The training catalogue: content/trainings.yml, checked, and copied to the database.

Organisers edit the YAML file by hand, so every mistake is reported at start-up
with the file, the entry and the field (the bot refuses to start) instead of a
person seeing a broken date mid-conversation. The database copy exists because
registrations must reference a training and lock its row while counting seats;
adding or changing a training therefore takes effect at the next start, when
`sync_catalog` runs, with no code change.

Times in the file are local (WIB by default) because that is what organisers
write; they are stored as naive UTC like every other time in the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot.content import ContentError, load_yaml
from bot.storage.training_models import CONFIRMED, Training, TrainingRegistration
from bot.domain.villages import load_villages

CATALOG_FILE = "trainings.yml"
FORM_FILE = Path("flows") / "daftar_pelatihan.yml"
ALL_VILLAGES = "semua"
AUDIENCES = ("purna_pmi", "keluarga_pmi", "calon_pmi")
ORGANISER_CHANNELS = ("telegram", "whatsapp", "console")
DATETIME_FORMAT = "%Y-%m-%d %H:%M"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,59}$")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
TRAINING_FIELDS = ("id", "topic", "title", "village", "location", "start", "end", "capacity", "audiences", "organiser")

# Every text the code uses; a missing one is a start-up error, not a crash in a chat.
REQUIRED_TEXTS = (
    "list_intro_village", "list_intro_topic", "list_intro_all", "list_intro_all_topic", "list_item",
    "list_item_villages", "list_example_note", "list_outro", "list_option", "topic_not_available",
    "none_upcoming", "none_upcoming_anywhere", "all_villages", "menu_option", "seats_left", "seats_full",
    "option_label", "option_label_other_village", "seats_short", "seats_short_full", "when_same_day",
    "when_multi_day", "reminder_lead", "registered", "registered_waitlist", "already_registered",
    "already_registered_elsewhere",
    "status_confirmed", "status_waitlisted", "not_eligible", "not_open_to_village", "training_closed",
    "training_unknown", "cancel_none", "cancel_code_unknown", "cancel_selected", "cancel_option", "cancelled",
    "cancel_kept", "cancel_already", "promoted", "reminder", "report_header", "report_village_only", "report_confirmed",
    "report_waitlist", "report_line", "report_empty", "report_unknown", "cli_list_line", "cli_list_inactive",
    "cli_list_empty", "cli_exported",
)
LIST_TEXTS = {"month_names": 12, "weekday_names": 7}
# Every feature's texts share one namespace in bot.content.Content, so the keys
# in the file carry this prefix; code names them without it.
TEXT_PREFIX = "pelatihan_"


@dataclass(frozen=True)
class CatalogSettings:
    reminder_before: timedelta
    utc_offset: timedelta
    timezone_label: str


@dataclass(frozen=True)
class Topic:
    key: str  # the NLU `pelatihan` entity value
    label: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Organiser:
    name: str
    channel: str
    address: str


@dataclass(frozen=True)
class TrainingConfig:
    id: str
    topic: str
    title: str
    description: str
    villages: tuple[str, ...]  # empty = every village
    location: str
    start_at: datetime  # naive UTC
    end_at: datetime  # naive UTC
    capacity: int
    audiences: tuple[str, ...]
    organiser: Organiser
    example: bool


@dataclass(frozen=True)
class Catalog:
    path: Path
    settings: CatalogSettings
    topics: Mapping[str, Topic]
    audiences: Mapping[str, str]  # key -> label people read
    trainings: tuple[TrainingConfig, ...]
    texts: Mapping[str, Any]
    village_names: Mapping[str, str]

    # --- texts -------------------------------------------------------------
    def text(self, key: str, **values: Any) -> str:
        """The text `pelatihan_<key>` with its {placeholders} filled; unknown ones stay visible."""
        template = self.texts[TEXT_PREFIX + key]
        return re.sub(
            r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), str(template)
        ).strip()

    def audience_names(self, keys: Iterable[str]) -> str:
        return ", ".join(self.audiences.get(key, key) for key in keys)

    def village_list(self, codes: Iterable[str]) -> str:
        names = [self.village_names.get(code, code) for code in codes]
        return ", ".join(names) if names else self.text("all_villages")

    def topic_label(self, key: str) -> str:
        topic = self.topics.get(key)
        return topic.label if topic else key

    def reminder_lead(self) -> str:
        hours = self.settings.reminder_before.total_seconds() / 3600
        return self.text("reminder_lead", hours=f"{hours:g}")

    # --- dates ---------------------------------------------------------------
    def local(self, moment: datetime) -> datetime:
        return clock.local(moment, self.settings.utc_offset)

    def date(self, moment: datetime, with_year: bool = True) -> str:
        """'8 Desember 2026' in the catalogue's time zone, month names from the file."""
        local = self.local(moment)
        month = self.texts[TEXT_PREFIX + "month_names"][local.month - 1]
        return f"{local.day} {month} {local.year}" if with_year else f"{local.day} {month}"

    def weekday(self, moment: datetime) -> str:
        return str(self.texts[TEXT_PREFIX + "weekday_names"][self.local(moment).weekday()])

    def when(self, start_at: datetime, end_at: datetime) -> str:
        """When a training runs, the way people say it: "Selasa–Kamis, 8–10 Desember
        2026, pukul 08.00–15.00 WIB" (one day: "Selasa, 15 Desember 2026, ...")."""
        start, end = self.local(start_at), self.local(end_at)
        same_day = start.date() == end.date()
        return self.text(
            "when_same_day" if same_day else "when_multi_day",
            day=self.weekday(start_at),
            end_day=self.weekday(end_at),
            dates=self.date(start_at) if same_day else self._date_range(start_at, end_at),
            start=start.strftime("%H.%M"),
            end=end.strftime("%H.%M"),
            tz=self.settings.timezone_label,
        )

    def _date_range(self, start_at: datetime, end_at: datetime) -> str:
        start, end = self.local(start_at), self.local(end_at)
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.day}–{self.date(end_at)}"
        if start.year == end.year:
            return f"{self.date(start_at, with_year=False)} – {self.date(end_at)}"
        return f"{self.date(start_at)} – {self.date(end_at)}"

    def organiser_contact(self, name: str, channel: str, address: str) -> str:
        """Name, plus the address when people can use it (a console id is not)."""
        if channel == "console":
            return name
        return f"{name} ({'WhatsApp' if channel == 'whatsapp' else 'Telegram'} {address})"


# ---------------------------------------------------------------------------
# Loading and checking
_loaded: dict[Path, Catalog] = {}


def load_catalog(content_dir: Path) -> Catalog:
    """Read and check the catalogue; the result also becomes the one `catalog_for` returns.

    Called at every start (bot.app.build_bot), so a changed file is picked up
    then and flows never mix an old text with a new schedule.
    """
    path = content_dir / CATALOG_FILE
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ContentError(f"{path}: isi file harus berupa kumpulan kolom (settings, topics, trainings, texts)")
    village_names = {v.code: v.name for v in load_villages(content_dir)}
    settings = _settings(raw.get("settings"), f"{path} -> settings")
    topics = _topics(raw.get("topics"), f"{path} -> topics")
    audiences = _audiences(raw.get("audiences"), f"{path} -> audiences")
    texts = _texts(raw.get("texts"), f"{path} -> texts")
    entries = raw.get("trainings")
    if not isinstance(entries, list):
        raise ContentError(f"{path}: daftar 'trainings' wajib ada (boleh kosong: trainings: [])")
    trainings: list[TrainingConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        training = _training(entry, f"{path} -> trainings[{index}]", settings, topics, village_names)
        if training.id in seen:
            raise ContentError(f"{path} -> trainings[{index}] ({training.id}) -> id: kode '{training.id}' dobel")
        seen.add(training.id)
        trainings.append(training)
    _check_form(content_dir)
    catalog = Catalog(
        path=path,
        settings=settings,
        topics=topics,
        audiences=audiences,
        trainings=tuple(trainings),
        texts=texts,
        village_names=village_names,
    )
    _loaded[content_dir.resolve()] = catalog
    return catalog


def catalog_for(content_dir: Path) -> Catalog:
    """The catalogue loaded at start-up for this content folder (loaded now if not yet)."""
    return _loaded.get(content_dir.resolve()) or load_catalog(content_dir)


def _settings(raw: Any, where: str) -> CatalogSettings:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: wajib ada (reminder_hours_before, utc_offset_hours, timezone_label)")
    hours = _number(raw, "reminder_hours_before", where, minimum=0)
    offset = _number(raw, "utc_offset_hours", where, minimum=-12)
    label = raw.get("timezone_label")
    if not label:
        raise ContentError(f"{where} -> timezone_label: wajib diisi (contoh: WIB)")
    return CatalogSettings(timedelta(hours=hours), timedelta(hours=offset), str(label))


def _number(raw: Mapping[str, Any], key: str, where: str, minimum: float) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ContentError(f"{where} -> {key}: harus angka (paling kecil {minimum:g}), tertulis {value!r}")
    return float(value)


def _topics(raw: Any, where: str) -> dict[str, Topic]:
    if not isinstance(raw, dict) or not raw:
        raise ContentError(f"{where}: wajib ada, minimal satu jenis pelatihan")
    topics = {}
    for key, item in raw.items():
        here = f"{where} -> {key}"
        if not KEY_PATTERN.match(str(key)):
            raise ContentError(f"{here}: kunci harus huruf kecil dan garis bawah (contoh: konten_digital)")
        if not isinstance(item, dict) or not item.get("label"):
            raise ContentError(f"{here} -> label: wajib diisi")
        words = item.get("words") or []
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ContentError(f"{here} -> words: harus daftar kata, contoh: [batik, membatik]")
        topics[str(key)] = Topic(str(key), str(item["label"]), tuple(w.strip() for w in words))
    return topics


def _audiences(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: wajib ada dengan kunci {', '.join(AUDIENCES)}")
    for key in AUDIENCES:
        if not raw.get(key):
            raise ContentError(f"{where} -> {key}: label wajib diisi")
    unknown = sorted(set(raw) - set(AUDIENCES))
    if unknown:
        raise ContentError(f"{where}: kunci {unknown} tidak dikenal (yang boleh: {', '.join(AUDIENCES)})")
    return {key: str(raw[key]) for key in AUDIENCES}


def _texts(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: wajib ada")
    for short in REQUIRED_TEXTS:
        key = TEXT_PREFIX + short
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ContentError(f"{where} -> {key}: teks wajib diisi")
    for short, length in LIST_TEXTS.items():
        key = TEXT_PREFIX + short
        value = raw.get(key)
        if not isinstance(value, list) or len(value) != length or not all(value):
            raise ContentError(f"{where} -> {key}: harus daftar berisi {length} nama")
    return dict(raw)


def _training(
    raw: Any,
    where: str,
    settings: CatalogSettings,
    topics: Mapping[str, Topic],
    village_names: Mapping[str, str],
) -> TrainingConfig:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: entri harus berisi kolom {', '.join(TRAINING_FIELDS)}")
    identifier = str(raw.get("id") or "")
    here = f"{where} ({identifier})" if identifier else where
    for key in TRAINING_FIELDS:
        if raw.get(key) in (None, "", []):
            raise ContentError(f"{here} -> {key}: wajib diisi")
    if not ID_PATTERN.match(identifier):
        raise ContentError(f"{here} -> id: hanya huruf kecil, angka dan tanda -, 3 sampai 60 huruf")
    topic = str(raw["topic"])
    if topic not in topics:
        raise ContentError(f"{here} -> topic: '{topic}' tidak ada di 'topics' (pilih: {', '.join(topics)})")
    start_at = _moment(raw["start"], f"{here} -> start", settings)
    end_at = _moment(raw["end"], f"{here} -> end", settings)
    if end_at <= start_at:
        raise ContentError(f"{here} -> end: harus sesudah 'start'")
    capacity = raw["capacity"]
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ContentError(f"{here} -> capacity: harus bilangan bulat lebih dari 0, tertulis {capacity!r}")
    return TrainingConfig(
        id=identifier,
        topic=topic,
        title=str(raw["title"]).strip(),
        description=str(raw.get("description") or "").strip(),
        villages=_villages(raw["village"], f"{here} -> village", village_names),
        location=str(raw["location"]).strip(),
        start_at=start_at,
        end_at=end_at,
        capacity=capacity,
        audiences=_audience_keys(raw["audiences"], f"{here} -> audiences"),
        organiser=_organiser(raw["organiser"], f"{here} -> organiser"),
        example=bool(raw.get("example", False)),
    )


def _moment(raw: Any, where: str, settings: CatalogSettings) -> datetime:
    if isinstance(raw, datetime):
        local = raw.replace(tzinfo=None)
    else:
        try:
            local = datetime.strptime(str(raw).strip(), DATETIME_FORMAT)
        except ValueError:
            raise ContentError(
                f"{where}: '{raw}' bukan tanggal dan jam yang benar; tulis \"YYYY-MM-DD HH:MM\", "
                f"contoh \"2026-12-08 08:00\""
            ) from None
    return clock.from_local(local, settings.utc_offset)


def _villages(raw: Any, where: str, village_names: Mapping[str, str]) -> tuple[str, ...]:
    if raw == ALL_VILLAGES:
        return ()
    codes = [raw] if isinstance(raw, str) else raw
    if not isinstance(codes, list) or not codes:
        raise ContentError(f"{where}: tulis kode desa, daftar kode desa, atau \"{ALL_VILLAGES}\"")
    for code in codes:
        if str(code) not in village_names:
            raise ContentError(
                f"{where}: desa '{code}' tidak ada di villages.yml (yang ada: {', '.join(village_names)}, "
                f"atau \"{ALL_VILLAGES}\")"
            )
    return tuple(str(code) for code in codes)


def _audience_keys(raw: Any, where: str) -> tuple[str, ...]:
    keys = [raw] if isinstance(raw, str) else raw
    if not isinstance(keys, list) or not keys:
        raise ContentError(f"{where}: tulis daftar dari {', '.join(AUDIENCES)}")
    for key in keys:
        if key not in AUDIENCES:
            raise ContentError(f"{where}: '{key}' tidak dikenal (pilih: {', '.join(AUDIENCES)})")
    return tuple(str(key) for key in keys)


def _organiser(raw: Any, where: str) -> Organiser:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: isi 'name', 'channel' dan 'address'")
    for key in ("name", "channel", "address"):
        if not raw.get(key):
            raise ContentError(f"{where} -> {key}: wajib diisi")
    if raw["channel"] not in ORGANISER_CHANNELS:
        raise ContentError(f"{where} -> channel: '{raw['channel']}' tidak dikenal (pilih: {', '.join(ORGANISER_CHANNELS)})")
    return Organiser(str(raw["name"]), str(raw["channel"]), str(raw["address"]))


def _check_form(content_dir: Path) -> None:
    """The form's participant choices must be the audience keys eligibility is checked against."""
    path = content_dir / FORM_FILE
    if not path.exists():
        return
    try:
        form = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return  # bot.content reports broken form files with their own message
    for index, step in enumerate(form.get("steps") or []):
        if isinstance(step, dict) and step.get("slot") == "hubungan":
            for option in step.get("options") or []:
                if option.get("value") not in AUDIENCES:
                    raise ContentError(
                        f"{path} -> steps[{index}] (hubungan) -> options: nilai '{option.get('value')}' "
                        f"harus salah satu dari {', '.join(AUDIENCES)}"
                    )


# ---------------------------------------------------------------------------
# Database copy
def sync_catalog(session: Session, catalog: Catalog) -> None:
    """Upsert every training; ones no longer in the file stay (for their
    registrations) but are hidden. Pending reminders follow a changed start time
    or reminder setting; reminders already sent are never touched."""
    existing = {row.id: row for row in session.execute(select(Training)).scalars()}
    for config in catalog.trainings:
        row = existing.get(config.id) or Training(id=config.id)
        row.topic, row.title, row.description = config.topic, config.title, config.description
        row.villages, row.location = list(config.villages), config.location
        row.start_at, row.end_at, row.capacity = config.start_at, config.end_at, config.capacity
        row.audiences, row.example, row.active = list(config.audiences), config.example, True
        row.organiser_name = config.organiser.name
        row.organiser_channel = config.organiser.channel
        row.organiser_address = config.organiser.address
        session.add(row)
    listed = {config.id for config in catalog.trainings}
    for identifier, row in existing.items():
        if identifier not in listed:
            row.active = False
    session.flush()
    pending = session.execute(
        select(TrainingRegistration, Training.start_at)
        .join(Training, Training.id == TrainingRegistration.training_id)
        .where(TrainingRegistration.status == CONFIRMED, TrainingRegistration.reminded_at.is_(None))
    )
    for registration, start_at in pending:
        registration.remind_at = start_at - catalog.settings.reminder_before


"""content/trainings.yml, read and checked, and the one loaded catalogue per content folder.

Organisers edit the YAML file by hand, so every mistake is reported at start-up
with the file, the entry and the field (the bot refuses to start) instead of a
person seeing a broken date mid-conversation. The database copy exists because
registrations must reference a training and lock its row while counting seats;
adding or changing a training therefore takes effect at the next start, when
`bot.domain.trainings.sync_catalog` runs, with no code change.

Times in the file are local (WIB by default) because that is what organisers
write; they are stored as naive UTC like every other time in the database.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping


from bot import clock
from bot.content import ContentError, load_yaml
from bot.domain.catalog import TEXT_PREFIX, Catalog, CatalogSettings, Organiser, Topic, TrainingConfig
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
        form = load_yaml(path) or {}
    except ContentError:
        return  # bot.content reports broken form files with their own message
    for index, step in enumerate(form.get("steps") or []):
        if isinstance(step, dict) and step.get("slot") == "hubungan":
            for option in step.get("options") or []:
                if option.get("value") not in AUDIENCES:
                    raise ContentError(
                        f"{path} -> steps[{index}] (hubungan) -> options: nilai '{option.get('value')}' "
                        f"harus salah satu dari {', '.join(AUDIENCES)}"
                    )

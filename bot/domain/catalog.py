"""The training catalogue as the domain reads it: topics, audiences, the
trainings of content/trainings.yml and their texts, with how dates and lists
are said ("Selasa–Kamis, 8–10 Desember 2026, pukul 08.00–15.00 WIB").

Reading and checking the file is bot.domain.catalog_file; copying it to the
database is bot.domain.trainings.sync_catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

from bot import clock
from bot.messages import OurText, fill_placeholders

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
        return OurText(fill_placeholders(str(template), values).strip())

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

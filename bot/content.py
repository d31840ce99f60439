"""Load and check the editable content files under `content/`.

Programme staff edit these YAML files by hand, so every problem is reported with
the file and the entry at start-up instead of surfacing mid-conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from bot.messages import OurText, fill_placeholders
from bot.normalise import for_matching


class ContentError(ValueError):
    """A content file is missing or malformed; the message names file and entry."""


@dataclass(frozen=True)
class SourcedText:
    """A text shown to people, with where it comes from and when it was checked."""

    text: str
    sources: tuple[str, ...]
    reviewed: str
    verified: bool
    title: str = ""


@dataclass(frozen=True)
class Country:
    key: str
    name: str
    aliases: tuple[str, ...]
    region: str
    mission: str
    mission_hotline: Optional[str]
    note: Optional[SourcedText]


@dataclass(frozen=True)
class Hotline:
    key: str
    label: str
    number: str
    # Where the number comes from, for "nomer kuwi soko ngendi?" (content/hotlines.yml).
    sources: tuple[str, ...] = ()
    reviewed: str = ""


@dataclass(frozen=True)
class MenuItem:
    intent: str
    label: str


@dataclass(frozen=True)
class Content:
    texts: Mapping[str, str]
    answers: Mapping[str, SourcedText]
    countries: Mapping[str, Country]
    hotlines: Mapping[str, Hotline]
    emergency: SourcedText
    danger_patterns: tuple[re.Pattern[str], ...]
    main_menu: tuple[MenuItem, ...]
    # Words that only look like danger ("bapak saya sudah lama meninggal", "nomor
    # darurat KBRI"): their span is blanked before the danger patterns are tried.
    not_danger_patterns: tuple[re.Pattern[str], ...] = ()
    forms: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # The emergency text for a relative at home, and the short reminder sent
    # when the full text already went out in the last 24 hours.
    emergency_family: str = ""
    emergency_reminder: str = ""
    # Every country by name (content/world_countries.yml), so "Kamboja" is a
    # country even where no placement note exists.
    world_countries: Mapping[str, Country] = field(default_factory=dict)
    # Not placement countries, known for scam compounds (countries.yml risk_countries).
    risk_countries: frozenset[str] = frozenset()
    risk_warning: str = ""
    risk_held_words: tuple[str, ...] = ()
    directory: Path = Path(".")

    def text(self, key: str, **values: Any) -> OurText:
        if key not in self.texts:
            raise ContentError(f"content/texts.yml: teks '{key}' tidak ada")
        return self.fill(self.texts[key], **values)

    def fill(self, template: str, **values: Any) -> OurText:
        """Fill {placeholders}; hotline numbers are always available by key.
        The values are noted as a person's words unless they are our texts
        (`bot.messages.fill_placeholders`), so their "*" stays a "*"."""
        return fill_placeholders(template, values, ours={key: hotline.number for key, hotline in self.hotlines.items()})

    def country_from_text(self, text: str) -> Optional[str]:
        """Find a destination country by the spellings people type (hk, malay, ...):
        the longest spelling found wins; a destination before any other country."""
        padded = f" {for_matching(text)} "
        for spellings in self._country_spellings:
            for spelling, key in spellings:
                if spelling in padded:
                    return key
        return None

    @cached_property
    def _country_spellings(self) -> tuple[tuple[tuple[str, str], ...], ...]:
        """Every country spelling, normalised once (not once per message):
        destinations first, then the world's countries (names of 4 letters or
        more only, so "uk" in a sentence is not a country), longest first."""
        destinations = [
            (f" {for_matching(alias)} ", country.key)
            for country in self.countries.values()
            for alias in (country.key.replace("_", " "), country.name, *country.aliases)
            if for_matching(alias)
        ]
        world = [
            (f" {for_matching(alias)} ", country.key)
            for country in self.world_countries.values()
            for alias in (country.name, *country.aliases)
            if len(for_matching(alias)) >= 4
        ]
        # sorted() is stable: between spellings of one length the file's order decides, as it always did
        return tuple(sorted(destinations, key=lambda pair: -len(pair[0]))), tuple(sorted(world, key=lambda pair: -len(pair[0])))

    def canonical_country(self, value: str) -> Optional[str]:
        if value in self.countries or value in self.world_countries:
            return value
        return self.country_from_text(value)

    def country_name(self, key: Optional[str]) -> str:
        """Display name of any country key, destination or not ("-" when unknown)."""
        country = self.countries.get(key or "") or self.world_countries.get(key or "")
        return country.name if country else (key or "-")


# libyaml's loader when PyYAML was built with it (about ten times faster on the
# knowledge files); the same safe subset of YAML either way.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    """The one reader of content files: a missing or broken file is a
    ContentError naming the file, which the bot shows at start-up."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(f"{path}: file tidak ditemukan") from None
    except OSError as error:
        raise ContentError(f"{path}: tidak bisa dibaca: {error}") from error
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: YAML tidak valid: {error}") from error


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
        raise ContentError(f"{where}: kolom '{key}' wajib diisi")
    return mapping[key]


def _sourced(entry: Any, where: str) -> SourcedText:
    text = _require(entry, "text", where)
    sources = _require(entry, "sources", where)
    if isinstance(sources, str):
        sources = [sources]
    return SourcedText(
        text=str(text).strip(),
        sources=tuple(str(s) for s in sources),
        reviewed=str(_require(entry, "reviewed", where)),
        verified=bool(entry.get("verified", False)),
        title=str(entry.get("title", "")),
    )


def _patterns(raw: Any, where: str) -> list[re.Pattern[str]]:
    compiled = []
    for index, pattern in enumerate(raw if isinstance(raw, list) else []):
        try:
            compiled.append(re.compile(str(pattern), re.IGNORECASE))
        except re.error as error:
            raise ContentError(f"{where}[{index}]: pola tidak valid: {error}") from error
    return compiled


def load_content(directory: Path) -> Content:
    texts_file = directory / "texts.yml"
    texts = dict(_require(load_yaml(texts_file), "texts", str(texts_file)))
    # Feature files (complaints.yml, trainings.yml, ...) may carry their own texts.
    for extra in sorted(directory.glob("*.yml")):
        if extra.name == texts_file.name:
            continue
        raw = load_yaml(extra)
        if isinstance(raw, dict) and isinstance(raw.get("texts"), dict):
            for key, value in raw["texts"].items():
                if key in texts:
                    raise ContentError(f"{extra}: teks '{key}' sudah ada di file lain")
                texts[key] = value

    answers_file = directory / "answers.yml"
    raw_answers = _require(load_yaml(answers_file), "answers", str(answers_file))
    answers = {key: _sourced(entry, f"{answers_file} -> {key}") for key, entry in raw_answers.items()}

    hotlines_file = directory / "hotlines.yml"
    raw_hotlines = _require(load_yaml(hotlines_file), "hotlines", str(hotlines_file))
    hotlines = {
        key: Hotline(
            key=key,
            label=str(_require(entry, "label", f"{hotlines_file} -> {key}")),
            number=str(_require(entry, "number", f"{hotlines_file} -> {key}")),
            sources=tuple(str(source) for source in entry.get("sources") or ()),
            reviewed=str(entry.get("reviewed") or ""),
        )
        for key, entry in raw_hotlines.items()
    }

    countries_file = directory / "countries.yml"
    raw_countries = _require(load_yaml(countries_file), "countries", str(countries_file))
    countries = {}
    for key, entry in raw_countries.items():
        where = f"{countries_file} -> {key}"
        note = entry.get("note")
        countries[key] = Country(
            key=key,
            name=str(_require(entry, "name", where)),
            aliases=tuple(str(a).lower() for a in entry.get("aliases") or ()),
            region=str(entry.get("region", "")),
            mission=str(entry.get("mission", "")),
            mission_hotline=str(entry["mission_hotline"]) if entry.get("mission_hotline") else None,
            note=_sourced(note, f"{where} -> note") if note else None,
        )

    raw_risk = load_yaml(countries_file).get("risk_countries") or {}
    risk_where = f"{countries_file} -> risk_countries"
    if raw_risk:
        _sourced({"text": raw_risk.get("warning"), **raw_risk}, risk_where)  # same rules as every sourced text

    safety_file = directory / "safety.yml"
    safety = load_yaml(safety_file)
    emergency = _sourced(_require(safety, "emergency", str(safety_file)), f"{safety_file} -> emergency")
    patterns = _patterns(_require(safety, "danger_patterns", str(safety_file)), f"{safety_file} -> danger_patterns")
    not_danger = _patterns(safety.get("not_danger_patterns") or [], f"{safety_file} -> not_danger_patterns")

    world_file = directory / "world_countries.yml"
    world_countries: dict[str, Country] = {}
    if world_file.exists():
        for key, entry in (_require(load_yaml(world_file), "world_countries", str(world_file)) or {}).items():
            world_countries[str(key)] = Country(
                key=str(key),
                name=str(_require(entry, "name", f"{world_file} -> {key}")),
                aliases=tuple(str(a).lower() for a in entry.get("aliases") or ()),
                region="",
                mission="",
                mission_hotline=None,
                note=None,
            )

    menu_file = directory / "menu.yml"
    main_menu = tuple(
        MenuItem(
            intent=str(_require(item, "intent", f"{menu_file} -> main_menu[{i}]")),
            label=str(_require(item, "label", f"{menu_file} -> main_menu[{i}]")),
        )
        for i, item in enumerate(_require(load_yaml(menu_file), "main_menu", str(menu_file)))
    )

    forms = {}
    for form_file in sorted((directory / "flows").glob("*.yml")):
        raw = load_yaml(form_file)
        name = _require(raw, "name", str(form_file))
        raw["_file"] = str(form_file)
        forms[str(name)] = raw

    content = Content(
        texts={str(k): str(v) for k, v in texts.items()},
        answers=answers,
        countries=countries,
        hotlines=hotlines,
        emergency=emergency,
        danger_patterns=tuple(patterns),
        not_danger_patterns=tuple(not_danger),
        main_menu=main_menu,
        forms=forms,
        directory=directory,
        emergency_family=str(safety["emergency"].get("family_text", "")).strip(),
        emergency_reminder=str(safety["emergency"].get("reminder_text", "")).strip(),
        world_countries=world_countries,
        risk_countries=frozenset(str(c) for c in raw_risk.get("countries") or ()),
        risk_warning=str(raw_risk.get("warning", "")).strip(),
        risk_held_words=tuple(str(w).lower() for w in raw_risk.get("held_words") or ()),
    )
    _check_placeholders(content)
    unknown = sorted(c for c in content.risk_countries if c not in content.world_countries and c not in content.countries)
    if unknown:
        raise ContentError(f"{countries_file} -> risk_countries: negara tidak dikenal {unknown} (lihat world_countries.yml)")
    return content


def _check_placeholders(content: Content) -> None:
    """A typo like {bp2m} would show raw braces to a person in distress."""
    known = set(content.hotlines)
    extra = [
        ("safety.yml emergency family_text", content.emergency_family),
        ("safety.yml emergency reminder_text", content.emergency_reminder),
    ]
    for key, text in [*((k, a.text) for k, a in content.answers.items()), ("safety.yml emergency", content.emergency.text), *extra]:
        for name in re.findall(r"\{(\w+)\}", text):
            if name not in known:
                raise ContentError(f"{key}: isian '{{{name}}}' tidak dikenal (yang ada: {sorted(known)})")

"""WhatsApp templates for messages we send first (content/templates.yml).

Each proactive message kind names its template. Inside WhatsApp's 24-hour
window the full text is sent; outside it only the approved template may go,
with its variables (Twilio `ContentSid` + `ContentVariables`), each cut to the
length the template was approved with. The file is checked at start-up and a
mistake names the file and the entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from bot.content import ContentError, load_yaml

CATEGORIES = ("utility", "marketing")
THEN = ("done", "hold")
MAX_TEMPLATE = 1024  # WhatsApp's limit for a template body with its variables
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Variable:
    name: str
    max: int


@dataclass(frozen=True)
class Template:
    name: str
    purpose: str
    category: str
    language: str
    twilio_content_sid: str
    then: str
    variables: tuple[Variable, ...]
    text: str

    @property
    def registered(self) -> bool:
        return bool(self.twilio_content_sid)

    def values(self, given: Mapping[str, Any]) -> dict[str, str]:
        """Every variable as text, cut safely to its maximum (whole words where possible)."""
        return {variable.name: fit(str(given.get(variable.name, "") or "-"), variable.max) for variable in self.variables}

    def render(self, given: Mapping[str, Any]) -> str:
        return self.text.format(**self.values(given))

    def twilio_variables(self, given: Mapping[str, Any]) -> str:
        """ContentVariables: {"1": ..., "2": ...} in the order of `variables`."""
        values = self.values(given)
        return json.dumps({str(index): values[v.name] for index, v in enumerate(self.variables, start=1)}, ensure_ascii=False)


def fit(value: str, limit: int) -> str:
    """One line, at most `limit` characters, cut at a word with an ellipsis."""
    value = " ".join(value.split())
    if len(value) <= limit:
        return value
    cut = value[: max(1, limit - 1)]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def load_templates(content_dir: Path) -> dict[str, Template]:
    path = content_dir / "templates.yml"
    raw = load_yaml(path)
    entries = raw.get("templates") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ContentError(f"{path}: daftar 'templates' wajib ada")
    templates: dict[str, Template] = {}
    for name, item in entries.items():
        where = f"{path} -> templates.{name}"
        if not isinstance(item, dict):
            raise ContentError(f"{where}: harus berisi kolom purpose, category, text, ...")
        try:
            variables = tuple(Variable(str(v["name"]), int(v["max"])) for v in item.get("variables") or [])
            template = Template(
                name=str(name),
                purpose=str(item["purpose"]),
                category=str(item["category"]),
                language=str(item.get("language", "id")),
                twilio_content_sid=str(item.get("twilio_content_sid") or "").strip(),
                then=str(item.get("then", "done")),
                variables=variables,
                text=str(item["text"]).strip(),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ContentError(f"{where}: kolom kurang atau salah ({error})") from error
        if template.category not in CATEGORIES:
            raise ContentError(f"{where}: category harus salah satu dari {', '.join(CATEGORIES)}")
        if template.then not in THEN:
            raise ContentError(f"{where}: then harus done atau hold")
        if template.twilio_content_sid and not CONTENT_SID.match(template.twilio_content_sid):
            raise ContentError(f"{where}: twilio_content_sid harus 'HX' diikuti 32 huruf/angka (atau kosong)")
        named = [v.name for v in variables]
        used = PLACEHOLDER.findall(template.text)
        if len(set(named)) != len(named) or set(used) != set(named):
            raise ContentError(f"{where}: isian di text ({sorted(set(used))}) harus sama dengan variables ({named})")
        if any(v.max < 1 for v in variables):
            raise ContentError(f"{where}: max tiap isian minimal 1")
        longest = len(PLACEHOLDER.sub("", template.text)) + sum(v.max * used.count(v.name) for v in variables)
        if longest > MAX_TEMPLATE:
            raise ContentError(f"{where}: teks dengan isian terpanjang melebihi {MAX_TEMPLATE} karakter ({longest})")
        templates[template.name] = template
    return templates


@lru_cache(maxsize=8)
def templates_for(content_dir: Path) -> dict[str, Template]:
    return load_templates(content_dir)

"""Look for what a person typed anywhere in the database.

The tables and columns are read from the database itself (reflection), not
listed by hand, so a table or column added later is scanned too. Every value
is turned into text (JSON as JSON) and searched case-insensitively.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine


def _as_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def find_everywhere(engine: Engine, needles: Iterable[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every needle found in any column of any table."""
    wanted = [needle.casefold() for needle in needles]
    metadata = MetaData()
    metadata.reflect(engine)
    found: set[tuple[str, str, str]] = set()
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = _as_text(value).casefold()
                    found.update((table.name, column, needle) for needle in wanted if needle in text)
    return sorted(found)


def missing(engine: Engine, needles: Iterable[str]) -> list[str]:
    """The needles that occur nowhere (for control tests: should be empty)."""
    present = {needle for _table, _column, needle in find_everywhere(engine, needles)}
    return [needle for needle in needles if needle.casefold() not in present]

"""CSV files with people's data: safe to open in a spreadsheet, private on disk.

A cell that starts with = + - @ (or a tab or carriage return before one) is a
formula to Excel and LibreOffice: a participant named '=HYPERLINK(...)' would
run in the organiser's spreadsheet. Such cells get a leading apostrophe, the
spreadsheet convention for "this is text". Phone numbers we normalised
ourselves (+62..., digits only) are left as they are: they cannot be a formula
and organisers dial them.

The file itself holds names and phone numbers, so it is created readable and
writable by its owner only (0600), also when it already existed.
"""

from __future__ import annotations

import csv
import os
import re
from contextlib import contextmanager
from typing import Any, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
E164 = re.compile(r"^\+[0-9]{6,15}$")
PRIVATE_MODE = 0o600


def cell(value: Any) -> Any:
    """The value, or the text with a leading apostrophe when it could be a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not E164.match(value):
        return "'" + value
    return value


@contextmanager
def private_csv(path: str) -> Iterator[Any]:
    """A csv.writer over `path`, created (or truncated) with mode 0600; every
    row it writes is escaped with `cell`."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    os.fchmod(descriptor, PRIVATE_MODE)  # O_CREAT's mode does not apply to an existing file
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
        yield _EscapingWriter(csv.writer(handle))


class _EscapingWriter:
    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def writerow(self, row: Any) -> None:
        self._writer.writerow([cell(value) for value in row])

"""Reading what a browser sends: form fields, query strings and path parts.

Anything can arrive here (a tampered form, a hand-typed address): a number of
twenty digits, "-1", "²" (which `str.isdigit` accepts and `int` refuses), a
NUL byte (which PostgreSQL refuses in any text). Every value is checked before
it reaches a query, and a bad one becomes `BadInput` (400, with a message that
says what is expected) or, for ids and codes that name a record, `NotFound`
(404, like a record outside the viewer's scope), never an error page.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from bot.normalise import clean

# PostgreSQL's INTEGER: ids and counts above this cannot exist in the database.
MAX_ID = 2**31 - 1
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")
CASE_CODE = re.compile(r"[A-Z]{2,4}-[A-Z0-9]{2,8}")  # ADU-XXXX
REGISTRATION_CODE = CASE_CODE  # PLT-XXXX
TRAINING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
VILLAGE_CODE = re.compile(r"[a-z0-9_-]{1,40}")


class BadInput(Exception):
    """400: a value the console cannot use; the message says what it expects."""


class NotFound(Exception):
    """404: not there, or outside the viewer's scope (the same to the viewer)."""


def text(form: Any, name: str, limit: int) -> str:
    """A free-text field: control characters (NUL included) removed, spaces
    collapsed, cut at `limit`."""
    return " ".join(clean(str(form.get(name, "") or ""), limit).text.split())


def whole_number(raw: Optional[str], low: int, high: int, message: str) -> int:
    """An integer from `low` to `high` (ASCII digits only), else `BadInput(message)`."""
    value = (raw or "").strip()
    if not _WHOLE_NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise BadInput(message)
    return int(value)


def record_id(raw: Any) -> int:
    """The id of a record named in a form or path: a number that cannot be an
    id is a record that does not exist (404)."""
    value = str(raw if raw is not None else "").strip()
    if not _WHOLE_NUMBER.fullmatch(value) or not 1 <= int(value) <= MAX_ID:
        raise NotFound
    return int(value)


def code(raw: Any, pattern: re.Pattern[str], upper: bool = True) -> str:
    """A code or id in a path or form that must look like one to name a
    record; anything else does not exist (404)."""
    value = str(raw if raw is not None else "").strip()
    value = value.upper() if upper else value
    if not pattern.fullmatch(value):
        raise NotFound
    return value


def choice(raw: Any, allowed: Any, message: str) -> str:
    """One of the values the form offered, else `BadInput(message)`."""
    value = str(raw if raw is not None else "")
    if value not in allowed:
        raise BadInput(message)
    return value

"""The one generator of short codes people read aloud over the phone
(ADU-XXXX for cases, PLT-XXXX for training registrations)."""

from __future__ import annotations

import secrets
from typing import Callable

LENGTH = 4


def fresh_code(prefix: str, alphabet: str, taken: Callable[[str], bool]) -> str:
    """`prefix` plus four letters from `alphabet`, not `taken` so far; the
    database's unique constraint stays the last word."""
    while True:
        code = prefix + "".join(secrets.choice(alphabet) for _ in range(LENGTH))
        if not taken(code):
            return code

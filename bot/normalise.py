"""Turn whatever a phone sends into text the rest of the bot can trust.

People paste forwarded chains, send emoji-only replies, or hit send on an empty
box; NLU and the database should only ever see bounded, printable text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Control characters, zero-width and direction marks, embeddings and overrides
# (U+202A-202E), isolates (U+2066-2069), the other invisible format characters
# of U+2060-206F, the Arabic letter mark (U+061C) and the BOM. Direction
# controls can make a satgas alert read differently from what was typed.
_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NEWLINES = re.compile(r"\n{3,}")
_NON_WORD = re.compile(r"[^\w\s+-]", re.UNICODE)


@dataclass(frozen=True)
class CleanText:
    text: str  # printable, trimmed, bounded
    truncated: bool  # the original was longer than the limit
    has_words: bool  # contains at least one letter or digit (not emoji/punctuation only)

    @property
    def is_empty(self) -> bool:
        return not self.text


def clean(raw: str | None, max_length: int) -> CleanText:
    text = unicodedata.normalize("NFC", raw or "")
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from bad clients
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n\n", text).strip()
    truncated = len(text) > max_length
    if truncated:
        text = text[:max_length].rstrip()
    has_words = any(ch.isalnum() for ch in text)
    return CleanText(text=text, truncated=truncated, has_words=has_words)


def for_matching(text: str) -> str:
    """Lowercase, punctuation-free form used for menus, keywords and aliases."""
    lowered = text.casefold()
    lowered = _NON_WORD.sub(" ", lowered)
    return " ".join(lowered.split())

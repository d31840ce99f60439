"""Cut a long message into sends that each fit the channel's limit.

Telegram refuses texts over 4096 characters and Twilio WhatsApp bodies over
1600. Cutting at a fixed offset would break words, hotline numbers and menus in
half, so the text is cut at the coarsest boundary that works: paragraphs first,
then lines, then spaces, and only a single "word" longer than the limit (a
pasted URL) is cut inside.

Lengths are counted in UTF-16 code units, which is how Telegram counts and is
never less than the character count Twilio uses: an emoji counts twice, so a
part full of emoji is still accepted.
"""

from __future__ import annotations

TELEGRAM_LIMIT = 4096
WHATSAPP_LIMIT = 1600

_SEPARATORS = ("\n\n", "\n", " ")


def measure(text: str) -> int:
    """Length as the providers count it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """The parts to send, in order; each non-empty, trimmed and within `limit`.

    Whitespace at the cut points is dropped; nothing else is lost, reordered or
    duplicated. An empty or blank text gives no parts.
    """
    if limit < 2:
        raise ValueError("limit must leave room for at least one character")
    text = text.strip()
    if not text:
        return []
    if measure(text) <= limit:
        return [text]
    return [part for part in (p.strip() for p in _split(text, limit, 0)) if part]


def _split(text: str, limit: int, level: int) -> list[str]:
    if measure(text) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        return _hard_cut(text, limit)
    separator = _SEPARATORS[level]
    parts: list[str] = []
    current = ""
    for piece in text.split(separator):
        candidate = current + separator + piece if current else piece
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current)
        if measure(piece) <= limit:
            current = piece
        else:
            finer = _split(piece, limit, level + 1)
            parts.extend(finer[:-1])
            current = finer[-1]
    if current.strip():
        parts.append(current)
    return parts


def _hard_cut(text: str, limit: int) -> list[str]:
    """Last resort for one unbroken run longer than the limit."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = measure(char)
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        parts.append("".join(current))
    return parts

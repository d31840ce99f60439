"""Our WhatsApp markup as Telegram formatting (parse_mode HTML), split to fit.

Our texts are written for WhatsApp, which shows `*bold*` and `_italic_` itself;
Telegram shows the asterisks unless told. Here a text becomes what Telegram
reads with `parse_mode=HTML`: our markers turn into <b> and <i>, and every
other `<`, `>` and `&` is escaped, so nothing a person typed can become a tag.

A person's words inside our texts (the outbox row's `literal_spans`, noted
where the words were put in: `bot.messages`) are never read as markup: a "*"
there stays a "*", also when it sits inside our own `*...*`.

Markers follow WhatsApp's rules, so a text reads the same on both channels: a
marker opens at the start or after a non-letter, is followed by a non-space,
closes on the same line after a non-space and before a non-letter; "**" is
nothing. Bold and italic may nest but never cross.

Telegram's 4096-character limit counts the text after the tags are read, in
UTF-16 code units: the visible text is split (`bot.channels.split`) and each
part gets its own balanced tags, so no tag is ever cut between two parts and
a bold run that spans a cut is bold on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Optional, Sequence

from bot.channels.split import split_text

PARSE_MODE = "HTML"
_MARKERS = (("*", "b"), ("_", "i"))


@dataclass(frozen=True)
class Styled:
    """A text as a person sees it, with where each format applies."""

    plain: str
    # (start, end, tag) in `plain`, nested or apart, never crossing.
    spans: tuple[tuple[int, int, str], ...]


def parse(text: str, literal: Optional[Sequence[Sequence[int]]] = None) -> Styled:
    """Read our markup in `text`, skipping the literal [start, end) ranges."""
    inert = [False] * len(text)
    for start, end in literal or ():
        for index in range(max(0, start), min(len(text), end)):
            inert[index] = True
    pairs: list[tuple[int, int, str]] = []
    for marker, tag in _MARKERS:
        index = 0
        while index < len(text):
            close = _closing(text, inert, marker, index) if _opens(text, inert, marker, index) else None
            if close is not None and not any(_crosses((index, close), (a, b)) for a, b, _ in pairs):
                pairs.append((index, close, tag))
                index = close + 1
            else:
                index += 1
    removed = sorted(position for a, b, _ in pairs for position in (a, b))
    shift = [0] * (len(text) + 1)  # markers removed before each position
    count, cursor = 0, 0
    for position in range(len(text) + 1):
        while cursor < len(removed) and removed[cursor] < position:
            count, cursor = count + 1, cursor + 1
        shift[position] = count
    marker_positions = set(removed)
    plain = "".join(char for position, char in enumerate(text) if position not in marker_positions)
    spans = tuple(sorted(((a + 1 - shift[a + 1], b - shift[b], tag) for a, b, tag in pairs), key=lambda s: (s[0], -s[1])))
    return Styled(plain, spans)


def _opens(text: str, inert: list[bool], marker: str, index: int) -> bool:
    if text[index] != marker or inert[index] or index + 1 >= len(text):
        return False
    before = text[index - 1] if index else " "
    after = text[index + 1]
    return not before.isalnum() and before != marker and not after.isspace() and after != marker


def _closing(text: str, inert: list[bool], marker: str, start: int) -> Optional[int]:
    """The marker that closes the one at `start` on the same line, if any."""
    for index in range(start + 2, len(text)):
        char = text[index]
        if char == "\n" and not inert[index]:
            return None
        if char != marker or inert[index]:
            continue
        before = text[index - 1]
        after = text[index + 1] if index + 1 < len(text) else " "
        if not before.isspace() and before != marker and not after.isalnum() and after != marker:
            return index
    return None


def _crosses(one: tuple[int, int], other: tuple[int, int]) -> bool:
    (a, b), (c, d) = one, other
    return a < c < b < d or c < a < d < b


def render(styled: Styled, start: int = 0, end: Optional[int] = None) -> str:
    """plain[start:end] as Telegram HTML, every format opened and closed inside."""
    end = len(styled.plain) if end is None else end
    clipped = [(max(a, start), min(b, end), tag) for a, b, tag in styled.spans if min(b, end) > max(a, start)]
    out: list[str] = []
    stack: list[tuple[int, str]] = []
    opening = iter(sorted(clipped, key=lambda s: (s[0], -s[1])))
    upcoming = next(opening, None)
    for position in range(start, end + 1):
        while stack and stack[-1][0] == position:
            out.append(f"</{stack.pop()[1]}>")
        while upcoming is not None and upcoming[0] == position:
            out.append(f"<{upcoming[2]}>")
            stack.append((upcoming[1], upcoming[2]))
            upcoming = next(opening, None)
        if position < end:
            out.append(escape(styled.plain[position], quote=False))
    return "".join(out)


def telegram_parts(text: str, literal: Optional[Sequence[Sequence[int]]], limit: int) -> list[str]:
    """The sendMessage texts (parse_mode HTML) for one message, in order; each
    one's visible text within `limit` UTF-16 code units."""
    styled = parse(text, literal)
    cursor = 0
    parts: list[str] = []
    for piece in split_text(styled.plain, limit):
        # split_text keeps every part as it stands in the text and only drops
        # whitespace between parts; a part starts with a non-space, so the
        # first match from the end of the previous one is where it was cut.
        found = styled.plain.index(piece, cursor)
        cursor = found + len(piece)
        parts.append(render(styled, found, cursor))
    return parts

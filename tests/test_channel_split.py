"""Splitting long messages (properties, with hypothesis) and fitting provider
ids into the outbox column."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.parts import PROVIDER_ID_COLUMN, joined_ids
from bot.channels.split import measure, split_text

WORD = st.text(alphabet="abcdeéfg😀ŋ0123456789.,-", min_size=1, max_size=30)
LINE = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
PARAGRAPH = st.lists(LINE, min_size=1, max_size=6).map("\n".join)
TEXT = st.lists(PARAGRAPH, min_size=1, max_size=8).map("\n\n".join)


def _squash(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=300, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=2, max_value=400))
def test_parts_fit_keep_everything_in_order(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert parts, "a non-empty text gives at least one part"
    assert all(0 < measure(part) <= limit for part in parts)
    assert all(part == part.strip() for part in parts)
    assert _squash("".join(parts)) == _squash(text), "nothing lost, duplicated or reordered"


@settings(max_examples=300, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=30, max_value=400))
def test_words_are_only_cut_when_longer_than_the_limit(text: str, limit: int) -> None:
    words = set(text.split())  # every word here is at most 30 characters (60 UTF-16 units)
    pieces = {word for part in split_text(text, limit) for word in part.split()}
    whole = {word for word in words if measure(word) <= limit}
    assert whole <= pieces


@settings(max_examples=200, deadline=None)
@given(paragraphs=st.lists(LINE, min_size=2, max_size=10), limit=st.integers(min_value=400, max_value=1600))
def test_paragraphs_that_fit_are_never_cut(paragraphs: list[str], limit: int) -> None:
    text = "\n\n".join(paragraphs)
    parts = split_text(text, limit)
    assert [p for part in parts for p in part.split("\n\n")] == [p.strip() for p in paragraphs if p.strip()]


def test_short_and_empty_texts() -> None:
    assert split_text("halo", 4096) == ["halo"]
    assert split_text("  \n\n ", 4096) == []
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]
    assert split_text("😀" * 3, 4) == ["😀😀", "😀"], "emoji count as two, like Telegram counts"


def test_a_numbered_menu_moves_whole_to_the_next_part_rather_than_being_cut() -> None:
    menu = "Pilihan:\n1. Satu\n2. Dua"
    assert split_text(("x" * 1500) + "\n\n" + menu, 1600) == [("x" * 1500) + "\n\n" + menu]
    assert split_text(("x" * 1590) + "\n\n" + menu, 1600) == ["x" * 1590, menu]


@given(st.lists(st.text(alphabet="SM0123456789abcdef", min_size=1, max_size=34), min_size=1, max_size=12))
def test_provider_ids_always_fit_the_column(ids: list[str]) -> None:
    joined = joined_ids(ids)
    assert len(joined) <= PROVIDER_ID_COLUMN
    if len(",".join(ids)) <= PROVIDER_ID_COLUMN:
        assert joined == ",".join(ids)
    else:
        assert joined.startswith(ids[0]) and joined.rsplit(",", 1)[-1].startswith("+")

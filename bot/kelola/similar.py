"""Which "belum dipahami" messages say the same thing (issue 26).

People write one question many ways: "gmn cara daftar kerja ke taiwan",
"gimana caranya daftar kerja taiwan", "cara dftar ke taiwan gimana". Word
overlap alone splits these (gmn/gimana, daftar/dftar are different words), so
two messages are alike when their character trigrams overlap: each word is
cut into three-letter pieces (with its edges, " gi", "gim", "ima", ...), and
the Dice coefficient of the two sets of pieces is compared with a threshold.
A spelling variant shares most of its pieces; two different questions share
few. A message joins the first group whose opening message it resembles (the
opening message does not drift as the group grows); the page then shows each
group with its size and the words most of its messages share, so staff see
kinds of question instead of a flat list.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Generic, Iterable, TypeVar

from bot.normalise import for_matching

T = TypeVar("T")
# Dice coefficient of the trigram sets from which two messages count as alike.
ALIKE = 0.5
# Words too common to name a group ("yang", "saya": in half of all messages).
COMMON = frozenset({
    "yang", "saya", "aku", "di", "ke", "dari", "dan", "ini", "itu", "apa", "ada", "mau", "bisa", "tidak", "gak", "ga", "ya",
    "kak", "pak", "bu", "min", "mas", "mbak", "dong", "sih", "kah", "nya", "untuk", "utk", "dengan", "atau", "juga", "sudah",
})


def trigrams(text: str) -> frozenset[str]:
    """The three-letter pieces of each word of a message (digits and masks left out)."""
    pieces: set[str] = set()
    for word in for_matching(text).split():
        letters = "".join(ch for ch in word if ch.isalpha())
        if not letters:
            continue
        padded = f" {letters} "
        pieces.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return frozenset(pieces)


def dice(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return 2 * len(first & second) / (len(first) + len(second))


@dataclass
class Group(Generic[T]):
    items: list[T] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)  # the words that name the group


def group_alike(items: Iterable[T], text_of: Callable[[T], str], threshold: float = ALIKE) -> list[Group[T]]:
    """Items grouped by the likeness of their texts, the biggest group first
    (ties: in the order the items came)."""
    seeds: list[tuple[frozenset[str], Group[T]]] = []
    for item in items:
        pieces = trigrams(text_of(item))
        for seed, group in seeds:
            if dice(pieces, seed) >= threshold:
                group.items.append(item)
                break
        else:
            seeds.append((pieces, Group([item])))
    groups = [group for _seed, group in seeds]
    for group in groups:
        group.shared = shared_words([text_of(item) for item in group.items])
    return sorted(groups, key=lambda group: -len(group.items))


def shared_words(texts: list[str], most: int = 4) -> list[str]:
    """Words in at least half the texts (at least two), the most frequent
    first: "daftar, taiwan, cara". One text names no group."""
    if len(texts) < 2:
        return []
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({word for word in for_matching(text).split() if word.isalpha() and len(word) > 2 and word not in COMMON})
    needed = max(2, (len(texts) + 1) // 2)
    ordered = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))  # ties alphabetical: the same page every time
    return [word for word, count in ordered if count >= needed][:most]

"""Keep personal data out of logs, and out of what staff read of strangers' words.

Logs are read by developers and hosting staff who must never see who reported
what. Phone numbers and chat ids are masked wherever they are formatted, and a
logging filter masks any long digit run that slips into a message anyway.

Names are the other thing people type: "nama saya Siti Aminah", "anak saya
Budi di Malaysia", "Bu Ratna". `mask_names` masks the names a sentence
introduces and the names we already know for its writer, for the console's
"belum dipahami" page and the NLU examples it exports (issue 26); a name
typed with no cue and unknown to us cannot be told from a word and stays.

Tracebacks are the other way in: an exception's message quotes whatever it was
given ("invalid literal for int(): '0812...'", a database error with the
row's values). The log formatter therefore prints the frames (file, line,
code) and each exception's type, never its message.
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType
from typing import Iterable, Optional, TextIO, Union

_DIGITS = re.compile(r"\+?\d[\d\s-]{5,}\d")


def mask(value: str) -> str:
    """'+6281234567890' -> '+62*******890': enough to tell two people apart in a log."""
    value = str(value)
    if len(value) <= 4:
        return "*" * len(value)
    keep_head = 3 if len(value) > 8 else 1
    return value[:keep_head] + "*" * (len(value) - keep_head - 3) + value[-3:]


def mask_digits(text: str) -> str:
    return _DIGITS.sub(lambda m: mask(re.sub(r"[\s-]", "", m.group(0))), text)


# A name follows these, in any case: "nama saya siti", "namanya Budi", "atas nama Rina".
_NAME_WORDS = frozenset({"nama", "namanya", "namaku", "namane", "bernama", "panggil", "panggilan", "panggilannya", "jenenge", "jenengku", "name"})
# Who the name belongs to, between the cue and the name ("nama anak saya ...").
_OWNERS = frozenset({
    "saya", "aku", "ku", "kula", "abdi", "gue", "gw", "kami", "my", "is", "adalah", "yaitu", "ialah", "lengkap", "lengkapnya",
    "anak", "adik", "adek", "kakak", "kak", "suami", "istri", "ibu", "bapak", "ayah", "mertua", "keponakan", "sepupu",
    "majikan", "agen", "sponsor", "teman", "orangnya", "pekerja", "tki", "pmi",
})
# Before a capitalised name: "Bu Siti", "anak saya Budi", "mbak Rina".
_TITLES = frozenset({
    "pak", "bu", "bapak", "ibu", "mbak", "mba", "mas", "kak", "kakak", "bang", "abang", "teh", "teteh", "aa", "akang", "om",
    "tante", "sdr", "sdri", "saudara", "saudari", "adik", "adek", "anak", "suami", "istri", "ayah", "mertua", "keponakan",
    "sepupu", "majikan", "mr", "mrs", "ms", "madam", "sir", "bin", "binti",
})
# Words that end a name: "nama saya siti dari wonosobo".
_AFTER_NAME = frozenset({
    "di", "dari", "ke", "umur", "usia", "dan", "yang", "mau", "ingin", "pengen", "tinggal", "asal", "kerja", "bekerja", "sudah",
    "udah", "belum", "blm", "sedang", "lagi", "sekarang", "tahun", "thn", "th", "tapi", "tp", "karena", "krn", "itu", "ini",
    "mohon", "tolong", "minta", "bisa", "apa", "gimana", "bagaimana", "kenapa", "kapan", "dengan", "dgn", "sama", "untuk",
    "utk", "tidak", "tdk", "gak", "ga", "nggak", "ora", "teu", "dia", "beliau", "pak", "bu", "kak", "from", "and", "in",
})
_MOST_NAME_WORDS = 3
_TOKENS = re.compile(r"\w+|[^\w]+")


def mask_name(word: str) -> str:
    """'Aminah' -> 'A*****': the first letter, so two names stay apart on a page."""
    return word[:1] + "*" * (len(word) - 1)


def mask_names(text: str, known: Iterable[str] = ()) -> str:
    """The names in `text` masked: the words of `known` names (a writer's
    display name, the worker named in their report), and what follows a name
    cue: up to three words after "nama/namanya/bernama" (+ "saya", "anak
    saya", ...), and capitalised words after a title or a relative ("Bu
    Siti", "anak saya Budi"). Punctuation and the word list `_AFTER_NAME`
    end a name; digits are `mask_digits`'s."""
    known_words = {w for name in known for w in re.findall(r"\w+", (name or "").lower()) if len(w) >= 3 and w not in _TITLES}
    tokens = _TOKENS.findall(text)
    words = [i for i, token in enumerate(tokens) if token[0].isalnum() or token[0] == "_"]
    masked = set(i for i in words if tokens[i].lower() in known_words and not tokens[i].isdigit())
    for position, index in enumerate(words):
        lower = tokens[index].lower()
        if lower in _NAME_WORDS:
            after = position + 1
            while after < len(words) and tokens[words[after]].lower() in _OWNERS and _joined(tokens, words[after - 1], words[after]):
                after += 1
            _take(tokens, words, after, masked, capitalised_only=False)
        elif lower in _TITLES and position + 1 < len(words):
            after = position + 1
            if tokens[words[after]].lower() in {"saya", "aku", "kami", "ku", "kula"}:
                after += 1
            _take(tokens, words, after, masked, capitalised_only=True)
    return "".join(mask_name(token) if i in masked else token for i, token in enumerate(tokens))


def _joined(tokens: list[str], before: int, after: int) -> bool:
    """Two words with only spaces (or a colon) between them: the same phrase."""
    return all(not tokens[i].strip(" :") for i in range(before + 1, after))


def _take(tokens: list[str], words: list[int], start: int, masked: set[int], capitalised_only: bool) -> None:
    for offset in range(_MOST_NAME_WORDS):
        position = start + offset
        if position >= len(words) or not _joined(tokens, words[position - 1], words[position]):  # a cue comes first: position >= 1
            return
        word = tokens[words[position]]
        if word.lower() in _AFTER_NAME or word.isdigit() or (capitalised_only and not word[:1].isupper()):
            return
        masked.add(words[position])


class MaskPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_digits(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


ExcInfo = Union[
    tuple[type[BaseException], BaseException, Optional[TracebackType]], tuple[None, None, None]
]


def safe_traceback(error: BaseException) -> str:
    """The traceback of `error` and of what caused it, without any exception's
    message (it may quote a person's words or numbers)."""
    chain: list[BaseException] = []
    current: Optional[BaseException] = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts: list[str] = []
    for link in reversed(chain):
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_list(traceback.extract_tb(link.__traceback__)))
        parts.append(f"{type(link).__module__}.{type(link).__qualname__} (message hidden: may hold personal data)\n")
    return mask_digits("".join(parts).rstrip("\n"))


class PrivateFormatter(logging.Formatter):
    """A formatter whose tracebacks show where, never what (see module doc)."""

    def formatException(self, ei: ExcInfo) -> str:  # noqa: N802 (logging's name)
        error = ei[1]
        return safe_traceback(error) if error is not None else ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return mask_digits(stack_info)


def private_handler(stream: Optional[TextIO] = None) -> logging.Handler:
    """A stream handler with the masking filter and the private formatter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PrivateFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskPersonalData())
    return handler


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.handlers[:] = [private_handler()]
    root.setLevel(level)

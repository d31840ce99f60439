"""Keep personal data out of logs.

Logs are read by developers and hosting staff who must never see who reported
what. Phone numbers and chat ids are masked wherever they are formatted, and a
logging filter masks any long digit run that slips into a message anyway.

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
from typing import Optional, TextIO, Union

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

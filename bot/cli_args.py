"""Argument checking for the command lines (`bot.cli`, `bot.training_cli`).

A coordinator who types `--per-minute 99999999999999999999` or
`--days-before -3` must get one clear Indonesian line and exit status 2 (the
usual status for a wrong argument), never a database traceback or a reminder
scheduled after the training has started. So every integer is read with its
range here, and argparse's own English complaints are put into Indonesian.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from typing import Callable, NoReturn

BAD_ARGUMENT = 2  # what argparse returns for a wrong argument; the CLIs use it for unknown codes too
LARGEST_ID = 2**31 - 1  # an INTEGER primary key on PostgreSQL

# argparse's messages (Python 3.12), in the words a coordinator reads.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^argument ([^:]+): "), r"\1: "),
    (re.compile(r"the following arguments are required: "), "wajib diisi: "),
    (re.compile(r"one of the arguments (.*) is required"), r"isi salah satu dari \1"),
    (re.compile(r"invalid choice: (.*) \(choose from (.*)\)"), r"pilihan tidak dikenal: \1 (pilih salah satu: \2)"),
    (re.compile(r"unrecognized arguments: "), "argumen tidak dikenal: "),
    (re.compile(r"expected one argument"), "perlu satu nilai"),
    (re.compile(r"ambiguous option: (\S+) could match "), r"opsi \1 kurang lengkap, bisa berarti "),
    (re.compile(r"invalid \w+ value: "), "nilai tidak sah: "),
)


def indonesian(message: str) -> str:
    for pattern, replacement in _PHRASES:
        message = pattern.sub(replacement, message)
    return message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that explains a wrong argument in Indonesian (its
    sub-command parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_ARGUMENT, f"{self.prog}: {indonesian(message)}\nBantuan: {self.prog} --help\n")


class BadArgument(Exception):
    """A code that names nothing (a village, a training, a template...): the
    handler's message, exit status 2."""


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def whole_number(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:  # also the 4300-digit limit of int()
            value = None
        if value is None or not low <= value <= high:
            shown = text if len(text) <= 24 else text[:21] + "..."
            raise argparse.ArgumentTypeError(f"harus bilangan bulat dari {low} sampai {high}, bukan {shown!r}")
        return value

    return whole_number


def identifier(text: str) -> int:
    """An argparse type: a row id (1 to the largest INTEGER)."""
    return bounded(1, LARGEST_ID)(text)


def local_time(text: str) -> datetime:
    """An argparse type: 'YYYY-MM-DD HH:MM' in village time, years 2000-2999
    (outside them the conversion to UTC could overflow)."""
    try:
        moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        moment = None
    if moment is None or not 2000 <= moment.year <= 2999:
        raise argparse.ArgumentTypeError(f"tulis waktu sebagai 'YYYY-MM-DD HH:MM', misalnya '2026-12-01 08:00', bukan {text!r}")
    return moment
